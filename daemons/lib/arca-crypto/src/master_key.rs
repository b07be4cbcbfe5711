//! Uses of the cluster master key (`etc/security/master.key`, 16 bytes; parsing lives in
//! `arca_config::MasterKey`):
//!
//! - [`generate_master_key_hex`]: a new key as 32 lowercase hex characters.
//! - [`SecretBox`]: AES-128-GCM for secrets stored in the DB and config files, as the text
//!   token `enc:v1:<base64url(nonce || ciphertext+tag)>`.
//! - [`key_check_value`]: a non-secret fingerprint stored in the DB to detect a node started
//!   with a different key.
//! - [`RequestSigner`] and [`ReplayGuard`]: HMAC-SHA256 authentication of node-to-node HTTP
//!   calls, bound to method, path, receiving node and body digest (header format in
//!   [`RequestSigner`]).
//!
//! Each use gets its own sub-key, `HMAC-SHA256(master, label)` with a distinct fixed label, so
//! the same 16 bytes are never used directly by two algorithms. Errors never contain key
//! material or plaintext.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes128Gcm, KeyInit as _, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::Sha256;

use crate::CryptoError;

type HmacSha256 = Hmac<Sha256>;

/// Length of the master key in bytes (AES-128).
pub const MASTER_KEY_LEN: usize = 16;

/// Prefix of every sealed value produced by [`SecretBox::seal`].
pub const SEALED_PREFIX: &str = "enc:v1:";

/// Name of the HTTP header carrying a node-to-node signature (see [`RequestSigner`]).
pub const SIGNATURE_HEADER: &str = "x-arca-node-signature";

/// Header with the lowercase hex SHA-256 of a node-to-node request's body, covered by a v2
/// signature; the receiver refuses a body that hashes to anything else.
pub const CONTENT_SHA256_HEADER: &str = "x-arca-content-sha256";

/// SHA-256 of an empty body (lowercase hex).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const LABEL_SECRETBOX: &[u8] = b"arca/secretbox/aes-128-gcm/v1";
const LABEL_SIGNING: &[u8] = b"arca/node-request-signing/hmac-sha256/v1";
const LABEL_KEY_CHECK: &[u8] = b"arca/master-key-check/v1";
const SIGNATURE_DOMAIN_V1: &[u8] = b"arca-node-request-v1";
const SIGNATURE_DOMAIN_V2: &[u8] = b"arca-node-request-v2";
/// Accepted nonce lengths in the signature header (hex characters).
const NONCE_HEX_MIN: usize = 16;
const NONCE_HEX_MAX: usize = 64;

/// `HMAC-SHA256(key, label)`: a sub-key (or fingerprint) for one purpose.
fn derive(key: &[u8; MASTER_KEY_LEN], label: &[u8]) -> [u8; 32] {
    let mut mac = hmac_with_key(key);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn hmac_with_key(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match <HmacSha256 as hmac::Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// A new master key: 16 bytes from the OS RNG as 32 lowercase hex characters (the format of
/// `etc/security/master.key`, like `openssl rand -hex 16`).
pub fn generate_master_key_hex() -> String {
    let mut key = [0u8; MASTER_KEY_LEN];
    OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

/// Non-secret fingerprint of the master key: the first 16 bytes of
/// `HMAC-SHA256(key, "arca/master-key-check/v1")`, lowercase hex (32 characters). Stored in the
/// DB by the first node; a node whose key gives a different value refuses to start.
pub fn key_check_value(key: &[u8; MASTER_KEY_LEN]) -> String {
    hex::encode(&derive(key, LABEL_KEY_CHECK)[..16])
}

/// `true` when `value` looks like a token from [`SecretBox::seal`] (only the prefix is checked).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// Authenticated encryption of secrets (AES-128-GCM, random 96-bit nonce per value).
///
/// `context` is bound as associated data: use a stable name of where the value lives (e.g.
/// `b"db:remote_repos.password"`), so a sealed value copied into another field fails to open.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes128Gcm,
}

impl SecretBox {
    /// A box keyed by a sub-key derived from the master key.
    pub fn new(master_key: &[u8; MASTER_KEY_LEN]) -> Self {
        let sub = derive(master_key, LABEL_SECRETBOX);
        let cipher = match Aes128Gcm::new_from_slice(&sub[..16]) {
            Ok(c) => c,
            Err(_) => unreachable!("16-byte slice is a valid AES-128 key"),
        };
        SecretBox { cipher }
    }

    /// Encrypt `plaintext`; returns `enc:v1:<base64url(nonce || ciphertext || tag)>`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = match self.cipher.encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        ) {
            Ok(ct) => ct,
            // Only fails for inputs beyond GCM's ~64 GiB limit, which no secret approaches.
            Err(_) => unreachable!("AES-GCM plaintext length limit exceeded"),
        };
        let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        let mut token = String::with_capacity(SEALED_PREFIX.len() + (raw.len() * 4).div_ceil(3));
        token.push_str(SEALED_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&raw, &mut token);
        token
    }

    /// Decrypt a token from [`seal`](Self::seal) with the same `context`.
    ///
    /// `MalformedSecret` when the token is not in the `enc:v1:` format; `SecretOpenFailed` when
    /// it is well-formed but does not authenticate (other master key, other context, tampered).
    pub fn open(&self, token: &str, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let body = token
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CryptoError::MalformedSecret("missing enc:v1: prefix"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::MalformedSecret("invalid base64url"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::MalformedSecret("too short"));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::SecretOpenFailed)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox").finish_non_exhaustive()
    }
}

/// Version of a node-to-node signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// Method, path and query, caller, timestamp, nonce: not bound to the body or the
    /// receiving node. Accepted only with [`RequestSigner::with_v1_compat`].
    V1,
    /// V1's fields plus the receiving node and the body's SHA-256.
    V2,
}

/// A node-to-node request as a v2 signature covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRequest<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Path (context path included) and query, as on the request line.
    pub path_and_query: &'a str,
    /// `node.id` of the node the request is for.
    pub target_node: &'a str,
    /// Lowercase hex SHA-256 of the body ([`EMPTY_SHA256`] without one); travels in
    /// [`CONTENT_SHA256_HEADER`].
    pub content_sha256: &'a str,
}

/// A request as the receiving node sees it, for [`RequestSigner::verify_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// The receiving node's own `node.id`.
    pub this_node: &'a str,
    /// The [`CONTENT_SHA256_HEADER`] value, if the request has one.
    pub content_sha256: Option<&'a str>,
}

/// The verified origin of a signed node-to-node request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// `node.id` of the calling node.
    pub node_id: String,
    /// The request's timestamp (ms since the Unix epoch), for [`ReplayGuard`].
    pub timestamp_ms: i64,
    /// The request's nonce, for [`ReplayGuard`].
    pub nonce: String,
    pub version: SignatureVersion,
    /// V2: the body digest the signature covers. The signature does not prove the body: the
    /// receiver must hash what it reads and refuse it when it differs. `None` for v1.
    pub content_sha256: Option<String>,
}

/// Signs and verifies node-to-node HTTP requests.
///
/// Header ([`SIGNATURE_HEADER`]) value, single spaces, fields in this order:
///
/// ```text
/// v2 node=<caller id> to=<receiver id> ts=<unix-ms> nonce=<hex, 16..=64 chars> sig=<64 lowercase hex>
/// ```
///
/// with the body's SHA-256 in [`CONTENT_SHA256_HEADER`] (lowercase hex; [`EMPTY_SHA256`]
/// without a body). `sig` is `HMAC-SHA256(sub-key, canonical)` where `canonical` is
/// `"arca-node-request-v2"` followed by method, path-and-query, receiver id, body SHA-256,
/// caller id, decimal timestamp and nonce, each preceded by its length as a big-endian u64.
/// A captured request is thus good for one node, one body, once ([`ReplayGuard`]) and for
/// the skew window only.
///
/// The older v1 (`v1 node= ts= nonce= sig=`, domain `"arca-node-request-v1"` over method,
/// path-and-query, caller id, timestamp and nonce) binds neither the body nor the receiver.
/// It is produced and accepted only in v1 compatibility mode ([`with_v1_compat`]), for a
/// rolling upgrade from versions that know nothing else.
///
/// Node ids must be non-empty visible ASCII without spaces (`!`..=`~`); a header carrying
/// another id fails verification as malformed. The method is used as given (callers pass
/// the HTTP method in upper case).
///
/// [`with_v1_compat`]: RequestSigner::with_v1_compat
#[derive(Clone)]
pub struct RequestSigner {
    key: [u8; 32],
    v1_compat: bool,
}

impl RequestSigner {
    /// A signer keyed by a sub-key derived from the master key; signs and accepts v2 only.
    pub fn new(master_key: &[u8; MASTER_KEY_LEN]) -> Self {
        RequestSigner {
            key: derive(master_key, LABEL_SIGNING),
            v1_compat: false,
        }
    }

    /// With `on`, [`headers`](Self::headers) puts a v1 signature before the v2 one (a node of
    /// an older version reads only the first value of the header) and
    /// [`verify_request`](Self::verify_request) accepts a request signed v1 only.
    pub fn with_v1_compat(mut self, on: bool) -> Self {
        self.v1_compat = on;
        self
    }

    /// Whether v1 signatures are sent and accepted.
    pub fn v1_compat(&self) -> bool {
        self.v1_compat
    }

    /// HMAC over `domain` and `fields`, each preceded by its length (big-endian u64).
    fn mac(&self, domain: &[u8], fields: &[&[u8]]) -> HmacSha256 {
        let mut mac = hmac_with_key(&self.key);
        for field in std::iter::once(&domain).chain(fields) {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    fn mac_v1(
        &self,
        method: &str,
        path_and_query: &str,
        node_id: &str,
        ts: i64,
        nonce: &str,
    ) -> HmacSha256 {
        let ts = ts.to_string();
        self.mac(
            SIGNATURE_DOMAIN_V1,
            &[
                method.as_bytes(),
                path_and_query.as_bytes(),
                node_id.as_bytes(),
                ts.as_bytes(),
                nonce.as_bytes(),
            ],
        )
    }

    fn mac_v2(&self, req: &NodeRequest<'_>, node_id: &str, ts: i64, nonce: &str) -> HmacSha256 {
        let ts = ts.to_string();
        self.mac(
            SIGNATURE_DOMAIN_V2,
            &[
                req.method.as_bytes(),
                req.path_and_query.as_bytes(),
                req.target_node.as_bytes(),
                req.content_sha256.as_bytes(),
                node_id.as_bytes(),
                ts.as_bytes(),
                nonce.as_bytes(),
            ],
        )
    }

    /// A v1 header value (what versions before v2 send and accept). `nonce`: fresh random
    /// hex per request (e.g. `random_hex(16)`).
    pub fn sign_v1(
        &self,
        method: &str,
        path_and_query: &str,
        node_id: &str,
        timestamp_ms: i64,
        nonce: &str,
    ) -> String {
        let sig = self
            .mac_v1(method, path_and_query, node_id, timestamp_ms, nonce)
            .finalize()
            .into_bytes();
        format!(
            "v1 node={node_id} ts={timestamp_ms} nonce={nonce} sig={}",
            hex::encode(sig)
        )
    }

    /// The v2 header value for `req`, sent by node `node_id`. `nonce`: fresh random hex per
    /// request (e.g. `random_hex(16)`).
    pub fn sign_v2(
        &self,
        req: &NodeRequest<'_>,
        node_id: &str,
        timestamp_ms: i64,
        nonce: &str,
    ) -> String {
        let sig = self
            .mac_v2(req, node_id, timestamp_ms, nonce)
            .finalize()
            .into_bytes();
        format!(
            "v2 node={node_id} to={} ts={timestamp_ms} nonce={nonce} sig={}",
            req.target_node,
            hex::encode(sig)
        )
    }

    /// Every header a signed request carries, in order: a v1 signature first in v1
    /// compatibility mode, the v2 signature, and [`CONTENT_SHA256_HEADER`]. Add them with
    /// *append* semantics (reqwest's `RequestBuilder::header` does): two values of
    /// [`SIGNATURE_HEADER`] must both reach the receiver, v1 first.
    pub fn headers(
        &self,
        req: &NodeRequest<'_>,
        node_id: &str,
        timestamp_ms: i64,
        nonce: &str,
    ) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(3);
        if self.v1_compat {
            headers.push((
                SIGNATURE_HEADER,
                self.sign_v1(req.method, req.path_and_query, node_id, timestamp_ms, nonce),
            ));
        }
        headers.push((
            SIGNATURE_HEADER,
            self.sign_v2(req, node_id, timestamp_ms, nonce),
        ));
        headers.push((CONTENT_SHA256_HEADER, req.content_sha256.to_owned()));
        headers
    }

    /// Check a v1 header value against the received request. `now_ms` is the receiver's
    /// clock (ms since the Unix epoch); requests whose timestamp differs from it by more than
    /// `max_skew_ms` (either direction) are rejected, exactly `max_skew_ms` is accepted.
    /// Replay protection is separate: pass the result to [`ReplayGuard::check_and_remember`].
    /// Whether v1 is acceptable at all is the caller's decision ([`verify_request`] makes it).
    ///
    /// [`verify_request`]: Self::verify_request
    pub fn verify_v1(
        &self,
        header_value: &str,
        method: &str,
        path_and_query: &str,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<SignedBy, CryptoError> {
        let parsed = parse_header(header_value)?;
        if parsed.version != SignatureVersion::V1 {
            return Err(CryptoError::MalformedSignature("expected a v1 signature"));
        }
        let sig = hex::decode(parsed.sig)
            .map_err(|_| CryptoError::MalformedSignature("sig is not hex"))?;
        self.mac_v1(method, path_and_query, parsed.node, parsed.ts, parsed.nonce)
            .verify_slice(&sig)
            .map_err(|_| CryptoError::BadSignature)?;
        check_skew(parsed.ts, now_ms, max_skew_ms)?;
        Ok(SignedBy {
            node_id: parsed.node.to_owned(),
            timestamp_ms: parsed.ts,
            nonce: parsed.nonce.to_owned(),
            version: SignatureVersion::V1,
            content_sha256: None,
        })
    }

    /// Check a v2 header value against the received request; `req.target_node` is the
    /// receiving node's own id and `req.content_sha256` the received
    /// [`CONTENT_SHA256_HEADER`]. A signature for another node is
    /// [`CryptoError::WrongTargetNode`]. Skew and replay as for [`verify_v1`](Self::verify_v1).
    pub fn verify_v2(
        &self,
        header_value: &str,
        req: &NodeRequest<'_>,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<SignedBy, CryptoError> {
        let parsed = parse_header(header_value)?;
        let (SignatureVersion::V2, Some(signed_for)) = (parsed.version, parsed.to) else {
            return Err(CryptoError::MalformedSignature("expected a v2 signature"));
        };
        if !is_lower_hex(req.content_sha256, 64) {
            return Err(CryptoError::MalformedSignature(
                "the content SHA-256 must be 64 lowercase hex characters",
            ));
        }
        let sig = hex::decode(parsed.sig)
            .map_err(|_| CryptoError::MalformedSignature("sig is not hex"))?;
        let signed = NodeRequest {
            target_node: signed_for,
            ..*req
        };
        self.mac_v2(&signed, parsed.node, parsed.ts, parsed.nonce)
            .verify_slice(&sig)
            .map_err(|_| CryptoError::BadSignature)?;
        // Authentic, but for another node: say so rather than "invalid".
        if signed_for != req.target_node {
            return Err(CryptoError::WrongTargetNode {
                signed_for: signed_for.to_owned(),
                this_node: req.target_node.to_owned(),
            });
        }
        check_skew(parsed.ts, now_ms, max_skew_ms)?;
        Ok(SignedBy {
            node_id: parsed.node.to_owned(),
            timestamp_ms: parsed.ts,
            nonce: parsed.nonce.to_owned(),
            version: SignatureVersion::V2,
            content_sha256: Some(req.content_sha256.to_owned()),
        })
    }

    /// Verify a received request given every value of its [`SIGNATURE_HEADER`]: the v2
    /// signature when there is one (any v1 beside it is ignored); a request signed v1 only is
    /// [`CryptoError::V1NotAccepted`] unless in v1 compatibility mode. Skew and replay as for
    /// [`verify_v1`](Self::verify_v1).
    pub fn verify_request<'h>(
        &self,
        signatures: impl IntoIterator<Item = &'h str>,
        req: &ReceivedRequest<'_>,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<SignedBy, CryptoError> {
        let malformed = CryptoError::MalformedSignature;
        let (mut v1, mut v2) = (None, None);
        for value in signatures {
            let slot = match value.split(' ').next() {
                Some("v1") => &mut v1,
                Some("v2") => &mut v2,
                _ => return Err(malformed("unsupported or missing version (expected v2)")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("two signatures of the same version"));
            }
        }
        if let Some(header) = v2 {
            let content_sha256 = req.content_sha256.ok_or(malformed(
                "a v2 signature needs the x-arca-content-sha256 header",
            ))?;
            let signed = NodeRequest {
                method: req.method,
                path_and_query: req.path_and_query,
                target_node: req.this_node,
                content_sha256,
            };
            return self.verify_v2(header, &signed, now_ms, max_skew_ms);
        }
        match v1 {
            Some(header) if self.v1_compat => {
                self.verify_v1(header, req.method, req.path_and_query, now_ms, max_skew_ms)
            }
            Some(_) => Err(CryptoError::V1NotAccepted),
            None => Err(malformed("no signature")),
        }
    }
}

fn check_skew(ts: i64, now_ms: i64, max_skew_ms: i64) -> Result<(), CryptoError> {
    let max = u64::try_from(max_skew_ms).unwrap_or(0);
    if now_ms.abs_diff(ts) > max {
        return Err(CryptoError::ClockSkew {
            skew_ms: now_ms.saturating_sub(ts),
            max_skew_ms,
        });
    }
    Ok(())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_node_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("v1_compat", &self.v1_compat)
            .finish_non_exhaustive()
    }
}

struct ParsedHeader<'a> {
    version: SignatureVersion,
    node: &'a str,
    /// V2 only.
    to: Option<&'a str>,
    ts: i64,
    nonce: &'a str,
    sig: &'a str,
}

fn parse_header(value: &str) -> Result<ParsedHeader<'_>, CryptoError> {
    let malformed = CryptoError::MalformedSignature;
    let mut parts = value.split(' ');
    let (version, layout) = match parts.next() {
        Some("v1") => (
            SignatureVersion::V1,
            "fields must be: v1 node= ts= nonce= sig=",
        ),
        Some("v2") => (
            SignatureVersion::V2,
            "fields must be: v2 node= to= ts= nonce= sig=",
        ),
        _ => return Err(malformed("unsupported or missing version (expected v2)")),
    };
    let mut field = |name: &'static str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .ok_or(malformed(layout))
    };
    let node = field("node=")?;
    let to = match version {
        SignatureVersion::V1 => None,
        SignatureVersion::V2 => Some(field("to=")?),
    };
    let ts = field("ts=")?;
    let nonce = field("nonce=")?;
    let sig = field("sig=")?;
    if parts.next().is_some() {
        return Err(malformed("unexpected trailing field"));
    }
    if !is_node_id(node) || !to.is_none_or(is_node_id) {
        return Err(malformed("invalid node id"));
    }
    if ts.is_empty() || ts.len() > 19 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("invalid timestamp"));
    }
    let ts: i64 = ts.parse().map_err(|_| malformed("invalid timestamp"))?;
    if !(NONCE_HEX_MIN..=NONCE_HEX_MAX).contains(&nonce.len())
        || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(malformed("invalid nonce"));
    }
    if !is_lower_hex(sig, 64) {
        return Err(malformed("invalid sig"));
    }
    Ok(ParsedHeader {
        version,
        node,
        to,
        ts,
        nonce,
        sig,
    })
}

/// Remembers the (node, nonce) pairs of verified requests for the skew window, so a captured
/// request cannot be replayed. Entries older than `window_ms` (relative to the `now_ms` passed
/// in) are pruned: such a replay would fail the skew check anyway, so use the same value as
/// `max_skew_ms`. Bounded: when `max_entries` live entries are held, new requests are refused
/// (fail closed) until old ones expire. Thread-safe.
pub struct ReplayGuard {
    window_ms: i64,
    max_entries: usize,
    state: Mutex<ReplayState>,
}

#[derive(Default)]
struct ReplayState {
    seen: HashSet<(String, String)>,
    by_time: BTreeSet<(i64, String, String)>,
}

impl ReplayGuard {
    pub fn new(window_ms: i64, max_entries: usize) -> Self {
        ReplayGuard {
            window_ms: window_ms.max(0),
            max_entries,
            state: Mutex::new(ReplayState::default()),
        }
    }

    /// `true` when the request is fresh (and is now remembered); `false` for a replay, a
    /// timestamp already outside the window, or a full guard.
    pub fn check_and_remember(&self, node_id: &str, nonce: &str, ts: i64, now_ms: i64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest_kept = now_ms.saturating_sub(self.window_ms);
        while let Some(first) = state.by_time.first() {
            if first.0 >= oldest_kept {
                break;
            }
            if let Some((_, node, nonce)) = state.by_time.pop_first() {
                state.seen.remove(&(node, nonce));
            }
        }
        if ts < oldest_kept {
            return false;
        }
        let key = (node_id.to_owned(), nonce.to_owned());
        if state.seen.contains(&key) || state.seen.len() >= self.max_entries {
            return false;
        }
        state
            .by_time
            .insert((ts, node_id.to_owned(), nonce.to_owned()));
        state.seen.insert(key);
        true
    }

    /// Number of remembered requests.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("window_ms", &self.window_ms)
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 16] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];
    const K2: [u8; 16] = [7u8; 16];
    const CTX: &[u8] = b"db:remote_repos.password";
    const NOW: i64 = 1_700_000_000_000;
    const SKEW: i64 = 30_000;
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_key_format() {
        let a = generate_master_key_hex();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{a}"
        );
        assert_ne!(a, generate_master_key_hex());
    }

    #[test]
    fn seal_open_round_trip() {
        let b = SecretBox::new(&K1);
        for pt in [&b""[..], b"s3cr3t", &[0u8; 1000][..], "pässwörd".as_bytes()] {
            let t = b.seal(pt, CTX);
            assert!(is_sealed(&t), "{t}");
            assert!(
                t[SEALED_PREFIX.len()..]
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
            assert_eq!(b.open(&t, CTX).unwrap(), pt);
            // same key bytes, new instance
            assert_eq!(SecretBox::new(&K1).open(&t, CTX).unwrap(), pt);
        }
        // random nonce: two seals differ
        assert_ne!(b.seal(b"x", CTX), b.seal(b"x", CTX));
        assert!(!b.seal(b"s3cr3t", CTX).contains("s3cr3t"));
    }

    #[test]
    fn wrong_key_or_context_fails() {
        let t = SecretBox::new(&K1).seal(b"s3cr3t", CTX);
        assert!(matches!(
            SecretBox::new(&K2).open(&t, CTX),
            Err(CryptoError::SecretOpenFailed)
        ));
        assert!(matches!(
            SecretBox::new(&K1).open(&t, b"db:other.field"),
            Err(CryptoError::SecretOpenFailed)
        ));
        assert!(matches!(
            SecretBox::new(&K1).open(&t, b""),
            Err(CryptoError::SecretOpenFailed)
        ));
    }

    #[test]
    fn tampered_and_truncated_fail() {
        let b = SecretBox::new(&K1);
        let t = b.seal(b"s3cr3t", CTX);
        let raw = URL_SAFE_NO_PAD.decode(&t[SEALED_PREFIX.len()..]).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            let tok = format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bad));
            assert!(matches!(
                b.open(&tok, CTX),
                Err(CryptoError::SecretOpenFailed)
            ));
        }
        // truncated: still long enough to parse, or too short
        let tok = format!(
            "{SEALED_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 1])
        );
        assert!(matches!(
            b.open(&tok, CTX),
            Err(CryptoError::SecretOpenFailed)
        ));
        let tok = format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw[..27]));
        assert!(matches!(
            b.open(&tok, CTX),
            Err(CryptoError::MalformedSecret(_))
        ));
        for bad in [
            "",
            "s3cr3t",
            "enc:v1:",
            "enc:v1:!!!",
            "enc:v2:AAAA",
            "ENC:v1:AAAA",
        ] {
            assert!(
                matches!(b.open(bad, CTX), Err(CryptoError::MalformedSecret(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_reveal_nothing() {
        let t = SecretBox::new(&K1).seal(b"s3cr3t", CTX);
        let e = SecretBox::new(&K2).open(&t, CTX).unwrap_err();
        let msg = format!("{e} {e:?}");
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("00112233"),
            "{msg}"
        );
        assert_eq!(format!("{:?}", SecretBox::new(&K1)), "SecretBox { .. }");
        assert_eq!(
            format!("{:?}", RequestSigner::new(&K1)),
            "RequestSigner { v1_compat: false, .. }"
        );
    }

    #[test]
    fn is_sealed_checks_prefix() {
        assert!(is_sealed("enc:v1:abc"));
        assert!(!is_sealed("password"));
        assert!(!is_sealed("enc:v2:abc"));
        assert!(!is_sealed(""));
    }

    #[test]
    fn key_check_value_stable_and_distinct() {
        let a = key_check_value(&K1);
        assert_eq!(a, key_check_value(&K1));
        assert_eq!(a.len(), 32);
        assert_ne!(a, key_check_value(&K2));
        assert_ne!(a, hex::encode(K1));
        // not a plain hash of the key either
        use sha2::Digest as _;
        assert!(!hex::encode(Sha256::digest(K1)).starts_with(&a));
        // known-answer: HMAC-SHA256(K1, label), first 16 bytes
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&K1).unwrap();
        mac.update(b"arca/master-key-check/v1");
        assert_eq!(a, hex::encode(&mac.finalize().into_bytes()[..16]));
    }

    fn signed(method: &str, path: &str, node: &str, ts: i64) -> String {
        RequestSigner::new(&K1).sign_v1(method, path, node, ts, NONCE)
    }

    #[test]
    fn sign_verify_round_trip_and_format() {
        let h = signed("POST", "/api/ha/event?x=1", "art1", NOW);
        assert!(
            h.starts_with(&format!("v1 node=art1 ts={NOW} nonce={NONCE} sig=")),
            "{h}"
        );
        assert_eq!(h.len(), h.rfind("sig=").unwrap() + 4 + 64);
        let by = RequestSigner::new(&K1)
            .verify_v1(&h, "POST", "/api/ha/event?x=1", NOW, SKEW)
            .unwrap();
        assert_eq!(
            by,
            SignedBy {
                node_id: "art1".into(),
                timestamp_ms: NOW,
                nonce: NONCE.into(),
                version: SignatureVersion::V1,
                content_sha256: None,
            }
        );
        // deterministic for the same inputs
        assert_eq!(h, signed("POST", "/api/ha/event?x=1", "art1", NOW));
    }

    #[test]
    fn signature_bound_to_request_and_key() {
        let s = RequestSigner::new(&K1);
        let h = signed("POST", "/api/ha/event", "art1", NOW);
        for (m, p) in [
            ("GET", "/api/ha/event"),
            ("POST", "/api/ha/event2"),
            ("POST", "/api/ha/event?x=1"),
            ("post", "/api/ha/event"),
        ] {
            assert!(
                matches!(
                    s.verify_v1(&h, m, p, NOW, SKEW),
                    Err(CryptoError::BadSignature)
                ),
                "{m} {p}"
            );
        }
        assert!(matches!(
            RequestSigner::new(&K2).verify_v1(&h, "POST", "/api/ha/event", NOW, SKEW),
            Err(CryptoError::BadSignature)
        ));
        // editing any header field breaks the signature
        for edited in [
            h.replace("node=art1", "node=art2"),
            h.replace(&format!("ts={NOW}"), &format!("ts={}", NOW + 1)),
            h.replace(NONCE, "ffffffffffffffffffffffffffffffff"),
        ] {
            assert!(matches!(
                s.verify_v1(&edited, "POST", "/api/ha/event", NOW, SKEW),
                Err(CryptoError::BadSignature)
            ));
        }
        // length prefixes: moving bytes between fields changes the signature
        assert_ne!(
            signed("POST", "/a", "bc", NOW)
                .rsplit("sig=")
                .next()
                .unwrap(),
            signed("POST", "/ab", "c", NOW)
                .rsplit("sig=")
                .next()
                .unwrap()
        );
    }

    #[test]
    fn skew_limits() {
        let s = RequestSigner::new(&K1);
        let ok = |ts: i64| s.verify_v1(&signed("GET", "/p", "n", ts), "GET", "/p", NOW, SKEW);
        assert!(ok(NOW).is_ok());
        assert!(ok(NOW - SKEW).is_ok());
        assert!(ok(NOW + SKEW).is_ok());
        for ts in [NOW - SKEW - 1, NOW + SKEW + 1, 0] {
            assert!(matches!(ok(ts), Err(CryptoError::ClockSkew { .. })), "{ts}");
        }
        // zero / negative skew: only the exact instant
        let h = signed("GET", "/p", "n", NOW);
        assert!(s.verify_v1(&h, "GET", "/p", NOW, 0).is_ok());
        assert!(s.verify_v1(&h, "GET", "/p", NOW + 1, 0).is_err());
        assert!(s.verify_v1(&h, "GET", "/p", NOW, -5).is_ok());
        assert!(s.verify_v1(&h, "GET", "/p", i64::MIN, i64::MAX).is_err());
    }

    #[test]
    fn malformed_headers() {
        let s = RequestSigner::new(&K1);
        let good = signed("GET", "/p", "n1", NOW);
        let sig = good.rsplit("sig=").next().unwrap().to_owned();
        let bad = [
            String::new(),
            "v1".into(),
            "Bearer abc".into(),
            good.replacen("v1", "v2", 1),
            good.replace(' ', "  "),
            format!("{good} extra=1"),
            format!("v1 ts={NOW} node=n1 nonce={NONCE} sig={sig}"),
            format!("v1 node= ts={NOW} nonce={NONCE} sig={sig}"),
            format!("v1 node=n1 ts=-5 nonce={NONCE} sig={sig}"),
            format!("v1 node=n1 ts=99999999999999999999 nonce={NONCE} sig={sig}"),
            format!("v1 node=n1 ts={NOW} nonce=abc sig={sig}"),
            format!("v1 node=n1 ts={NOW} nonce=zz{} sig={sig}", &NONCE[2..]),
            format!("v1 node=n1 ts={NOW} nonce={NONCE} sig={}", &sig[1..]),
            format!(
                "v1 node=n1 ts={NOW} nonce={NONCE} sig={}",
                sig.to_uppercase()
            ),
        ];
        for h in bad {
            assert!(
                matches!(
                    s.verify_v1(&h, "GET", "/p", NOW, SKEW),
                    Err(CryptoError::MalformedSignature(_))
                ),
                "{h:?}"
            );
        }
        // a node id with a space cannot be carried
        let h = s.sign_v1("GET", "/p", "node one", NOW, NONCE);
        assert!(matches!(
            s.verify_v1(&h, "GET", "/p", NOW, SKEW),
            Err(CryptoError::MalformedSignature(_))
        ));
    }

    #[test]
    fn replay_detected() {
        let g = ReplayGuard::new(SKEW, 100);
        assert!(g.is_empty());
        assert!(g.check_and_remember("art1", NONCE, NOW, NOW));
        assert!(!g.check_and_remember("art1", NONCE, NOW, NOW + 10));
        // same nonce from another node, or another nonce: fresh
        assert!(g.check_and_remember("art2", NONCE, NOW, NOW));
        assert!(g.check_and_remember("art1", "aa", NOW, NOW));
        assert_eq!(g.len(), 3);
        // already outside the window
        assert!(!g.check_and_remember("art1", "bb", NOW - SKEW - 1, NOW));
        assert!(g.check_and_remember("art1", "bb", NOW - SKEW, NOW));
    }

    #[test]
    fn replay_guard_prunes_and_is_bounded() {
        let g = ReplayGuard::new(SKEW, 2);
        assert!(g.check_and_remember("n", "a", NOW, NOW));
        assert!(g.check_and_remember("n", "b", NOW + 1000, NOW));
        // full: fail closed
        assert!(!g.check_and_remember("n", "c", NOW, NOW));
        assert_eq!(g.len(), 2);
        // "a" expires once now - ts > window; "b" still held
        assert!(g.check_and_remember("n", "c", NOW + SKEW + 1, NOW + SKEW + 1));
        assert_eq!(g.len(), 2);
        assert!(!g.check_and_remember("n", "b", NOW + 1000, NOW + SKEW + 1));
        // everything expires
        let later = NOW + 10 * SKEW;
        assert!(g.check_and_remember("n", "a", later, later));
        assert_eq!(g.len(), 1);
        assert!(format!("{g:?}").contains("max_entries: 2"));
    }

    #[test]
    fn guard_with_verify_end_to_end() {
        let s = RequestSigner::new(&K1);
        let g = ReplayGuard::new(SKEW, 1000);
        let h = s.sign_v1("POST", "/x", "art1", NOW, NONCE);
        let by = s.verify_v1(&h, "POST", "/x", NOW + 5, SKEW).unwrap();
        assert!(g.check_and_remember(&by.node_id, &by.nonce, by.timestamp_ms, NOW + 5));
        let by = s.verify_v1(&h, "POST", "/x", NOW + 6, SKEW).unwrap();
        assert!(!g.check_and_remember(&by.node_id, &by.nonce, by.timestamp_ms, NOW + 6));
    }
    // ---- v2: bound to the receiving node and the body digest

    const BODY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const PEER_PUT: NodeRequest<'static> = NodeRequest {
        method: "PUT",
        path_and_query: "/artifactory/api/system/storage/binaries/9f86d0",
        target_node: "node-a",
        content_sha256: BODY,
    };

    fn received<'a>(req: &NodeRequest<'a>, this_node: &'a str) -> ReceivedRequest<'a> {
        ReceivedRequest {
            method: req.method,
            path_and_query: req.path_and_query,
            this_node,
            content_sha256: Some(req.content_sha256),
        }
    }

    #[test]
    fn empty_sha256_is_the_digest_of_nothing() {
        assert_eq!(EMPTY_SHA256, crate::sha256_hex(b""));
    }

    #[test]
    fn v2_round_trip_and_format() {
        let s = RequestSigner::new(&K1);
        let h = s.sign_v2(&PEER_PUT, "node-b", NOW, NONCE);
        assert!(
            h.starts_with(&format!(
                "v2 node=node-b to=node-a ts={NOW} nonce={NONCE} sig="
            )),
            "{h}"
        );
        assert_eq!(h.len(), h.rfind("sig=").unwrap() + 4 + 64);
        let by = s.verify_v2(&h, &PEER_PUT, NOW, SKEW).unwrap();
        assert_eq!(
            by,
            SignedBy {
                node_id: "node-b".into(),
                timestamp_ms: NOW,
                nonce: NONCE.into(),
                version: SignatureVersion::V2,
                content_sha256: Some(BODY.into()),
            }
        );
        let by = s
            .verify_request([h.as_str()], &received(&PEER_PUT, "node-a"), NOW, SKEW)
            .unwrap();
        assert_eq!(by.version, SignatureVersion::V2);
        // v1 and v2 of the same request differ (domain and fields)
        assert_ne!(
            h.rsplit("sig=").next(),
            s.sign_v1("PUT", PEER_PUT.path_and_query, "node-b", NOW, NONCE)
                .rsplit("sig=")
                .next()
        );
    }

    #[test]
    fn v2_signature_for_node_a_is_rejected_by_node_b() {
        let s = RequestSigner::new(&K1);
        let h = s.sign_v2(&PEER_PUT, "node-c", NOW, NONCE);
        let at_b = NodeRequest {
            target_node: "node-b",
            ..PEER_PUT
        };
        match s.verify_v2(&h, &at_b, NOW, SKEW) {
            Err(CryptoError::WrongTargetNode {
                signed_for,
                this_node,
            }) => assert_eq!(
                (signed_for.as_str(), this_node.as_str()),
                ("node-a", "node-b")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.verify_request([h.as_str()], &received(&PEER_PUT, "node-b"), NOW, SKEW),
            Err(CryptoError::WrongTargetNode { .. })
        ));
        // rewriting the target in the header breaks the signature
        let retargeted = h.replace("to=node-a", "to=node-b");
        assert!(matches!(
            s.verify_v2(&retargeted, &at_b, NOW, SKEW),
            Err(CryptoError::BadSignature)
        ));
        assert!(s.verify_v2(&h, &PEER_PUT, NOW, SKEW).is_ok());
    }

    #[test]
    fn v2_bound_to_method_path_body_digest_timestamp_caller_and_key() {
        let s = RequestSigner::new(&K1);
        let h = s.sign_v2(&PEER_PUT, "node-b", NOW, NONCE);
        let other_body = crate::sha256_hex(b"something else");
        for changed in [
            NodeRequest {
                method: "DELETE",
                ..PEER_PUT
            },
            NodeRequest {
                method: "put",
                ..PEER_PUT
            },
            NodeRequest {
                path_and_query: "/artifactory/api/system/storage/binaries/00",
                ..PEER_PUT
            },
            NodeRequest {
                path_and_query: "/artifactory/api/system/storage/binaries/9f86d0?x=1",
                ..PEER_PUT
            },
            NodeRequest {
                content_sha256: &other_body,
                ..PEER_PUT
            },
            NodeRequest {
                content_sha256: EMPTY_SHA256,
                ..PEER_PUT
            },
        ] {
            assert!(
                matches!(
                    s.verify_v2(&h, &changed, NOW, SKEW),
                    Err(CryptoError::BadSignature)
                ),
                "{changed:?}"
            );
        }
        for edited in [
            h.replace(&format!("ts={NOW}"), &format!("ts={}", NOW + 1)),
            h.replace("node=node-b", "node=node-c"),
            h.replace(NONCE, "ffffffffffffffffffffffffffffffff"),
        ] {
            assert!(
                matches!(
                    s.verify_v2(&edited, &PEER_PUT, NOW, SKEW),
                    Err(CryptoError::BadSignature)
                ),
                "{edited}"
            );
        }
        assert!(matches!(
            RequestSigner::new(&K2).verify_v2(&h, &PEER_PUT, NOW, SKEW),
            Err(CryptoError::BadSignature)
        ));
        // too old, too far ahead
        for now in [NOW + SKEW + 1, NOW - SKEW - 1] {
            assert!(matches!(
                s.verify_v2(&h, &PEER_PUT, now, SKEW),
                Err(CryptoError::ClockSkew { .. })
            ));
        }
        assert!(s.verify_v2(&h, &PEER_PUT, NOW + SKEW, SKEW).is_ok());
        // a v1 verifier does not take a v2 header, nor the other way round
        assert!(matches!(
            s.verify_v1(&h, "PUT", PEER_PUT.path_and_query, NOW, SKEW),
            Err(CryptoError::MalformedSignature(_))
        ));
        let v1 = s.sign_v1("PUT", PEER_PUT.path_and_query, "node-b", NOW, NONCE);
        assert!(matches!(
            s.verify_v2(&v1, &PEER_PUT, NOW, SKEW),
            Err(CryptoError::MalformedSignature(_))
        ));
    }

    #[test]
    fn v2_malformed_headers_and_digests() {
        let s = RequestSigner::new(&K1);
        let good = s.sign_v2(&PEER_PUT, "node-b", NOW, NONCE);
        let sig = good.rsplit("sig=").next().unwrap().to_owned();
        for bad in [
            format!("v2 node=node-b ts={NOW} nonce={NONCE} sig={sig}"),
            format!("v2 node=node-b to= ts={NOW} nonce={NONCE} sig={sig}"),
            format!("v2 to=node-a node=node-b ts={NOW} nonce={NONCE} sig={sig}"),
            format!("{good} extra=1"),
            good.replacen("v2", "v3", 1),
        ] {
            assert!(
                matches!(
                    s.verify_v2(&bad, &PEER_PUT, NOW, SKEW),
                    Err(CryptoError::MalformedSignature(_))
                ),
                "{bad}"
            );
        }
        let upper = BODY.to_uppercase();
        for digest in ["", "abc", upper.as_str(), &BODY[1..]] {
            let req = NodeRequest {
                content_sha256: digest,
                ..PEER_PUT
            };
            assert!(
                matches!(
                    s.verify_v2(&good, &req, NOW, SKEW),
                    Err(CryptoError::MalformedSignature(_))
                ),
                "{digest:?}"
            );
        }
    }

    #[test]
    fn verify_request_takes_v2_and_v1_only_in_compat_mode() {
        let strict = RequestSigner::new(&K1);
        let compat = RequestSigner::new(&K1).with_v1_compat(true);
        let at_a = received(&PEER_PUT, "node-a");
        let v1 = strict.sign_v1("PUT", PEER_PUT.path_and_query, "node-b", NOW, NONCE);
        let v2 = strict.sign_v2(&PEER_PUT, "node-b", NOW, NONCE);
        // v1 alone: refused unless in compat mode
        assert!(matches!(
            strict.verify_request([v1.as_str()], &at_a, NOW, SKEW),
            Err(CryptoError::V1NotAccepted)
        ));
        let by = compat
            .verify_request([v1.as_str()], &at_a, NOW, SKEW)
            .unwrap();
        assert_eq!(
            (by.version, by.content_sha256),
            (SignatureVersion::V1, None)
        );
        // both: v2 decides, whatever the mode and order
        for signer in [&strict, &compat] {
            for pair in [[v1.as_str(), v2.as_str()], [v2.as_str(), v1.as_str()]] {
                let by = signer.verify_request(pair, &at_a, NOW, SKEW).unwrap();
                assert_eq!(by.version, SignatureVersion::V2);
            }
        }
        // a valid v1 does not rescue a v2 for another node or a forged one
        let forged = RequestSigner::new(&K2).sign_v2(&PEER_PUT, "node-b", NOW, NONCE);
        assert!(matches!(
            compat.verify_request([v1.as_str(), forged.as_str()], &at_a, NOW, SKEW),
            Err(CryptoError::BadSignature)
        ));
        assert!(matches!(
            compat.verify_request(
                [v1.as_str(), v2.as_str()],
                &received(&PEER_PUT, "node-b"),
                NOW,
                SKEW
            ),
            Err(CryptoError::WrongTargetNode { .. })
        ));
        // v2 needs the digest header
        let no_digest = ReceivedRequest {
            content_sha256: None,
            ..at_a
        };
        assert!(matches!(
            compat.verify_request([v2.as_str()], &no_digest, NOW, SKEW),
            Err(CryptoError::MalformedSignature(_))
        ));
        for values in [
            vec![],
            vec!["Bearer x"],
            vec![v2.as_str(), v2.as_str()],
            vec![v1.as_str(), v1.as_str()],
        ] {
            assert!(
                matches!(
                    compat.verify_request(values.iter().copied(), &at_a, NOW, SKEW),
                    Err(CryptoError::MalformedSignature(_))
                ),
                "{values:?}"
            );
        }
    }

    #[test]
    fn headers_carry_v2_and_the_digest_plus_v1_first_in_compat_mode() {
        let strict = RequestSigner::new(&K1);
        let h = strict.headers(&PEER_PUT, "node-b", NOW, NONCE);
        assert_eq!(
            h,
            vec![
                (
                    SIGNATURE_HEADER,
                    strict.sign_v2(&PEER_PUT, "node-b", NOW, NONCE)
                ),
                (CONTENT_SHA256_HEADER, BODY.to_owned()),
            ]
        );
        let compat = RequestSigner::new(&K1).with_v1_compat(true);
        assert!(compat.v1_compat() && !strict.v1_compat());
        let h = compat.headers(&PEER_PUT, "node-b", NOW, NONCE);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].0, SIGNATURE_HEADER);
        // what a node of an older version reads: the first value, v1, valid on its own
        strict
            .verify_v1(&h[0].1, "PUT", PEER_PUT.path_and_query, NOW, SKEW)
            .unwrap();
        assert_eq!(
            h[1],
            (
                SIGNATURE_HEADER,
                strict.sign_v2(&PEER_PUT, "node-b", NOW, NONCE)
            )
        );
        assert_eq!(h[2], (CONTENT_SHA256_HEADER, BODY.to_owned()));
    }

    #[test]
    fn a_replayed_v2_request_and_its_v1_twin_are_rejected() {
        let compat = RequestSigner::new(&K1).with_v1_compat(true);
        let g = ReplayGuard::new(SKEW, 1000);
        let h = compat.headers(&PEER_PUT, "node-b", NOW, NONCE);
        let values = [h[0].1.as_str(), h[1].1.as_str()];
        let at_a = received(&PEER_PUT, "node-a");
        let fresh = |values: &[&str], now: i64| {
            let by = compat
                .verify_request(values.iter().copied(), &at_a, now, SKEW)
                .unwrap();
            g.check_and_remember(&by.node_id, &by.nonce, by.timestamp_ms, now)
        };
        assert!(fresh(&values, NOW + 5));
        assert!(!fresh(&values, NOW + 6), "replay of the whole request");
        assert!(
            !fresh(&values[..1], NOW + 7),
            "its v1 part alone: same nonce"
        );
    }

    #[test]
    fn v1_is_unchanged_for_nodes_of_older_versions() {
        // Known answer from the v1 definition: HMAC(HMAC(master, label), length-prefixed
        // domain, method, path, node, ts, nonce). Old nodes verify exactly this.
        let sub = derive(&K1, b"arca/node-request-signing/hmac-sha256/v1");
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&sub).unwrap();
        let ts = NOW.to_string();
        for field in [
            &b"arca-node-request-v1"[..],
            b"GET",
            b"/artifactory/api/system/ha/self",
            b"art1",
            ts.as_bytes(),
            NONCE.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        assert_eq!(
            RequestSigner::new(&K1).sign_v1(
                "GET",
                "/artifactory/api/system/ha/self",
                "art1",
                NOW,
                NONCE
            ),
            format!(
                "v1 node=art1 ts={NOW} nonce={NONCE} sig={}",
                hex::encode(mac.finalize().into_bytes())
            )
        );
    }
}
