//! The object-store backend against a real S3 server (s3s-fs, see `arca_testkit::s3`).
//! Needs `ARCA_TEST_S3S_FS`: run through tests/run-all.sh or `eval "$(tests/lib/s3.sh --export)"`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arca_config::storage_plan::{RetrySpec, S3Spec};
use arca_storage::{Checksums, ObjectStore, StorageError, with_retry};
use arca_testkit::S3TestServer;
use rand::{RngCore, SeedableRng};

const MIB: usize = 1024 * 1024;

fn store_for(server: &S3TestServer, spec: &S3Spec) -> ObjectStore {
    ObjectStore::new(spec, Some(server.access_key()), Some(server.secret_key())).unwrap()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// Writes `data` to a file in `dir` and returns its path and checksums.
fn write_file(dir: &Path, data: &[u8]) -> (PathBuf, Checksums) {
    let sums = Checksums::of_bytes(data);
    let path = dir.join(format!("{}.bin", &sums.sha256[..16]));
    std::fs::write(&path, data).unwrap();
    (path, sums)
}

/// The file s3s-fs keeps an object in.
fn object_file(server: &S3TestServer, key: &str) -> PathBuf {
    server.root_dir().join(server.bucket()).join(key)
}

/// `(ETag, x-amz-meta-sha256)` of an object, read with a plain rust-s3 client.
async fn raw_head(server: &S3TestServer, key: &str) -> (String, Option<String>) {
    let region = s3::Region::Custom {
        region: "us-east-1".into(),
        endpoint: server.endpoint(),
    };
    let creds = s3::creds::Credentials::new(
        Some(server.access_key()),
        Some(server.secret_key()),
        None,
        None,
        None,
    )
    .unwrap();
    let bucket = s3::Bucket::new(server.bucket(), region, creds)
        .unwrap()
        .with_path_style();
    let (head, _) = bucket.head_object(key).await.unwrap();
    (
        head.e_tag.unwrap().trim_matches('"').to_owned(),
        head.metadata.and_then(|m| m.get("sha256").cloned()),
    )
}

/// Upload, check what the server holds, download. `parts`: how many parts the upload must have
/// used (`None`: a single PUT).
async fn round_trip(server: &S3TestServer, store: &ObjectStore, data: &[u8], parts: Option<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let (path, sums) = write_file(dir.path(), data);
    store.put_file(&path, &sums).await.unwrap();

    let key = store.object_key(&sums.sha256);
    assert_eq!(
        std::fs::metadata(object_file(server, &key)).unwrap().len(),
        data.len() as u64
    );
    assert_eq!(store.head(&sums.sha256).await.unwrap(), Some(sums.size));
    let (etag, sha256_meta) = raw_head(server, &key).await;
    assert_eq!(sha256_meta.as_deref(), Some(sums.sha256.as_str()));
    match parts {
        // A multipart object's ETag is "<md5 of the part MD5s>-<parts>".
        Some(n) => assert!(etag.ends_with(&format!("-{n}")), "{etag}"),
        None => assert_eq!(etag, sums.md5),
    }

    let dest = dir.path().join("downloaded");
    let got = store.download_to(&sums.sha256, &dest).await.unwrap();
    assert_eq!(got, sums);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_file_round_trip() {
    let server = S3TestServer::new().unwrap();
    let spec = server.s3_spec("filestore");
    let store = store_for(&server, &spec);
    assert_eq!(
        store.describe(),
        format!(
            "s3://{}/filestore at {}",
            server.bucket(),
            server.endpoint()
        )
    );
    store.test_connection().await.unwrap();
    round_trip(&server, &store, &random_bytes(100_000, 1), None).await;
    round_trip(&server, &store, b"", None).await;
    // Uploading the same content again is harmless.
    round_trip(&server, &store, &random_bytes(100_000, 1), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trip() {
    let server = S3TestServer::new().unwrap();
    let mut spec = server.s3_spec("filestore");
    spec.multi_part_limit = 8 * MIB as u64;
    spec.multipart_element_size = 5 * MIB as u64;
    let store = store_for(&server, &spec);
    // 8 parts, the last one short.
    round_trip(&server, &store, &random_bytes(40 * MIB, 2), Some(8)).await;
    // Exactly the limit: multipart too, 2 parts.
    round_trip(&server, &store, &random_bytes(8 * MIB, 3), Some(2)).await;
    // Just below: one PUT.
    round_trip(&server, &store, &random_bytes(8 * MIB - 1, 4), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_of_the_wrong_size_is_refused() {
    let server = S3TestServer::new().unwrap();
    let store = store_for(&server, &server.s3_spec("filestore"));
    let dir = tempfile::tempdir().unwrap();
    let (path, mut sums) = write_file(dir.path(), b"some content");
    sums.size += 1;
    let err = store.put_file(&path, &sums).await.unwrap_err();
    assert!(matches!(err, StorageError::SizeMismatch { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.head(&sums.sha256).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_key_layouts() {
    let server = S3TestServer::new().unwrap();
    let data = random_bytes(1000, 5);
    let sha = Checksums::of_bytes(&data).sha256;
    let cases: [(&str, usize, String); 6] = [
        ("filestore", 2, format!("filestore/{}/{sha}", &sha[..2])),
        ("filestore", 0, format!("filestore/{sha}")),
        ("filestore", 4, format!("filestore/{}/{sha}", &sha[..4])),
        ("", 2, format!("{}/{sha}", &sha[..2])),
        ("", 0, sha.clone()),
        ("/a/b/", 1, format!("a/b/{}/{sha}", &sha[..1])),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (path, sums) = write_file(dir.path(), &data);
    for (path_param, n, expected) in cases {
        let mut spec = server.s3_spec(path_param);
        spec.root_folders_name_length = n;
        let store = store_for(&server, &spec);
        assert_eq!(
            store.object_key(&sha),
            expected,
            "path {path_param:?}, n {n}"
        );
        store.test_connection().await.unwrap();
        store.put_file(&path, &sums).await.unwrap();
        assert!(object_file(&server, &expected).is_file(), "{expected}");
        let listed: Vec<String> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(listed, vec![sha.clone()], "path {path_param:?}, n {n}");
        assert!(store.delete(&sha).await.unwrap());
        assert!(!object_file(&server, &expected).exists(), "{expected}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_list_delete() {
    let server = S3TestServer::new().unwrap();
    let store = store_for(&server, &server.s3_spec("filestore"));
    let dir = tempfile::tempdir().unwrap();
    let before = SystemTime::now() - Duration::from_secs(60);
    let mut shas = Vec::new();
    for seed in 0..3 {
        let (path, sums) = write_file(dir.path(), &random_bytes(1000 + seed, seed as u64));
        store.put_file(&path, &sums).await.unwrap();
        shas.push(sums.sha256);
    }
    // Objects the listing must skip: other layouts, other prefixes, probes, bad digests.
    let other = &shas[0];
    for key in [
        format!("filestore/zz/{other}"),
        format!("filestore/{other}"),
        format!("filestore/{}/{}", &other[..2], &other[..10]),
        format!("other/{}/{other}", &other[..2]),
        "filestore/.arca-probe-1234".to_string(),
        format!("filestore/{}/{}", &other[..2], other.to_uppercase()),
    ] {
        let file = object_file(&server, &key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"foreign").unwrap();
    }

    let mut listed = store.list().await.unwrap();
    listed.sort();
    let mut expected = shas.clone();
    expected.sort();
    assert_eq!(
        listed.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        expected
    );
    for (_, modified) in &listed {
        assert!(*modified > before, "{modified:?}");
        assert!(*modified < SystemTime::now() + Duration::from_secs(60));
    }

    assert_eq!(store.head(&shas[1]).await.unwrap(), Some(1001));
    assert!(store.delete(&shas[1]).await.unwrap());
    assert!(!store.delete(&shas[1]).await.unwrap());
    assert_eq!(store.head(&shas[1]).await.unwrap(), None);
    assert_eq!(store.list().await.unwrap().len(), 2);

    // Not a digest: refused before any request.
    assert!(matches!(
        store.head("not-a-digest").await,
        Err(StorageError::InvalidDigest(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_object() {
    let server = S3TestServer::new().unwrap();
    let store = store_for(&server, &server.s3_spec("filestore"));
    let sha = Checksums::of_bytes(b"never uploaded").sha256;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dest");
    match store.download_to(&sha, &dest).await {
        Err(StorageError::NotFound(s)) => assert_eq!(s, sha),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!dest.exists());
    assert_eq!(store.head(&sha).await.unwrap(), None);
    assert!(!store.delete(&sha).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_destination_is_not_overwritten() {
    let server = S3TestServer::new().unwrap();
    let store = store_for(&server, &server.s3_spec("filestore"));
    let dir = tempfile::tempdir().unwrap();
    let (path, sums) = write_file(dir.path(), b"content");
    store.put_file(&path, &sums).await.unwrap();
    let err = store.download_to(&sums.sha256, &path).await.unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_bad_credentials() {
    let server = S3TestServer::new().unwrap();
    let spec = server.s3_spec("filestore");

    let store = ObjectStore::new(&spec, Some(server.access_key()), Some("wrong-secret")).unwrap();
    let err = store.test_connection().await.unwrap_err();
    let msg = err.to_string();
    assert!(!err.is_transient(), "{msg}");
    assert!(msg.contains("probe put"), "{msg}");
    assert!(msg.contains(&server.endpoint()), "{msg}");
    assert!(msg.contains(server.bucket()), "{msg}");
    assert!(msg.contains("HTTP 403"), "{msg}");
    assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");
    assert!(!msg.contains(server.secret_key()), "{msg}");

    let store = ObjectStore::new(&spec, Some("AKUNKNOWN"), Some(server.secret_key())).unwrap();
    let err = store.test_connection().await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(
        matches!(
            err,
            StorageError::ObjectStore {
                status: Some(403),
                ..
            }
        ),
        "{err}"
    );

    // No request is needed to refuse a spec without credentials.
    let err = ObjectStore::new(&spec, None, None).unwrap_err();
    assert!(matches!(err, StorageError::ObjectStoreConfig(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_transient_and_retry_recovers() {
    let server = Arc::new(S3TestServer::new().unwrap());
    let mut spec = server.s3_spec("filestore");
    spec.connection_timeout = Duration::from_secs(1);
    spec.socket_timeout = Duration::from_secs(2);
    let store = store_for(&server, &spec);
    let dir = tempfile::tempdir().unwrap();
    let (path, sums) = write_file(dir.path(), &random_bytes(10_000, 7));
    store.put_file(&path, &sums).await.unwrap();

    server.stop();
    let err = store.head(&sums.sha256).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        matches!(err, StorageError::ObjectStore { status: None, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&server.endpoint()), "{err}");
    let dest = dir.path().join("dest");
    let err = store.download_to(&sums.sha256, &dest).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(!dest.exists());
    let (path2, sums2) = write_file(dir.path(), &random_bytes(20_000, 8));
    let err = store.put_file(&path2, &sums2).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(store.list().await.unwrap_err().is_transient());
    assert!(store.test_connection().await.unwrap_err().is_transient());

    // The server comes back while with_retry is waiting between tries.
    let restart = {
        let server = server.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(700));
            server.start()
        })
    };
    let retry = RetrySpec {
        interval: Duration::from_millis(200),
        max_tries: 10,
    };
    let attempts = std::sync::atomic::AtomicU32::new(0);
    with_retry(&retry, "upload to the test server", || {
        attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        store.put_file(&path2, &sums2)
    })
    .await
    .unwrap();
    restart.await.unwrap().unwrap();
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) > 1);

    let got = with_retry(&retry, "download", || {
        store.download_to(&sums2.sha256, &dest)
    })
    .await
    .unwrap();
    assert_eq!(got, sums2);
    assert_eq!(store.head(&sums.sha256).await.unwrap(), Some(sums.size));
}

/// Files s3s-fs keeps for unfinished multipart uploads (`.upload-<id>.json`,
/// `.upload_id-<id>.part-<n>`), directly in its root.
fn upload_files(server: &S3TestServer) -> Vec<String> {
    std::fs::read_dir(server.root_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_multipart_upload_is_aborted() {
    let server = S3TestServer::new().unwrap();
    let store = store_for(&server, &server.s3_spec("filestore"));
    let dir = tempfile::tempdir().unwrap();
    // 12 parts of 5 MiB: the upload is still running when the first part has arrived.
    let (path, sums) = write_file(dir.path(), &random_bytes(60 * MIB, 9));

    // Boxed, so that dropping it below really drops the future.
    let mut upload = Box::pin(store.put_file(&path, &sums));
    loop {
        tokio::select! {
            result = &mut upload => panic!("the upload finished before it was cancelled: {result:?}"),
            () = tokio::time::sleep(Duration::from_millis(2)) => {
                if upload_files(&server).iter().any(|n| n.contains(".part-")) {
                    break;
                }
            }
        }
    }
    // Cancel: dropping the future must abort the multipart upload on the server.
    drop(upload);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !upload_files(&server).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "multipart upload not aborted: {:?}",
            upload_files(&server)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.head(&sums.sha256).await.unwrap(), None);
}
