//! Where the copies of each binary are, for the `sharding-cluster` chain: one row per
//! (binary, node holding a copy in its own store).
//!
//! The table is bookkeeping, not the truth: the files on each node's disk are. A node records
//! a copy inside the write transaction that places the file (a peer receiving a push), or
//! right after the deploy's transaction (its own copy), and reconciles its rows with its disk
//! from time to time; readers treat a listed holder as a hint (a peer may answer 404), and the
//! redundancy restore only counts copies on active nodes.

use crate::{Conn, DbError, args};

/// Record that `node_id` holds a copy of `sha256` (or refresh the time it was stored).
pub fn record_copy(conn: &Conn<'_>, sha256: &str, node_id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO binary_copies (sha256, node_id, stored_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (sha256, node_id) DO UPDATE SET stored_at = excluded.stored_at",
        args![sha256, node_id, now],
    )?;
    Ok(())
}

/// Forget `node_id`'s copy of `sha256`. Returns whether a row was removed.
pub fn remove_copy(conn: &Conn<'_>, sha256: &str, node_id: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM binary_copies WHERE sha256 = ?1 AND node_id = ?2",
        args![sha256, node_id],
    )? > 0)
}

/// The nodes recorded as holding a copy of `sha256`, by node id.
pub fn copies_of(conn: &Conn<'_>, sha256: &str) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT node_id FROM binary_copies WHERE sha256 = ?1 ORDER BY node_id",
        args![sha256],
        |r| r.get(0),
    )
}

/// The binaries `node_id` is recorded as holding, in SHA-256 order, after `after` (exclusive;
/// `""` from the start), at most `limit` (for reconciling the rows with the disk page by page).
pub fn copies_on(
    conn: &Conn<'_>,
    node_id: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT sha256 FROM binary_copies WHERE node_id = ?1 AND sha256 > ?2 \
         ORDER BY sha256 LIMIT ?3",
        args![node_id, after, limit_arg(limit)],
        |r| r.get(0),
    )
}

/// Binaries that `holder` holds a copy of, that are still known (have a `binaries` row
/// created before `created_before`), and that have fewer than `redundancy` copies on the
/// nodes in `active_nodes`; in SHA-256 order after `after` (exclusive; `""` from the start),
/// at most `limit`.
///
/// Orphan copies (no `binaries` row: a failed deploy, or collected garbage) are left out: they
/// are not worth spreading, the holder's orphan sweep removes them. Binaries younger than
/// `created_before` are left out too: their deploy's own bookkeeping may not be recorded yet.
pub fn under_replicated(
    conn: &Conn<'_>,
    holder: &str,
    active_nodes: &[String],
    redundancy: u32,
    created_before: i64,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    let limit = limit_arg(limit);
    let mut params: Vec<&dyn crate::sql::ToValue> =
        vec![&holder, &redundancy, &after, &limit, &created_before];
    // The IN list is built per call (one placeholder per active node): both backends take the
    // same `?N` text, and a cluster has a handful of nodes, so the statement cache stays small.
    let active = if active_nodes.is_empty() {
        "1 = 0".to_owned()
    } else {
        let placeholders: Vec<String> = (0..active_nodes.len())
            .map(|i| format!("?{}", i + 6))
            .collect();
        for node in active_nodes {
            params.push(node);
        }
        format!("o.node_id IN ({})", placeholders.join(", "))
    };
    conn.query_map(
        &format!(
            "SELECT c.sha256 FROM binary_copies c \
             JOIN binaries b ON b.sha256 = c.sha256 \
             WHERE c.node_id = ?1 AND c.sha256 > ?3 AND b.created < ?5 \
             AND (SELECT COUNT(*) FROM binary_copies o WHERE o.sha256 = c.sha256 AND {active}) < ?2 \
             ORDER BY c.sha256 LIMIT ?4"
        ),
        &params,
        |r| r.get(0),
    )
}

/// `LIMIT` takes a signed 64-bit integer on both backends.
fn limit_arg(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
