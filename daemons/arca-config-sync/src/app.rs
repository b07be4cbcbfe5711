//! Start-up, main loop and shutdown of `arca-config-sync`.
//!
//! Order: config check (nothing started on error) → single node: idle (`READY=1` with the
//! watchdog; nothing to share) → master key + database → watcher on `etc/` → PostgreSQL
//! listener thread → `READY=1` → a pass at start and after every wake-up (a notification, a
//! file event debounced by [`DEBOUNCE`], or `arca.config.sync.poll.secs`) until SIGTERM.
//!
//! Each pass first decides the role (the config owner holds the cluster-duties lease), then
//! `sync::decide` picks, per file, which copy wins: a local edit on top of the cluster's copy
//! is published by the owner (kept by the configured primary until it owns the config); a copy
//! that is not a local edit takes the cluster's, so a stale disk never wins; an edit that loses
//! is kept as `<name>.conflict` and reported. A database error leaves every file as it is and
//! is retried with back-off.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arca_cluster::bootstrap::connect_sidecar;
use arca_cluster::config_socket::{self, SyncRequest};
use arca_cluster::server_socket::{self, ServerRequest};
use arca_cluster::shared_config::SHARED_FILES;
use arca_cluster::{DUTIES_LEASE, Identity};
use arca_config::{Home, NodeConfig};
use arca_db::cluster::{self, NodeRole};
use arca_db::{Clock, Db, SystemClock, configs};
use arca_runtime::Starting;
use arca_runtime::local_socket::{self, LocalSocket};
use tokio::sync::mpsc;

use crate::restart::{RollingRestart, Step};
use crate::sync::{Action, SyncError, Syncer};

/// File events are collected this long before a pass (editors write in several steps).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Longest wait between two retries while the database is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

const SINGLE_NODE: &str = "single node (no etc/ha-node.properties): nothing to share, idling";

/// Settings read from the home.
struct Settings {
    identity: Identity,
    poll: Duration,
    restart: bool,
    stale_ms: i64,
}

/// Validate every config file under `home`; a one-line summary of what the sync will do.
/// An invalid `binarystore.xml` is only a warning here: the owner reports it as not
/// propagated, a member replaces it with the cluster's copy.
pub fn check_config(home: &Home) -> anyhow::Result<String> {
    Ok(match load_settings(home)? {
        None => SINGLE_NODE.to_string(),
        Some(s) => format!(
            "node '{}' ({}): shares {} through the database, polls every {} s, {}",
            s.identity.node_id,
            s.identity.role,
            SHARED_FILES.map(|f| f.name).join(", "),
            s.poll.as_secs(),
            if s.restart {
                "restarts arca-server (one node at a time) after changes it reads at start"
            } else {
                "reports \"restart required\" after changes arca-server reads at start"
            }
        ),
    })
}

/// The configuration, checked once (problems logged; an error refuses, but for
/// `binarystore.xml`'s); `None` on a single node.
fn load_settings(home: &Home) -> anyhow::Result<Option<Settings>> {
    let config = NodeConfig::load_except(home, &[home.binarystore_xml()])?;
    if !config.is_ha() {
        return Ok(None);
    }
    let sys = &config.system;
    Ok(Some(Settings {
        identity: Identity::of(&config),
        poll: sys.config_sync_poll,
        restart: sys.config_sync_restart,
        stale_ms: i64::try_from(sys.ha_stale.as_millis()).unwrap_or(i64::MAX),
    }))
}

/// Why the loop woke up.
#[derive(Debug)]
enum Wake {
    /// A PostgreSQL notification for a file.
    Notified,
    /// Something happened to a shared file in `etc/`.
    FileEvent,
}

/// This node's role in the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Owner,
    Member,
}

/// Serve `<run>/arca-config-sync.sock` ([`arca_cluster::config_socket`]): the server asks to
/// set `arca.url.base` in `<etc>/system.properties`, which it may not write itself; `wake`
/// (a cluster node) runs a pass at once, so the config owner publishes the change. The socket
/// goes away with the returned task.
fn serve_socket(
    home: &Home,
    etc: &Path,
    wake: Option<mpsc::Sender<Wake>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let socket = LocalSocket::bind(&home.config_sync_socket(), "arca-config-sync")?;
    let etc = etc.to_path_buf();
    Ok(tokio::spawn(socket.serve(move |line: String| {
        let (etc, wake) = (etc.clone(), wake.clone());
        async move {
            let request = match config_socket::parse_request(&line) {
                Ok(r) => r,
                Err(e) => return local_socket::error_line(&e),
            };
            let SyncRequest::Set { key, value } = request;
            let (k, v) = (key.clone(), value.clone());
            let written =
                tokio::task::spawn_blocking(move || crate::sync::set_system_property(&etc, &k, &v))
                    .await
                    .unwrap_or_else(|e| Err(format!("writer: {e}")));
            match written {
                Ok(answer) => {
                    tracing::info!(
                        "arca-server set {key} to {:?} in system.properties{}",
                        value.trim(),
                        if answer.changed { "" } else { " (unchanged)" }
                    );
                    if let Some(wake) = wake {
                        let _ = wake.try_send(Wake::FileEvent);
                    }
                    local_socket::ok_line(Some(&answer))
                }
                Err(e) => {
                    tracing::warn!("arca-server asked to set {key}: refused: {e}");
                    local_socket::error_line(&e)
                }
            }
        }
    })))
}

/// Run until SIGTERM/SIGINT.
pub async fn run(home: Home) -> anyhow::Result<()> {
    let starting = Starting::new();
    let settings = load_settings(&home)?;
    let mut service = starting.listen()?;
    let Some(settings) = settings else {
        // Nothing to share, but the server's URL base is still written here.
        let socket = serve_socket(&home, &home.etc(), None)?;
        let idle = service.idle("arca-config-sync", SINGLE_NODE).await;
        socket.abort();
        return idle;
    };
    let notifier = service.notifier.clone();
    let node_id = settings.identity.node_id.clone();
    notifier.status("opening database");
    let (key, db) = connect_sidecar(&home, "arca-config-sync", &node_id)
        .await
        .context("connecting to the database")?;
    // The watcher needs the real directory: etc/ is a symlink to /etc/arca in the packages.
    let etc = std::fs::canonicalize(home.etc())
        .with_context(|| format!("resolving {}", home.etc().display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let syncer = Arc::new(
        Syncer::new(db.clone(), &etc, &node_id, key.bytes(), clock.clone())
            .configured_primary(settings.identity.role == NodeRole::Primary),
    );

    let (wake_tx, mut wake_rx) = mpsc::channel::<Wake>(64);
    let _watcher = watch(&etc, wake_tx.clone())?;
    let listening = spawn_listener(db.clone(), wake_tx.clone());
    let socket_task = serve_socket(&home, &etc, Some(wake_tx.clone()))?;

    service.ready(
        &format!(
            "node '{node_id}': syncing {} in {}",
            SHARED_FILES.map(|f| f.name).join(", "),
            etc.display()
        ),
        (settings.poll * 3).max(Duration::from_secs(60)),
    );
    tracing::info!(
        arca_node_id = %node_id,
        "arca-config-sync {} ready in {} ms: node '{node_id}' ({}), watching {}, {}, polling every \
         {} s",
        arca_runtime::build(),
        service.started.elapsed().as_millis(),
        settings.identity.role,
        etc.display(),
        if listening {
            "PostgreSQL notifications"
        } else {
            "no notifications (SQLite)"
        },
        settings.poll.as_secs()
    );

    let socket = home.server_socket();
    let mut role: Option<Role> = None;
    let mut rolling = RollingRestart::default();
    let mut failing: Option<Duration> = None;
    let mut next_pass = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_pass) => {}
            wake = wake_rx.recv() => {
                if matches!(wake, Some(Wake::FileEvent)) {
                    // let the editor finish; collect what else arrives meanwhile
                    tokio::time::sleep(DEBOUNCE).await;
                }
                while wake_rx.try_recv().is_ok() {}
            }
            () = service.stop_requested() => break,
        }
        service.heartbeat.beat();
        match pass(&syncer, &db, &settings.identity, &clock).await {
            Ok((now_role, actions)) => {
                if let Some(backoff) = failing.take() {
                    tracing::info!(arca_node_id = %node_id, "the database answers again (after back-off {backoff:?})");
                }
                if role != Some(now_role) {
                    tracing::info!(
                        arca_node_id = %node_id,
                        "{}",
                        match now_role {
                            Role::Owner => "this node owns the cluster's config: its etc/ files are published",
                            Role::Member => "this node mirrors the cluster's config files",
                        }
                    );
                    role = Some(now_role);
                }
                let server_started = if actions.is_empty() {
                    0
                } else {
                    server_start_time(&db, &node_id).await
                };
                let changed = report(&node_id, &actions, &socket, server_started).await;
                if settings.restart {
                    rolling.add(changed);
                }
                notifier.status(&match now_role {
                    Role::Owner => format!("config owner: publishing {}", etc.display()),
                    Role::Member => {
                        format!("mirroring the cluster's config into {}", etc.display())
                    }
                });
                next_pass = tokio::time::Instant::now() + settings.poll;
                if rolling.is_pending() {
                    restart_step(
                        &mut rolling,
                        &db,
                        &node_id,
                        &*clock,
                        &socket,
                        settings.stale_ms,
                    )
                    .await;
                    // check again soon: the restart is under way or another node's is
                    next_pass = next_pass.min(tokio::time::Instant::now() + Duration::from_secs(1));
                }
            }
            Err(e) => {
                let backoff = failing.map_or(Duration::from_secs(1), |b| (b * 2).min(MAX_BACKOFF));
                if failing.is_none() {
                    tracing::error!(arca_node_id = %node_id, "config sync failed: {e}; no file was changed; retrying with back-off");
                    notifier.status(&format!("retrying: {e}"));
                } else {
                    tracing::debug!(arca_node_id = %node_id, "config sync still failing: {e}");
                }
                failing = Some(backoff);
                next_pass = tokio::time::Instant::now() + backoff.min(settings.poll);
            }
        }
    }
    socket_task.abort();
    notifier.stopping("stopping");
    tracing::info!(arca_node_id = %node_id, "stopped");
    Ok(())
}

/// Decide the role and run one pass (which copy of each file wins: `sync::decide`).
async fn pass(
    syncer: &Arc<Syncer>,
    db: &Db,
    identity: &Identity,
    clock: &Arc<dyn Clock>,
) -> Result<(Role, Vec<Action>), SyncError> {
    let now = clock.now_ms();
    let me = identity.node_id.clone();
    let owner = db
        .read(move |c| cluster::get_lease(c, DUTIES_LEASE))
        .await?
        .is_some_and(|l| l.owner == me && l.expires > now);
    let role = if owner { Role::Owner } else { Role::Member };
    let syncer = syncer.clone();
    let actions = tokio::task::spawn_blocking(move || syncer.sync(owner))
        .await
        .map_err(|e| SyncError::Corrupt {
            name: "-".into(),
            detail: format!("sync worker: {e}"),
        })??;
    Ok((role, actions))
}

/// Journal lines for `actions`; the server is told about files it reads at start only
/// (restart required). Returns those files.
async fn report(
    node_id: &str,
    actions: &[Action],
    socket: &Path,
    server_started: i64,
) -> Vec<String> {
    for action in actions {
        match action {
            Action::Stored { name, version, .. } => tracing::info!(
                arca_node_id = %node_id,
                file = %name,
                "published {name} (cluster version {version}) to the other nodes"
            ),
            Action::Deleted { name, version } => tracing::warn!(
                arca_node_id = %node_id,
                file = %name,
                "{name} was deleted here: deleting it on the other nodes (cluster version {version})"
            ),
            Action::Rejected { name, error } => tracing::error!(
                arca_node_id = %node_id,
                file = %name,
                "NOT PROPAGATED: {name} is invalid: {error}; the other nodes keep the cluster's \
                 copy (arcactl config status shows it)"
            ),
            Action::Applied {
                name,
                lost_edit: Some(lost),
                ..
            }
            | Action::Removed {
                name,
                lost_edit: Some(lost),
                ..
            } => tracing::warn!(arca_node_id = %node_id, file = %name, "{lost}"),
            Action::Applied {
                name,
                version,
                replaced,
                ..
            } => tracing::info!(
                arca_node_id = %node_id,
                file = %name,
                "synced {name} from the cluster (version {version}){}",
                if *replaced {
                    format!("; the replaced copy is {name}.previous")
                } else {
                    String::new()
                }
            ),
            Action::Removed { name, version, .. } => tracing::warn!(
                arca_node_id = %node_id,
                file = %name,
                "removed {name}: deleted on the config owner (version {version}); kept as {name}.previous"
            ),
            Action::Kept { name } => tracing::warn!(
                arca_node_id = %node_id,
                file = %name,
                "{name} was edited on this node (the configured primary) while another node owns \
                 the cluster's config: the edit is kept, and published once this node owns the \
                 config again, unless the cluster's copy changes first (then the cluster's copy \
                 wins and the edit is kept as {name}.conflict)"
            ),
        }
    }
    let changed: Vec<String> = actions
        .iter()
        .filter_map(|a| a.needs_restart_since(server_started))
        .map(str::to_string)
        .collect();
    // Read again by the server at once for arca.url.base (which needs no restart).
    let live: Vec<String> = actions
        .iter()
        .filter_map(Action::live_reload)
        .map(str::to_string)
        .collect();
    if changed.is_empty() && live.is_empty() {
        return changed;
    }
    for action in actions {
        if let (Some(name), None) = (action.live_reload(), action.needs_restart()) {
            tracing::info!(
                arca_node_id = %node_id,
                file = %name,
                "{name} changed in keys arca-server applies live only (arca.url.base): no \
                 restart required"
            );
        }
    }
    let request = ServerRequest::Config {
        changed: changed.clone(),
        restart: false,
        live,
    };
    if let Err(e) = server_socket::send(socket, &request).await {
        tracing::info!(
            arca_node_id = %node_id,
            "config files changed; arca-server is not reachable on its socket ({e}): it reads \
             the new copies at its next start"
        );
    }
    changed
}

/// When this node's server started (its registry row; 0 when unknown, so every change counts).
async fn server_start_time(db: &Db, node_id: &str) -> i64 {
    let id = node_id.to_string();
    db.read(move |c| cluster::get_node(c, &id))
        .await
        .ok()
        .flatten()
        .map_or(0, |n| n.start_time)
}

/// One step of the automatic rolling restart, logged.
async fn restart_step(
    rolling: &mut RollingRestart,
    db: &Db,
    node_id: &str,
    clock: &dyn Clock,
    socket: &Path,
    stale_ms: i64,
) {
    match rolling.step(db, node_id, clock, socket, stale_ms).await {
        Ok(Step::Requested(files)) => tracing::warn!(
            arca_node_id = %node_id,
            "asked arca-server to restart to apply {} (arca.config.sync.restart=true; one node \
             at a time)",
            files.join(", ")
        ),
        Ok(Step::Done) => tracing::info!(
            arca_node_id = %node_id,
            "arca-server restarted with the new configuration; the next node may restart"
        ),
        Ok(Step::ServerDown) => tracing::info!(
            arca_node_id = %node_id,
            "arca-server is not running: it reads the new configuration when it starts"
        ),
        Ok(Step::Waiting | Step::Idle) => {}
        Err(e) => tracing::warn!(arca_node_id = %node_id, "automatic restart: {e}; retrying"),
    }
}

/// Watch `etc` (not recursive) for events on the shared files; other names (editor swap and
/// temp files, `.previous` copies) are ignored.
fn watch(etc: &Path, wake: mpsc::Sender<Wake>) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let names: Vec<&'static str> = SHARED_FILES.iter().map(|f| f.name).collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match &event {
            // Content or presence only: opens and reads (our own passes open the files) and
            // metadata changes (a touch) change no bytes.
            Ok(e)
                if matches!(
                    e.kind,
                    notify::EventKind::Access(_)
                        | notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                ) =>
            {
                false
            }
            Ok(e) => e.paths.iter().any(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| names.contains(&n))
            }),
            // Overflow or watch errors: look at everything.
            Err(_) => true,
        };
        if relevant {
            let _ = wake.try_send(Wake::FileEvent);
        }
    })
    .context("creating the file watcher")?;
    watcher
        .watch(etc, notify::RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", etc.display()))?;
    Ok(watcher)
}

/// A thread listening for PostgreSQL notifications of config changes, reconnecting after
/// errors. `false` on SQLite (no notifications: polling only).
fn spawn_listener(db: Db, wake: mpsc::Sender<Wake>) -> bool {
    if db.backend() != arca_db::sql::Backend::Postgres {
        return false;
    }
    let spawned = std::thread::Builder::new()
        .name("arca-config-listen".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                if wake.is_closed() {
                    return;
                }
                match db.listener(configs::CHANNEL) {
                    Ok(Some(mut listener)) => {
                        if failing {
                            tracing::info!("listening for config notifications again");
                            failing = false;
                        }
                        // Catch up with what was missed while not listening.
                        let _ = wake.blocking_send(Wake::Notified);
                        loop {
                            match listener.wait(Duration::from_secs(30)) {
                                Ok(names) if names.is_empty() => {
                                    if wake.is_closed() {
                                        return;
                                    }
                                }
                                Ok(_) => {
                                    if wake.blocking_send(Wake::Notified).is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!("config notifications interrupted: {e}; reconnecting (a pass runs now, and again once reconnected)");
                                    // A pass now: it notices a database that went away (and backs
                                    // off) instead of waiting for the next poll, maybe an hour.
                                    if wake.blocking_send(Wake::Notified).is_err() {
                                        return;
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        if !failing {
                            tracing::warn!("cannot listen for config notifications: {e}; retrying every 2 s");
                            failing = true;
                        }
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
    spawned.is_ok()
}
