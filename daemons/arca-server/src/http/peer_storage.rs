//! Node-to-node access to this node's own store, for the `remote` provider of a
//! sharding-cluster chain on the other nodes:
//!
//! `PUT|GET|HEAD|DELETE {context}/api/system/storage/binaries/{sha256}`
//!
//! Every call must be signed with the cluster's master key for this node (401 otherwise,
//! before anything else is looked at; see [`crate::http::node_auth`]). The handlers work on
//! the node's own store only (the state-aware file store, or the eventual-cluster queue of
//! `cluster-s3-storage-v3`) — never through the chain (cache, peers, object store) — so a
//! request cannot travel on to another node.
//!
//! * `PUT` refuses a signed `X-Arca-Content-Sha256` other than the path's SHA-256 before
//!   reading the body (400); streams the body into the staging dir (hashed on the way like
//!   any upload); refuses content whose SHA-256 differs from the path, thus from the signed
//!   digest, or from the declared `X-Checksum-*` (409: the sender quarantines its copy); and
//!   places it in the store and records the copy in one write transaction.
//! * `GET`/`HEAD` serve the stored copy; a `GET` hashes it while streaming and quarantines a
//!   corrupt copy (the response is aborted, the caller tries another node).
//! * `DELETE` deletes the copy only when the database no longer knows the binary, checked
//!   inside a write transaction (garbage collection on another node deleted the row first);
//!   otherwise 409 and the copy stays.

use tokio::io::AsyncReadExt;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::{Reply, Response};

use arca_db::{copies, items};
use arca_storage::{ClusterTier, validate_sha256, verify_declared};

use crate::http::Request;
use crate::http::error::{ApiError, ApiResult, empty_response};
use crate::http::node_auth::{Body, NodeCaller, verify_node_signature};

/// Read size of the chunks a `GET` streams.
const CHUNK: usize = 256 * 1024;

pub async fn handle(req: &mut Request, sha256: &str) -> ApiResult<Response> {
    let body = if req.method == Method::PUT {
        Body::Read
    } else {
        Body::None
    };
    let caller = verify_node_signature(req, body)?;
    validate_sha256(sha256).map_err(|_| {
        ApiError::bad_request(format!(
            "{sha256:?} is not a SHA-256 (64 lowercase hex characters)"
        ))
    })?;
    let Some(tier) = req.app.storage.cluster().cloned() else {
        return Err(ApiError::not_found(format!(
            "this node's storage chain '{}' has no sharding-cluster",
            req.app.storage.description()
        )));
    };
    tracing::debug!(caller = %caller, method = %req.method, arca_sha256 = sha256, "peer storage call");
    match req.method {
        Method::PUT => put(req, &tier, sha256, &caller).await,
        Method::GET | Method::HEAD => get(req, sha256).await,
        Method::DELETE => delete(req, &tier, sha256).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn put(
    req: &Request,
    tier: &ClusterTier,
    sha256: &str,
    caller: &NodeCaller,
) -> ApiResult<Response> {
    if let Some(signed) = caller.signed_content_sha256()
        && signed != sha256
    {
        return Err(ApiError::bad_request(format!(
            "the signed content SHA-256 {signed} is not the path's {sha256}; nothing was stored"
        )));
    }
    if !tier.write_enabled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node's store does not take new copies (state-aware writeEnabled=false)",
        ));
    }
    // Dropping `staged` on any error below deletes the temp file: nothing is stored.
    let staged = crate::http::upload::receive_upload(req).await?;
    let sums = staged.checksums().clone();
    // The signed body digest is the path's (checked above), so this also refuses a body
    // altered on the way. 409, not 400: the sender takes it as "my copy is corrupt".
    if sums.sha256 != sha256 {
        return Err(ApiError::conflict(format!(
            "content hashes to SHA-256 {}, not {sha256}; nothing was stored",
            sums.sha256
        )));
    }
    let mismatches = verify_declared(
        &sums,
        req.header("x-checksum-sha1"),
        None,
        req.header("x-checksum-md5"),
    );
    if let Some((alg, declared, actual)) = mismatches.first() {
        return Err(ApiError::conflict(format!(
            "{alg}: sender declared {declared}, content is {actual}; nothing was stored"
        )));
    }
    let (store, node, now, sha) = (
        tier.own().clone(),
        tier.node_id().to_owned(),
        req.app.now_ms(),
        sums.sha256.clone(),
    );
    // Place and record in one write transaction: a delete of the same binary (which checks
    // the database in its own write transaction) cannot interleave.
    let placed = req
        .app
        .db
        .write(move |tx| {
            let placed = store.place(staged)?;
            copies::record_copy(tx, &sha, &node, now)?;
            Ok::<_, ApiError>(placed)
        })
        .await?;
    if !placed {
        // Same content was already here (maybe an orphan about to be swept): make it young
        // again, so the orphan sweep's grace period protects the deploy it now serves.
        tier.own().touch(sha256);
    }
    tracing::debug!(
        caller = %caller,
        arca_sha256 = sha256,
        size = sums.size,
        new = placed,
        "stored a copy for a peer node"
    );
    if placed {
        req.app.wake_mover(); // cluster-s3-storage-v3: the copy is this node's queue entry
    }
    Ok(empty_response(if placed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }))
}

async fn get(req: &Request, sha256: &str) -> ApiResult<Response> {
    let storage = &req.app.storage;
    let not_found = || ApiError::not_found(format!("no copy of {sha256} on this node"));
    let Some(located) = storage.locate_own(sha256)? else {
        return Err(not_found());
    };
    let file = match tokio::fs::File::open(&located.path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(ApiError::internal("opening a stored copy", e)),
    };
    let opened = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal("reading a stored copy", e))?;
    let len = opened.len();
    let mut resp = if req.method == Method::HEAD {
        Response::default()
    } else {
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), CHUNK);
        // Hashed while it streams: a corrupt copy is quarantined and the response aborted, so
        // the caller never takes wrong bytes for this binary (it verifies too).
        let verify = crate::http::verify::VerifyingStream::new(
            stream,
            len,
            sha256.to_owned(),
            storage.clone(),
            located,
            opened,
        );
        warp::reply::stream(verify).into_response()
    };
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(sha256) {
        headers.insert("x-checksum-sha256", v);
    }
    Ok(resp)
}

async fn delete(req: &Request, tier: &ClusterTier, sha256: &str) -> ApiResult<Response> {
    let (store, node, sha) = (
        tier.own().clone(),
        tier.node_id().to_owned(),
        sha256.to_owned(),
    );
    let outcome = req
        .app
        .db
        .write(move |tx| {
            if items::binary_known(tx, &sha)? {
                return Ok::<_, ApiError>(None);
            }
            let removed = store.remove(&sha)?;
            copies::remove_copy(tx, &sha, &node)?;
            Ok(Some(removed))
        })
        .await?;
    match outcome {
        Some(true) => {
            tracing::debug!(
                arca_sha256 = sha256,
                "deleted a collected copy for a peer node"
            );
            Ok(empty_response(StatusCode::NO_CONTENT))
        }
        Some(false) => Err(ApiError::not_found(format!(
            "no copy of {sha256} on this node"
        ))),
        None => Err(ApiError::conflict(format!(
            "binary {sha256} is still known to the database; the copy is kept"
        ))),
    }
}
