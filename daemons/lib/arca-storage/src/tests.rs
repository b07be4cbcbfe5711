#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use rand::{Rng, RngCore, SeedableRng};

use crate::*;

fn new_store() -> (tempfile::TempDir, FileStore) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("filestore");
    let store = FileStore::open(root.clone(), root.join("_pre")).unwrap();
    (dir, store)
}

fn temp_entries(store: &FileStore) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.temp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

async fn upload(store: &FileStore, data: &[u8]) -> StagedBlob {
    let mut up = store.begin_upload().await.unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    assert_eq!(up.bytes_written(), data.len() as u64);
    up.finish().await.unwrap()
}

async fn store_bytes(store: &FileStore, data: &[u8]) -> (Checksums, bool) {
    let staged = upload(store, data).await;
    let sums = staged.checksums().clone();
    (sums, staged.commit().unwrap())
}

const EMPTY: (&str, &str, &str) = (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "d41d8cd98f00b204e9800998ecf8427e",
);
const ABC: (&str, &str, &str) = (
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "a9993e364706816aba3e25717850c26c9cd0d89d",
    "900150983cd24fb0d6963f7d28e17f72",
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_vectors() {
    let (_d, store) = new_store();
    for (data, (sha256, sha1, md5)) in [(&b""[..], EMPTY), (&b"abc"[..], ABC)] {
        let expected = Checksums {
            sha256: sha256.into(),
            sha1: sha1.into(),
            md5: md5.into(),
            size: data.len() as u64,
        };
        assert_eq!(Checksums::of_bytes(data), expected);
        let (sums, placed) = store_bytes(&store, data).await;
        assert_eq!(sums, expected);
        assert!(placed);
        assert!(store.contains(sha256).unwrap());
    }
    // An upload with no write() call at all is the empty blob.
    let staged = store.begin_upload().await.unwrap().finish().await.unwrap();
    assert_eq!(staged.checksums().sha256, EMPTY.0);
    assert!(!staged.commit().unwrap());
}

#[tokio::test]
async fn round_trip() {
    use tokio::io::AsyncReadExt;
    let (_d, store) = new_store();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (sums, placed) = store_bytes(&store, &data).await;
    assert!(placed);
    let path = store.blob_path(&sums.sha256).unwrap();
    assert_eq!(
        path,
        store.root().join(&sums.sha256[..2]).join(&sums.sha256)
    );
    let mut f = store.open_blob(&sums.sha256).await.unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, data);
    assert!(temp_entries(&store).is_empty());

    // remove_blob / missing blobs
    assert!(store.remove_blob(&sums.sha256).unwrap());
    assert!(!store.remove_blob(&sums.sha256).unwrap());
    assert!(!store.contains(&sums.sha256).unwrap());
    assert!(matches!(
        store.open_blob(&sums.sha256).await,
        Err(StorageError::NotFound(_))
    ));
}

#[tokio::test]
async fn dedupe() {
    let (_d, store) = new_store();
    let (a, placed_a) = store_bytes(&store, b"same content").await;
    let (b, placed_b) = store_bytes(&store, b"same content").await;
    assert_eq!(a, b);
    assert!(placed_a);
    assert!(!placed_b);
    let shard = store.root().join(&a.sha256[..2]);
    assert_eq!(std::fs::read_dir(shard).unwrap().count(), 1);
    assert!(temp_entries(&store).is_empty());
    assert_eq!(
        std::fs::read(store.blob_path(&a.sha256).unwrap()).unwrap(),
        b"same content"
    );
}

#[tokio::test]
async fn commit_replaces_truncated_blob() {
    let (_d, store) = new_store();
    let staged = upload(&store, b"full content").await;
    let path = store.blob_path(&staged.checksums().sha256).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"full").unwrap();
    assert!(staged.commit().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"full content");
}

#[tokio::test]
async fn drop_upload_removes_temp_file() {
    let (_d, store) = new_store();
    let mut up = store.begin_upload().await.unwrap();
    up.write(Bytes::from(vec![7u8; 1 << 20])).await.unwrap();
    let names = temp_entries(&store);
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("dbrecord") && names[0].ends_with(".bin"));
    drop(up);
    assert!(temp_entries(&store).is_empty());
}

#[tokio::test]
async fn drop_staged_removes_temp_file() {
    let (_d, store) = new_store();
    let staged = upload(&store, b"never committed").await;
    assert_eq!(temp_entries(&store).len(), 1);
    let sha = staged.checksums().sha256.clone();
    drop(staged);
    assert!(temp_entries(&store).is_empty());
    assert!(!store.contains(&sha).unwrap());
}

#[tokio::test]
async fn list_blobs_lists_only_blobs() {
    let (_d, store) = new_store();
    assert!(store.list_blobs().unwrap().is_empty());
    let (a, _) = store_bytes(&store, b"one").await;
    let (b, _) = store_bytes(&store, b"two").await;
    // noise: a leftover upload, a stray file in a shard, a misplaced digest, a non-shard dir
    std::fs::write(store.temp_dir().join("dbrecord1.bin"), b"x").unwrap();
    let shard = store.root().join(&a.sha256[..2]);
    std::fs::write(shard.join("stray.tmp"), b"x").unwrap();
    let misplaced = if a.sha256.starts_with("00") {
        "11"
    } else {
        "00"
    }
    .repeat(32);
    std::fs::write(shard.join(misplaced), b"x").unwrap();
    std::fs::create_dir_all(store.root().join("zz")).unwrap();
    let mut listed: Vec<String> = store
        .list_blobs()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    listed.sort();
    let mut expected = vec![a.sha256, b.sha256];
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn clean_temp_removes_leftovers() {
    let (_d, store) = new_store();
    let (sums, _) = store_bytes(&store, b"keep me").await;
    let temp = store.temp_dir();
    std::fs::write(temp.join("dbrecord123.bin"), b"partial").unwrap();
    std::fs::write(temp.join("other"), b"x").unwrap();
    std::fs::create_dir_all(temp.join("sub/dir")).unwrap();
    std::fs::write(temp.join("sub/dir/f"), b"x").unwrap();
    assert_eq!(store.clean_temp().unwrap(), 3);
    assert!(temp_entries(&store).is_empty());
    assert_eq!(store.clean_temp().unwrap(), 0);
    assert!(store.contains(&sums.sha256).unwrap());
}

#[test]
fn open_rejects_bad_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("fs");
    // temp dir equal to / parent of the store would let clean_temp() wipe blobs
    assert!(matches!(
        FileStore::open(root.clone(), root.clone()),
        Err(StorageError::Unusable { .. })
    ));
    assert!(matches!(
        FileStore::open(root.clone(), dir.path().to_path_buf()),
        Err(StorageError::Unusable { .. })
    ));
    assert!(matches!(
        FileStore::open(root.clone(), root.join("ab")),
        Err(StorageError::Unusable { .. })
    ));
    // Temp dir outside the store but on the same filesystem is fine.
    let store = FileStore::open(root.clone(), dir.path().join("pre")).unwrap();
    assert!(store.disk_usage().unwrap().total > 0);
    // No probe file left behind.
    assert!(temp_entries(&store).is_empty());
}

#[test]
fn blob_path_rejects_bad_digests() {
    let (_d, store) = new_store();
    let good = "ab".repeat(32);
    assert_eq!(
        store.blob_path(&good).unwrap(),
        store.root().join("ab").join(&good)
    );
    let traversal = format!("../..{}", "a".repeat(59));
    for bad in [
        "",
        "../..",
        "../../etc/passwd",
        traversal.as_str(),
        &"AB".repeat(32),
        &"ab".repeat(31),
        &"ab".repeat(33),
        &format!("{}/", "a".repeat(63)),
        &format!("{}g", "a".repeat(63)),
        "éé",
    ] {
        assert!(
            matches!(store.blob_path(bad), Err(StorageError::InvalidDigest(_))),
            "{bad:?}"
        );
        assert!(store.contains(bad).is_err());
        assert!(store.remove_blob(bad).is_err());
    }
    assert_eq!(traversal.len(), 64);
}

#[test]
fn verify_declared_mismatches() {
    let actual = Checksums::of_bytes(b"abc");
    assert!(verify_declared(&actual, None, None, None).is_empty());
    // case-insensitive, surrounding whitespace ignored
    assert!(
        verify_declared(
            &actual,
            Some(&ABC.1.to_uppercase()),
            Some(ABC.0),
            Some(&format!(" {} ", ABC.2.to_uppercase()))
        )
        .is_empty()
    );
    let m = verify_declared(&actual, Some(EMPTY.1), Some(ABC.0), Some("DEADBEEF"));
    assert_eq!(
        m,
        vec![
            ("sha1", EMPTY.1.to_owned(), ABC.1.to_owned()),
            ("md5", "DEADBEEF".to_owned(), ABC.2.to_owned()),
        ]
    );
    let m = verify_declared(&actual, None, Some(EMPTY.0), None);
    assert_eq!(m, vec![("sha256", EMPTY.0.to_owned(), ABC.0.to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_chunked_upload_matches_one_shot() {
    let (_d, store) = new_store();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut data = vec![0u8; 5 * 1024 * 1024 + 12_345];
    rng.fill_bytes(&mut data);
    let all = Bytes::from(data.clone());

    let mut up = store.begin_upload().await.unwrap();
    let mut off = 0;
    while off < all.len() {
        // mix of tiny, medium and larger-than-a-piece chunks (incl. empty ones)
        let max = match rng.gen_range(0..4) {
            0 => 17,
            1 => 9_000,
            2 => 100_000,
            _ => 1_500_000,
        };
        let n = rng.gen_range(0..=max).min(all.len() - off);
        up.write(all.slice(off..off + n)).await.unwrap();
        off += n;
        assert_eq!(up.bytes_written(), off as u64);
    }
    let staged = up.finish().await.unwrap();
    assert_eq!(*staged.checksums(), Checksums::of_bytes(&data));
    let sha = staged.checksums().sha256.clone();
    assert!(staged.commit().unwrap());
    assert_eq!(std::fs::read(store.blob_path(&sha).unwrap()).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_upload_round_trip() {
    // Larger than the early-writeback interval, so that path is exercised too.
    let (_d, store) = new_store();
    let mut data = vec![0u8; 40 * 1024 * 1024 + 3];
    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut data);
    let all = Bytes::from(data);
    let mut up = store.begin_upload().await.unwrap();
    for piece in all.chunks(1 << 20) {
        up.write(all.slice_ref(piece)).await.unwrap();
    }
    let staged = up.finish().await.unwrap();
    assert_eq!(*staged.checksums(), Checksums::of_bytes(&all));
    let sha = staged.checksums().sha256.clone();
    assert!(staged.commit().unwrap());
    assert!(std::fs::read(store.blob_path(&sha).unwrap()).unwrap() == all);
}

#[tokio::test]
async fn cancelled_write_poisons() {
    let (_d, store) = new_store();
    let mut up = store.begin_upload().await.unwrap();
    {
        let fut = std::pin::pin!(up.write(Bytes::from(vec![1u8; 64 << 20])));
        // One poll fills the bounded queues and returns Pending; then the future is dropped.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.poll(&mut cx).is_pending());
    }
    assert!(matches!(
        up.write(Bytes::from_static(b"x")).await,
        Err(StorageError::Poisoned)
    ));
    assert!(matches!(up.finish().await, Err(StorageError::Poisoned)));
    assert!(temp_entries(&store).is_empty());
}

// FileStore is shared across tasks; uploads move between tasks.
const _: () = {
    const fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    const fn send<T: Send + 'static>() {}
    send_sync_clone::<FileStore>();
    send::<Upload>();
    send::<StagedBlob>();
};
