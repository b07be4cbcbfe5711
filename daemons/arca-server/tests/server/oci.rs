//! The OCI Distribution API of docker repositories (`/v2/…` on the node's root), driven with
//! what skopeo, podman and oras send (`/work/shared/notes/real-clients.md` §6): the token
//! flow and its scopes, monolithic and chunked pushes (a session survives a restart of the
//! node: its state is in the database, its chunks in the storage chain), digest and manifest
//! validation that store nothing, pulls with ranges, tags and catalog pagination, referrers,
//! cross-repository mounts, deletes, who may do what, and virtual repositories.
//!
//! The module's tests share one server (started by the first, stopped after the last that runs
//! at the same time); each test uses its own image names.

use super::*;

use std::sync::{Arc, Mutex, Weak};

use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

static SHARED: SharedSlot = Mutex::new(Weak::new());

/// The module's server: local docker repositories `dk` and `dk-open` (anonymousRead),
/// `dk-other`, virtual `dk-all` (`dk`, `dk-other`; deploys to `dk`); users `reader` (reads
/// `dk` and `dk-all`), `pusher` (reads and deploys in all, no delete) and `keeper` (reads, deploys and
/// deletes in all).
fn shared() -> Arc<SharedServer> {
    SharedServer::get(&SHARED, |s| {
        s.create_repo("dk", json!({"rclass": "local", "packageType": "docker"}));
        s.create_repo(
            "dk-open",
            json!({"rclass": "local", "packageType": "docker", "anonymousRead": true}),
        );
        s.create_repo(
            "dk-other",
            json!({"rclass": "local", "packageType": "docker"}),
        );
        s.create_repo(
            "dk-all",
            json!({"rclass": "virtual", "packageType": "docker", "repositories": ["dk", "dk-other"],
               "defaultDeploymentRepo": "dk"}),
        );
        // no group: not in `readers` (who read everything by default), only the permissions below
        for user in ["reader", "pusher", "keeper"] {
            add_user(s, user, json!({ "password": PW, "groups": [] }));
        }
        let all = ["dk", "dk-open", "dk-other", "dk-all"];
        add_permission(s, "dk-read", &["dk", "dk-all"], "reader", &["read"]);
        add_permission(s, "dk-push", &all, "pusher", &["read", "write"]);
        add_permission(s, "dk-keep", &all, "keeper", &["read", "write", "delete"]);
    })
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Anon,
    Reader,
    Pusher,
    Keeper,
    Bearer(&'a str),
}

use Who::{Anon, Keeper, Pusher, Reader};

/// `http://host:port/v2/{rest}`: the registry is on the root, whatever the context path.
fn v2(s: &Server, rest: &str) -> String {
    format!("http://{}:{}/v2/{rest}", s.ip, s.port)
}

fn call(s: &Server, who: Who<'_>, method: Method, url: &str) -> RequestBuilder {
    let b = s.client().request(method, url);
    match who {
        Anon => b,
        Reader => b.basic_auth("reader", Some(PW)),
        Pusher => b.basic_auth("pusher", Some(PW)),
        Keeper => b.basic_auth("keeper", Some(PW)),
        Who::Bearer(token) => b.bearer_auth(token),
    }
}

/// The spec error code of an answer, checking the document's shape.
fn error_code(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().unwrap();
    let errors = body["errors"].as_array().expect("an errors array");
    assert!(!errors.is_empty(), "{body}");
    (status, errors[0]["code"].as_str().unwrap().to_string())
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Push `bytes` as a blob of `name` in one POST (`?digest=`), as oras does in two.
fn push_blob(s: &Server, who: Who<'_>, name: &str, bytes: &[u8]) -> String {
    let digest = digest_of(bytes);
    let r = call(
        s,
        who,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/?digest={digest}")),
    )
    .body(bytes.to_vec())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "push blob to {name}");
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        digest
    );
    digest
}

/// An image manifest of `config` and `layers` (each pushed to `name` first).
fn image_manifest(s: &Server, who: Who<'_>, name: &str, layers: &[&[u8]], extra: Value) -> Vec<u8> {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = push_blob(s, who, name, config);
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": l.len(),
                   "digest": push_blob(s, who, name, l)})
        })
        .collect();
    let mut m = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": config.len(), "digest": config_digest},
        "layers": layers,
    });
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&m).unwrap()
}

fn put_manifest(
    s: &Server,
    who: Who<'_>,
    name: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Response {
    call(
        s,
        who,
        Method::PUT,
        &v2(s, &format!("{name}/manifests/{reference}")),
    )
    .header("content-type", media_type)
    .body(body.to_vec())
    .send()
    .unwrap()
}

/// A registry token for `who` with `scope`.
fn token(s: &Server, who: Who<'_>, scope: &str) -> String {
    let r = call(
        s,
        who,
        Method::GET,
        &v2(s, &format!("token?service=arca&scope={scope}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(body["token"], body["access_token"]);
    body["token"].as_str().unwrap().to_string()
}

fn tags(s: &Server, who: Who<'_>, name: &str, query: &str) -> (Vec<String>, Option<String>) {
    let r = call(
        s,
        who,
        Method::GET,
        &v2(s, &format!("{name}/tags/list{query}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "tags of {name}");
    let link = r
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = r.json().unwrap();
    assert_eq!(body["name"], name);
    let tags = body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    (tags, link)
}

#[test]
fn challenge_token_scopes_and_where_a_token_counts() {
    let shared = shared();
    let s = &shared.s;
    for name in ["dk/tok", "dk-open/tok"] {
        let m = image_manifest(s, Keeper, name, &[b"tok"], json!({}));
        assert_eq!(
            put_manifest(s, Keeper, name, "v1", OCI_MANIFEST, &m).status(),
            StatusCode::CREATED
        );
    }
    // anonymous: the Bearer challenge of the token endpoint on the root
    let r = call(s, Anon, Method::GET, &v2(s, "")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{}:{}/v2/token\",service=\"arca\"",
            s.ip, s.port
        )
    );
    assert_eq!(error_code(r).1, "UNAUTHORIZED");
    // Basic works on /v2/ itself
    let r = call(s, Reader, Method::GET, &v2(s, "")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // a pull of a private repository tells the scope it needs
    let r = call(s, Anon, Method::GET, &v2(s, "dk/tok/tags/list"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(",scope=\"repository:dk/tok:pull\""),
        "{:?}",
        r.headers()["www-authenticate"]
    );

    // the reader asks for pull and push on dk/tok: the token grants pull only
    let t = token(s, Reader, "repository:dk/tok:pull,push");
    let r = call(s, Who::Bearer(&t), Method::GET, &v2(s, ""))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(s, Who::Bearer(&t), Method::GET, &v2(s, "dk/tok/tags/list"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the granted pull");
    let r = call(
        s,
        Who::Bearer(&t),
        Method::POST,
        &v2(s, "dk/tok/blobs/uploads/"),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r), (StatusCode::FORBIDDEN, "DENIED".into()));
    // a token for another image does not reach this one: 401, ask for the right scope
    let r = call(
        s,
        Who::Bearer(&t),
        Method::GET,
        &v2(s, "dk/other/tags/list"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"repository:dk/other:pull\"")
    );
    // the pusher's token grants push: a session starts
    let t = token(s, Pusher, "repository:dk/tok:pull,push");
    let r = call(
        s,
        Who::Bearer(&t),
        Method::POST,
        &v2(s, "dk/tok/blobs/uploads/"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // a token asked for `pull` only grants what the pusher holds (oras asks for pull, then
    // pushes with the same token)
    let pull_only = token(s, Pusher, "repository:dk/tok:pull");
    let r = call(
        s,
        Who::Bearer(&pull_only),
        Method::POST,
        &v2(s, "dk/tok/blobs/uploads/"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // through a virtual repository: the token names the virtual, the session (and what it
    // stores) is in its deployment repository, continued under the virtual's name
    let via = token(s, Pusher, "repository:dk-all/tok:pull,push");
    let r = call(
        s,
        Who::Bearer(&via),
        Method::POST,
        &v2(s, "dk-all/tok/blobs/uploads/"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/v2/dk-all/tok/blobs/uploads/")
    );
    // a registry token is no login anywhere else
    let r = call(s, Who::Bearer(&t), Method::GET, &s.url("/api/repositories"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // a forged or tampered token: 401
    let mut forged = t.clone();
    forged.pop();
    forged.push(if t.ends_with('A') { 'B' } else { 'A' });
    let r = call(
        s,
        Who::Bearer(&forged),
        Method::GET,
        &v2(s, "dk/tok/tags/list"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // bad credentials at the token endpoint: 401, no token
    let r = s
        .client()
        .get(v2(s, "token?scope=repository:dk/tok:pull"))
        .basic_auth("pusher", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // anonymous gets a token too, granting what anonymous may do
    let t = token(s, Anon, "repository:dk-open/tok:pull");
    let r = call(
        s,
        Who::Bearer(&t),
        Method::GET,
        &v2(s, "dk-open/tok/tags/list"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn chunked_push_pull_by_tag_and_digest_with_ranges() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk/chunked/app";
    let layer: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let layer_digest = digest_of(&layer);
    // POST, then PATCH in three chunks (Content-Range as skopeo sends it), then PUT ?digest=
    let r = call(
        s,
        Pusher,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-0");
    let mut location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("/v2/{name}/blobs/uploads/")),
        "{location}"
    );
    for (start, end) in [
        (0usize, 100_000usize),
        (100_000, 250_000),
        (250_000, 300_000),
    ] {
        let r = call(
            s,
            Pusher,
            Method::PATCH,
            &format!("http://{}:{}{location}", s.ip, s.port),
        )
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{start}-{}", end - 1))
        .body(layer[start..end].to_vec())
        .send()
        .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "chunk {start}");
        assert_eq!(
            r.headers()["range"].to_str().unwrap(),
            format!("0-{}", end - 1)
        );
        location = r.headers()["location"].to_str().unwrap().to_string();
    }
    // a chunk that does not continue the upload: 416, nothing appended
    let r = call(
        s,
        Pusher,
        Method::PATCH,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .header("content-range", "10-19")
    .body(vec![0u8; 10])
    .send()
    .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID".into())
    );
    // the status says how much is there
    let r = call(
        s,
        Pusher,
        Method::GET,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["range"].to_str().unwrap(), "0-299999");
    // another user cannot continue it
    let r = call(
        s,
        Keeper,
        Method::GET,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .send()
    .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN".into())
    );
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = call(
        s,
        Pusher,
        Method::PUT,
        &format!(
            "http://{}:{}{location}{sep}digest={layer_digest}",
            s.ip, s.port
        ),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/v2/{name}/blobs/{layer_digest}")
    );
    // the session is over
    let r = call(
        s,
        Pusher,
        Method::GET,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r).1, "BLOB_UPLOAD_UNKNOWN");

    // HEAD and GET of the blob, and a range of it
    let r = call(
        s,
        Reader,
        Method::HEAD,
        &v2(s, &format!("{name}/blobs/{layer_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "300000");
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        layer_digest
    );
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/blobs/{layer_digest}")),
    )
    .header("range", "bytes=1000-1999")
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().unwrap().as_ref(), &layer[1000..2000]);

    // a manifest of it, by tag; read back by tag and by digest, byte for byte
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    let config_digest = push_blob(s, Pusher, name, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": config.len(), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": layer.len(), "digest": layer_digest}],
    }))
    .unwrap();
    let manifest_digest = digest_of(&manifest);
    let r = put_manifest(s, Pusher, name, "v1", DOCKER_MANIFEST, &manifest);
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        manifest_digest
    );
    for reference in ["v1", manifest_digest.as_str()] {
        let r = call(
            s,
            Reader,
            Method::GET,
            &v2(s, &format!("{name}/manifests/{reference}")),
        )
        .header("accept", OCI_MANIFEST)
        .header("accept", DOCKER_MANIFEST)
        .send()
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{reference}: {:?}", r.headers());
        assert_eq!(r.headers()["content-type"], DOCKER_MANIFEST);
        assert_eq!(
            r.headers()["docker-content-digest"].to_str().unwrap(),
            manifest_digest
        );
        assert_eq!(r.bytes().unwrap().as_ref(), manifest.as_slice());
        let r = call(
            s,
            Reader,
            Method::HEAD,
            &v2(s, &format!("{name}/manifests/{reference}")),
        )
        .send()
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["content-length"].to_str().unwrap(),
            manifest.len().to_string()
        );
    }
    let (t, _) = tags(s, Reader, name, "");
    assert_eq!(t, vec!["v1"]);
    // a generic deploy into a docker repository is refused: it would bypass the registry
    let r = s
        .admin(Method::PUT, s.url("/dk/chunked/app/_blobs/x"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

#[test]
fn a_session_survives_a_restart_of_the_node() {
    // its own server: it restarts it
    let (_dir, mut s) = fresh_server();
    s.create_repo("dk", json!({"rclass": "local", "packageType": "docker"}));
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let digest = digest_of(&blob);
    let admin = |s: &Server, method: Method, url: &str| s.admin(method, url.to_string());
    let r = admin(&s, Method::POST, &v2(&s, "dk/survivor/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = admin(
        &s,
        Method::PATCH,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .body(blob[..120_000].to_vec())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    s.stop();
    let home = s.home.clone();
    let s = Server::start(&home);
    let r = admin(
        &s,
        Method::PATCH,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .header("content-range", "120000-199999")
    .body(blob[120_000..].to_vec())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().unwrap());
    let r = admin(
        &s,
        Method::PUT,
        &format!("http://{}:{}{location}?digest={digest}", s.ip, s.port),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = admin(
        &s,
        Method::GET,
        &v2(&s, &format!("dk/survivor/blobs/{digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), blob.as_slice());
}

#[test]
fn wrong_digests_and_incomplete_manifests_store_nothing() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk/refused";
    // a monolithic push whose bytes are not the digest
    let claimed = digest_of(b"something else");
    let r = call(
        s,
        Pusher,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/?digest={claimed}")),
    )
    .body(b"these bytes".to_vec())
    .send()
    .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID".into())
    );
    let r = call(
        s,
        Pusher,
        Method::HEAD,
        &v2(s, &format!("{name}/blobs/{claimed}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // a chunked one, wrong at the end: nothing stored, the session gone
    let r = call(
        s,
        Pusher,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/")),
    )
    .send()
    .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = call(
        s,
        Pusher,
        Method::PATCH,
        &format!("http://{}:{}{location}", s.ip, s.port),
    )
    .body(b"part one".to_vec())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = call(
        s,
        Pusher,
        Method::PUT,
        &format!("http://{}:{}{location}?digest={claimed}", s.ip, s.port),
    )
    .body(b" and two".to_vec())
    .send()
    .unwrap();
    assert_eq!(error_code(r).1, "DIGEST_INVALID");
    let r = call(
        s,
        Pusher,
        Method::HEAD,
        &v2(s, &format!("{name}/blobs/{claimed}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // malformed digests
    for bad in ["sha256:abc", "md5:0123", "sha256:", "nonsense"] {
        let r = call(
            s,
            Reader,
            Method::GET,
            &v2(s, &format!("{name}/blobs/{bad}")),
        )
        .send()
        .unwrap();
        assert_eq!(error_code(r).1, "DIGEST_INVALID", "{bad}");
    }
    // a manifest whose layer was never pushed
    let layer = digest_of(b"never pushed");
    let config_digest = push_blob(s, Pusher, name, b"{}");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": 12,
                    "digest": layer}],
    }))
    .unwrap();
    let r = put_manifest(s, Pusher, name, "v1", OCI_MANIFEST, &manifest);
    assert_eq!(
        error_code(r),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN".into())
    );
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/v1")),
    )
    .send()
    .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN".into())
    );
    // an index whose child manifest is unknown
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "size": 10, "digest": digest_of(b"child"),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let r = put_manifest(s, Pusher, name, "multi", OCI_INDEX, &index);
    assert_eq!(error_code(r).1, "MANIFEST_UNKNOWN");
    // not JSON, a schema 1 manifest, a Content-Type that contradicts the document, a bad tag,
    // a digest in the URL that is not the body's
    let r = put_manifest(s, Pusher, name, "v1", OCI_MANIFEST, b"{not json");
    assert_eq!(error_code(r).1, "MANIFEST_INVALID");
    let r = put_manifest(s, Pusher, name, "v1", DOCKER_MANIFEST, &manifest);
    assert_eq!(error_code(r).1, "MANIFEST_INVALID");
    let r = put_manifest(s, Pusher, name, "-bad-tag", OCI_MANIFEST, &manifest);
    assert_eq!(error_code(r).1, "TAG_INVALID");
    let good = image_manifest(s, Pusher, name, &[b"a layer"], json!({}));
    let r = put_manifest(s, Pusher, name, &digest_of(b"other"), OCI_MANIFEST, &good);
    assert_eq!(error_code(r).1, "DIGEST_INVALID");
    // no manifest was stored: the image does not exist
    let r = call(s, Reader, Method::GET, &v2(s, &format!("{name}/tags/list")))
        .send()
        .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN".into())
    );
    // names: uppercase and a missing image are no registry names
    let r = call(s, Reader, Method::GET, &v2(s, "dk/Upper/tags/list"))
        .send()
        .unwrap();
    assert_eq!(error_code(r).1, "NAME_INVALID");
    let r = call(s, Reader, Method::GET, &v2(s, "nope-repo/x/tags/list"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[test]
fn who_may_pull_push_retag_and_delete() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk/perm";
    // the reader may not push
    let r = call(
        s,
        Reader,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/")),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r), (StatusCode::FORBIDDEN, "DENIED".into()));
    // anonymous may not pull from dk, may from dk-open
    let first = image_manifest(s, Pusher, name, &[b"one"], json!({}));
    assert_eq!(
        put_manifest(s, Pusher, name, "stable", OCI_MANIFEST, &first).status(),
        StatusCode::CREATED
    );
    let r = call(
        s,
        Anon,
        Method::GET,
        &v2(s, &format!("{name}/manifests/stable")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let open = image_manifest(s, Pusher, "dk-open/pub", &[b"open"], json!({}));
    assert_eq!(
        put_manifest(s, Pusher, "dk-open/pub", "v1", OCI_MANIFEST, &open).status(),
        StatusCode::CREATED
    );
    let r = call(s, Anon, Method::GET, &v2(s, "dk-open/pub/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // moving a tag replaces it: the pusher (no delete) may not, the keeper may
    let second = image_manifest(s, Pusher, name, &[b"two"], json!({}));
    let r = put_manifest(s, Pusher, name, "stable", OCI_MANIFEST, &second);
    assert_eq!(error_code(r), (StatusCode::FORBIDDEN, "DENIED".into()));
    // pushing the same manifest under the same tag again is no change
    assert_eq!(
        put_manifest(s, Pusher, name, "stable", OCI_MANIFEST, &first).status(),
        StatusCode::CREATED
    );
    assert_eq!(
        put_manifest(s, Keeper, name, "stable", OCI_MANIFEST, &second).status(),
        StatusCode::CREATED
    );
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/stable")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), second.as_slice());
    // deletes need delete
    let r = call(
        s,
        Pusher,
        Method::DELETE,
        &v2(s, &format!("{name}/manifests/stable")),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r), (StatusCode::FORBIDDEN, "DENIED".into()));
    // the first manifest is still there by digest (untagged)
    let first_digest = digest_of(&first);
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/{first_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn tags_catalog_pagination_mount_and_deletes() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk-other/paged";
    let manifest = image_manifest(s, Keeper, name, &[b"paged layer"], json!({}));
    let digest = digest_of(&manifest);
    for tag in ["b", "a", "d", "c", "e"] {
        assert_eq!(
            put_manifest(s, Keeper, name, tag, OCI_MANIFEST, &manifest).status(),
            StatusCode::CREATED
        );
    }
    let (all, link) = tags(s, Keeper, name, "");
    assert_eq!(all, vec!["a", "b", "c", "d", "e"]);
    assert!(link.is_none());
    let (page, link) = tags(s, Keeper, name, "?n=2");
    assert_eq!(page, vec!["a", "b"]);
    assert_eq!(
        link.unwrap(),
        format!("</v2/{name}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let (page, _) = tags(s, Keeper, name, "?n=2&last=b");
    assert_eq!(page, vec!["c", "d"]);
    let (page, link) = tags(s, Keeper, name, "?n=2&last=d");
    assert_eq!(page, vec!["e"]);
    assert!(link.is_none());
    // the catalog lists what the caller may read
    let r = call(s, Keeper, Method::GET, &v2(s, "_catalog"))
        .send()
        .unwrap();
    let body: Value = r.json().unwrap();
    let repos: Vec<&str> = body["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(repos.contains(&name), "{repos:?}");
    let r = call(s, Reader, Method::GET, &v2(s, "_catalog"))
        .send()
        .unwrap();
    let body: Value = r.json().unwrap();
    assert!(
        body["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r.as_str().unwrap().starts_with("dk-other/")),
        "the reader may not read dk-other: {body}"
    );

    // mount a layer into another image: no bytes sent
    let layer_digest = digest_of(b"paged layer");
    let r = call(
        s,
        Keeper,
        Method::POST,
        &v2(
            s,
            &format!("dk/mounted/blobs/uploads/?mount={layer_digest}&from={name}"),
        ),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(
        s,
        Keeper,
        Method::HEAD,
        &v2(s, &format!("dk/mounted/blobs/{layer_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // the reader cannot mount from where it cannot read: an ordinary session starts instead
    let r = call(
        s,
        Pusher,
        Method::POST,
        &v2(
            s,
            &format!("dk-open/mounted/blobs/uploads/?mount={layer_digest}&from=dk-missing/x"),
        ),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    // delete a tag: the others stay
    let r = call(
        s,
        Keeper,
        Method::DELETE,
        &v2(s, &format!("{name}/manifests/a")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (all, _) = tags(s, Keeper, name, "");
    assert_eq!(all, vec!["b", "c", "d", "e"]);
    // delete the manifest: its tags go too
    let r = call(
        s,
        Keeper,
        Method::DELETE,
        &v2(s, &format!("{name}/manifests/{digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // the image's only manifest is gone: so is the image
    let r = call(s, Keeper, Method::GET, &v2(s, &format!("{name}/tags/list")))
        .send()
        .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN".into())
    );
    let r = call(
        s,
        Keeper,
        Method::GET,
        &v2(s, &format!("{name}/manifests/c")),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r).1, "MANIFEST_UNKNOWN");
    let r = call(
        s,
        Keeper,
        Method::DELETE,
        &v2(s, &format!("{name}/manifests/{digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r).1, "MANIFEST_UNKNOWN");
}

#[test]
fn referrers_by_subject_and_artifact_type() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk/signed";
    let image = image_manifest(s, Pusher, name, &[b"signed layer"], json!({}));
    let image_digest = digest_of(&image);
    assert_eq!(
        put_manifest(s, Pusher, name, "v1", OCI_MANIFEST, &image).status(),
        StatusCode::CREATED
    );
    let subject = json!({"mediaType": OCI_MANIFEST, "size": image.len(), "digest": image_digest});
    let empty = push_blob(s, Pusher, name, b"{}");
    let mut pushed = Vec::new();
    for (kind, body) in [
        (
            "application/spdx+json",
            &b"{\"spdxVersion\":\"SPDX-2.3\"}"[..],
        ),
        ("application/vnd.example.signature", &b"signature"[..]),
    ] {
        let layer = push_blob(s, Pusher, name, body);
        let artifact = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": kind,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                       "digest": empty},
            "layers": [{"mediaType": kind, "size": body.len(), "digest": layer}],
            "subject": subject,
            "annotations": {"org.opencontainers.image.created": "2026-12-08T00:00:00Z"},
        }))
        .unwrap();
        let digest = digest_of(&artifact);
        let r = put_manifest(s, Pusher, name, &digest, OCI_MANIFEST, &artifact);
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["oci-subject"].to_str().unwrap(), image_digest);
        pushed.push((kind, digest, artifact.len()));
    }
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/referrers/{image_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let index: Value = r.json().unwrap();
    assert_eq!(index["schemaVersion"], 2);
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{index}");
    for (kind, digest, size) in &pushed {
        let entry = listed.iter().find(|m| m["digest"] == *digest).unwrap();
        assert_eq!(entry["artifactType"], *kind);
        assert_eq!(entry["size"], *size);
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(
            entry["annotations"]["org.opencontainers.image.created"],
            "2026-12-08T00:00:00Z"
        );
    }
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(
            s,
            &format!("{name}/referrers/{image_digest}?artifactType=application/spdx%2Bjson"),
        ),
    )
    .send()
    .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let index: Value = r.json().unwrap();
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["digest"], pushed[0].1);
    // a subject with no referrers: an empty index, not a 404
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/referrers/{}", digest_of(b"x"))),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let index: Value = r.json().unwrap();
    assert_eq!(index["manifests"], json!([]));
}

#[test]
fn virtual_repositories_pull_through_members_and_push_to_the_deployment_repo() {
    let shared = shared();
    let s = &shared.s;
    let other = image_manifest(s, Keeper, "dk-other/through", &[b"from other"], json!({}));
    assert_eq!(
        put_manifest(s, Keeper, "dk-other/through", "v1", OCI_MANIFEST, &other).status(),
        StatusCode::CREATED
    );
    // pulled through the virtual
    let r = call(
        s,
        Keeper,
        Method::GET,
        &v2(s, "dk-all/through/manifests/v1"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().as_ref(), other.as_slice());
    let layer = digest_of(b"from other");
    let r = call(
        s,
        Keeper,
        Method::GET,
        &v2(s, &format!("dk-all/through/blobs/{layer}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), b"from other");
    // a push to the virtual lands in dk, its deployment repository; dk wins over dk-other
    let mine = image_manifest(
        s,
        Keeper,
        "dk-all/through",
        &[b"pushed via virtual"],
        json!({}),
    );
    assert_eq!(
        put_manifest(s, Keeper, "dk-all/through", "v1", OCI_MANIFEST, &mine).status(),
        StatusCode::CREATED
    );
    let r = call(s, Keeper, Method::GET, &v2(s, "dk/through/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), mine.as_slice());
    let r = call(
        s,
        Keeper,
        Method::GET,
        &v2(s, "dk-all/through/manifests/v1"),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), mine.as_slice(), "dk first");
    let (t, _) = tags(s, Keeper, "dk-all/through", "");
    assert_eq!(t, vec!["v1"]);
    // the reader reads dk (and the virtual) only: through the virtual it sees dk's images, not
    // dk-other's
    let only_other = image_manifest(s, Keeper, "dk-other/hidden", &[b"hidden"], json!({}));
    assert_eq!(
        put_manifest(
            s,
            Keeper,
            "dk-other/hidden",
            "v1",
            OCI_MANIFEST,
            &only_other
        )
        .status(),
        StatusCode::CREATED
    );
    let r = call(s, Reader, Method::GET, &v2(s, "dk-all/hidden/manifests/v1"))
        .send()
        .unwrap();
    assert_eq!(
        error_code(r),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN".into())
    );
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, "dk-all/through/manifests/v1"),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), mine.as_slice());
}

#[test]
fn remote_repositories_proxy_an_upstream_registry_through_its_token_flow() {
    // the upstream: another arca, whose registry wants a login (Bearer challenge, token)
    let (_up_dir, mut upstream) = fresh_server();
    upstream.create_repo("src", json!({"rclass": "local", "packageType": "docker"}));
    add_user(&upstream, "mirror", json!({ "password": PW, "groups": [] }));
    add_permission(&upstream, "src-read", &["src"], "mirror", &["read"]);
    let admin = |s: &Server, method: Method, url: &str| s.admin(method, url.to_string());
    let layer = b"a layer the remote fetches once".to_vec();
    let layer_digest = digest_of(&layer);
    let r = admin(
        &upstream,
        Method::POST,
        &v2(
            &upstream,
            &format!("src/lib/tool/blobs/uploads/?digest={layer_digest}"),
        ),
    )
    .body(layer.clone())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = digest_of(&config);
    let r = admin(
        &upstream,
        Method::POST,
        &v2(
            &upstream,
            &format!("src/lib/tool/blobs/uploads/?digest={config_digest}"),
        ),
    )
    .body(config.clone())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": config.len(), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": layer.len(), "digest": layer_digest}],
    }))
    .unwrap();
    let manifest_digest = digest_of(&manifest);
    let r = admin(
        &upstream,
        Method::PUT,
        &v2(&upstream, "src/lib/tool/manifests/1.0"),
    )
    .header("content-type", DOCKER_MANIFEST)
    .body(manifest.clone())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // the remote: the upstream's registry at its root, the upstream's repository key first
    let shared = shared();
    let s = &shared.s;
    let r = s
        .admin(Method::PUT, s.url("/api/repositories/dk-remote"))
        .json(&json!({"rclass": "remote", "packageType": "docker",
                      "url": format!("http://{}:{}/", upstream.ip, upstream.port),
                      "username": "mirror", "password": PW}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let r = s
        .admin(
            Method::PUT,
            s.url("/api/v2/security/permissions/dk-remote-read"),
        )
        .json(&json!({"name": "dk-remote-read", "repo": {
            "repositories": ["dk-remote"], "include-patterns": ["**"],
            "actions": {"users": {"reader": ["read"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let name = "dk-remote/src/lib/tool";
    let (t, _) = tags(s, Reader, name, "");
    assert_eq!(t, vec!["1.0"], "the upstream's tags");
    for reference in ["1.0", manifest_digest.as_str()] {
        let r = call(
            s,
            Reader,
            Method::GET,
            &v2(s, &format!("{name}/manifests/{reference}")),
        )
        .send()
        .unwrap();
        if r.status() != StatusCode::OK {
            panic!("{reference}: {} {}", r.status(), r.text().unwrap());
        }
        assert_eq!(r.headers()["content-type"], DOCKER_MANIFEST);
        assert_eq!(
            r.headers()["docker-content-digest"].to_str().unwrap(),
            manifest_digest
        );
        assert_eq!(r.bytes().unwrap().as_ref(), manifest.as_slice());
    }
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/blobs/{layer_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().as_ref(), layer.as_slice());
    let r = call(
        s,
        Reader,
        Method::HEAD,
        &v2(s, &format!("{name}/blobs/{config_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // what the upstream does not have
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/2.0")),
    )
    .send()
    .unwrap();
    assert_eq!(error_code(r).1, "MANIFEST_UNKNOWN");
    // pushes go to local repositories
    let r = call(
        s,
        Keeper,
        Method::POST,
        &v2(s, &format!("{name}/blobs/uploads/")),
    )
    .send()
    .unwrap();
    assert_ne!(r.status(), StatusCode::ACCEPTED);

    // the upstream gone: everything pulled before is served from the cache
    upstream.stop();
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/{manifest_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), manifest.as_slice());
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/manifests/1.0")),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the cached tag (not stale yet)");
    let r = call(
        s,
        Reader,
        Method::GET,
        &v2(s, &format!("{name}/blobs/{layer_digest}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), layer.as_slice());
    let (t, _) = tags(s, Reader, name, "");
    assert_eq!(t, vec!["1.0"], "the cached tags");
}

#[test]
fn gc_ends_idle_sessions_and_removes_unreferenced_blobs_and_old_untagged_manifests() {
    let (_dir, s) = fresh_server_with(&[
        "arca.oci.upload.expiry.secs=1",
        "arca.oci.untagged.retention.secs=1",
        "arca.gc.grace.secs=0",
        "arca.gc.interval.secs=0",
    ]);
    s.create_repo("dk", json!({"rclass": "local", "packageType": "docker"}));
    let admin = |method: Method, url: &str| s.admin(method, url.to_string());
    let push = |bytes: &[u8]| {
        let digest = digest_of(bytes);
        let r = admin(
            Method::POST,
            &v2(&s, &format!("dk/gc/blobs/uploads/?digest={digest}")),
        )
        .body(bytes.to_vec())
        .send()
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        digest
    };
    let manifest_of = |layer: &str, extra: Value| {
        let config = push(b"{}");
        let mut m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                       "digest": config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "size": 1, "digest": layer}]});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        serde_json::to_vec(&m).unwrap()
    };
    let put = |reference: &str, body: &[u8]| {
        let r = admin(
            Method::PUT,
            &v2(&s, &format!("dk/gc/manifests/{reference}")),
        )
        .header("content-type", OCI_MANIFEST)
        .body(body.to_vec())
        .send()
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    };
    let kept_layer = push(b"k");
    let tagged = manifest_of(&kept_layer, json!({}));
    put("v1", &tagged);
    let gone_layer = push(b"g");
    let untagged = manifest_of(&gone_layer, json!({}));
    put(&digest_of(&untagged), &untagged);
    let sbom_layer = push(b"s");
    let referrer = manifest_of(
        &sbom_layer,
        json!({"subject": {"mediaType": OCI_MANIFEST, "size": tagged.len(),
                           "digest": digest_of(&tagged)}}),
    );
    put(&digest_of(&referrer), &referrer);
    let orphan = push(b"o");
    let r = admin(Method::POST, &v2(&s, "dk/gc/blobs/uploads/"))
        .send()
        .unwrap();
    let session = r.headers()["location"].to_str().unwrap().to_string();
    let r = admin(
        Method::PATCH,
        &format!("http://{}:{}{session}", s.ip, s.port),
    )
    .body(vec![7u8; 4096])
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    std::thread::sleep(Duration::from_millis(2100));

    let r = admin(Method::POST, &s.url("/api/system/storage/gc"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().unwrap();
    assert_eq!(report["ociUploadsExpired"], 1, "{report}");
    // the untagged manifest, then its layer and the orphan blob
    assert_eq!(report["ociItemsRemoved"], 3, "{report}");
    assert!(report["binariesRemoved"].as_u64().unwrap() >= 4, "{report}");
    let status = |url: String| admin(Method::HEAD, &url).send().unwrap().status();
    assert_eq!(
        admin(Method::GET, &format!("http://{}:{}{session}", s.ip, s.port))
            .send()
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "the idle session ended"
    );
    for gone in [orphan.as_str(), gone_layer.as_str()] {
        assert_eq!(
            status(v2(&s, &format!("dk/gc/blobs/{gone}"))),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        status(v2(&s, &format!("dk/gc/manifests/{}", digest_of(&untagged)))),
        StatusCode::NOT_FOUND
    );
    // the tagged image, its referrer and what they reference stay
    for kept in [kept_layer.as_str(), sbom_layer.as_str()] {
        assert_eq!(
            status(v2(&s, &format!("dk/gc/blobs/{kept}"))),
            StatusCode::OK
        );
    }
    assert_eq!(status(v2(&s, "dk/gc/manifests/v1")), StatusCode::OK);
    assert_eq!(
        status(v2(&s, &format!("dk/gc/manifests/{}", digest_of(&referrer)))),
        StatusCode::OK
    );
    let r = admin(
        Method::GET,
        &v2(&s, "dk/gc/blobs/").replace("/blobs/", &format!("/blobs/{kept_layer}")),
    )
    .send()
    .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), b"k");
}

#[test]
fn max_unique_tags_keeps_the_newest_tags() {
    let shared = shared();
    let s = &shared.s;
    let r = s
        .admin(Method::PUT, s.url("/api/repositories/dk-few"))
        .json(&json!({"rclass": "local", "packageType": "docker", "maxUniqueTags": 2}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    add_permission(
        s,
        "dk-few-keep",
        &["dk-few"],
        "keeper",
        &["read", "write", "delete"],
    );
    let name = "dk-few/app";
    for (i, tag) in ["1.0", "1.1", "1.2"].iter().enumerate() {
        let layer = format!("layer {i}");
        let manifest = image_manifest(s, Keeper, name, &[layer.as_bytes()], json!({}));
        assert_eq!(
            put_manifest(s, Keeper, name, tag, OCI_MANIFEST, &manifest).status(),
            StatusCode::CREATED
        );
    }
    let (t, _) = tags(s, Keeper, name, "");
    assert_eq!(t, vec!["1.1", "1.2"], "the oldest tag went");
    let r = s
        .admin(Method::GET, s.url("/api/repositories/dk-few"))
        .send()
        .unwrap();
    let config: Value = r.json().unwrap();
    assert_eq!(config["maxUniqueTags"], 2);
}

#[test]
fn an_index_by_tag_and_what_a_client_that_reads_no_index_gets() {
    let shared = shared();
    let s = &shared.s;
    let name = "dk/multi";
    let arm = image_manifest(s, Pusher, name, &[b"arm64 layer"], json!({}));
    let amd = image_manifest(s, Pusher, name, &[b"amd64 layer"], json!({}));
    for m in [&arm, &amd] {
        assert_eq!(
            put_manifest(s, Pusher, name, &digest_of(m), OCI_MANIFEST, m).status(),
            StatusCode::CREATED
        );
    }
    let child = |m: &[u8], arch: &str| {
        json!({"mediaType": OCI_MANIFEST, "size": m.len(), "digest": digest_of(m),
               "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [child(&arm, "arm64"), child(&amd, "amd64")],
    }))
    .unwrap();
    assert_eq!(
        put_manifest(s, Pusher, name, "latest", OCI_INDEX, &index).status(),
        StatusCode::CREATED
    );
    let get = |accept: &[&str]| {
        let mut b = call(
            s,
            Reader,
            Method::GET,
            &v2(s, &format!("{name}/manifests/latest")),
        );
        for a in accept {
            b = b.header("accept", *a);
        }
        let r = b.send().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
        (ctype, r.bytes().unwrap().to_vec())
    };
    // podman and skopeo name the index types: the index
    assert_eq!(
        get(&[OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX]),
        (OCI_INDEX.to_string(), index.clone())
    );
    // no Accept (curl), or a wildcard: the index
    assert_eq!(get(&[]).1, index);
    assert_eq!(get(&["*/*"]).1, index);
    // a client that reads image manifests only: the linux/amd64 image
    assert_eq!(
        get(&[&format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}")]),
        (OCI_MANIFEST.to_string(), amd.clone())
    );
}
