//! The node's row in the registry, its heartbeat, and the cluster duties.
//!
//! Cluster-wide duties (binary GC, the `_pre` sweep, marking stale nodes, and
//! later license reclaim and backups) run on exactly one node: the holder of
//! the [`DUTIES_LEASE`]. The configured primary takes it; a member takes it
//! only while no primary is active, i.e. when the primary has not heartbeated
//! for the stale period. When the primary comes back, the member hands the
//! lease back on its next heartbeat and the primary takes it on its own next
//! heartbeat, so duties return within two heartbeat intervals.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arca_db::cluster::{self, NodeRecord, NodeRole, NodeState};
use arca_db::licenses;
use arca_db::{Clock, Db, DbError};

use crate::{ClusterError, Identity};

/// Name of the lease whose holder runs the cluster duties.
pub const DUTIES_LEASE: &str = "cluster-duties";

/// Heartbeat interval and stale period (`arca.ha.heartbeat.interval.secs`,
/// `arca.ha.node.stale.secs`), plus the TTL of general-purpose locks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub stale: Duration,
    pub lock_lease: Duration,
}

impl Timing {
    fn ms(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
    pub fn stale_ms(&self) -> i64 {
        Self::ms(self.stale)
    }
    /// The duties lease lives one heartbeat less than the stale period, so a
    /// member can take over within one stale period of the holder's last renewal.
    fn duties_ttl_ms(&self) -> i64 {
        (Self::ms(self.stale) - Self::ms(self.heartbeat)).max(Self::ms(self.heartbeat))
    }
}

/// This node's membership: registry row, heartbeat, duties.
#[derive(Debug)]
pub struct Membership {
    db: Db,
    identity: Identity,
    clock: Arc<dyn Clock>,
    timing: Timing,
    start_time: i64,
    version: String,
    revision: String,
    release_date: String,
    state: Mutex<NodeState>,
    leader: AtomicBool,
    /// When (clock ms) this node, not leading, may take the duties over: when the active
    /// primary's last heartbeat turns stale, or the holder's lease expires (0: unknown). The
    /// election runs then, not at the next heartbeat tick, so a takeover happens one stale
    /// period after the primary's last heartbeat, not up to a heartbeat interval later.
    takeover_at: AtomicI64,
}

/// Build facts recorded in the registry.
#[derive(Debug, Clone)]
pub struct Build {
    pub version: String,
    pub revision: String,
    pub release_date: String,
}

impl Membership {
    /// Register this node as STARTING. Refused when an active node uses the
    /// same id or, for a primary, when another primary is active.
    pub async fn join(
        db: Db,
        identity: Identity,
        clock: Arc<dyn Clock>,
        timing: Timing,
        build: Build,
    ) -> Result<Arc<Membership>, ClusterError> {
        let now = clock.now_ms();
        let membership = Arc::new(Membership {
            db,
            identity,
            clock,
            timing,
            start_time: now,
            version: build.version,
            revision: build.revision,
            release_date: build.release_date,
            state: Mutex::new(NodeState::Starting),
            leader: AtomicBool::new(false),
            takeover_at: AtomicI64::new(0),
        });
        let record = membership.record(NodeState::Starting, now);
        let stale_ms = timing.stale_ms();
        membership
            .db
            .write(move |c| cluster::register_node(c, &record, now, stale_ms))
            .await
            .map_err(|e| match e {
                DbError::Conflict(m) => ClusterError::Refused(m),
                other => ClusterError::Db(other),
            })?;
        Ok(membership)
    }

    fn record(&self, state: NodeState, now: i64) -> NodeRecord {
        NodeRecord {
            node_id: self.identity.node_id.clone(),
            start_time: self.start_time,
            context_url: self.identity.context_url_text().to_string(),
            membership_port: self.identity.membership_port,
            state,
            role: self.identity.role,
            last_heartbeat: now,
            version: self.version.clone(),
            revision: self.revision.clone(),
            release_date: self.release_date.clone(),
            data_dir: self.identity.data_dir.display().to_string(),
            backup_dir: self.identity.backup_dir.display().to_string(),
            instance: self.identity.instance.clone(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn node_id(&self) -> &str {
        &self.identity.node_id
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Does this node currently run the cluster duties?
    pub fn is_duty_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub fn state(&self) -> NodeState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the state and write it (with a heartbeat) right away.
    pub async fn set_state(&self, state: NodeState) -> Result<(), DbError> {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
        self.heartbeat().await
    }

    async fn heartbeat(&self) -> Result<(), DbError> {
        let id = self.identity.node_id.clone();
        let state = self.state();
        let now = self.clock.now_ms();
        let present = self
            .db
            .locks(move |c| cluster::heartbeat(c, &id, state, now))
            .await?;
        if !present {
            // An operator removed our row (DELETE /api/system/ha/nodes/<id>) while we ran.
            tracing::warn!("this node's registry row was removed; registering again");
            let record = self.record(state, now);
            let stale_ms = self.timing.stale_ms();
            self.db
                .write(move |c| cluster::register_node(c, &record, now, stale_ms))
                .await?;
        }
        Ok(())
    }

    /// One heartbeat and one round of the duties election (what the background
    /// task does every heartbeat interval). Returns whether this node leads.
    pub async fn tick(&self) -> Result<bool, DbError> {
        if let Err(e) = self.heartbeat().await {
            self.leader.store(false, Ordering::SeqCst);
            return Err(e);
        }
        let leads = self.elect().await.inspect_err(|_| {
            self.leader.store(false, Ordering::SeqCst);
        })?;
        let was = self.leader.swap(leads, Ordering::SeqCst);
        if leads && !was {
            tracing::info!(
                arca_node_id = %self.identity.node_id,
                "this node now runs the cluster duties (GC, _pre sweep, stale-node marking, license reclaim)"
            );
        } else if was && !leads {
            tracing::info!(
                arca_node_id = %self.identity.node_id,
                "this node no longer runs the cluster duties"
            );
        }
        if leads {
            let now = self.clock.now_ms();
            let stale_ms = self.timing.stale_ms();
            let marked = self
                .db
                .locks(move |c| cluster::mark_stale_nodes(c, now, stale_ms))
                .await?;
            for id in marked {
                tracing::warn!(
                    arca_node_id = %self.identity.node_id,
                    "node '{id}' stopped heartbeating for {} s: marked UNAVAILABLE, its locks released",
                    self.timing.stale.as_secs()
                );
            }
            self.reclaim_licenses(now, stale_ms).await?;
        }
        Ok(leads)
    }

    /// Cluster duty: free the licenses of nodes that are stale (crashed, or stopped longer than
    /// the stale period) or gone from the registry (claims already treat them as free; this
    /// makes the pool show it). Reads
    /// first, so the write lock is taken only when there is something to free.
    async fn reclaim_licenses(&self, now: i64, stale_ms: i64) -> Result<(), DbError> {
        let (held, nodes) = self
            .db
            .read(|c| Ok::<_, DbError>((licenses::list_licenses(c)?, cluster::list_nodes(c)?)))
            .await?;
        let holders: Vec<(String, String)> = held
            .into_iter()
            .filter_map(|l| Some((l.hash, l.holder_node_id?)))
            .filter(|(_, holder)| {
                !nodes
                    .iter()
                    .any(|n| &n.node_id == holder && n.keeps_license(now, stale_ms))
            })
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        let freed = self
            .db
            .write(move |c| licenses::reclaim_stale(c, now, stale_ms))
            .await?;
        for (hash, holder) in holders.iter().filter(|(h, _)| freed.contains(h)) {
            tracing::info!(
                arca_node_id = %self.identity.node_id,
                license = %hash,
                "license {hash} returned to the cluster pool: node '{holder}' has had no \
                 heartbeat for the stale period (crashed or stopped) or was removed"
            );
        }
        Ok(())
    }

    async fn elect(&self) -> Result<bool, DbError> {
        let me = self.identity.node_id.clone();
        let role = self.identity.role;
        let now = self.clock.now_ms();
        let stale_ms = self.timing.stale_ms();
        let ttl = self.timing.duties_ttl_ms();
        let (leads, takeover_at) = self
            .db
            .locks(move |c| {
                if role == NodeRole::Member {
                    let primary = cluster::list_nodes(c)?.into_iter().find(|n| {
                        n.role == NodeRole::Primary && n.node_id != me && n.is_active(now, stale_ms)
                    });
                    if let Some(primary) = primary {
                        cluster::release_lease(c, DUTIES_LEASE, &me)?;
                        return Ok((false, primary.last_heartbeat + stale_ms));
                    }
                }
                if cluster::try_acquire_lease(c, DUTIES_LEASE, &me, now, ttl)? {
                    return Ok((true, 0));
                }
                let expires = cluster::get_lease(c, DUTIES_LEASE)?.map_or(0, |l| l.expires);
                Ok::<_, DbError>((false, expires))
            })
            .await?;
        self.takeover_at.store(takeover_at, Ordering::SeqCst);
        Ok(leads)
    }

    /// How long until the duties may be taken over (see `takeover_at`), when that is sooner
    /// than `within`.
    fn takeover_due_in(&self, within: Duration) -> Option<Duration> {
        let at = self.takeover_at.load(Ordering::SeqCst);
        if at <= 0 {
            return None;
        }
        // A few ms late: at `at` exactly the primary is not stale yet (`now - heartbeat <
        // stale` means active).
        let wait_ms = at.saturating_sub(self.clock.now_ms()).saturating_add(5);
        let wait = Duration::from_millis(u64::try_from(wait_ms).ok()?);
        (wait < within).then_some(wait)
    }

    /// Run [`Membership::tick`] every heartbeat interval until the task is aborted.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(me.timing.heartbeat);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                match me.takeover_due_in(me.timing.heartbeat) {
                    Some(wait) => tokio::select! {
                        _ = interval.tick() => {}
                        () = tokio::time::sleep(wait) => {}
                    },
                    None => {
                        interval.tick().await;
                    }
                }
                match me.tick().await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("heartbeat to the database works again");
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(
                            "heartbeat failed: {e}; retrying every {:?}",
                            me.timing.heartbeat
                        );
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// Take the named cluster lock for [`Timing::lock_lease`] (renewable by
    /// calling again). `false` while another node holds it.
    pub async fn try_lock(&self, name: &str) -> Result<bool, DbError> {
        let (name, me) = (name.to_string(), self.identity.node_id.clone());
        let now = self.clock.now_ms();
        let ttl = Timing::ms(self.timing.lock_lease);
        self.db
            .locks(move |c| cluster::try_acquire_lease(c, &name, &me, now, ttl))
            .await
    }

    pub async fn unlock(&self, name: &str) -> Result<bool, DbError> {
        let (name, me) = (name.to_string(), self.identity.node_id.clone());
        self.db
            .locks(move |c| cluster::release_lease(c, &name, &me))
            .await
    }

    /// Leave the cluster cleanly: state STOPPED, every lease released.
    pub async fn leave(&self) -> Result<(), DbError> {
        self.leader.store(false, Ordering::SeqCst);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = NodeState::Stopped;
        let id = self.identity.node_id.clone();
        let now = self.clock.now_ms();
        self.db
            .locks(move |c| {
                cluster::heartbeat(c, &id, NodeState::Stopped, now)?;
                cluster::release_all_leases(c, &id)
            })
            .await?;
        Ok(())
    }

    /// Ids of nodes that are live and heartbeating.
    pub async fn active_node_ids(&self) -> Result<Vec<String>, DbError> {
        let now = self.clock.now_ms();
        let stale_ms = self.timing.stale_ms();
        let nodes = self.db.read(cluster::list_nodes).await?;
        Ok(nodes
            .into_iter()
            .filter(|n| n.is_active(now, stale_ms))
            .map(|n| n.node_id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_db::clock::ManualClock;
    use std::path::PathBuf;

    fn identity(id: &str, role: NodeRole) -> Identity {
        Identity {
            node_id: id.into(),
            role,
            context_url: arca_config::ha_node::ContextUrl::parse(&format!("http://{id}:8081")).ok(),
            membership_port: 0,
            data_dir: PathBuf::from("/d"),
            backup_dir: PathBuf::from("/b"),
            instance: format!("host-of-{id}"),
        }
    }

    fn build() -> Build {
        Build {
            version: "1".into(),
            revision: "r".into(),
            release_date: "d".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn member_takes_duties_when_the_primary_goes_stale_and_hands_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("db"), 4).unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let timing = Timing {
            heartbeat: Duration::from_secs(5),
            stale: Duration::from_secs(30),
            lock_lease: Duration::from_secs(30),
        };
        let join = |id: &'static str, role| {
            Membership::join(
                db.clone(),
                identity(id, role),
                clock.clone(),
                timing,
                build(),
            )
        };
        let primary = join("p", NodeRole::Primary).await.unwrap();
        let member = join("m", NodeRole::Member).await.unwrap();
        assert!(primary.tick().await.unwrap());
        assert!(!member.tick().await.unwrap());
        // the primary dies: the member keeps heartbeating
        let mut waited = 0;
        while !member.tick().await.unwrap() {
            clock.advance(5_000);
            waited += 5_000;
            assert!(waited <= 30_000, "takeover within one stale period");
        }
        let nodes = db.read_blocking(cluster::list_nodes).unwrap();
        let p = nodes.iter().find(|n| n.node_id == "p").unwrap();
        assert_eq!(p.state, NodeState::Unavailable);
        // the primary returns (restart: join again), the member hands the duties back
        let primary = join("p", NodeRole::Primary).await.unwrap();
        primary.set_state(NodeState::Running).await.unwrap();
        assert!(
            !primary.tick().await.unwrap(),
            "member still holds the lease"
        );
        assert!(!member.tick().await.unwrap(), "member releases it");
        assert!(primary.tick().await.unwrap());
        primary.leave().await.unwrap();
        assert!(
            db.read_blocking(|c| cluster::get_lease(c, DUTIES_LEASE))
                .unwrap()
                .is_none()
        );
    }
}
