//! Authentication of node-to-node calls (`X-Arca-Node-Signature`, see
//! [`arca_crypto::master_key::RequestSigner`]): a v2 signature over method, path and query,
//! this node's id, the body's SHA-256 (`X-Arca-Content-Sha256`), the caller, timestamp and
//! nonce; timestamp within [`NODE_SIGNATURE_MAX_SKEW_MS`]; nonce not seen before. A v1
//! signature only with `arca.node.signature.v1=true` (rolling upgrade). Every failure is 401.

use std::sync::atomic::{AtomicBool, Ordering};

use arca_crypto::master_key::{
    CONTENT_SHA256_HEADER, EMPTY_SHA256, ReceivedRequest, SIGNATURE_HEADER, SignatureVersion,
};
use warp::http::header;

use crate::http::Request;
use crate::http::error::{ApiError, ApiResult};
use crate::state::NODE_SIGNATURE_MAX_SKEW_MS;

/// Whether the call carries a body the handler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: the signed digest must be the empty body's, and none may be sent.
    None,
    /// A body the handler hashes while reading and refuses unless it matches
    /// [`NodeCaller::signed_content_sha256`].
    Read,
}

/// A verified node-to-node caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCaller {
    /// `node.id` of the calling node.
    pub node_id: String,
    /// The body SHA-256 the caller signed (v2); `None` for v1, which signs no body.
    signed_content_sha256: Option<String>,
}

impl NodeCaller {
    /// The body SHA-256 the signature covers, if any: a handler may refuse early when it
    /// cannot match (e.g. a content-addressed path naming another SHA-256).
    pub fn signed_content_sha256(&self) -> Option<&str> {
        self.signed_content_sha256.as_deref()
    }
}

impl std::fmt::Display for NodeCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.node_id)
    }
}

/// Logged once per process: the first call this node accepted with a v1 signature.
static V1_SEEN: AtomicBool = AtomicBool::new(false);

/// Check the request's node signature (401 on any failure, before anything else is looked
/// at) and, for [`Body::None`], that it has no body.
pub fn verify_node_signature(req: &Request, body: Body) -> ApiResult<NodeCaller> {
    let signatures: Vec<&str> = req
        .headers
        .get_all(SIGNATURE_HEADER)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::unauthorized("node signature rejected: not ASCII"))
        })
        .collect::<ApiResult<_>>()?;
    if signatures.is_empty() {
        return Err(ApiError::unauthorized(
            "node-to-node call without a signature",
        ));
    }
    let app = &req.app;
    let now = app.now_ms();
    let signed = app
        .signer
        .verify_request(
            signatures,
            &ReceivedRequest {
                method: req.method.as_str(),
                path_and_query: &req.path_and_query,
                this_node: &app.node_id,
                content_sha256: req.header(CONTENT_SHA256_HEADER),
            },
            now,
            NODE_SIGNATURE_MAX_SKEW_MS,
        )
        .map_err(|e| ApiError::unauthorized(format!("node signature rejected: {e}")))?;
    if !app.replay_guard.check_and_remember(
        &signed.node_id,
        &signed.nonce,
        signed.timestamp_ms,
        now,
    ) {
        return Err(ApiError::unauthorized(
            "node signature rejected: replayed request",
        ));
    }
    if signed.version == SignatureVersion::V1 && !V1_SEEN.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            caller = %signed.node_id,
            "accepted a v1 node signature (arca.node.signature.v1=true); further ones are not \
             logged. Remove the setting once every node runs this version"
        );
    }
    if body == Body::None {
        let has_body = req
            .header(header::CONTENT_LENGTH.as_str())
            .is_some_and(|len| len.trim() != "0")
            || req.headers.contains_key(header::TRANSFER_ENCODING);
        if has_body
            || signed
                .content_sha256
                .as_deref()
                .is_some_and(|d| d != EMPTY_SHA256)
        {
            return Err(ApiError::bad_request(format!(
                "this node-to-node call takes no body ({CONTENT_SHA256_HEADER} must be \
                 {EMPTY_SHA256})"
            )));
        }
    }
    Ok(NodeCaller {
        node_id: signed.node_id,
        signed_content_sha256: signed.content_sha256,
    })
}
