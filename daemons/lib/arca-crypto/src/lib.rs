//! arca-crypto: password hashing, access tokens, random identifiers and small
//! constant-time helpers shared by the arca daemons, and the uses of the cluster master key
//! (secret encryption, key-check value, node-to-node request signing: see [`master_key`]).
//!
//! Password hashing uses argon2id (PHC strings, argon2 crate defaults:
//! m=19456 KiB, t=2, p=1). Hashing and verifying take tens of milliseconds of
//! CPU: async callers should run them on a blocking thread
//! (`tokio::task::spawn_blocking`).

pub mod master_key;

pub use master_key::{
    NodeRequest, ReceivedRequest, ReplayGuard, RequestSigner, SecretBox, SignatureVersion,
    SignedBy, generate_master_key_hex, is_sealed, key_check_value,
};

use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier,
    Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng as _, RngCore as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Prefix of every access token, so secret scanners can recognise leaked tokens.
pub const TOKEN_PREFIX: &str = "arca_";

/// Number of random bytes in an access token.
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// Length of a token produced by [`new_access_token`]:
/// `"arca_"` + base64url (no padding) of 32 bytes (43 characters).
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 43;

/// Length of a password produced by [`random_password`].
pub const RANDOM_PASSWORD_LEN: usize = 24;

/// Errors from this crate.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Computing a password hash failed (invalid parameters, password too long, …).
    #[error("password hashing failed: {0}")]
    Hash(#[source] password_hash::Error),
    /// The stored PHC string could not be parsed or names an unsupported algorithm/parameters.
    #[error("malformed or unsupported password hash: {0}")]
    MalformedHash(#[source] password_hash::Error),
    /// A value passed to `SecretBox::open` is not an `enc:v1:` token.
    #[error("malformed encrypted value: {0}")]
    MalformedSecret(&'static str),
    /// An `enc:v1:` token did not authenticate: other master key, other context, or corrupted.
    #[error(
        "cannot decrypt value: encrypted with another master key, for another field, or corrupted"
    )]
    SecretOpenFailed,
    /// A node-to-node signature header could not be parsed.
    #[error("malformed node signature header: {0}")]
    MalformedSignature(&'static str),
    /// A node-to-node signature does not match the request (or another master key signed it).
    #[error("invalid node signature")]
    BadSignature,
    /// A signed request's timestamp is too far from this node's clock.
    #[error("request timestamp is {skew_ms} ms from local time (allowed: {max_skew_ms} ms)")]
    ClockSkew { skew_ms: i64, max_skew_ms: i64 },
    /// A valid v2 signature for a request to another node (a captured request replayed here).
    #[error("the request was signed for node '{signed_for}', this is node '{this_node}'")]
    WrongTargetNode {
        signed_for: String,
        this_node: String,
    },
    /// Only a v1 signature (not bound to the body or the receiving node), and this node does
    /// not accept v1 (`arca.node.signature.v1` is off).
    #[error(
        "v1 signatures are not accepted (they cover neither the body nor the receiving node); \
         the calling node must run a version that signs v2, or set arca.node.signature.v1=true \
         during a rolling upgrade"
    )]
    V1NotAccepted,
}

/// Hash `password` with argon2id and a fresh random salt; returns a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    ReleasingArgon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(CryptoError::Hash)
}

/// Verify `password` against a PHC string produced by [`hash_password`].
///
/// Returns `Ok(false)` on mismatch and `Err(CryptoError::MalformedHash)` if `phc`
/// is not a valid argon2 PHC string. The parameters stored in `phc` are used.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(CryptoError::MalformedHash)?;
    match ReleasingArgon2.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(CryptoError::MalformedHash(e)),
    }
}

/// Argon2 (the algorithm, version and parameters of the PHC string; argon2id with the crate's
/// defaults for a new hash) whose working memory goes back to the OS when the hash is done.
///
/// argon2's own `hash_password` takes its 19 MiB from a plain `Vec`. glibc serves the first such
/// block with mmap, and on its free raises its dynamic mmap threshold to that size, so from then
/// on every check took its 19 MiB from the heap, which kept it: a server held it after its first
/// Basic-auth check (and a test process more than 100 MiB after seven). A block of more than
/// 32 MiB (glibc's `DEFAULT_MMAP_THRESHOLD_MAX`) is always mmapped and never moves the threshold,
/// so the working memory is reserved that big: only the part Argon2 writes becomes resident,
/// and all of it is unmapped on drop. Other allocators just see a larger reservation.
struct ReleasingArgon2;

/// A reservation above glibc's largest dynamic mmap threshold (32 MiB on 64-bit).
const ALWAYS_MMAPPED_BYTES: usize = 33 * 1024 * 1024;

impl PasswordHasher for ReleasingArgon2 {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        // as argon2's own PasswordHasher: absent algorithm/version mean argon2id, v=19
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = salt.into();
        let mut salt_buf = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let block_count = params.block_count();
        let mut memory: Vec<Block> =
            Vec::with_capacity(block_count.max(ALWAYS_MMAPPED_BYTES / Block::SIZE));
        memory.resize(block_count, Block::default());
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output = Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory)?)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

/// A random initial admin password: 24 alphanumeric characters (`[A-Za-z0-9]`,
/// ~142 bits) from the OS RNG. URL-safe, shell-safe and never starts with `-`.
pub fn random_password() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(RANDOM_PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// A new access token: `"arca_"` followed by 32 random bytes in base64url without
/// padding (48 characters in total).
pub fn new_access_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let mut token = String::with_capacity(TOKEN_LEN);
    token.push_str(TOKEN_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
    token
}

/// What is stored in the database for a token: lowercase hex SHA-256 of the token
/// string (64 characters). Tokens are high-entropy, so a fast hash is appropriate.
pub fn token_digest(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `bytes` random bytes from the OS RNG, hex encoded (`2 * bytes` lowercase characters).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Constant-time equality of two byte strings (the length comparison itself is
/// not constant-time; only the contents are).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Process-local keyed digest for in-memory caches (e.g. the authentication
/// cache): `SHA-256(salt || input)` with a random per-instance 32-byte salt, so a
/// cache never holds plain passwords and its keys are useless outside this process.
#[derive(Clone)]
pub struct CacheKeyer {
    salt: [u8; 32],
}

impl CacheKeyer {
    /// A keyer with a fresh random salt.
    pub fn new() -> Self {
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        Self { salt }
    }

    /// Keyed digest of `input`.
    pub fn key(&self, input: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(input);
        h.finalize().into()
    }

    /// Keyed digest of several fields (e.g. user name and password), each
    /// length-prefixed so `("ab", "c")` and `("a", "bc")` give different keys.
    pub fn key_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        for part in parts {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

impl Default for CacheKeyer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CacheKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheKeyer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_round_trip() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc).unwrap());
        // fresh salt each time
        assert_ne!(phc, hash_password("correct horse").unwrap());
    }

    #[test]
    fn compatible_with_argon2s_own_hasher() {
        // hashes stored before (argon2's PasswordHasher) verify, and the other way round
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            theirs,
            ReleasingArgon2
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string()
        );
        assert!(verify_password("pw", &theirs).unwrap());
        assert!(!verify_password("pW", &theirs).unwrap());
        let ours = hash_password("pw").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        // other algorithms, versions, parameters and output lengths of a PHC string
        let params = Params::new(64, 3, 2, Some(24)).unwrap();
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x10),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x13),
        ] {
            let phc = Argon2::new(algorithm, version, params.clone())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
            assert!(verify_password("pw", &phc).unwrap(), "{phc}");
            assert!(!verify_password("px", &phc).unwrap(), "{phc}");
        }
    }

    #[test]
    fn wrong_password_is_false() {
        let phc = hash_password("secret").unwrap();
        assert!(!verify_password("Secret", &phc).unwrap());
        assert!(!verify_password("", &phc).unwrap());
    }

    #[test]
    fn empty_and_unicode_passwords() {
        let phc = hash_password("").unwrap();
        assert!(verify_password("", &phc).unwrap());
        let phc = hash_password("pässwörd🔑").unwrap();
        assert!(verify_password("pässwörd🔑", &phc).unwrap());
        assert!(!verify_password("passwort", &phc).unwrap());
    }

    #[test]
    fn malformed_phc_is_error() {
        for bad in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=abc,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            "$unknown$v=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        ] {
            let r = verify_password("x", bad);
            assert!(
                matches!(r, Err(CryptoError::MalformedHash(_))),
                "{bad:?} gave {r:?}"
            );
        }
    }

    #[test]
    fn random_password_format() {
        let a = random_password();
        let b = random_password();
        assert_eq!(a.len(), RANDOM_PASSWORD_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn token_format() {
        let t = new_access_token();
        assert_eq!(t.len(), TOKEN_LEN);
        assert_eq!(t.len(), 48);
        let body = t.strip_prefix(TOKEN_PREFIX).unwrap();
        assert!(
            body.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{t}"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_ne!(t, new_access_token());
    }

    #[test]
    fn digest_is_stable_sha256_hex() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_access_token();
        assert_eq!(token_digest(&t), token_digest(&t));
        assert_ne!(token_digest(&t), token_digest(&new_access_token()));
        assert_eq!(token_digest(&t).len(), 64);
    }

    #[test]
    fn random_hex_lengths() {
        assert_eq!(random_hex(0), "");
        let h = random_hex(8);
        assert_eq!(h.len(), 16);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(random_hex(16), random_hex(16));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
    }

    #[test]
    fn cache_keyer() {
        let k = CacheKeyer::new();
        assert_eq!(k.key(b"pw"), k.key(b"pw"));
        assert_ne!(k.key(b"pw"), k.key(b"pw2"));
        // per-instance salt
        assert_ne!(k.key(b"pw"), CacheKeyer::new().key(b"pw"));
        assert_ne!(k.key(b"pw"), <[u8; 32]>::from(Sha256::digest(b"pw")));
        assert_ne!(k.key_parts(&[b"ab", b"c"]), k.key_parts(&[b"a", b"bc"]));
        assert_eq!(
            k.key_parts(&[b"a", b"b"]),
            k.clone().key_parts(&[b"a", b"b"])
        );
        assert_eq!(format!("{k:?}"), "CacheKeyer { .. }");
    }
}
