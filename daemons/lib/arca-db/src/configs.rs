//! The cluster's shared config files (`arca-config-sync`, `docs/config-sync.md`): the copy the
//! config owner stored (`config_files`) and what each node has on disk (`config_file_nodes`).
//!
//! The database never sees a file in clear: callers store it sealed with the master key
//! (`arca_crypto::SecretBox`) and its SHA-256 computed before sealing. Members compare that
//! hash with their own copy's, never modification times. Store functions run in the caller's
//! write transaction; [`notify_changed`] in the same transaction tells PostgreSQL listeners at
//! commit.

use crate::sql::Backend;
use crate::{Conn, DbError, Row, args};

/// The PostgreSQL `LISTEN`/`NOTIFY` channel of config changes (payload: the file name).
pub const CHANNEL: &str = "arca_config_files";

/// The cluster's copy of one shared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileRow {
    /// Path under `etc/`, e.g. `binarystore.xml`.
    pub name: String,
    /// Sealed content; `None` when the file was deleted on the owner.
    pub content: Option<String>,
    /// SHA-256 (hex) of the plaintext; empty when deleted.
    pub sha256: String,
    /// Increases by one with every stored change of this file.
    pub version: i64,
    pub updated_at: i64,
    /// The node that stored it (the config owner then).
    pub updated_by: String,
    /// The owner's latest copy that failed validation and was not propagated (hash, error, ms).
    pub rejected: Option<Rejected>,
}

impl ConfigFileRow {
    pub fn deleted(&self) -> bool {
        self.content.is_none()
    }
}

/// A copy the owner refused to propagate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub sha256: String,
    pub error: String,
    pub at: i64,
}

/// What one node has of one shared file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFileRow {
    pub node_id: String,
    pub name: String,
    /// SHA-256 of the node's copy; empty when it has none.
    pub sha256: String,
    /// The cluster version the node last applied or stored.
    pub version: i64,
    pub reported_at: i64,
    /// When the node's copy last changed through config sync in a way its server applies at
    /// start only (0: never): a `system.properties` change of `arca.url.base` alone, applied
    /// live, keeps the earlier time.
    pub changed_at: i64,
    /// The node's own copy when it is a local edit kept unpublished (the configured primary's,
    /// published once it owns the config); `sha256`/`version` are then still the copy it last
    /// had in sync.
    pub pending_sha256: Option<String>,
    /// The node's last local edit that the cluster's copy replaced: what happened and where the
    /// edit is kept (cleared once that file is gone).
    pub lost_edit: Option<String>,
    /// When (ms; 0 without a lost edit).
    pub lost_edit_at: i64,
}

const FILE_COLUMNS: &str = "name, content, sha256, version, updated_at, updated_by, \
     rejected_sha256, rejected_error, rejected_at";

fn file_from_row(r: &Row<'_>) -> Result<ConfigFileRow, DbError> {
    let rejected_sha256: Option<String> = r.get(6)?;
    let rejected_error: Option<String> = r.get(7)?;
    let rejected_at: Option<i64> = r.get(8)?;
    Ok(ConfigFileRow {
        name: r.get(0)?,
        content: r.get(1)?,
        sha256: r.get(2)?,
        version: r.get(3)?,
        updated_at: r.get(4)?,
        updated_by: r.get(5)?,
        rejected: match (rejected_sha256, rejected_error, rejected_at) {
            (Some(sha256), Some(error), Some(at)) => Some(Rejected { sha256, error, at }),
            _ => None,
        },
    })
}

/// Every stored file, by name.
pub fn list_files(conn: &Conn<'_>) -> Result<Vec<ConfigFileRow>, DbError> {
    conn.query_map(
        &format!("SELECT {FILE_COLUMNS} FROM config_files ORDER BY name"),
        args![],
        file_from_row,
    )
}

pub fn get_file(conn: &Conn<'_>, name: &str) -> Result<Option<ConfigFileRow>, DbError> {
    conn.query_opt(
        &format!("SELECT {FILE_COLUMNS} FROM config_files WHERE name = ?1"),
        args![name],
        file_from_row,
    )
}

/// Store the owner's copy of `name` (`content` sealed, `None` to record a deletion) unless the
/// cluster has this `sha256` already. Returns the new version, or `None` when nothing changed.
/// A stored copy clears an earlier rejection. Run in a write transaction.
pub fn store_file(
    conn: &Conn<'_>,
    name: &str,
    content: Option<&str>,
    sha256: &str,
    now_ms: i64,
    node_id: &str,
) -> Result<Option<i64>, DbError> {
    let current = get_file(conn, name)?;
    if let Some(c) = &current
        && c.sha256 == sha256
        && c.content.is_some() == content.is_some()
    {
        if c.rejected.is_some() {
            clear_rejection(conn, name)?;
        }
        return Ok(None);
    }
    if current.is_none() && content.is_none() {
        return Ok(None); // never stored, absent: nothing to record
    }
    let version = current.map_or(1, |c| c.version + 1);
    conn.execute(
        "INSERT INTO config_files (name, content, sha256, version, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (name) DO UPDATE SET content = excluded.content, \
         sha256 = excluded.sha256, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by, \
         rejected_sha256 = NULL, rejected_error = NULL, rejected_at = NULL",
        args![name, content, sha256, version, now_ms, node_id],
    )?;
    Ok(Some(version))
}

/// Record that the owner's copy of `name` with `sha256` failed validation with `error` (not
/// propagated). Returns `false` when this exact rejection is recorded already.
pub fn record_rejection(
    conn: &Conn<'_>,
    name: &str,
    sha256: &str,
    error: &str,
    now_ms: i64,
    node_id: &str,
) -> Result<bool, DbError> {
    if let Some(current) = get_file(conn, name)? {
        if current
            .rejected
            .as_ref()
            .is_some_and(|r| r.sha256 == sha256 && r.error == error)
        {
            return Ok(false);
        }
        conn.execute(
            "UPDATE config_files SET rejected_sha256 = ?2, rejected_error = ?3, \
             rejected_at = ?4 WHERE name = ?1",
            args![name, sha256, error, now_ms],
        )?;
    } else {
        // Never stored a valid copy: keep the rejection on a row without content (version 0).
        conn.execute(
            "INSERT INTO config_files (name, content, sha256, version, updated_at, updated_by, \
             rejected_sha256, rejected_error, rejected_at) \
             VALUES (?1, NULL, '', 0, ?4, ?5, ?2, ?3, ?4)",
            args![name, sha256, error, now_ms, node_id],
        )?;
    }
    Ok(true)
}

fn clear_rejection(conn: &Conn<'_>, name: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE config_files SET rejected_sha256 = NULL, rejected_error = NULL, \
         rejected_at = NULL WHERE name = ?1",
        args![name],
    )?;
    Ok(())
}

/// Tell PostgreSQL listeners (at commit) that `name` changed; nothing on SQLite.
pub fn notify_changed(conn: &Conn<'_>, name: &str) -> Result<(), DbError> {
    if conn.backend() == Backend::Postgres {
        conn.query_one("SELECT pg_notify(?1, ?2)", args![CHANNEL, name], |_| Ok(()))?;
    }
    Ok(())
}

/// Record what `node_id` has of `name` (`sha256` empty when absent; `changed` when this report
/// follows a change of its copy, which sets `changed_at`).
/// The lost-edit columns are left as they are (see [`record_lost_edit`]).
pub fn report_node_file(conn: &Conn<'_>, node: &NodeFileRow, changed: bool) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO config_file_nodes \
         (node_id, name, sha256, version, reported_at, changed_at, pending_sha256) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8) \
         ON CONFLICT (node_id, name) DO UPDATE SET sha256 = excluded.sha256, \
         version = excluded.version, reported_at = excluded.reported_at, \
         pending_sha256 = excluded.pending_sha256, \
         changed_at = CASE WHEN ?7 = 1 THEN excluded.changed_at \
                           ELSE config_file_nodes.changed_at END",
        args![
            node.node_id,
            node.name,
            node.sha256,
            node.version,
            node.reported_at,
            if changed { node.changed_at } else { 0 },
            i64::from(changed),
            node.pending_sha256
        ],
    )?;
    Ok(())
}

/// Record that `node_id`'s local edit of `name` lost to the cluster's copy (`what`: what
/// happened and where the edit is kept), or clear it (`None`). The node has reported the file
/// before (the row exists).
pub fn record_lost_edit(
    conn: &Conn<'_>,
    node_id: &str,
    name: &str,
    what: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE config_file_nodes SET lost_edit = ?3, lost_edit_at = ?4 \
         WHERE node_id = ?1 AND name = ?2",
        args![node_id, name, what, if what.is_some() { now_ms } else { 0 }],
    )?;
    Ok(())
}

crate::sql::row_mapping!(const NODE_FILE_COLUMNS, fn node_file_from_row -> NodeFileRow {
    node_id, name, sha256, version, reported_at, changed_at, pending_sha256, lost_edit, lost_edit_at
});

/// Every node's report, by node then file.
pub fn list_node_files(conn: &Conn<'_>) -> Result<Vec<NodeFileRow>, DbError> {
    conn.query_map(
        &format!("SELECT {NODE_FILE_COLUMNS} FROM config_file_nodes ORDER BY node_id, name"),
        args![],
        node_file_from_row,
    )
}

/// One node's reports, by file.
pub fn node_files(conn: &Conn<'_>, node_id: &str) -> Result<Vec<NodeFileRow>, DbError> {
    conn.query_map(
        &format!(
            "SELECT {NODE_FILE_COLUMNS} FROM config_file_nodes WHERE node_id = ?1 ORDER BY name"
        ),
        args![node_id],
        node_file_from_row,
    )
}
