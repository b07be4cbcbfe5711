//! Automatic restarts (`arca.config.sync.restart=true`), one node at a time.
//!
//! After the sync changed a file the server reads at start only, the node waits for the
//! cluster lease [`RESTART_LEASE`], asks its `arca-server` to restart (the server drains and
//! exits with status 75; systemd starts it again), and gives the lease back once its server is
//! active again with a newer start time. So the nodes of a cluster restart one after the
//! other and the load balancer always has the others. A server that does not come back within
//! the lease's time lets the next node go ahead (the lease expires).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use arca_cluster::server_socket::{self, ServerRequest};
use arca_db::cluster;
use arca_db::{Clock, Db, DbError};

/// The cluster lease a node holds while its server restarts.
pub const RESTART_LEASE: &str = "config-sync-restart";

/// How long one node may take to restart before the next one may go.
pub const RESTART_LEASE_TTL: Duration = Duration::from_secs(120);

/// A node's pending automatic restart.
#[derive(Debug, Default)]
pub struct RollingRestart {
    /// Files changed since the server last (re)started.
    pending: BTreeSet<String>,
    /// When this node asked its server to restart (it holds the lease meanwhile).
    requested_at: Option<i64>,
}

/// What [`RollingRestart::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Idle,
    /// Another node restarts: waiting for the lease.
    Waiting,
    /// Asked the server to restart now.
    Requested(Vec<String>),
    /// The server is not reachable on its socket: it reads the files at its next start.
    ServerDown,
    /// Our server is back with the new files; the lease is released.
    Done,
}

impl RollingRestart {
    pub fn add(&mut self, files: impl IntoIterator<Item = String>) {
        self.pending.extend(files);
    }

    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The lease owner: not the node id, whose leases the server releases when it stops.
    fn owner(node_id: &str) -> String {
        format!("{node_id}/arca-config-sync")
    }

    /// One step: take the lease and ask for the restart, or notice the server is back.
    pub async fn step(
        &mut self,
        db: &Db,
        node_id: &str,
        clock: &dyn Clock,
        socket: &Path,
        stale_ms: i64,
    ) -> Result<Step, DbError> {
        if self.pending.is_empty() {
            return Ok(Step::Idle);
        }
        let now = clock.now_ms();
        let owner = Self::owner(node_id);
        if let Some(asked) = self.requested_at {
            let id = node_id.to_string();
            let back = db
                .read(move |c| cluster::get_node(c, &id))
                .await?
                .is_some_and(|n| {
                    n.start_time > asked
                        && n.state == cluster::NodeState::Running
                        && n.is_active(now, stale_ms)
                });
            if !back {
                return Ok(Step::Waiting);
            }
            self.release(db, &owner).await?;
            self.pending.clear();
            self.requested_at = None;
            return Ok(Step::Done);
        }
        let ttl = i64::try_from(RESTART_LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
        let lease_owner = owner.clone();
        let got = db
            .locks(move |c| cluster::try_acquire_lease(c, RESTART_LEASE, &lease_owner, now, ttl))
            .await?;
        if !got {
            return Ok(Step::Waiting);
        }
        let files: Vec<String> = self.pending.iter().cloned().collect();
        let request = ServerRequest::Config {
            changed: files.clone(),
            restart: true,
            live: Vec::new(),
        };
        match server_socket::send(socket, &request).await {
            Ok(()) => {
                self.requested_at = Some(now);
                Ok(Step::Requested(files))
            }
            Err(_) => {
                self.release(db, &owner).await?;
                self.pending.clear();
                Ok(Step::ServerDown)
            }
        }
    }

    async fn release(&self, db: &Db, owner: &str) -> Result<(), DbError> {
        let owner = owner.to_string();
        db.locks(move |c| cluster::release_lease(c, RESTART_LEASE, &owner))
            .await
            .map(drop)
    }
}
