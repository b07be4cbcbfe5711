//! The cluster's license pool as the REST API (`/api/system/licenses`), `arcactl license
//! add|list|delete` and the bootstrap file `etc/cluster.license` manage it
//! (`docs/licenses.md`): verifying keys against this node's trusted issuers, adding the valid
//! ones, listing the pool in the REST shape, deleting by hash.
//!
//! Keys are credentials (anyone holding one can use a seat): results name a key by its
//! license hash only, and nothing here logs or returns a key.
//!
//! Every change runs in one write transaction ([`Db::write`], or [`Db::write_blocking`] for
//! the `_blocking` variants used by tools). Dates come from the caller's clock (`now_ms`).

use std::path::{Path, PathBuf};

use arca_config::Home;
use arca_db::cluster::NodeRole;
use arca_db::licenses::{self, AddOutcome, DeleteOutcome, LicenseRow, NewLicenseRow};
use arca_db::{Clock, Conn, Db, DbError};
use arca_license::{
    Date, License, LicenseError, LicenseJson, NOT_IN_USE, TRUSTED_ISSUERS_DIR, TrustedIssuers,
    format_date_iso, format_date_long, license_hash, parse_date, split_batch, verify, verify_batch,
};

use crate::identity::Identity;

/// The bootstrap file under `etc/`.
pub const BOOTSTRAP_FILE: &str = "cluster.license";

/// The message for a key that was added.
pub const ADDED: &str = "OK";

/// The message for a key that is in the pool already.
pub const ALREADY_PRESENT: &str = "already in the pool";

/// The UTC calendar date of `now_ms`.
pub fn utc_date(now_ms: i64) -> Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// The UTC date of `now_ms` as `YYYY-MM-DD` (the form the pool stores and compares).
pub fn utc_date_iso(now_ms: i64) -> String {
    format_date_iso(utc_date(now_ms))
}

/// `etc/security/license-issuers/` of `home`.
pub fn trusted_issuers_dir(home: &Home) -> PathBuf {
    home.security().join(TRUSTED_ISSUERS_DIR)
}

/// The issuers `home` trusts (every `*.pub` file of [`trusted_issuers_dir`]; none when the
/// directory is missing). A bad file is an error naming it.
pub fn trusted_issuers(home: &Home) -> Result<TrustedIssuers, LicenseError> {
    TrustedIssuers::load(&trusted_issuers_dir(home))
}

/// The pool row of a verified key.
pub fn new_row(license: &License) -> NewLicenseRow {
    NewLicenseRow {
        hash: license.hash().to_string(),
        token: license.token().to_string(),
        licensee: license.licensee().to_string(),
        license_type: license.license_type().to_string(),
        valid_through: format_date_iso(license.valid_through()),
        issued: format_date_iso(license.issued()),
    }
}

/// A pool row in the REST shape of [`License::to_json`]; `expired` is computed with
/// `today_iso` (`YYYY-MM-DD`).
pub fn row_json(row: &LicenseRow, today_iso: &str) -> LicenseJson {
    let (node_id, node_url) = match (&row.holder_node_id, &row.holder_url) {
        (Some(id), Some(url)) => (id.clone(), url.clone()),
        _ => (NOT_IN_USE.to_string(), NOT_IN_USE.to_string()),
    };
    LicenseJson {
        license_type: row.license_type.clone(),
        valid_through: parse_date(&row.valid_through)
            .map(format_date_long)
            .unwrap_or_else(|_| row.valid_through.clone()),
        licensed_to: row.licensee.clone(),
        license_hash: row.hash.clone(),
        node_id,
        node_url,
        expired: row.is_expired(today_iso),
    }
}

/// What became of one key of [`add_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Valid and added to the pool.
    Added,
    /// Valid and in the pool already (left unchanged).
    AlreadyPresent,
    /// Not valid here: the rejection reason (`docs/licenses.md`, "Rejection reasons").
    Rejected(String),
}

impl KeyVerdict {
    /// The message the REST API shows: `OK`, `already in the pool` or the reason.
    pub fn message(&self) -> &str {
        match self {
            KeyVerdict::Added => ADDED,
            KeyVerdict::AlreadyPresent => ALREADY_PRESENT,
            KeyVerdict::Rejected(reason) => reason,
        }
    }

    /// Whether the key is in the pool now (added or already there).
    pub fn in_pool(&self) -> bool {
        !matches!(self, KeyVerdict::Rejected(_))
    }
}

/// One key of [`add_keys`], named by its license hash (never by the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResult {
    pub hash: String,
    pub verdict: KeyVerdict,
}

/// The keys of a batch, verified and not yet added: see [`verify_keys`].
#[derive(Debug, Clone)]
pub struct VerifiedKeys {
    /// In input order, one per distinct key: the row to add, or the rejection reason.
    keys: Vec<(String, Result<NewLicenseRow, String>)>,
}

impl VerifiedKeys {
    /// No key at all in the input.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Add the valid keys; one result per key, in input order. **Run it inside the caller's
    /// write transaction** (all keys in one).
    pub fn add(self, conn: &Conn<'_>, now_ms: i64) -> Result<Vec<KeyResult>, DbError> {
        self.keys
            .into_iter()
            .map(|(hash, verdict)| {
                let verdict = match verdict {
                    Ok(row) => match licenses::add_license(conn, &row, now_ms)? {
                        AddOutcome::Added => KeyVerdict::Added,
                        AddOutcome::AlreadyPresent => KeyVerdict::AlreadyPresent,
                    },
                    Err(reason) => KeyVerdict::Rejected(reason),
                };
                Ok(KeyResult { hash, verdict })
            })
            .collect()
    }

    /// The results without touching the database, when no key is valid.
    fn all_rejected(&self) -> Option<Vec<KeyResult>> {
        self.keys
            .iter()
            .map(|(hash, verdict)| {
                verdict.as_ref().err().map(|reason| KeyResult {
                    hash: hash.clone(),
                    verdict: KeyVerdict::Rejected(reason.clone()),
                })
            })
            .collect()
    }
}

/// Split every text of `texts` into keys (newlines, blank lines, spaces, tabs, semicolons)
/// and verify each against `issuers` and `today` (UTC). The same key twice is judged once.
pub fn verify_keys<S: AsRef<str>>(
    texts: &[S],
    issuers: &TrustedIssuers,
    today: Date,
) -> VerifiedKeys {
    let mut keys: Vec<(String, Result<NewLicenseRow, String>)> = Vec::new();
    for key in texts.iter().flat_map(|t| split_batch(t.as_ref())) {
        let hash = license_hash(key);
        if keys.iter().any(|(h, _)| *h == hash) {
            continue;
        }
        let verdict = verify(key, issuers, today)
            .map(|license| new_row(&license))
            .map_err(|rejection| rejection.to_string());
        keys.push((hash, verdict));
    }
    VerifiedKeys { keys }
}

/// Add the valid keys of `verified` in one write transaction (none when no key is valid).
/// One result per distinct key, in input order.
pub async fn add_verified(
    db: &Db,
    verified: VerifiedKeys,
    now_ms: i64,
) -> Result<Vec<KeyResult>, DbError> {
    if let Some(results) = verified.all_rejected() {
        return Ok(results);
    }
    db.write(move |c| verified.add(c, now_ms)).await
}

/// [`add_verified`] for synchronous callers (`arcactl`).
pub fn add_verified_blocking(
    db: &Db,
    verified: VerifiedKeys,
    now_ms: i64,
) -> Result<Vec<KeyResult>, DbError> {
    if let Some(results) = verified.all_rejected() {
        return Ok(results);
    }
    db.write_blocking(move |c| verified.add(c, now_ms))
}

/// Verify the keys of `texts` ([`verify_keys`], today = the UTC date of `now_ms`) and add the
/// valid ones in one write transaction ([`add_verified`]). One result per distinct key, in
/// input order; empty when `texts` hold no key.
pub async fn add_keys<S: AsRef<str>>(
    db: &Db,
    texts: &[S],
    issuers: &TrustedIssuers,
    now_ms: i64,
) -> Result<Vec<KeyResult>, DbError> {
    add_verified(db, verify_keys(texts, issuers, utc_date(now_ms)), now_ms).await
}

/// [`add_keys`] for synchronous callers (`arcactl`).
pub fn add_keys_blocking<S: AsRef<str>>(
    db: &Db,
    texts: &[S],
    issuers: &TrustedIssuers,
    now_ms: i64,
) -> Result<Vec<KeyResult>, DbError> {
    add_verified_blocking(db, verify_keys(texts, issuers, utc_date(now_ms)), now_ms)
}

/// Every license of the pool in the REST shape, latest `validThrough` first; `expired` is
/// computed with `today_iso` (`YYYY-MM-DD`, see [`utc_date_iso`]).
pub async fn list(db: &Db, today_iso: &str) -> Result<Vec<LicenseJson>, DbError> {
    let rows = db.read(licenses::list_licenses).await?;
    Ok(rows.iter().map(|r| row_json(r, today_iso)).collect())
}

/// [`list`] for synchronous callers (`arcactl`).
pub fn list_blocking(db: &Db, today_iso: &str) -> Result<Vec<LicenseJson>, DbError> {
    let rows = db.read_blocking(licenses::list_licenses)?;
    Ok(rows.iter().map(|r| row_json(r, today_iso)).collect())
}

/// Delete the licenses `hashes` with the pool's delete rules (`arca_db::licenses::
/// delete_licenses`; a holder is active when it heartbeated within `stale_ms`), in one write
/// transaction. One outcome per hash, in order; [`DeleteOutcome::message`] words it.
pub async fn delete(
    db: &Db,
    hashes: Vec<String>,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Vec<(String, DeleteOutcome)>, DbError> {
    let today_iso = utc_date_iso(now_ms);
    db.write(move |c| licenses::delete_licenses(c, &hashes, &today_iso, now_ms, stale_ms))
        .await
}

/// [`delete`] for synchronous callers (`arcactl`).
pub fn delete_blocking(
    db: &Db,
    hashes: &[String],
    now_ms: i64,
    stale_ms: i64,
) -> Result<Vec<(String, DeleteOutcome)>, DbError> {
    let today_iso = utc_date_iso(now_ms);
    db.write_blocking(|c| licenses::delete_licenses(c, hashes, &today_iso, now_ms, stale_ms))
}

/// Why the bootstrap file could not be added.
#[derive(Debug, thiserror::Error)]
enum BootstrapError {
    #[error(transparent)]
    Issuers(#[from] LicenseError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// At start-up, on the primary or a standalone node: when the pool is empty, add the valid
/// keys of `etc/cluster.license` (separated by whitespace or semicolons). Rejected keys are
/// logged by hash with their reason. A missing file is fine; nothing here stops the start
/// (problems are logged as errors).
pub async fn load_bootstrap_file(home: &Home, db: &Db, identity: &Identity, clock: &dyn Clock) {
    let now_ms = clock.now_ms();
    if !matches!(identity.role, NodeRole::Primary | NodeRole::Standalone) {
        return;
    }
    let path = home.etc().join(BOOTSTRAP_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!(
                "cannot read {}: {e}; no license added from it",
                path.display()
            );
            return;
        }
    };
    if let Err(e) = bootstrap(home, db, &path, &text, now_ms).await {
        tracing::error!("could not add the licenses of {}: {e}", path.display());
    }
}

async fn bootstrap(
    home: &Home,
    db: &Db,
    path: &Path,
    text: &str,
    now_ms: i64,
) -> Result<(), BootstrapError> {
    let issuers = trusted_issuers(home)?;
    let mut valid = Vec::new();
    for (key, verdict) in verify_batch(text, &issuers, utc_date(now_ms)) {
        match verdict {
            Ok(license) => valid.push(new_row(&license)),
            Err(rejection) => tracing::warn!(
                "{}: license {} rejected: {rejection}",
                path.display(),
                license_hash(&key)
            ),
        }
    }
    let added = db
        .write(move |c| {
            if !licenses::list_licenses(c)?.is_empty() {
                return Ok::<_, DbError>(None);
            }
            let mut added = 0usize;
            for row in &valid {
                if licenses::add_license(c, row, now_ms)? == AddOutcome::Added {
                    added += 1;
                }
            }
            Ok(Some(added))
        })
        .await?;
    match added {
        None => tracing::info!(
            "the license pool is not empty: {} is not read (manage the pool with \
             /api/system/licenses or arcactl license)",
            path.display()
        ),
        Some(n) => tracing::info!("added {n} license(s) from etc/{BOOTSTRAP_FILE}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_date_of_millis() {
        assert_eq!(utc_date_iso(0), "1970-01-01");
        // 2026-03-10T23:59:59.999Z and one millisecond later
        assert_eq!(utc_date_iso(1_773_187_199_999), "2026-03-10");
        assert_eq!(utc_date_iso(1_773_187_200_000), "2026-03-11");
    }

    #[test]
    fn rows_in_the_reference_shape() {
        let row = LicenseRow {
            hash: "ab".into(),
            token: "secret".into(),
            licensee: "ACME Corp.".into(),
            license_type: "Enterprise".into(),
            valid_through: "2018-05-15".into(),
            issued: "2017-05-15".into(),
            added_at: 0,
            holder_node_id: None,
            claimed_at: None,
            holder_url: None,
        };
        let json = serde_json::to_value(row_json(&row, "2018-05-16")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"Enterprise","validThrough":"May 15, 2018",
                "licensedTo":"ACME Corp.","licenseHash":"ab","nodeId":"Not in use",
                "nodeUrl":"Not in use","expired":true})
        );
        let held = LicenseRow {
            holder_node_id: Some("n1".into()),
            holder_url: Some("http://n1/artifactory".into()),
            ..row
        };
        let json = serde_json::to_value(row_json(&held, "2018-05-15")).unwrap();
        assert_eq!(json["nodeId"], "n1");
        assert_eq!(json["nodeUrl"], "http://n1/artifactory");
        assert_eq!(json["expired"], false);
    }

    #[test]
    fn keys_are_judged_once_and_named_by_hash() {
        let issuers = TrustedIssuers::new();
        let today = utc_date(0);
        let verified = verify_keys(&["a;b", "a\n\n", " \t"], &issuers, today);
        let results = verified.all_rejected().expect("nothing valid");
        let hashes: Vec<&str> = results.iter().map(|r| r.hash.as_str()).collect();
        assert_eq!(hashes, [license_hash("a"), license_hash("b")]);
        assert!(results.iter().all(|r| !r.verdict.in_pool()));
        assert!(
            results[0]
                .verdict
                .message()
                .starts_with("garbled license key: ")
        );
        assert!(verify_keys(&[" ; "], &issuers, today).is_empty());
        assert_eq!(KeyVerdict::Added.message(), "OK");
        assert_eq!(KeyVerdict::AlreadyPresent.message(), "already in the pool");
    }

    #[test]
    fn valid_keys_are_added_once_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("arca.db"), 2).unwrap();
        let issuer = arca_license::Issuer::generate();
        let mut issuers = TrustedIssuers::new();
        issuers.insert(issuer.public_key().clone());
        let key = issuer
            .issue(&arca_license::NewLicense {
                licensee: "ACME Corp.",
                license_type: "Enterprise",
                valid_through: parse_date("2999-12-31").unwrap(),
                issued: parse_date("2020-01-01").unwrap(),
            })
            .unwrap();
        let now = 1_773_187_200_000;
        let text = format!("{key} garbage");
        let results = add_keys_blocking(&db, &[text.as_str()], &issuers, now).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].hash, license_hash(&key));
        assert_eq!(results[0].verdict, KeyVerdict::Added);
        assert!(matches!(results[1].verdict, KeyVerdict::Rejected(_)));
        let again = add_keys_blocking(&db, &[key.as_str()], &issuers, now).unwrap();
        assert_eq!(again[0].verdict, KeyVerdict::AlreadyPresent);

        let listed = list_blocking(&db, &utc_date_iso(now)).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].license_hash, license_hash(&key));
        assert_eq!(listed[0].valid_through, "December 31, 2999");

        let hashes = vec![license_hash(&key), "unknown".to_string()];
        let deleted = delete_blocking(&db, &hashes, now, 30_000).unwrap();
        assert!(deleted[0].1.deleted());
        assert_eq!(deleted[1].1, DeleteOutcome::NotFound);
        assert!(list_blocking(&db, "2026-03-11").unwrap().is_empty());
    }
}
