//! Start-up, main loop and shutdown of `arca-license-agent`.
//!
//! Order: config check (nothing started on error) → single node: idle (still `READY=1` with
//! the watchdog: the unit is installed on every node) → master key → database → `READY=1` →
//! a round every `arca.license.agent.interval.secs` (claim / swap; `STATUS=` and the journal
//! say what the node holds; each round is reported to the local server) until SIGTERM →
//! `STOPPING=1`, the license goes back to the pool, the server is told → exit 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arca_cluster::Identity;
use arca_cluster::bootstrap::connect_sidecar;
use arca_cluster::node_license::{HeldLicense, UNLICENSED_MESSAGE};
use arca_cluster::server_socket::{self, ServerRequest};
use arca_config::{Home, NodeConfig};
use arca_db::SystemClock;
use arca_runtime::{Control, Notifier, Starting};

use crate::agent::{Agent, Change, Round, Standing};

/// What `check-config` and the journal say about a home without `ha-node.properties`.
const SINGLE_NODE: &str = "single node (no etc/ha-node.properties): no license needed, idling";

/// Settings read from the home.
struct Settings {
    identity: Identity,
    interval: Duration,
    stale: Duration,
    swap_window_days: u32,
    /// `arca.shutdown.drain.delay.secs`: at stop, how long readiness answers 503 before the
    /// license goes back (the load balancer takes the node out first).
    drain_delay: Duration,
}

/// Validate every config file under `home`. Returns a one-line summary of what the agent
/// will do.
pub fn check_config(home: &Home) -> anyhow::Result<String> {
    Ok(summary(load_settings(home)?.as_ref()))
}

fn summary(settings: Option<&Settings>) -> String {
    match settings {
        None => SINGLE_NODE.to_string(),
        Some(s) => format!(
            "node '{}': claims a license from the cluster pool, checks every {} s, swaps \
             within {} days of expiry",
            s.identity.node_id,
            s.interval.as_secs(),
            s.swap_window_days
        ),
    }
}

/// The configuration, checked once (problems logged; an error refuses); `None` on a single
/// node.
fn load_settings(home: &Home) -> anyhow::Result<Option<Settings>> {
    let config = NodeConfig::load(home)?;
    if !config.is_ha() {
        return Ok(None);
    }
    let sys = &config.system;
    Ok(Some(Settings {
        identity: Identity::of(&config),
        interval: sys.license_agent_interval,
        stale: sys.ha_stale,
        swap_window_days: sys.license_swap_window_days,
        drain_delay: sys.drain_delay,
    }))
}

/// Run until SIGTERM/SIGINT.
pub async fn run(home: Home) -> anyhow::Result<()> {
    let starting = Starting::new();
    let settings = load_settings(&home)?;
    let mut service = starting.listen()?;
    let Some(settings) = settings else {
        return service.idle("arca-license-agent", SINGLE_NODE).await;
    };
    let node_id = settings.identity.node_id.clone();
    let notifier = service.notifier.clone();

    notifier.status("opening database");
    let (_key, db) = connect_sidecar(&home, "arca-license-agent", &node_id)
        .await
        .context("connecting to the database")?;

    let agent = Agent::new(
        db,
        &node_id,
        Arc::new(SystemClock),
        i64::try_from(settings.stale.as_millis()).unwrap_or(i64::MAX),
        settings.swap_window_days,
    );
    let socket = home.server_socket();
    // The loop beats once per round; a round stuck on the database stops the pings.
    service.ready(
        &format!(
            "node '{node_id}': checking the license pool every {} s",
            settings.interval.as_secs()
        ),
        (settings.interval * 3).max(Duration::from_secs(30)),
    );
    tracing::info!(
        arca_node_id = %node_id,
        "arca-license-agent {} ready in {} ms: node '{node_id}', checking every {} s, swapping \
         within {} days of expiry; reporting to {}",
        arca_runtime::build(),
        service.started.elapsed().as_millis(),
        settings.interval.as_secs(),
        settings.swap_window_days,
        socket.display()
    );

    let mut last: Option<Standing> = None;
    let mut db_failing = false;
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = service.stop_requested() => break,
        }
        service.heartbeat.beat();
        match agent.round().await {
            Ok(round) => {
                if db_failing {
                    db_failing = false;
                    tracing::info!(arca_node_id = %node_id, "the database answers again");
                }
                record(&node_id, &round, last.as_ref(), &notifier);
                if !matches!(round.standing, Standing::NodeInactive { .. }) {
                    tell_server(&socket, round.standing.license()).await;
                }
                last = Some(round.standing);
            }
            Err(e) => {
                // The pool is unreachable: keep what the node has (the server reads the
                // registry too), retry next round.
                if !db_failing {
                    db_failing = true;
                    tracing::error!(arca_node_id = %node_id, "cannot check the license pool: {e}; retrying every {} s", settings.interval.as_secs());
                    notifier.status(&format!("database unavailable: {e}"));
                }
            }
        }
    }

    let delay = settings.drain_delay;
    if !delay.is_zero() && last.as_ref().and_then(Standing::license).is_some() {
        // Readiness 503 first, so the load balancer stops sending requests before the node
        // turns unlicensed (503 on every request).
        notifier.stopping(&format!(
            "readiness answers 503; returning the license in {} s",
            delay.as_secs()
        ));
        let notice = ServerRequest::Releasing {
            seconds: delay.as_secs(),
        };
        if server_socket::send(&socket, &notice).await.is_ok() {
            tracing::info!(arca_node_id = %node_id, "stopping: readiness answers 503, returning the license in {} s", delay.as_secs());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                msg = service.control.recv() => if msg == Some(Control::Shutdown) {
                    tracing::warn!("second termination signal; returning the license now");
                },
            }
        }
    }
    notifier.stopping("returning the license to the pool");
    match agent.release().await {
        Ok(Some(hash)) => tracing::info!(
            arca_node_id = %node_id,
            license = %hash,
            "stopping: returned license {hash} to the cluster pool"
        ),
        Ok(None) => tracing::info!(arca_node_id = %node_id, "stopping: this node held no license"),
        Err(e) => tracing::error!(
            arca_node_id = %node_id,
            "stopping: could not return the license ({e}); it returns to the pool once this \
             node is stopped or stale"
        ),
    }
    tell_server(&socket, None).await;
    tracing::info!(arca_node_id = %node_id, "stopped");
    Ok(())
}

/// Log what changed and keep `STATUS=` current.
fn record(node_id: &str, round: &Round, last: Option<&Standing>, notifier: &Notifier) {
    match &round.change {
        Some(Change::Claimed(l)) => tracing::info!(
            arca_node_id = %node_id,
            license = %l.hash,
            "claimed license {} ({}, {}, valid through {}) from the cluster pool",
            l.hash, l.licensed_to, l.license_type, l.valid_through
        ),
        Some(Change::Swapped { old_hash, new }) => tracing::info!(
            arca_node_id = %node_id,
            license = %new.hash,
            "license {old_hash} expires soon or has expired: moved to license {} (valid through {})",
            new.hash, new.valid_through
        ),
        None => {}
    }
    let status = match &round.standing {
        Standing::Licensed(l) => {
            if l.is_expired(&round.today) && last != Some(&round.standing) {
                tracing::warn!(
                    arca_node_id = %node_id,
                    license = %l.hash,
                    "license {} expired on {} and no valid license is free: the node keeps \
                     serving with it (docs/licenses.md, \"Expired licenses\"); add a license",
                    l.hash, l.valid_through
                );
            }
            status_line(l, &round.today)
        }
        Standing::Unlicensed => {
            if last != Some(&round.standing) {
                tracing::warn!(
                    arca_node_id = %node_id,
                    "{UNLICENSED_MESSAGE}: this node answers 503 until a license is free \
                     (add one: POST /api/system/licenses or arcactl license add)"
                );
            }
            format!("unlicensed: {UNLICENSED_MESSAGE}; waiting for one")
        }
        Standing::NodeInactive { held } => {
            if !matches!(last, Some(Standing::NodeInactive { .. })) {
                tracing::info!(
                    arca_node_id = %node_id,
                    "arca-server of node '{node_id}' is not active in the registry (not started, \
                     stopped or stale): waiting for it before claiming a license"
                );
            }
            match held {
                Some(l) => format!(
                    "waiting for arca-server to be active (the pool still records license {})",
                    l.short_hash()
                ),
                None => "waiting for arca-server to be active in the cluster".to_string(),
            }
        }
    };
    notifier.status(&status);
}

/// `STATUS=` for a held license.
fn status_line(l: &HeldLicense, today: &str) -> String {
    let expired = if l.is_expired(today) { ", EXPIRED" } else { "" };
    format!(
        "license {} ({}, valid through {}{expired})",
        l.short_hash(),
        l.licensed_to,
        l.valid_through
    )
}

/// Report to the local server (best effort: it reads the registry as well).
async fn tell_server(socket: &std::path::Path, license: Option<&HeldLicense>) {
    if let Err(e) = server_socket::report_license(socket, license).await {
        tracing::debug!(error = %e, "could not report to arca-server (it reads the registry too)");
    }
}
