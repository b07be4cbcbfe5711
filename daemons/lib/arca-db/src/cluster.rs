//! Cluster bookkeeping: the node registry, leases (cluster-wide locks owned by
//! a node id, with an expiry) and cluster-wide settings.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller's
//! clock: nodes compare each other's heartbeats, so their clocks must be
//! synchronised (NTP), as for any HA cluster.

use std::fmt;

use crate::{Conn, DbError, Row, args};

/// Lifecycle state of a node, as shown in the HA table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Starting,
    Running,
    Stopping,
    Stopped,
    /// Stopped heartbeating without saying goodbye (crash, network split).
    Unavailable,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Starting => "STARTING",
            NodeState::Running => "RUNNING",
            NodeState::Stopping => "STOPPING",
            NodeState::Stopped => "STOPPED",
            NodeState::Unavailable => "UNAVAILABLE",
        }
    }

    pub fn parse(s: &str) -> Option<NodeState> {
        Some(match s {
            "STARTING" => NodeState::Starting,
            "RUNNING" => NodeState::Running,
            "STOPPING" => NodeState::Stopping,
            "STOPPED" => NodeState::Stopped,
            "UNAVAILABLE" => NodeState::Unavailable,
            _ => return None,
        })
    }

    /// States in which a node claims to be alive.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            NodeState::Starting | NodeState::Running | NodeState::Stopping
        )
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Role of a node in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// `primary=true` in ha-node.properties.
    Primary,
    Member,
    /// No ha-node.properties: a single node.
    Standalone,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Primary => "PRIMARY",
            NodeRole::Member => "MEMBER",
            NodeRole::Standalone => "STANDALONE",
        }
    }

    pub fn parse(s: &str) -> Option<NodeRole> {
        Some(match s {
            "PRIMARY" => NodeRole::Primary,
            "MEMBER" => NodeRole::Member,
            "STANDALONE" => NodeRole::Standalone,
            _ => return None,
        })
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the node registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    pub start_time: i64,
    pub context_url: String,
    pub membership_port: u16,
    pub state: NodeState,
    pub role: NodeRole,
    pub last_heartbeat: i64,
    pub version: String,
    pub revision: String,
    pub release_date: String,
    pub data_dir: String,
    pub backup_dir: String,
    /// Where the process runs (`<host>:<home>`): a restart of the same
    /// installation after a crash may take over its own still-fresh row.
    pub instance: String,
}

impl NodeRecord {
    /// Live state and a heartbeat younger than `stale_ms`.
    pub fn is_active(&self, now_ms: i64, stale_ms: i64) -> bool {
        self.state.is_live() && now_ms - self.last_heartbeat < stale_ms
    }

    /// Does the node keep the license it holds? While it heartbeats, and for the stale period
    /// after its last heartbeat whatever its state — a server stopped cleanly (`STOPPED`, the
    /// stop being its last heartbeat) that starts again within that period finds its license
    /// still held, so a restart of `arca-server` alone never unlicenses the node. The license
    /// agent's stop returns the license at once (`licenses::release_license`).
    pub fn keeps_license(&self, now_ms: i64, stale_ms: i64) -> bool {
        self.state != NodeState::Unavailable && now_ms - self.last_heartbeat < stale_ms
    }

    /// Did not stop cleanly and has had no heartbeat for `stale_ms` or longer
    /// (live state, or already marked UNAVAILABLE).
    pub fn is_stale(&self, now_ms: i64, stale_ms: i64) -> bool {
        (self.state.is_live() || self.state == NodeState::Unavailable)
            && now_ms - self.last_heartbeat >= stale_ms
    }
}

const NODE_COLUMNS: &str = "node_id, start_time, context_url, membership_port, state, role, \
     last_heartbeat, version, revision, release_date, data_dir, backup_dir, instance";

fn node_from_row(r: &Row<'_>) -> Result<NodeRecord, DbError> {
    let state: String = r.get(4)?;
    let role: String = r.get(5)?;
    Ok(NodeRecord {
        node_id: r.get(0)?,
        start_time: r.get(1)?,
        context_url: r.get(2)?,
        membership_port: r.get(3)?,
        state: NodeState::parse(&state)
            .ok_or_else(|| DbError::Corrupt(format!("unknown node state {state:?}")))?,
        role: NodeRole::parse(&role)
            .ok_or_else(|| DbError::Corrupt(format!("unknown node role {role:?}")))?,
        last_heartbeat: r.get(6)?,
        version: r.get(7)?,
        revision: r.get(8)?,
        release_date: r.get(9)?,
        data_dir: r.get(10)?,
        backup_dir: r.get(11)?,
        instance: r.get(12)?,
    })
}

/// Every registered node, by id.
pub fn list_nodes(conn: &Conn<'_>) -> Result<Vec<NodeRecord>, DbError> {
    conn.query_map(
        &format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY node_id"),
        args![],
        node_from_row,
    )
}

pub fn get_node(conn: &Conn<'_>, node_id: &str) -> Result<Option<NodeRecord>, DbError> {
    conn.query_opt(
        &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = ?1"),
        args![node_id],
        node_from_row,
    )
}

fn ago(now_ms: i64, then_ms: i64) -> String {
    format!("{:.1} s ago", (now_ms - then_ms).max(0) as f64 / 1000.0)
}

/// Register (or re-register) a starting node. Run inside a write transaction:
/// the checks and the upsert must not interleave with another node's.
///
/// Refused with [`DbError::Conflict`] when an active node already uses the id,
/// or when `node` is a primary and another active primary exists.
pub fn register_node(
    conn: &Conn<'_>,
    node: &NodeRecord,
    now_ms: i64,
    stale_ms: i64,
) -> Result<(), DbError> {
    if let Some(existing) = get_node(conn, &node.node_id)?
        && existing.is_active(now_ms, stale_ms)
        && existing.instance != node.instance
    {
        return Err(DbError::Conflict(format!(
            "node id '{}' is already used by an active node ({}, state {}, last heartbeat {}); \
             give this node its own node.id in etc/ha-node.properties, or stop the other node \
             and wait {} s until it is stale",
            node.node_id,
            if existing.context_url.is_empty() {
                "no context.url"
            } else {
                &existing.context_url
            },
            existing.state,
            ago(now_ms, existing.last_heartbeat),
            stale_ms / 1000
        )));
    }
    if node.role == NodeRole::Primary {
        for other in list_nodes(conn)? {
            if other.node_id != node.node_id
                && other.role == NodeRole::Primary
                && other.is_active(now_ms, stale_ms)
            {
                return Err(DbError::Conflict(format!(
                    "a second active primary: node '{}' ({}) is already the primary and \
                     heartbeating (last {}); exactly one node may have primary=true — set \
                     primary=false in this node's etc/ha-node.properties",
                    other.node_id,
                    other.context_url,
                    ago(now_ms, other.last_heartbeat)
                )));
            }
        }
    }
    conn.execute(
        &format!(
            "INSERT INTO nodes ({NODE_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) \
             ON CONFLICT(node_id) DO UPDATE SET start_time=excluded.start_time, \
             context_url=excluded.context_url, membership_port=excluded.membership_port, \
             state=excluded.state, role=excluded.role, last_heartbeat=excluded.last_heartbeat, \
             version=excluded.version, revision=excluded.revision, \
             release_date=excluded.release_date, data_dir=excluded.data_dir, \
             backup_dir=excluded.backup_dir, instance=excluded.instance"
        ),
        args![
            node.node_id,
            node.start_time,
            node.context_url,
            node.membership_port,
            node.state.as_str(),
            node.role.as_str(),
            node.last_heartbeat,
            node.version,
            node.revision,
            node.release_date,
            node.data_dir,
            node.backup_dir,
            node.instance
        ],
    )?;
    Ok(())
}

/// Record a heartbeat (and the current state). `false` when the row is gone
/// (an operator deleted it): the caller registers again.
pub fn heartbeat(
    conn: &Conn<'_>,
    node_id: &str,
    state: NodeState,
    now_ms: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE nodes SET last_heartbeat = ?2, state = ?3 WHERE node_id = ?1",
        args![node_id, now_ms, state.as_str()],
    )? > 0)
}

/// Mark live nodes whose heartbeat is older than `stale_ms` UNAVAILABLE and
/// drop their leases. Returns the ids marked.
pub fn mark_stale_nodes(
    conn: &Conn<'_>,
    now_ms: i64,
    stale_ms: i64,
) -> Result<Vec<String>, DbError> {
    let ids: Vec<String> = conn.query_map(
        "UPDATE nodes SET state = 'UNAVAILABLE' \
         WHERE state IN ('STARTING', 'RUNNING', 'STOPPING') AND last_heartbeat <= ?1 \
         RETURNING node_id",
        args![now_ms - stale_ms],
        |r| r.get(0),
    )?;
    for id in &ids {
        release_all_leases(conn, id)?;
    }
    Ok(ids)
}

/// Remove a node's row. Refused for an active node.
pub fn delete_node(
    conn: &Conn<'_>,
    node_id: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<bool, DbError> {
    let Some(node) = get_node(conn, node_id)? else {
        return Ok(false);
    };
    if node.is_active(now_ms, stale_ms) {
        return Err(DbError::Conflict(format!(
            "node '{node_id}' is active (state {}, last heartbeat {}); stop it first — only \
             stopped or stale nodes can be removed",
            node.state,
            ago(now_ms, node.last_heartbeat)
        )));
    }
    release_all_leases(conn, node_id)?;
    Ok(conn.execute("DELETE FROM nodes WHERE node_id = ?1", args![node_id])? > 0)
}

/// A cluster-wide lock held by a node until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    pub acquired: i64,
    pub expires: i64,
}

/// Take the lease `name` for `owner` until `now_ms + ttl_ms`, or renew it if
/// `owner` holds it already. `false` while another owner's lease is valid.
/// One statement, atomic on both backends (no transaction needed).
pub fn try_acquire_lease(
    conn: &Conn<'_>,
    name: &str,
    owner: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "INSERT INTO leases (name, owner, acquired, expires) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires, \
         acquired = CASE WHEN leases.owner = excluded.owner THEN leases.acquired \
                         ELSE excluded.acquired END \
         WHERE leases.owner = excluded.owner OR leases.expires <= ?3",
        args![name, owner, now_ms, now_ms + ttl_ms],
    )? == 1)
}

/// Give the lease back if `owner` holds it.
pub fn release_lease(conn: &Conn<'_>, name: &str, owner: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
        args![name, owner],
    )? > 0)
}

/// Give back every lease `owner` holds (shutdown, or the owner went stale).
pub fn release_all_leases(conn: &Conn<'_>, owner: &str) -> Result<usize, DbError> {
    conn.execute("DELETE FROM leases WHERE owner = ?1", args![owner])
}

pub fn get_lease(conn: &Conn<'_>, name: &str) -> Result<Option<Lease>, DbError> {
    conn.query_opt(
        "SELECT name, owner, acquired, expires FROM leases WHERE name = ?1",
        args![name],
        lease_from_row,
    )
}

pub fn list_leases(conn: &Conn<'_>) -> Result<Vec<Lease>, DbError> {
    conn.query_map(
        &format!("SELECT {LEASE_COLUMNS} FROM leases ORDER BY name"),
        args![],
        lease_from_row,
    )
}

crate::sql::row_mapping!(const LEASE_COLUMNS, fn lease_from_row -> Lease {
    name, owner, acquired, expires
});

/// A cluster-wide setting.
pub fn get_setting(conn: &Conn<'_>, key: &str) -> Result<Option<String>, DbError> {
    conn.query_opt(
        "SELECT value FROM cluster_settings WHERE key = ?1",
        args![key],
        |r| r.get(0),
    )
}

/// Store `value` unless the key is set; returns the value that is stored
/// (ours, or the one another node stored first).
pub fn init_setting(
    conn: &Conn<'_>,
    key: &str,
    value: &str,
    now_ms: i64,
) -> Result<String, DbError> {
    conn.execute(
        "INSERT INTO cluster_settings (key, value, updated) VALUES (?1, ?2, ?3) \
         ON CONFLICT(key) DO NOTHING",
        args![key, value, now_ms],
    )?;
    get_setting(conn, key)?.ok_or_else(|| DbError::Corrupt(format!("setting {key} vanished")))
}

/// Store or replace a setting.
pub fn put_setting(conn: &Conn<'_>, key: &str, value: &str, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO cluster_settings (key, value, updated) VALUES (?1, ?2, ?3) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        args![key, value, now_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_db(f: impl FnOnce(&Conn<'_>)) {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::sqlite(&raw);
        crate::migrate::apply(&conn).unwrap();
        f(&conn);
    }

    fn node(id: &str, role: NodeRole, hb: i64) -> NodeRecord {
        NodeRecord {
            node_id: id.into(),
            start_time: hb,
            context_url: format!("http://{id}:8081"),
            membership_port: 0,
            state: NodeState::Running,
            role,
            last_heartbeat: hb,
            version: "1".into(),
            revision: "r".into(),
            release_date: "d".into(),
            data_dir: String::new(),
            backup_dir: String::new(),
            instance: format!("host-of-{id}"),
        }
    }

    #[test]
    fn registry_refuses_duplicate_ids_and_second_primaries_until_stale() {
        with_db(|c| {
            register_node(c, &node("a", NodeRole::Primary, 1_000), 1_000, 30_000).unwrap();
            let mut twin = node("a", NodeRole::Member, 2_000);
            twin.instance = "elsewhere".into();
            let dup = register_node(c, &twin, 2_000, 30_000);
            assert!(
                matches!(dup, Err(DbError::Conflict(m)) if m.contains("already used by an active node"))
            );
            // the same installation restarting after a crash takes its row back
            register_node(c, &node("a", NodeRole::Primary, 2_000), 2_000, 30_000).unwrap();
            let second = register_node(c, &node("b", NodeRole::Primary, 2_000), 2_000, 30_000);
            assert!(
                matches!(second, Err(DbError::Conflict(m)) if m.contains("second active primary"))
            );
            register_node(c, &node("b", NodeRole::Member, 2_000), 2_000, 30_000).unwrap();
            // "a" stops heartbeating: after the stale period it is marked and replaceable
            assert!(heartbeat(c, "b", NodeState::Running, 10_000).unwrap());
            assert!(mark_stale_nodes(c, 31_999, 30_000).unwrap().is_empty());
            assert_eq!(
                mark_stale_nodes(c, 32_000, 30_000).unwrap(),
                vec!["a".to_string()]
            );
            assert_eq!(
                get_node(c, "a").unwrap().unwrap().state,
                NodeState::Unavailable
            );
            register_node(c, &node("c", NodeRole::Primary, 32_000), 32_000, 30_000).unwrap();
            assert!(matches!(
                delete_node(c, "c", 32_000, 30_000),
                Err(DbError::Conflict(_))
            ));
            assert!(delete_node(c, "a", 32_000, 30_000).unwrap());
            assert!(heartbeat(c, "b", NodeState::Running, 32_500).unwrap());
            assert!(!heartbeat(c, "a", NodeState::Running, 31_500).unwrap());
        });
    }

    #[test]
    fn leases_are_exclusive_renewable_and_expire() {
        with_db(|c| {
            assert!(try_acquire_lease(c, "gc", "a", 0, 10).unwrap());
            assert!(!try_acquire_lease(c, "gc", "b", 5, 10).unwrap());
            assert!(try_acquire_lease(c, "gc", "a", 5, 10).unwrap(), "renewal");
            assert_eq!(get_lease(c, "gc").unwrap().unwrap().acquired, 0);
            assert!(!try_acquire_lease(c, "gc", "b", 14, 10).unwrap());
            assert!(try_acquire_lease(c, "gc", "b", 15, 10).unwrap(), "expired");
            assert_eq!(get_lease(c, "gc").unwrap().unwrap().owner, "b");
            assert!(!release_lease(c, "gc", "a").unwrap());
            assert!(release_lease(c, "gc", "b").unwrap());
            assert!(try_acquire_lease(c, "gc", "a", 16, 10).unwrap());
            assert_eq!(release_all_leases(c, "a").unwrap(), 1);
        });
    }

    #[test]
    fn first_setting_wins() {
        with_db(|c| {
            assert_eq!(init_setting(c, "k", "one", 1).unwrap(), "one");
            assert_eq!(init_setting(c, "k", "two", 2).unwrap(), "one");
            put_setting(c, "k", "three", 3).unwrap();
            assert_eq!(get_setting(c, "k").unwrap().as_deref(), Some("three"));
        });
    }
}
