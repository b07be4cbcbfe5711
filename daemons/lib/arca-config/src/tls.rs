//! The HTTPS listener's certificate and private key (`arca.https.cert.file`,
//! `arca.https.key.file`): PEM parsing, the key file's mode and owner, that the key belongs to
//! the certificate, and the certificate's expiry. Used by `check-config`/`arcactl config check`
//! ([`analyse`]) and by the server when it (re)loads them ([`load`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::{ConfigError, Diags};
use crate::system::{HTTPS_CERT_FILE, HTTPS_KEY_FILE, HttpsSettings, SystemProperties};

/// A certificate that expires within this long is warned about.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// The crypto arca's TLS uses: rustls' ring provider (no C toolchain).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded certificate chain and key, ready for rustls.
pub struct TlsMaterial {
    pub certified: Arc<CertifiedKey>,
    /// The leaf certificate's notAfter, seconds since the epoch (`None`: not readable).
    pub not_after: Option<u64>,
    /// Problems that do not stop it from being used (expiry soon or passed, the key file's
    /// owner).
    pub warnings: Vec<ConfigError>,
}

/// Read and check the files of `https`: errors name the file (and the key of system.properties
/// that points at it).
pub fn load(https: &HttpsSettings) -> Result<TlsMaterial, ConfigError> {
    let mut warnings = Diags::default();
    let certs = read_certs(&https.cert_file)?;
    let key = read_key(&https.key_file, &mut warnings)?;
    let provider = provider();
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        ConfigError::new(&https.key_file, format!("is not a usable private key: {e}"))
            .with_key(HTTPS_KEY_FILE)
    })?;
    let certified = CertifiedKey::new(certs, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(ConfigError::new(
                &https.key_file,
                format!(
                    "does not match the certificate in {}: the private key belongs to another \
                     certificate",
                    https.cert_file.display()
                ),
            )
            .with_key(HTTPS_KEY_FILE));
        }
        Err(e) => {
            return Err(ConfigError::new(
                &https.cert_file,
                format!("the first certificate cannot be read: {e}"),
            )
            .with_key(HTTPS_CERT_FILE));
        }
    }
    let not_after = certified.cert.first().and_then(|c| leaf_not_after(c));
    if let Some(not_after) = not_after {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let date = format_utc(not_after);
        if not_after <= now {
            warnings.warn(
                ConfigError::new(
                    &https.cert_file,
                    format!("the certificate expired on {date}: HTTPS clients refuse it; install a new one and send SIGHUP (systemctl kill -s HUP --kill-whom=main arca-server)"),
                )
                .with_key(HTTPS_CERT_FILE),
            );
        } else if not_after - now < EXPIRY_WARNING.as_secs() {
            warnings.warn(
                ConfigError::new(
                    &https.cert_file,
                    format!(
                        "the certificate expires on {date}, in {} day(s): renew it",
                        (not_after - now) / 86_400
                    ),
                )
                .with_key(HTTPS_CERT_FILE),
            );
        }
    }
    Ok(TlsMaterial {
        certified: Arc::new(certified),
        not_after,
        warnings: warnings.list.into_iter().map(|d| d.error).collect(),
    })
}

/// Check the HTTPS settings of `system` and their files (nothing when HTTPS is off; a bad
/// setting is reported by [`SystemProperties::check`]).
pub(crate) fn analyse(system: &SystemProperties, diags: &mut Diags) {
    let Ok(Some(https)) = system.https() else {
        return;
    };
    match load(&https) {
        Ok(material) => {
            for w in material.warnings {
                diags.warn(w);
            }
        }
        Err(e) => diags.error(e),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let text = read(path, HTTPS_CERT_FILE)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ConfigError::new(path, format!("is not a PEM certificate chain: {e}"))
                .with_key(HTTPS_CERT_FILE)
        })?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            path,
            "contains no certificate (expected PEM blocks -----BEGIN CERTIFICATE-----, the \
             server's certificate first, then its intermediates)",
        )
        .with_key(HTTPS_CERT_FILE));
    }
    Ok(certs)
}

fn read_key(path: &Path, diags: &mut Diags) -> Result<PrivateKeyDer<'static>, ConfigError> {
    // The mode first: a key others can read is refused before it is even parsed.
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::new(
                path,
                format!(
                    "permissions {mode:04o} let users other than its owner read the private key; \
                     run: chmod 600 {}",
                    path.display()
                ),
            )
            .with_key(HTTPS_KEY_FILE));
        }
    }
    crate::perms::check_owner(path, diags);
    let text = read(path, HTTPS_KEY_FILE)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "contains no private key (expected a PEM block -----BEGIN PRIVATE KEY-----, \
                 -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)"
                    .to_string()
            }
            e => format!("is not a PEM private key: {e}"),
        };
        ConfigError::new(path, why).with_key(HTTPS_KEY_FILE)
    })
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, ConfigError> {
    fs::read(path).map_err(|e| ConfigError::new(path, format!("cannot be read: {e}")).with_key(key))
}

/// One DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// notAfter of an X.509 certificate, in seconds since the epoch.
fn leaf_not_after(cert: &CertificateDer<'_>) -> Option<u64> {
    const SEQUENCE: u8 = 0x30;
    let (tag, certificate, _) = der_element(cert.as_ref())?;
    (tag == SEQUENCE).then_some(())?;
    let (tag, tbs, _) = der_element(certificate)?;
    (tag == SEQUENCE).then_some(())?;
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, then validity.
    let (tag, _, after) = der_element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..3 {
        rest = der_element(rest)?.2;
    }
    let (tag, validity, _) = der_element(rest)?;
    (tag == SEQUENCE).then_some(())?;
    let (_, _, after_not_before) = der_element(validity)?;
    let (tag, time, _) = der_element(after_not_before)?;
    parse_der_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to epoch seconds.
fn parse_der_time(tag: u8, text: &str) -> Option<u64> {
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + min * 60 + sec).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS UTC` of epoch seconds.
pub fn format_utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // inverse of days_from_civil
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times() {
        assert_eq!(parse_der_time(0x17, "700101000000Z"), Some(0));
        assert_eq!(parse_der_time(0x17, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_der_time(0x18, "20380119031408Z"), Some(2_147_483_648));
        assert_eq!(parse_der_time(0x18, "20240229120000Z"), Some(1_709_208_000));
        for bad in ["", "Z", "7001010000Z", "70010100000aZ", "700101000000"] {
            assert_eq!(parse_der_time(0x17, bad), None, "{bad}");
        }
        assert_eq!(format_utc(1_709_208_000), "2024-02-29 12:00:00 UTC");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn der_walker_never_panics_on_truncated_input() {
        let cert = CertificateDer::from(vec![0x30, 0x82, 0xff, 0xff, 0x30]);
        assert_eq!(leaf_not_after(&cert), None);
        for len in 0..8 {
            let bytes = vec![0x30u8; len];
            let _ = leaf_not_after(&CertificateDer::from(bytes));
        }
    }
}
