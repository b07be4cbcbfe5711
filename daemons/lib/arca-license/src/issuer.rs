//! Issuers: the Ed25519 key that signs license keys ([`Issuer`]), its public half
//! ([`IssuerKey`]) and the set of public keys a node trusts ([`TrustedIssuers`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};

use crate::LicenseError;

/// First word of an issuer's private key file: `arca-license-issuer-v1 <64 hex: Ed25519 seed>`.
pub const ISSUER_KEY_TAG: &str = "arca-license-issuer-v1";
/// First word of a public key file: `arca-license-issuer-pub-v1 <64 hex: Ed25519 public key>`.
pub const ISSUER_PUB_TAG: &str = "arca-license-issuer-pub-v1";
/// The trusted issuers' directory, relative to `etc/security/` (callers pass
/// `home.security().join(TRUSTED_ISSUERS_DIR)` to [`TrustedIssuers::load`]).
pub const TRUSTED_ISSUERS_DIR: &str = "license-issuers";

/// Length of an issuer id in hex characters (8 bytes of SHA-256 of the public key).
const ISSUER_ID_LEN: usize = 16;

/// `true` for a well-formed issuer id: 16 lowercase hex characters.
pub(crate) fn is_issuer_id(id: &str) -> bool {
    id.len() == ISSUER_ID_LEN && id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The public key of an issuer: what a node needs to verify the issuer's license keys.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerKey {
    id: String,
    key: VerifyingKey,
}

impl IssuerKey {
    fn new(key: VerifyingKey) -> Self {
        let id = hex::encode(Sha256::digest(key.as_bytes()))[..ISSUER_ID_LEN].to_string();
        IssuerKey { id, key }
    }

    /// The issuer id written into every key it signs: the first 16 lowercase hex characters of
    /// SHA-256 of the 32-byte public key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.as_bytes())
    }

    /// The text of a `.pub` file: a comment naming the issuer id, then
    /// `arca-license-issuer-pub-v1 <64 hex>`.
    pub fn to_file_text(&self) -> String {
        format!(
            "# arca license issuer {} (public key: copy into etc/security/license-issuers/ on every node)\n{ISSUER_PUB_TAG} {}\n",
            self.id,
            self.to_hex()
        )
    }

    /// Parse the text of a `.pub` file; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LicenseError> {
        let (line, bytes) = parse_key_file(text, path, ISSUER_PUB_TAG, ISSUER_KEY_TAG)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| LicenseError::Parse {
            path: path.to_path_buf(),
            line,
            message: "not a valid Ed25519 public key".to_string(),
        })?;
        Ok(IssuerKey::new(key))
    }

    /// Read and parse a `.pub` file.
    pub fn load(path: &Path) -> Result<Self, LicenseError> {
        let text = fs::read_to_string(path).map_err(|e| LicenseError::io(path, "read", e))?;
        IssuerKey::parse(&text, path)
    }

    /// Write the `.pub` file (mode 0644); refuses to overwrite an existing file.
    pub fn save(&self, path: &Path) -> Result<(), LicenseError> {
        write_new(path, &self.to_file_text(), 0o644)
    }

    /// `true` when `signature` is this issuer's Ed25519 signature of `message` (strict
    /// verification: no malleable or weak-key signatures).
    pub(crate) fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.key.verify_strict(message, signature).is_ok()
    }
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey").field("id", &self.id).finish()
    }
}

/// An issuer's signing key. Operators keep it off the nodes; tests make throwaway ones.
pub struct Issuer {
    key: SigningKey,
    public: IssuerKey,
}

impl Issuer {
    /// A new issuer with a random key from the OS RNG.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        Issuer::from_seed(&seed)
    }

    /// The issuer of a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = IssuerKey::new(key.verifying_key());
        Issuer { key, public }
    }

    /// The issuer id (see [`IssuerKey::id`]).
    pub fn id(&self) -> &str {
        self.public.id()
    }

    /// The public half, to be trusted by the nodes.
    pub fn public_key(&self) -> &IssuerKey {
        &self.public
    }

    fn to_file_text(&self) -> String {
        format!(
            "# arca license issuer {} (private key: keep it secret, never copy it to a node)\n{ISSUER_KEY_TAG} {}\n",
            self.id(),
            hex::encode(self.key.to_bytes())
        )
    }

    /// Parse the text of a private key file; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LicenseError> {
        let (_, seed) = parse_key_file(text, path, ISSUER_KEY_TAG, ISSUER_PUB_TAG)?;
        Ok(Issuer::from_seed(&seed))
    }

    /// Load a private key file, refusing one that group or others can access (mode bits
    /// outside 0700, e.g. 0644 or 0640).
    pub fn load(path: &Path) -> Result<Self, LicenseError> {
        let meta = fs::metadata(path).map_err(|e| LicenseError::io(path, "read", e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(LicenseError::InsecureMode {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(|e| LicenseError::io(path, "read", e))?;
        Issuer::parse(&text, path)
    }

    /// Write the private key file with mode 0600; refuses to overwrite an existing file.
    pub fn save(&self, path: &Path) -> Result<(), LicenseError> {
        write_new(path, &self.to_file_text(), 0o600)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// The public keys a node accepts license keys from, by issuer id.
#[derive(Debug, Clone, Default)]
pub struct TrustedIssuers {
    keys: BTreeMap<String, IssuerKey>,
}

impl TrustedIssuers {
    /// No trusted issuer: every key is rejected as untrusted.
    pub fn new() -> Self {
        TrustedIssuers::default()
    }

    /// Load every `*.pub` file of `dir` (`etc/security/license-issuers/`); other files and
    /// subdirectories are ignored. A missing directory means no trusted issuer. A bad file is
    /// an error naming it (and the line); so are two different keys with the same id.
    pub fn load(dir: &Path) -> Result<Self, LicenseError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TrustedIssuers::new()),
            Err(e) => return Err(LicenseError::io(dir, "read directory", e)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| LicenseError::io(dir, "read directory", e))?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "pub") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut trusted = TrustedIssuers::new();
        let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in files {
            let key = IssuerKey::load(&path)?;
            if let Some(existing) = trusted.keys.get(key.id()) {
                if *existing != key {
                    return Err(LicenseError::IssuerIdCollision {
                        id: key.id().to_string(),
                        first: origin.remove(key.id()).unwrap_or_default(),
                        second: path,
                    });
                }
                continue;
            }
            origin.insert(key.id().to_string(), path);
            trusted.insert(key);
        }
        Ok(trusted)
    }

    /// Trust `key` (replacing a key with the same id).
    pub fn insert(&mut self, key: IssuerKey) {
        self.keys.insert(key.id().to_string(), key);
    }

    /// The trusted key with this issuer id.
    pub fn get(&self, id: &str) -> Option<&IssuerKey> {
        self.keys.get(id)
    }

    /// The trusted issuer ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<IssuerKey> for TrustedIssuers {
    fn from_iter<I: IntoIterator<Item = IssuerKey>>(iter: I) -> Self {
        let mut trusted = TrustedIssuers::new();
        for key in iter {
            trusted.insert(key);
        }
        trusted
    }
}

/// The one key line of a key file: `<tag> <64 hex>`, with `#` comments and blank lines
/// around it. Returns its line number and the 32 bytes. Errors never quote the line (it may
/// be a private key).
fn parse_key_file(
    text: &str,
    path: &Path,
    tag: &'static str,
    other_tag: &'static str,
) -> Result<(usize, [u8; 32]), LicenseError> {
    let err = |line: usize, message: String| LicenseError::Parse {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut found: Option<(usize, [u8; 32])> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [t, _] | [t] if *t == other_tag => {
                let what = if other_tag == ISSUER_KEY_TAG {
                    "this is an issuer's private key, not a public key: use the .pub file \
                     written next to it (and keep the private key off the nodes)"
                } else {
                    "this is a public key file, not an issuer's private key"
                };
                return Err(err(line_no, what.to_string()));
            }
            [t, hex_key] if *t == tag => {
                if let Some((first, _)) = found {
                    return Err(err(
                        line_no,
                        format!("a second key (the first is on line {first}); one key per file"),
                    ));
                }
                let mut bytes = [0u8; 32];
                if hex_key.len() != 64 || hex::decode_to_slice(hex_key, &mut bytes).is_err() {
                    return Err(err(
                        line_no,
                        "the key is not 64 hexadecimal characters".to_string(),
                    ));
                }
                found = Some((line_no, bytes));
            }
            _ => {
                return Err(err(
                    line_no,
                    format!("expected '{tag} <64 hexadecimal characters>'"),
                ));
            }
        }
    }
    found.ok_or_else(|| LicenseError::NoKey {
        path: path.to_path_buf(),
        tag,
    })
}

/// Create `path` with `contents` and `mode` (never overwriting), flushed to disk.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), LicenseError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                LicenseError::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                LicenseError::io(path, "create file", e)
            }
        })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| LicenseError::io(path, "write file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7u8; 32];

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn ids_are_16_hex_of_sha256_of_the_public_key() {
        let issuer = Issuer::from_seed(&SEED);
        let public = issuer.public_key();
        let expected = &hex::encode(Sha256::digest(hex::decode(public.to_hex()).unwrap()))[..16];
        assert_eq!(issuer.id(), expected);
        assert!(is_issuer_id(issuer.id()));
        assert_eq!(Issuer::from_seed(&SEED).id(), issuer.id(), "deterministic");
        assert_ne!(Issuer::generate().id(), Issuer::generate().id());
        assert!(!is_issuer_id("0123456789ABCDEF"));
        assert!(!is_issuer_id("0123456789abcde"));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let issuer = Issuer::from_seed(&SEED);
        let debug = format!("{issuer:?} {:?}", issuer.public_key());
        assert!(debug.contains(issuer.id()), "{debug}");
        assert!(!debug.contains(&hex::encode(SEED)), "{debug}");
        assert!(!debug.contains(&issuer.public_key().to_hex()), "{debug}");
    }

    #[test]
    fn save_load_round_trip_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = Issuer::generate();
        let key_path = dir.path().join("issuer.key");
        let pub_path = dir.path().join("issuer.pub");
        issuer.save(&key_path).unwrap();
        issuer.public_key().save(&pub_path).unwrap();
        assert_eq!(mode_of(&key_path), 0o600);
        assert_eq!(mode_of(&pub_path) & 0o600, 0o600);

        let text = fs::read_to_string(&key_path).unwrap();
        assert!(text.starts_with("# arca license issuer "), "{text}");
        assert!(text.contains(&format!("\n{ISSUER_KEY_TAG} ")), "{text}");
        let loaded = Issuer::load(&key_path).unwrap();
        assert_eq!(loaded.id(), issuer.id());
        assert_eq!(loaded.public_key(), issuer.public_key());
        assert_eq!(IssuerKey::load(&pub_path).unwrap(), *issuer.public_key());
    }

    #[test]
    fn save_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuer.key");
        fs::write(&path, "keep me").unwrap();
        let err = Issuer::generate().save(&path).unwrap_err();
        assert!(matches!(err, LicenseError::AlreadyExists { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: already exists; refusing to overwrite it",
                path.display()
            )
        );
        let err = Issuer::generate().public_key().save(&path).unwrap_err();
        assert!(matches!(err, LicenseError::AlreadyExists { .. }), "{err:?}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn load_refuses_group_or_world_accessible_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuer.key");
        Issuer::from_seed(&SEED).save(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o620, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = Issuer::load(&path).unwrap_err();
            assert!(
                matches!(err, LicenseError::InsecureMode { mode: m, .. } if m == mode),
                "{mode:o}: {err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!(
                    "{}: permissions {mode:04o} let group or others access",
                    path.display()
                )),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("chmod 600 {}", path.display())),
                "{msg}"
            );
        }
        for mode in [0o600, 0o400, 0o700] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert!(Issuer::load(&path).is_ok(), "{mode:o}");
        }
    }

    #[test]
    fn load_missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.key");
        let err = Issuer::load(&path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_name_file_and_line_without_quoting_keys() {
        let path = Path::new("/etc/x/issuer.pub");
        let good = Issuer::from_seed(&SEED).public_key().to_hex();
        let seed_hex = hex::encode(SEED);
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("# c\n\nwrong-tag {good}\n"),
                3,
                "expected 'arca-license-issuer-pub-v1 <64 hexadecimal characters>'",
            ),
            (
                format!("{ISSUER_PUB_TAG} {good} extra\n"),
                1,
                "expected 'arca-license-issuer-pub-v1",
            ),
            (
                format!("{ISSUER_PUB_TAG} {}\n", &good[..62]),
                1,
                "the key is not 64 hexadecimal characters",
            ),
            (
                format!("{ISSUER_PUB_TAG} {}zz\n", &good[..62]),
                1,
                "the key is not 64 hexadecimal characters",
            ),
            (
                format!("{ISSUER_PUB_TAG} {good}\n# again\n{ISSUER_PUB_TAG} {good}\n"),
                3,
                "a second key (the first is on line 1); one key per file",
            ),
            (
                format!("# private!\n{ISSUER_KEY_TAG} {seed_hex}\n"),
                2,
                "this is an issuer's private key, not a public key",
            ),
        ];
        for (text, line, message) in cases {
            let err = IssuerKey::parse(&text, path).unwrap_err();
            assert!(
                matches!(&err, LicenseError::Parse { line: l, .. } if *l == line),
                "{text:?}: {err:?}"
            );
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("/etc/x/issuer.pub:{line}: {message}")),
                "{text:?}: {shown}"
            );
            assert!(!shown.contains(&seed_hex), "{shown}");
        }

        let err = IssuerKey::parse("# only a comment\n\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/x/issuer.pub: no key found (expected a line \
             'arca-license-issuer-pub-v1 <64 hexadecimal characters>')"
        );

        // a private key file given a public key, and a bad seed
        let err = Issuer::parse(&format!("{ISSUER_PUB_TAG} {good}\n"), path).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/x/issuer.pub:1: this is a public key file"),
            "{err}"
        );
        let err =
            Issuer::parse(&format!("{ISSUER_KEY_TAG} {}\n", &seed_hex[1..]), path).unwrap_err();
        assert!(!err.to_string().contains(&seed_hex[1..]), "{err}");
    }

    #[test]
    fn not_every_32_bytes_are_a_public_key() {
        // y = 2 is not on the curve: decompression fails
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let text = format!("{ISSUER_PUB_TAG} {}\n", hex::encode(bytes));
        let err = IssuerKey::parse(&text, Path::new("k.pub")).unwrap_err();
        assert_eq!(err.to_string(), "k.pub:1: not a valid Ed25519 public key");
    }

    #[test]
    fn trusted_issuers_load_every_pub_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = Issuer::generate();
        let b = Issuer::generate();
        a.public_key().save(&dir.path().join("a.pub")).unwrap();
        b.public_key().save(&dir.path().join("b.pub")).unwrap();
        // the same key twice is fine; other files and directories are ignored
        a.public_key().save(&dir.path().join("a-copy.pub")).unwrap();
        fs::write(dir.path().join("README"), "not a key").unwrap();
        fs::write(dir.path().join("old.pub.bak"), "not a key").unwrap();
        fs::create_dir(dir.path().join("sub.pub")).unwrap();

        let trusted = TrustedIssuers::load(dir.path()).unwrap();
        assert_eq!(trusted.len(), 2);
        assert!(!trusted.is_empty());
        assert_eq!(trusted.get(a.id()), Some(a.public_key()));
        assert_eq!(trusted.get(b.id()), Some(b.public_key()));
        let mut ids = vec![a.id(), b.id()];
        ids.sort();
        assert_eq!(trusted.ids().collect::<Vec<_>>(), ids);
        assert!(trusted.get("0000000000000000").is_none());
    }

    #[test]
    fn trusted_issuers_missing_dir_is_empty_and_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let trusted = TrustedIssuers::load(&dir.path().join("license-issuers")).unwrap();
        assert!(trusted.is_empty());

        Issuer::generate()
            .public_key()
            .save(&dir.path().join("a.pub"))
            .unwrap();
        let bad = dir.path().join("b.pub");
        fs::write(&bad, "# ok\narca-license-issuer-pub-v1 nothex\n").unwrap();
        let err = TrustedIssuers::load(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: the key is not 64 hexadecimal characters",
                bad.display()
            )
        );
        fs::write(&bad, "").unwrap();
        let err = TrustedIssuers::load(dir.path()).unwrap_err();
        assert!(matches!(err, LicenseError::NoKey { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: no key found", bad.display())),
            "{err}"
        );
    }

    #[test]
    fn trusted_issuers_from_keys() {
        let a = Issuer::generate();
        let trusted: TrustedIssuers = [a.public_key().clone()].into_iter().collect();
        assert_eq!(trusted.len(), 1);
        assert!(trusted.get(a.id()).is_some());
        assert!(TrustedIssuers::new().is_empty());
    }
}
