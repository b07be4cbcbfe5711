//! Uses of the cluster master key (`etc/security/master.key`, 16 bytes; parsing lives in
//! `arca_config::MasterKey`):
//!
//! - [`generate_master_key_hex`]: a new key as 32 lowercase hex characters.
//! - [`SecretBox`]: AES-128-GCM for secrets stored in the DB and config files, as the text
//!   token `enc:v1:<base64url(nonce || ciphertext+tag)>`.
//! - [`key_check_value`]: a non-secret fingerprint stored in the DB to detect a node started
//!   with a different key.
//! - [`RequestSigner`] and [`ReplayGuard`]: HMAC-SHA256 authentication of node-to-node HTTP
//!   calls (header format in [`RequestSigner`]).
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

/// Name of the HTTP header carrying a node-to-node signature.
pub const SIGNATURE_HEADER: &str = "x-arca-node-signature";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const LABEL_SECRETBOX: &[u8] = b"arca/secretbox/aes-128-gcm/v1";
const LABEL_SIGNING: &[u8] = b"arca/node-request-signing/hmac-sha256/v1";
const LABEL_KEY_CHECK: &[u8] = b"arca/master-key-check/v1";
const SIGNATURE_DOMAIN: &[u8] = b"arca-node-request-v1";
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

/// The verified origin of a signed node-to-node request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// `node.id` of the calling node.
    pub node_id: String,
    /// The request's timestamp (ms since the Unix epoch), for [`ReplayGuard`].
    pub timestamp_ms: i64,
    /// The request's nonce, for [`ReplayGuard`].
    pub nonce: String,
}

/// Signs and verifies node-to-node HTTP requests.
///
/// Header ([`SIGNATURE_HEADER`]) value, single spaces, fields in this order:
///
/// ```text
/// v1 node=<node-id> ts=<unix-ms> nonce=<hex, 16..=64 chars> sig=<64 lowercase hex>
/// ```
///
/// `sig` is `HMAC-SHA256(sub-key, canonical)` where `canonical` is `"arca-node-request-v1"`
/// followed by method, path-and-query, node id, decimal timestamp and nonce, each preceded by
/// its length as a big-endian u64. Node ids must be non-empty visible ASCII without spaces
/// (`!`..=`~`); a header signed for another node id fails verification as malformed.
/// The method is used as given (callers pass the HTTP method in upper case).
#[derive(Clone)]
pub struct RequestSigner {
    key: [u8; 32],
}

impl RequestSigner {
    /// A signer keyed by a sub-key derived from the master key.
    pub fn new(master_key: &[u8; MASTER_KEY_LEN]) -> Self {
        RequestSigner {
            key: derive(master_key, LABEL_SIGNING),
        }
    }

    fn mac(
        &self,
        method: &str,
        path_and_query: &str,
        node_id: &str,
        timestamp_ms: i64,
        nonce: &str,
    ) -> HmacSha256 {
        let mut mac = hmac_with_key(&self.key);
        let ts = timestamp_ms.to_string();
        for field in [
            SIGNATURE_DOMAIN,
            method.as_bytes(),
            path_and_query.as_bytes(),
            node_id.as_bytes(),
            ts.as_bytes(),
            nonce.as_bytes(),
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    /// The header value for a request. `nonce`: fresh random hex per request
    /// (e.g. `random_hex(16)`).
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        node_id: &str,
        timestamp_ms: i64,
        nonce: &str,
    ) -> String {
        let sig = self
            .mac(method, path_and_query, node_id, timestamp_ms, nonce)
            .finalize()
            .into_bytes();
        format!(
            "v1 node={node_id} ts={timestamp_ms} nonce={nonce} sig={}",
            hex::encode(sig)
        )
    }

    /// Check a header value against the received request. `now_ms` is the receiver's clock
    /// (ms since the Unix epoch); requests whose timestamp differs from it by more than
    /// `max_skew_ms` (either direction) are rejected, exactly `max_skew_ms` is accepted.
    /// Replay protection is separate: pass the result to [`ReplayGuard::check_and_remember`].
    pub fn verify(
        &self,
        header_value: &str,
        method: &str,
        path_and_query: &str,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<SignedBy, CryptoError> {
        let parsed = parse_header(header_value)?;
        let sig = hex::decode(parsed.sig)
            .map_err(|_| CryptoError::MalformedSignature("sig is not hex"))?;
        self.mac(method, path_and_query, parsed.node, parsed.ts, parsed.nonce)
            .verify_slice(&sig)
            .map_err(|_| CryptoError::BadSignature)?;
        let max = u64::try_from(max_skew_ms).unwrap_or(0);
        if now_ms.abs_diff(parsed.ts) > max {
            return Err(CryptoError::ClockSkew {
                skew_ms: now_ms.saturating_sub(parsed.ts),
                max_skew_ms,
            });
        }
        Ok(SignedBy {
            node_id: parsed.node.to_owned(),
            timestamp_ms: parsed.ts,
            nonce: parsed.nonce.to_owned(),
        })
    }
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner").finish_non_exhaustive()
    }
}

struct ParsedHeader<'a> {
    node: &'a str,
    ts: i64,
    nonce: &'a str,
    sig: &'a str,
}

fn parse_header(value: &str) -> Result<ParsedHeader<'_>, CryptoError> {
    let malformed = CryptoError::MalformedSignature;
    let mut parts = value.split(' ');
    if parts.next() != Some("v1") {
        return Err(malformed("unsupported or missing version (expected v1)"));
    }
    let mut field = |name: &'static str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .ok_or(malformed("fields must be: v1 node= ts= nonce= sig="))
    };
    let node = field("node=")?;
    let ts = field("ts=")?;
    let nonce = field("nonce=")?;
    let sig = field("sig=")?;
    if parts.next().is_some() {
        return Err(malformed("unexpected trailing field"));
    }
    if node.is_empty() || !node.bytes().all(|b| b.is_ascii_graphic()) {
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
    if sig.len() != 64 || !sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(malformed("invalid sig"));
    }
    Ok(ParsedHeader {
        node,
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
            "RequestSigner { .. }"
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
        RequestSigner::new(&K1).sign(method, path, node, ts, NONCE)
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
            .verify(&h, "POST", "/api/ha/event?x=1", NOW, SKEW)
            .unwrap();
        assert_eq!(
            by,
            SignedBy {
                node_id: "art1".into(),
                timestamp_ms: NOW,
                nonce: NONCE.into()
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
                    s.verify(&h, m, p, NOW, SKEW),
                    Err(CryptoError::BadSignature)
                ),
                "{m} {p}"
            );
        }
        assert!(matches!(
            RequestSigner::new(&K2).verify(&h, "POST", "/api/ha/event", NOW, SKEW),
            Err(CryptoError::BadSignature)
        ));
        // editing any header field breaks the signature
        for edited in [
            h.replace("node=art1", "node=art2"),
            h.replace(&format!("ts={NOW}"), &format!("ts={}", NOW + 1)),
            h.replace(NONCE, "ffffffffffffffffffffffffffffffff"),
        ] {
            assert!(matches!(
                s.verify(&edited, "POST", "/api/ha/event", NOW, SKEW),
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
        let ok = |ts: i64| s.verify(&signed("GET", "/p", "n", ts), "GET", "/p", NOW, SKEW);
        assert!(ok(NOW).is_ok());
        assert!(ok(NOW - SKEW).is_ok());
        assert!(ok(NOW + SKEW).is_ok());
        for ts in [NOW - SKEW - 1, NOW + SKEW + 1, 0] {
            assert!(matches!(ok(ts), Err(CryptoError::ClockSkew { .. })), "{ts}");
        }
        // zero / negative skew: only the exact instant
        let h = signed("GET", "/p", "n", NOW);
        assert!(s.verify(&h, "GET", "/p", NOW, 0).is_ok());
        assert!(s.verify(&h, "GET", "/p", NOW + 1, 0).is_err());
        assert!(s.verify(&h, "GET", "/p", NOW, -5).is_ok());
        assert!(s.verify(&h, "GET", "/p", i64::MIN, i64::MAX).is_err());
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
                    s.verify(&h, "GET", "/p", NOW, SKEW),
                    Err(CryptoError::MalformedSignature(_))
                ),
                "{h:?}"
            );
        }
        // a node id with a space cannot be carried
        let h = s.sign("GET", "/p", "node one", NOW, NONCE);
        assert!(matches!(
            s.verify(&h, "GET", "/p", NOW, SKEW),
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
        let h = s.sign("POST", "/x", "art1", NOW, NONCE);
        let by = s.verify(&h, "POST", "/x", NOW + 5, SKEW).unwrap();
        assert!(g.check_and_remember(&by.node_id, &by.nonce, by.timestamp_ms, NOW + 5));
        let by = s.verify(&h, "POST", "/x", NOW + 6, SKEW).unwrap();
        assert!(!g.check_and_remember(&by.node_id, &by.nonce, by.timestamp_ms, NOW + 6));
    }
}
