//! The cluster's license pool: the keys added to the cluster (`POST /api/system/licenses`,
//! `arcactl license add`, `etc/cluster.license`) and which node holds which.
//!
//! The database stores each key as given plus the metadata the caller read from it; it does
//! not verify signatures — callers verify with `arca-license` before [`add_license`].
//!
//! Rules (see `docs/licenses.md`, "The pool (database)"):
//! - A license is **free** when nobody holds it, or when its holder is not an *active* node of
//!   the registry (missing, stopped, or no heartbeat for the stale period: the same rule as
//!   [`NodeRecord::is_active`](crate::cluster::NodeRecord::is_active)).
//! - A node holds at most one license (a partial unique index enforces it), and a license has
//!   at most one holder (one column).
//! - Claims pick the free, non-expired license with the latest `valid_through`.
//!
//! Every function that changes the pool must run inside the caller's write transaction
//! ([`Db::write`](crate::Db::write)): writers are serialised there (`BEGIN IMMEDIATE` on
//! SQLite, the cluster-wide write advisory lock on PostgreSQL), so a read-then-assign cannot
//! interleave with another node's. Dates are `YYYY-MM-DD` strings (UTC), which order
//! correctly as text on both backends; times are milliseconds passed in by the caller.

use crate::{Conn, DbError, Row, args};

/// A key to add to the pool, with the fields the caller read from it (after verifying it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLicenseRow {
    /// SHA-256 (lowercase hex) of the key as given, without surrounding whitespace.
    pub hash: String,
    /// The key itself (a credential: never logged or listed).
    pub token: String,
    pub licensee: String,
    pub license_type: String,
    /// Last valid day, `YYYY-MM-DD` (inclusive).
    pub valid_through: String,
    /// Issue date, `YYYY-MM-DD`.
    pub issued: String,
}

/// One license of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    pub hash: String,
    pub token: String,
    pub licensee: String,
    pub license_type: String,
    /// `YYYY-MM-DD`, inclusive.
    pub valid_through: String,
    pub issued: String,
    /// When it was added (ms).
    pub added_at: i64,
    /// The node recorded as holding it. It may be stale (not active): such a license counts
    /// as free for claims and deletes, and [`reclaim_stale`] clears it.
    pub holder_node_id: Option<String>,
    /// When the holder claimed it (ms).
    pub claimed_at: Option<i64>,
    /// The holder's `context_url` from the node registry; `None` when there is no holder or
    /// the holder's row is gone (shown as "Not in use" by the API).
    pub holder_url: Option<String>,
}

impl LicenseRow {
    /// Expired on `today_iso` (a key is valid on its `valid_through` day).
    pub fn is_expired(&self, today_iso: &str) -> bool {
        self.valid_through.as_str() < today_iso
    }
}

/// Result of [`add_license`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// A key with this hash is in the pool already (left unchanged).
    AlreadyPresent,
}

/// Result of [`delete_licenses`] for one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Not in use (no holder, or a holder that is not active): deleted.
    Deleted,
    /// No license with this hash.
    NotFound,
    /// In use by an active node, which was switched to the free license `new_hash` first.
    SwitchedHolderAndDeleted { node_id: String, new_hash: String },
    /// In use by an active node and no other valid license is free: kept.
    RefusedInUse { node_id: String },
}

impl DeleteOutcome {
    /// A sentence for the API and `arcactl`, naming the license by `hash`.
    pub fn message(&self, hash: &str) -> String {
        match self {
            DeleteOutcome::Deleted => format!("license {hash} deleted"),
            DeleteOutcome::NotFound => format!("license {hash} not found"),
            DeleteOutcome::SwitchedHolderAndDeleted { node_id, new_hash } => format!(
                "license {hash} deleted; node '{node_id}' was using it and now uses license \
                 {new_hash}"
            ),
            DeleteOutcome::RefusedInUse { node_id } => format!(
                "license {hash} is in use by node '{node_id}' and no other valid license is \
                 free to move it to; add a license first, or stop that node"
            ),
        }
    }

    /// Whether the license is gone from the pool.
    pub fn deleted(&self) -> bool {
        matches!(
            self,
            DeleteOutcome::Deleted | DeleteOutcome::SwitchedHolderAndDeleted { .. }
        )
    }
}

/// Columns of [`LicenseRow`], for `FROM licenses l LEFT JOIN nodes n ON …`.
const LICENSE_COLUMNS: &str = "l.hash, l.token, l.licensee, l.license_type, l.valid_through, \
     l.issued, l.added_at, l.holder_node_id, l.claimed_at, n.context_url";

const FROM_LICENSES: &str = "FROM licenses l LEFT JOIN nodes n ON n.node_id = l.holder_node_id";

/// SQL condition: `l`'s holder keeps its license: a heartbeat newer than the parameter
/// `?{param}` = now − stale, in any state but UNAVAILABLE (the rule of
/// `NodeRecord::keeps_license`). A server stopped cleanly keeps it for the stale period, so a
/// restart finds it still held; the agent's stop gives it back at once.
fn holder_active(param: usize) -> String {
    node_active("l.holder_node_id", param)
}

/// SQL condition: the node whose id is the column `node_column` keeps its license (see
/// [`holder_active`]).
fn node_active(node_column: &str, param: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM nodes a WHERE a.node_id = {node_column} \
         AND a.state <> 'UNAVAILABLE' AND a.last_heartbeat > ?{param})"
    )
}

/// SQL condition: `l` is free (no holder, or a holder that is not active).
fn free(param: usize) -> String {
    format!("(l.holder_node_id IS NULL OR NOT {})", holder_active(param))
}

/// Heartbeats at or before this are stale (`now - heartbeat >= stale`).
fn cutoff(now_ms: i64, stale_ms: i64) -> i64 {
    now_ms.saturating_sub(stale_ms)
}

fn license_from_row(r: &Row<'_>) -> Result<LicenseRow, DbError> {
    Ok(LicenseRow {
        hash: r.get(0)?,
        token: r.get(1)?,
        licensee: r.get(2)?,
        license_type: r.get(3)?,
        valid_through: r.get(4)?,
        issued: r.get(5)?,
        added_at: r.get(6)?,
        holder_node_id: r.get(7)?,
        claimed_at: r.get(8)?,
        holder_url: r.get(9)?,
    })
}

/// `YYYY-MM-DD` (the only date form stored or compared: text order is date order).
fn check_date(what: &str, s: &str) -> Result<(), DbError> {
    let b = s.as_bytes();
    let number = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok())
    };
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && number(0..4).is_some()
        && number(5..7).is_some_and(|m| (1..=12).contains(&m))
        && number(8..10).is_some_and(|d| (1..=31).contains(&d));
    if ok {
        Ok(())
    } else {
        Err(DbError::Conflict(format!(
            "{what} must be a date YYYY-MM-DD, not {s:?}"
        )))
    }
}

/// Add a key to the pool (free). A key already present is left as it is.
pub fn add_license(
    conn: &Conn<'_>,
    license: &NewLicenseRow,
    now_ms: i64,
) -> Result<AddOutcome, DbError> {
    check_date("valid through", &license.valid_through)?;
    check_date("issued", &license.issued)?;
    let n = conn.execute(
        "INSERT INTO licenses (hash, token, licensee, license_type, valid_through, issued, \
         added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (hash) DO NOTHING",
        args![
            license.hash,
            license.token,
            license.licensee,
            license.license_type,
            license.valid_through,
            license.issued,
            now_ms
        ],
    )?;
    Ok(if n == 1 {
        AddOutcome::Added
    } else {
        AddOutcome::AlreadyPresent
    })
}

/// Every license, latest `valid_through` first (then by hash), with the holder's URL.
pub fn list_licenses(conn: &Conn<'_>) -> Result<Vec<LicenseRow>, DbError> {
    conn.query_map(
        &format!("SELECT {LICENSE_COLUMNS} {FROM_LICENSES} ORDER BY l.valid_through DESC, l.hash"),
        args![],
        license_from_row,
    )
}

/// One license by hash.
pub fn get_license(conn: &Conn<'_>, hash: &str) -> Result<Option<LicenseRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {LICENSE_COLUMNS} {FROM_LICENSES} WHERE l.hash = ?1"),
        args![hash],
        license_from_row,
    )
}

/// The license `node_id` holds, if any.
pub fn license_of(conn: &Conn<'_>, node_id: &str) -> Result<Option<LicenseRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {LICENSE_COLUMNS} {FROM_LICENSES} WHERE l.holder_node_id = ?1"),
        args![node_id],
        license_from_row,
    )
}

/// The best free license: not expired on `today_iso`, latest `valid_through` (then lowest
/// hash), none of `exclude`. With `cutoff` (now − stale), a license held by a node that is not
/// active counts as free; without, only unheld ones do.
fn best_free(
    conn: &Conn<'_>,
    today_iso: &str,
    cutoff: Option<i64>,
    exclude: &[&str],
) -> Result<Option<LicenseRow>, DbError> {
    let mut params: Vec<&dyn crate::sql::ToValue> = vec![&today_iso];
    let mut sql = format!("SELECT {LICENSE_COLUMNS} {FROM_LICENSES} WHERE l.valid_through >= ?1");
    match &cutoff {
        Some(c) => {
            params.push(c);
            sql.push_str(&format!(" AND {}", free(2)));
        }
        None => sql.push_str(" AND l.holder_node_id IS NULL"),
    }
    for h in exclude {
        params.push(h);
        sql.push_str(&format!(" AND l.hash <> ?{}", params.len()));
    }
    sql.push_str(" ORDER BY l.valid_through DESC, l.hash LIMIT 1");
    conn.query_opt(&sql, &params, license_from_row)
}

/// The license a claim would pick now (see [`claim_license`]): free (unheld, or held by a node
/// that is not active after `stale_ms`), not expired on `today_iso`, latest `valid_through`.
/// A read: callers use it to take the write lock only when a claim or swap can succeed.
pub fn best_free_license(
    conn: &Conn<'_>,
    today_iso: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Option<LicenseRow>, DbError> {
    check_date("today", today_iso)?;
    best_free(conn, today_iso, Some(cutoff(now_ms, stale_ms)), &[])
}

/// Give `node_id` the license `hash` (taking it over from an inactive holder when `cutoff`,
/// now − stale, is given; only an unheld one otherwise). The guard repeats the free test, so
/// even outside a serialised transaction a license held by an active node is never taken
/// over: `false` then.
fn assign(
    conn: &Conn<'_>,
    hash: &str,
    node_id: &str,
    claimed_at: i64,
    cutoff: Option<i64>,
) -> Result<bool, DbError> {
    let n = match cutoff {
        Some(cutoff) => conn.execute(
            &format!(
                "UPDATE licenses SET holder_node_id = ?2, claimed_at = ?3 \
                 WHERE hash = ?1 AND (holder_node_id IS NULL OR NOT {})",
                node_active("licenses.holder_node_id", 4)
            ),
            args![hash, node_id, claimed_at, cutoff],
        )?,
        None => conn.execute(
            "UPDATE licenses SET holder_node_id = ?2, claimed_at = ?3 \
             WHERE hash = ?1 AND holder_node_id IS NULL",
            args![hash, node_id, claimed_at],
        )?,
    };
    Ok(n == 1)
}

/// The license for a starting (or license-less) node `node_id`: the one it holds already, or
/// else the free, non-expired (`valid_through >= today_iso`) license with the latest
/// `valid_through`, which is assigned to it (taken over from a holder that is missing from the
/// registry or has not heartbeated for `stale_ms`). `None` when no license is available.
///
/// Register the node (and keep it heartbeating) before claiming: otherwise its license is
/// free for the others.
///
/// **Run inside the caller's write transaction** ([`Db::write`](crate::Db::write)): claims
/// are serialised there, so nodes starting at the same instant never get the same license.
/// (The final assignment also re-checks that the license is free, and a unique index keeps
/// one license per node, as a second line of defence.)
pub fn claim_license(
    conn: &Conn<'_>,
    node_id: &str,
    today_iso: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Option<LicenseRow>, DbError> {
    check_date("today", today_iso)?;
    if let Some(held) = license_of(conn, node_id)? {
        return Ok(Some(held));
    }
    let cutoff = Some(cutoff(now_ms, stale_ms));
    let Some(best) = best_free(conn, today_iso, cutoff, &[])? else {
        return Ok(None);
    };
    if !assign(conn, &best.hash, node_id, now_ms, cutoff)? {
        return Err(DbError::Conflict(format!(
            "license {} was claimed by another node meanwhile (claims must run in a write \
             transaction)",
            best.hash
        )));
    }
    license_of(conn, node_id)
}

/// Give back the license `node_id` holds (clean stop). `false` when it held none.
pub fn release_license(conn: &Conn<'_>, node_id: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE licenses SET holder_node_id = NULL, claimed_at = NULL WHERE holder_node_id = ?1",
        args![node_id],
    )? > 0)
}

/// Free the licenses held by nodes that are missing from the registry or no longer keep them
/// (no heartbeat for `stale_ms`: crashed, or stopped that long ago). Returns the freed hashes, sorted. Run it in a write
/// transaction.
pub fn reclaim_stale(conn: &Conn<'_>, now_ms: i64, stale_ms: i64) -> Result<Vec<String>, DbError> {
    let mut freed: Vec<String> = conn.query_map(
        &format!(
            "UPDATE licenses SET holder_node_id = NULL, claimed_at = NULL \
             WHERE holder_node_id IS NOT NULL AND NOT {} RETURNING hash",
            node_active("licenses.holder_node_id", 1)
        ),
        args![cutoff(now_ms, stale_ms)],
        |r| r.get(0),
    )?;
    freed.sort();
    Ok(freed)
}

/// When the license `node_id` holds expires before `window_end_iso` (its `valid_through` <
/// `window_end_iso`; pass today + the configured window), move the node to the unheld,
/// non-expired license with the latest `valid_through`, if that one is valid longer than the
/// current one. Returns `(old hash, new hash)`, or `None` when nothing changed.
///
/// Only licenses without a holder are candidates ([`reclaim_stale`] frees those of inactive
/// nodes). Passing `window_end_iso = today_iso` moves a node off an already expired license.
/// Run inside a write transaction.
pub fn swap_if_expiring(
    conn: &Conn<'_>,
    node_id: &str,
    today_iso: &str,
    window_end_iso: &str,
) -> Result<Option<(String, String)>, DbError> {
    check_date("today", today_iso)?;
    check_date("window end", window_end_iso)?;
    let Some(current) = license_of(conn, node_id)? else {
        return Ok(None);
    };
    if current.valid_through.as_str() >= window_end_iso {
        return Ok(None);
    }
    let Some(better) = best_free(conn, today_iso, None, &[])? else {
        return Ok(None);
    };
    if better.valid_through <= current.valid_through {
        return Ok(None);
    }
    // one license per node (unique index): let go of the old one first
    release_license(conn, node_id)?;
    let claimed_at = current.claimed_at.unwrap_or(0);
    if !assign(conn, &better.hash, node_id, claimed_at, None)? {
        return Err(DbError::Conflict(format!(
            "license {} was claimed by another node meanwhile (swaps must run in a write \
             transaction)",
            better.hash
        )));
    }
    Ok(Some((current.hash, better.hash)))
}

/// Delete the licenses `hashes` (in order; one outcome each). A license is deleted when it is
/// not in use (no holder, or a holder missing from the registry or not active after
/// `stale_ms`), or when another free, non-expired license (not one of `hashes`) exists: the
/// holder is switched to the one with the latest `valid_through` first. Otherwise it is kept
/// ([`DeleteOutcome::RefusedInUse`]). Run inside a write transaction.
pub fn delete_licenses(
    conn: &Conn<'_>,
    hashes: &[String],
    today_iso: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Vec<(String, DeleteOutcome)>, DbError> {
    check_date("today", today_iso)?;
    let cutoff = cutoff(now_ms, stale_ms);
    let exclude: Vec<&str> = hashes.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let Some(license) = get_license(conn, hash)? else {
            out.push((hash.clone(), DeleteOutcome::NotFound));
            continue;
        };
        let holder = match &license.holder_node_id {
            Some(node) if is_holder_active(conn, hash, cutoff)? => Some(node.clone()),
            _ => None,
        };
        let outcome = match holder {
            None => {
                delete_row(conn, hash)?;
                DeleteOutcome::Deleted
            }
            Some(node_id) => match best_free(conn, today_iso, Some(cutoff), &exclude)? {
                None => DeleteOutcome::RefusedInUse { node_id },
                Some(alternative) => {
                    // one license per node (unique index): the old row goes first
                    delete_row(conn, hash)?;
                    if !assign(conn, &alternative.hash, &node_id, now_ms, Some(cutoff))? {
                        return Err(DbError::Conflict(format!(
                            "license {} was claimed by another node meanwhile (deletes must \
                             run in a write transaction)",
                            alternative.hash
                        )));
                    }
                    DeleteOutcome::SwitchedHolderAndDeleted {
                        node_id,
                        new_hash: alternative.hash,
                    }
                }
            },
        };
        out.push((hash.clone(), outcome));
    }
    Ok(out)
}

fn is_holder_active(conn: &Conn<'_>, hash: &str, cutoff: i64) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT 1 FROM licenses l WHERE l.hash = ?1 AND {}",
                holder_active(2)
            ),
            args![hash, cutoff],
            |_| Ok(()),
        )?
        .is_some())
}

fn delete_row(conn: &Conn<'_>, hash: &str) -> Result<(), DbError> {
    conn.execute("DELETE FROM licenses WHERE hash = ?1", args![hash])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert!(check_date("d", "2027-05-15").is_ok());
        for bad in [
            "2027-5-15",
            "May 15, 2027",
            "2027-13-01",
            "2027-00-10",
            "2027-01-32",
            "",
        ] {
            assert!(check_date("d", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delete_messages_name_the_node() {
        let m = DeleteOutcome::RefusedInUse {
            node_id: "n1".into(),
        }
        .message("abc");
        assert!(m.contains("abc") && m.contains("'n1'"), "{m}");
    }
}
