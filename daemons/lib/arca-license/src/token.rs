//! The license key format: issuing, verification, batches, the hash and the REST view.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;
use rand::RngCore as _;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::Date;

use crate::dates::{format_date_iso, format_date_long, parse_iso};
use crate::issuer::is_issuer_id;
use crate::{Issuer, LicenseError, TrustedIssuers};

/// Prefix of every license key (format version 1).
pub const TOKEN_PREFIX: &str = "arca-lic-v1.";
/// Longer keys are rejected as garbled before anything is decoded.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The license type `arcactl license issue` uses unless told otherwise.
pub const DEFAULT_LICENSE_TYPE: &str = "Enterprise";
/// `nodeId`/`nodeUrl` of a license no node uses.
pub const NOT_IN_USE: &str = "Not in use";

const MAX_LICENSEE_CHARS: usize = 200;
const MAX_TYPE_LEN: usize = 64;
const ID_BYTES: usize = 16;
/// Longest piece of a garbled key's own content quoted in a rejection reason.
const MAX_QUOTED_CHARS: usize = 120;

/// The signed payload. Field order is the serialisation order (the canonical form).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    id: String,
    licensee: String,
    #[serde(rename = "type")]
    license_type: String,
    issued: String,
    #[serde(rename = "validThrough")]
    valid_through: String,
    issuer: String,
}

/// What to put into a new license key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLicense<'a> {
    /// Who the license is for: 1 to 200 characters, no control characters, no leading or
    /// trailing whitespace.
    pub licensee: &'a str,
    /// e.g. [`DEFAULT_LICENSE_TYPE`]: 1 to 64 ASCII letters, digits, spaces, `-`, `_`, `+`,
    /// `.`; no leading or trailing space.
    pub license_type: &'a str,
    /// Valid through the whole of this day (UTC), inclusive.
    pub valid_through: Date,
    /// The issue date (the caller's today); not after `valid_through`.
    pub issued: Date,
}

impl Issuer {
    /// Sign a new license key (a fresh random id each call).
    pub fn issue(&self, new: &NewLicense<'_>) -> Result<String, LicenseError> {
        check_licensee(new.licensee).map_err(LicenseError::InvalidLicense)?;
        check_type(new.license_type).map_err(LicenseError::InvalidLicense)?;
        if new.valid_through < new.issued {
            return Err(LicenseError::InvalidLicense(format!(
                "valid-through date {} is before the issue date {}",
                format_date_iso(new.valid_through),
                format_date_iso(new.issued)
            )));
        }
        let mut id = [0u8; ID_BYTES];
        OsRng.fill_bytes(&mut id);
        let payload = Payload {
            id: hex::encode(id),
            licensee: new.licensee.to_string(),
            license_type: new.license_type.to_string(),
            issued: format_date_iso(new.issued),
            valid_through: format_date_iso(new.valid_through),
            issuer: self.id().to_string(),
        };
        let json = serde_json::to_vec(&payload).map_err(|e| {
            LicenseError::InvalidLicense(format!("cannot serialise the payload: {e}"))
        })?;
        let mut token = String::from(TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let signature = self.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        if token.len() > MAX_TOKEN_LEN {
            return Err(LicenseError::InvalidLicense(format!(
                "the key would be longer than {MAX_TOKEN_LEN} characters"
            )));
        }
        Ok(token)
    }
}

fn check_licensee(licensee: &str) -> Result<(), String> {
    if licensee.is_empty() {
        return Err("the licensee is empty".to_string());
    }
    if licensee.trim() != licensee {
        return Err("the licensee starts or ends with whitespace".to_string());
    }
    if licensee.chars().count() > MAX_LICENSEE_CHARS {
        return Err(format!(
            "the licensee is longer than {MAX_LICENSEE_CHARS} characters"
        ));
    }
    if licensee.chars().any(char::is_control) {
        return Err("the licensee contains control characters".to_string());
    }
    Ok(())
}

fn check_type(license_type: &str) -> Result<(), String> {
    if license_type.is_empty() || license_type.len() > MAX_TYPE_LEN {
        return Err(format!(
            "the license type must have 1 to {MAX_TYPE_LEN} characters"
        ));
    }
    if license_type.trim() != license_type
        || !license_type
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b' ' | b'-' | b'_' | b'+' | b'.'))
    {
        return Err(
            "the license type may only contain ASCII letters, digits, inner spaces and - _ + ."
                .to_string(),
        );
    }
    Ok(())
}

/// Why a key was not accepted. `Display` is the reason shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a key of this format: wrong prefix, bad base64url, bad or incomplete JSON, a field
    /// with a bad value, too long.
    #[error("garbled license key: {0}")]
    Garbled(String),
    /// In this format but without a signature part.
    #[error("unsigned license key: it has no signature part")]
    Unsigned,
    /// Signed by an issuer whose public key is not in `etc/security/license-issuers/`.
    #[error(
        "license key from an untrusted issuer {issuer}: no public key with this id in \
         etc/security/license-issuers/"
    )]
    UntrustedIssuer { issuer: String },
    /// The signature does not match: the key was altered, or forged under a trusted id.
    #[error("bad signature: the license key was altered or not signed by issuer {issuer}")]
    BadSignature { issuer: String },
    /// Genuine, but its last valid day is before today.
    #[error("license expired: it was valid through {}", format_date_iso(*valid_through))]
    Expired { valid_through: Date },
}

impl Rejection {
    /// A stable short name of the case: `garbled`, `unsigned`, `untrusted-issuer`,
    /// `bad-signature`, `expired`.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Garbled(_) => "garbled",
            Rejection::Unsigned => "unsigned",
            Rejection::UntrustedIssuer { .. } => "untrusted-issuer",
            Rejection::BadSignature { .. } => "bad-signature",
            Rejection::Expired { .. } => "expired",
        }
    }
}

fn garbled(reason: impl Into<String>) -> Rejection {
    Rejection::Garbled(reason.into())
}

/// Quote external text in a reason: at most [`MAX_QUOTED_CHARS`] characters, control
/// characters escaped, so a reason always stays one line.
fn quote(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX_QUOTED_CHARS {
        out.push('…');
    }
    out
}

/// A verified license key.
#[derive(Clone, PartialEq, Eq)]
pub struct License {
    token: String,
    hash: String,
    id: String,
    licensee: String,
    license_type: String,
    issued: Date,
    valid_through: Date,
    issuer_id: String,
}

impl License {
    /// The key, trimmed, exactly as given otherwise.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// [`license_hash`] of the key: what the UI and the API show.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The random id the issuer gave this key (32 lowercase hex characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn licensee(&self) -> &str {
        &self.licensee
    }

    /// e.g. `Enterprise`.
    pub fn license_type(&self) -> &str {
        &self.license_type
    }

    pub fn issued(&self) -> Date {
        self.issued
    }

    /// The last day the license is valid (inclusive).
    pub fn valid_through(&self) -> Date {
        self.valid_through
    }

    /// The id of the issuer that signed it.
    pub fn issuer_id(&self) -> &str {
        &self.issuer_id
    }

    /// `true` once `today` is after the valid-through date.
    pub fn is_expired(&self, today: Date) -> bool {
        self.valid_through < today
    }

    /// The REST view of the license: `node` is the id and URL of the node using it, `None`
    /// when no node does (both fields are then [`NOT_IN_USE`]).
    pub fn to_json(&self, node: Option<(&str, &str)>, today: Date) -> LicenseJson {
        let (node_id, node_url) = node.unwrap_or((NOT_IN_USE, NOT_IN_USE));
        LicenseJson {
            license_type: self.license_type.clone(),
            valid_through: format_date_long(self.valid_through),
            licensed_to: self.licensee.clone(),
            license_hash: self.hash.clone(),
            node_id: node_id.to_string(),
            node_url: node_url.to_string(),
            expired: self.is_expired(today),
        }
    }
}

impl fmt::Debug for License {
    /// Everything but the key itself (it is a credential: logs show its hash).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("License")
            .field("hash", &self.hash)
            .field("id", &self.id)
            .field("licensee", &self.licensee)
            .field("license_type", &self.license_type)
            .field("issued", &format_date_iso(self.issued))
            .field("valid_through", &format_date_iso(self.valid_through))
            .field("issuer_id", &self.issuer_id)
            .finish_non_exhaustive()
    }
}

/// A license as the REST API shows it, fields in this order:
/// `{"type":"Enterprise","validThrough":"May 15, 2018","licensedTo":"…","licenseHash":"…",
/// "nodeId":"…","nodeUrl":"…","expired":false}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseJson {
    #[serde(rename = "type")]
    pub license_type: String,
    pub valid_through: String,
    pub licensed_to: String,
    pub license_hash: String,
    pub node_id: String,
    pub node_url: String,
    pub expired: bool,
}

/// SHA-256 (lowercase hex) of the key as given, without surrounding whitespace. Defined for
/// any text, so rejected keys have one too.
pub fn license_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Check a key against the trusted issuers, `today` being the caller's current date (UTC).
///
/// In order: the format ([`Rejection::Garbled`], [`Rejection::Unsigned`]), the issuer
/// ([`Rejection::UntrustedIssuer`]), the signature ([`Rejection::BadSignature`]), the date
/// ([`Rejection::Expired`]: the key is still valid on its valid-through day).
pub fn verify(token: &str, issuers: &TrustedIssuers, today: Date) -> Result<License, Rejection> {
    let token = token.trim();
    if token.is_empty() {
        return Err(garbled("the key is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(garbled(format!(
            "the key is longer than {MAX_TOKEN_LEN} characters"
        )));
    }
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
        return Err(garbled(format!(
            "not an arca license key (they start with {TOKEN_PREFIX}): {}",
            quote(token)
        )));
    };
    let (encoded_payload, encoded_signature) = match rest.split_once('.') {
        Some((_, "")) | None => return Err(Rejection::Unsigned),
        Some(parts) => parts,
    };
    if encoded_signature.contains('.') {
        return Err(garbled("too many '.'-separated parts"));
    }
    if encoded_payload.is_empty() {
        return Err(garbled("the payload is empty"));
    }
    let json = URL_SAFE_NO_PAD
        .decode(encoded_payload)
        .map_err(|_| garbled("the payload is not valid base64url"))?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|e| {
        garbled(format!(
            "the payload is not license JSON: {}",
            quote(&e.to_string())
        ))
    })?;
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(encoded_signature)
        .map_err(|_| garbled("the signature is not valid base64url"))?;
    let signature_bytes: [u8; 64] = signature_bytes
        .try_into()
        .map_err(|_| garbled("the signature is not 64 bytes long"))?;
    let license = license_of(token, payload)?;

    let key = issuers
        .get(&license.issuer_id)
        .ok_or_else(|| Rejection::UntrustedIssuer {
            issuer: license.issuer_id.clone(),
        })?;
    let signed = &token[..TOKEN_PREFIX.len() + encoded_payload.len()];
    if !key.verifies(signed.as_bytes(), &Signature::from_bytes(&signature_bytes)) {
        return Err(Rejection::BadSignature {
            issuer: license.issuer_id,
        });
    }
    if license.is_expired(today) {
        return Err(Rejection::Expired {
            valid_through: license.valid_through,
        });
    }
    Ok(license)
}

/// The payload's fields checked and converted (before the signature is checked: a bad field
/// is a garbled key).
fn license_of(token: &str, payload: Payload) -> Result<License, Rejection> {
    let Payload {
        id,
        licensee,
        license_type,
        issued,
        valid_through,
        issuer,
    } = payload;
    if id.len() != 2 * ID_BYTES || !id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(garbled("the id is not 32 lowercase hexadecimal characters"));
    }
    check_licensee(&licensee).map_err(garbled)?;
    check_type(&license_type).map_err(garbled)?;
    let issued = parse_iso(&issued).ok_or_else(|| {
        garbled(format!(
            "the issue date is not a date YYYY-MM-DD: {}",
            quote(&issued)
        ))
    })?;
    let valid_through = parse_iso(&valid_through).ok_or_else(|| {
        garbled(format!(
            "the valid-through date is not a date YYYY-MM-DD: {}",
            quote(&valid_through)
        ))
    })?;
    if !is_issuer_id(&issuer) {
        return Err(garbled(
            "the issuer id is not 16 lowercase hexadecimal characters",
        ));
    }
    Ok(License {
        token: token.to_string(),
        hash: license_hash(token),
        id,
        licensee,
        license_type,
        issued,
        valid_through,
        issuer_id: issuer,
    })
}

/// The keys of a pasted batch or a file (`etc/cluster.license`, the body of `arcactl license
/// verify`): separated by newlines, blank lines, spaces, tabs (any whitespace) and
/// semicolons; empty pieces are dropped.
pub fn split_batch(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// [`verify`] for every key of [`split_batch`]`(text)`, in order, each with the key as given:
/// the caller adds the valid ones and reports the others.
pub fn verify_batch(
    text: &str,
    issuers: &TrustedIssuers,
    today: Date,
) -> Vec<(String, Result<License, Rejection>)> {
    split_batch(text)
        .into_iter()
        .map(|key| (key.to_string(), verify(key, issuers, today)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Issuer;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 10);

    fn new_license(valid_through: Date) -> NewLicense<'static> {
        NewLicense {
            licensee: "ACME Corp.",
            license_type: DEFAULT_LICENSE_TYPE,
            valid_through,
            issued: date!(2026 - 01 - 01),
        }
    }

    fn issuer_and_trust() -> (Issuer, TrustedIssuers) {
        let issuer = Issuer::generate();
        let trusted = [issuer.public_key().clone()].into_iter().collect();
        (issuer, trusted)
    }

    /// A key with `payload` signed by `issuer` (or with `signature` when given), for tests of
    /// the format rules the issuer itself never breaks.
    fn forge(issuer: &Issuer, payload: &str) -> String {
        let mut token = String::from(TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = issuer.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    fn payload_of(token: &str) -> serde_json::Value {
        let body = token.strip_prefix(TOKEN_PREFIX).unwrap();
        let (payload, _) = body.split_once('.').unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn issue_verify_round_trip() {
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2027 - 05 - 15))).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX), "{token}");
        assert_eq!(token.matches('.').count(), 2, "{token}");
        assert!(
            token
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')),
            "{token}"
        );

        let license = verify(&token, &trusted, TODAY).unwrap();
        assert_eq!(license.licensee(), "ACME Corp.");
        assert_eq!(license.license_type(), "Enterprise");
        assert_eq!(license.valid_through(), date!(2027 - 05 - 15));
        assert_eq!(license.issued(), date!(2026 - 01 - 01));
        assert_eq!(license.issuer_id(), issuer.id());
        assert_eq!(license.token(), token);
        assert_eq!(license.hash(), license_hash(&token));
        assert_eq!(license.id().len(), 32);
        assert!(!license.is_expired(TODAY));

        // surrounding whitespace is not part of the key
        let padded = verify(&format!("\n  {token}\t\r\n"), &trusted, TODAY).unwrap();
        assert_eq!(padded, license);

        // every key gets its own id (and so its own hash)
        let again = issuer.issue(&new_license(date!(2027 - 05 - 15))).unwrap();
        assert_ne!(again, token);
        assert_ne!(verify(&again, &trusted, TODAY).unwrap().id(), license.id());
    }

    #[test]
    fn payload_is_canonical_json_in_fixed_order() {
        let (issuer, _) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2027 - 05 - 15))).unwrap();
        let body = token.strip_prefix(TOKEN_PREFIX).unwrap();
        let (payload, _) = body.split_once('.').unwrap();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let id = payload_of(&token)["id"].as_str().unwrap().to_string();
        assert_eq!(
            json,
            format!(
                r#"{{"id":"{id}","licensee":"ACME Corp.","type":"Enterprise","issued":"2026-01-01","validThrough":"2027-05-15","issuer":"{}"}}"#,
                issuer.id()
            )
        );
    }

    #[test]
    fn unicode_licensee_round_trips() {
        let (issuer, trusted) = issuer_and_trust();
        let new = NewLicense {
            licensee: "Müller & Söhne GmbH — Zürich",
            license_type: "Enterprise Plus",
            ..new_license(date!(2027 - 01 - 01))
        };
        let token = issuer.issue(&new).unwrap();
        let license = verify(&token, &trusted, TODAY).unwrap();
        assert_eq!(license.licensee(), "Müller & Söhne GmbH — Zürich");
        assert_eq!(license.license_type(), "Enterprise Plus");
    }

    #[test]
    fn issue_refuses_bad_fields() {
        let (issuer, _) = issuer_and_trust();
        let long = "x".repeat(201);
        let cases = [
            ("", "Enterprise", "the licensee is empty"),
            (" ACME", "Enterprise", "starts or ends with whitespace"),
            ("ACME\nEvil", "Enterprise", "control characters"),
            (long.as_str(), "Enterprise", "longer than 200 characters"),
            ("ACME", "", "1 to 64 characters"),
            ("ACME", "Ent\nerprise", "may only contain"),
            ("ACME", "Enterprise ", "may only contain"),
            ("ACME", "Entérprise", "may only contain"),
        ];
        for (licensee, license_type, message) in cases {
            let new = NewLicense {
                licensee,
                license_type,
                ..new_license(date!(2027 - 01 - 01))
            };
            let err = issuer.issue(&new).unwrap_err();
            assert!(matches!(err, LicenseError::InvalidLicense(_)), "{err:?}");
            assert!(err.to_string().contains(message), "{licensee:?}: {err}");
        }
        assert!(
            issuer
                .issue(&NewLicense {
                    licensee: &"x".repeat(200),
                    ..new_license(date!(2027 - 01 - 01))
                })
                .is_ok()
        );
        let err = issuer
            .issue(&new_license(date!(2025 - 12 - 31)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid license: valid-through date 2025-12-31 is before the issue date 2026-01-01"
        );
        // a one-day license is fine
        assert!(issuer.issue(&new_license(date!(2026 - 01 - 01))).is_ok());
    }

    #[test]
    fn expired_relative_to_the_given_date_valid_on_the_last_day() {
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2026 - 06 - 30))).unwrap();
        assert!(verify(&token, &trusted, date!(2026 - 01 - 01)).is_ok());
        let last_day = verify(&token, &trusted, date!(2026 - 06 - 30)).unwrap();
        assert!(!last_day.is_expired(date!(2026 - 06 - 30)));
        assert!(last_day.is_expired(date!(2026 - 07 - 01)));
        let err = verify(&token, &trusted, date!(2026 - 07 - 01)).unwrap_err();
        assert_eq!(
            err,
            Rejection::Expired {
                valid_through: date!(2026 - 06 - 30)
            }
        );
        assert_eq!(err.kind(), "expired");
        assert_eq!(
            err.to_string(),
            "license expired: it was valid through 2026-06-30"
        );
        assert!(verify(&token, &trusted, date!(2031 - 01 - 01)).is_err());
    }

    #[test]
    fn garbled_keys() {
        let (issuer, trusted) = issuer_and_trust();
        let good = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let (head, sig) = good.rsplit_once('.').unwrap();
        let long = format!("{TOKEN_PREFIX}{}", "A".repeat(MAX_TOKEN_LEN));
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "the key is empty"),
            ("   \n".to_string(), "the key is empty"),
            (
                "hello-world".to_string(),
                "not an arca license key (they start with arca-lic-v1.): hello-world",
            ),
            (
                good.replacen("arca-lic-v1.", "arca-lic-v2.", 1),
                "not an arca license key",
            ),
            (format!("{TOKEN_PREFIX}.{sig}"), "the payload is empty"),
            (format!("{head}.{sig}.x"), "too many '.'-separated parts"),
            (
                format!("{TOKEN_PREFIX}not*base64.{sig}"),
                "the payload is not valid base64url",
            ),
            (
                format!("{head}.not*base64"),
                "the signature is not valid base64url",
            ),
            (
                format!("{head}.{}", &sig[..40]),
                "the signature is not 64 bytes long",
            ),
            (long, "the key is longer than 4096 characters"),
            (
                forge(&issuer, "not json"),
                "the payload is not license JSON: ",
            ),
            (
                forge(&issuer, "{}"),
                "the payload is not license JSON: missing field",
            ),
            (
                forge(&issuer, r#"{"id":"x"}"#),
                "the payload is not license JSON: ",
            ),
        ];
        for (token, message) in cases {
            let err = verify(&token, &trusted, TODAY).unwrap_err();
            assert!(matches!(err, Rejection::Garbled(_)), "{token:?}: {err:?}");
            assert_eq!(err.kind(), "garbled");
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("garbled license key: {message}")),
                "{token:?}: {shown}"
            );
            assert!(!shown.contains('\n'), "{shown}");
        }
    }

    #[test]
    fn garbled_fields_inside_a_signed_payload() {
        let (issuer, trusted) = issuer_and_trust();
        let id = "0123456789abcdef0123456789abcdef";
        let payload = |id: &str, licensee: &str, issued: &str, through: &str, iss: &str| {
            serde_json::json!({
                "id": id, "licensee": licensee, "type": "Enterprise",
                "issued": issued, "validThrough": through, "issuer": iss
            })
            .to_string()
        };
        let me = issuer.id();
        let cases = [
            (
                payload("xyz", "A", "2026-01-01", "2027-01-01", me),
                "the id is not 32 lowercase hexadecimal characters",
            ),
            (
                payload(id, "", "2026-01-01", "2027-01-01", me),
                "the licensee is empty",
            ),
            (
                payload(id, "A\u{7}", "2026-01-01", "2027-01-01", me),
                "the licensee contains control characters",
            ),
            (
                payload(id, "A", "2026-1-1", "2027-01-01", me),
                "the issue date is not a date YYYY-MM-DD: 2026-1-1",
            ),
            (
                payload(id, "A", "2026-01-01", "2027-02-30", me),
                "the valid-through date is not a date YYYY-MM-DD: 2027-02-30",
            ),
            (
                payload(id, "A", "2026-01-01", "2027-01-01\n2099-01-01", me),
                "the valid-through date is not a date YYYY-MM-DD: 2027-01-01\\n2099-01-01",
            ),
            (
                payload(id, "A", "2026-01-01", "2027-01-01", "ABC"),
                "the issuer id is not 16 lowercase hexadecimal characters",
            ),
        ];
        for (json, message) in cases {
            let err = verify(&forge(&issuer, &json), &trusted, TODAY).unwrap_err();
            assert_eq!(err, Rejection::Garbled(message.to_string()), "{json}");
        }
        // unknown fields are not part of format v1
        let mut extra: serde_json::Value =
            serde_json::from_str(&payload(id, "A", "2026-01-01", "2027-01-01", me)).unwrap();
        extra["seats"] = serde_json::json!(5);
        let err = verify(&forge(&issuer, &extra.to_string()), &trusted, TODAY).unwrap_err();
        assert!(err.to_string().contains("unknown field `seats`"), "{err}");
        // a well-formed payload forged with the test helper verifies: the rules above are
        // about the fields, not the helper
        let ok = forge(&issuer, &payload(id, "A", "2026-01-01", "2027-01-01", me));
        assert_eq!(verify(&ok, &trusted, TODAY).unwrap().id(), id);
    }

    #[test]
    fn unsigned_keys() {
        let (issuer, trusted) = issuer_and_trust();
        let good = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let (head, _) = good.rsplit_once('.').unwrap();
        for token in [
            head.to_string(),
            format!("{head}."),
            TOKEN_PREFIX.to_string(),
        ] {
            let err = verify(&token, &trusted, TODAY).unwrap_err();
            assert_eq!(err, Rejection::Unsigned, "{token}");
            assert_eq!(err.kind(), "unsigned");
            assert_eq!(
                err.to_string(),
                "unsigned license key: it has no signature part"
            );
        }
    }

    #[test]
    fn key_from_another_issuer_is_untrusted() {
        let (_, trusted) = issuer_and_trust();
        let stranger = Issuer::generate();
        let token = stranger.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let err = verify(&token, &trusted, TODAY).unwrap_err();
        assert_eq!(
            err,
            Rejection::UntrustedIssuer {
                issuer: stranger.id().to_string()
            }
        );
        assert_eq!(err.kind(), "untrusted-issuer");
        assert_eq!(
            err.to_string(),
            format!(
                "license key from an untrusted issuer {}: no public key with this id in \
                 etc/security/license-issuers/",
                stranger.id()
            )
        );
        // nobody trusted at all
        let err = verify(&token, &TrustedIssuers::new(), TODAY).unwrap_err();
        assert_eq!(err.kind(), "untrusted-issuer");
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2026 - 06 - 30))).unwrap();
        let (_, sig) = token.rsplit_once('.').unwrap();
        let mut payload = payload_of(&token);
        payload["validThrough"] = serde_json::json!("2099-12-31");
        let mut tampered = String::from(TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(payload.to_string(), &mut tampered);
        tampered.push('.');
        tampered.push_str(sig);
        let err = verify(&tampered, &trusted, TODAY).unwrap_err();
        assert_eq!(
            err,
            Rejection::BadSignature {
                issuer: issuer.id().to_string()
            }
        );
        assert_eq!(err.kind(), "bad-signature");
        assert_eq!(
            err.to_string(),
            format!(
                "bad signature: the license key was altered or not signed by issuer {}",
                issuer.id()
            )
        );
        // checked before the date: an altered expired key is a bad signature, not expired
        assert_eq!(
            verify(&tampered, &trusted, date!(2100 - 01 - 01))
                .unwrap_err()
                .kind(),
            "bad-signature"
        );

        // a signature copied from another key, and another issuer claiming a trusted id
        let other = issuer.issue(&new_license(date!(2026 - 06 - 30))).unwrap();
        let (head, _) = token.rsplit_once('.').unwrap();
        let (_, other_sig) = other.rsplit_once('.').unwrap();
        let swapped = format!("{head}.{other_sig}");
        assert_eq!(
            verify(&swapped, &trusted, TODAY).unwrap_err().kind(),
            "bad-signature"
        );
        let impostor = Issuer::generate();
        let claim = serde_json::json!({
            "id": "0123456789abcdef0123456789abcdef", "licensee": "A", "type": "Enterprise",
            "issued": "2026-01-01", "validThrough": "2027-01-01", "issuer": issuer.id()
        });
        let forged = forge(&impostor, &claim.to_string());
        assert_eq!(
            verify(&forged, &trusted, TODAY).unwrap_err().kind(),
            "bad-signature"
        );

        // one flipped character in the signature
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 5;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let flipped: String = chars.into_iter().collect();
        assert_eq!(
            verify(&flipped, &trusted, TODAY).unwrap_err().kind(),
            "bad-signature"
        );
    }

    #[test]
    fn hash_is_sha256_hex_of_the_trimmed_key() {
        assert_eq!(
            license_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(license_hash(" abc\n"), license_hash("abc"));
        assert_ne!(license_hash("abd"), license_hash("abc"));
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let a = verify(&token, &trusted, TODAY).unwrap();
        let b = verify(&token, &trusted, TODAY).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hex::encode(Sha256::digest(token.as_bytes())));
    }

    #[test]
    fn split_batch_on_every_separator() {
        assert_eq!(split_batch(""), Vec::<&str>::new());
        assert_eq!(split_batch(" \n\n;;\t ; \r\n"), Vec::<&str>::new());
        assert_eq!(
            split_batch("a\nb\n\nc d\te;f; g ;\r\nh;\n\n  i  "),
            vec!["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        );
        assert_eq!(split_batch("only"), vec!["only"]);
    }

    #[test]
    fn verify_batch_keeps_order_and_reports_each_key() {
        let (issuer, trusted) = issuer_and_trust();
        let stranger = Issuer::generate();
        let k1 = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let k2 = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let expired = issuer.issue(&new_license(date!(2026 - 02 - 01))).unwrap();
        let untrusted = stranger.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let text = format!("{k1};garbage\n\n{expired} {untrusted}\t{k2};\n");
        let results = verify_batch(&text, &trusted, TODAY);
        let summary: Vec<(&str, &str)> = results
            .iter()
            .map(|(key, r)| {
                (
                    key.as_str(),
                    match r {
                        Ok(_) => "ok",
                        Err(rejection) => rejection.kind(),
                    },
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (k1.as_str(), "ok"),
                ("garbage", "garbled"),
                (expired.as_str(), "expired"),
                (untrusted.as_str(), "untrusted-issuer"),
                (k2.as_str(), "ok"),
            ]
        );
        assert!(verify_batch(" ;\n", &trusted, TODAY).is_empty());
    }

    #[test]
    fn rest_json_shape() {
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer
            .issue(&NewLicense {
                issued: date!(2018 - 01 - 02),
                ..new_license(date!(2018 - 05 - 15))
            })
            .unwrap();
        let license = verify(&token, &trusted, date!(2018 - 05 - 15)).unwrap();
        let unused = license.to_json(None, date!(2018 - 05 - 15));
        assert_eq!(
            serde_json::to_string(&unused).unwrap(),
            format!(
                r#"{{"type":"Enterprise","validThrough":"May 15, 2018","licensedTo":"ACME Corp.","licenseHash":"{}","nodeId":"Not in use","nodeUrl":"Not in use","expired":false}}"#,
                license_hash(&token)
            )
        );
        let used = license.to_json(
            Some(("node-a", "http://10.0.0.1:8081/artifactory")),
            date!(2018 - 05 - 16),
        );
        assert_eq!(used.node_id, "node-a");
        assert_eq!(used.node_url, "http://10.0.0.1:8081/artifactory");
        assert!(used.expired);
        let value = serde_json::to_value(&used).unwrap();
        assert_eq!(value["expired"], serde_json::json!(true));
        assert_eq!(value["licensedTo"], serde_json::json!("ACME Corp."));
    }

    #[test]
    fn debug_hides_the_key() {
        let (issuer, trusted) = issuer_and_trust();
        let token = issuer.issue(&new_license(date!(2027 - 01 - 01))).unwrap();
        let license = verify(&token, &trusted, TODAY).unwrap();
        let debug = format!("{license:?}");
        assert!(!debug.contains(&token), "{debug}");
        assert!(debug.contains(license.hash()), "{debug}");
        assert!(debug.contains("2027-01-01"), "{debug}");
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\nb\"c"), "a\\nb\\\"c");
        let long = "x".repeat(500);
        let q = quote(&long);
        assert_eq!(q.chars().count(), MAX_QUOTED_CHARS + 1);
        assert!(q.ends_with('…'));
    }
}
