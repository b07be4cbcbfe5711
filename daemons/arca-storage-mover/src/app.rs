//! Start-up, main loop and shutdown of `arca-storage-mover`.
//!
//! Order: config check (nothing started on error) → storage plan → without an eventual queue:
//! idle (still `READY=1` with the watchdog: the unit is installed on every node, whatever its
//! chain) → master key → database → object store (+ `testConnection`; an unreachable store is
//! logged loudly and retried, never fatal: the queue keeps everything) → queue → control socket
//! → `READY=1` → dispatcher until SIGTERM → `STOPPING=1`, in-flight transfers finish or are
//! abandoned (entries stay queued) → exit 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use arca_cluster::Identity;
use arca_cluster::bootstrap::connect_database;
use arca_cluster::storage::load_storage;
use arca_config::storage_plan::{BackendSpec, ClusterLocalSpec, ObjectStoreSpec, StoragePlan};
use arca_config::{DbProperties, HaNodeProperties, Home, MasterKey};
use arca_runtime::{Control, Heartbeat, Notifier};
use arca_storage::{Claimer, EventualQueue, ObjectStore};
use tokio::sync::{Notify, watch};

use crate::control::ControlSocket;
use crate::mover::{self, Mover, Stats, StatusView};

/// The watchdog is fed while the main loop beat within this long (it beats every second;
/// a listing of a hung NFS mount stops it).
const LOOP_MAX_AGE: Duration = Duration::from_secs(30);

/// Validate every config file under `home` and resolve the storage plan. Returns a one-line
/// summary of what the mover will do.
pub fn check_config(home: &Home) -> anyhow::Result<String> {
    arca_config::require_valid(home)?;
    let (_, plan) = load_plan(home)?;
    Ok(match queued_backend(&plan) {
        Some((_, queue)) => format!(
            "chain {}: moving {} to the object store",
            plan.description,
            queue.display()
        ),
        None => format!(
            "chain {} has no eventual queue: the mover idles",
            plan.description
        ),
    })
}

fn load_plan(home: &Home) -> anyhow::Result<(Identity, StoragePlan)> {
    let ha = HaNodeProperties::load(home)?.map(|(ha, _warnings)| ha);
    let identity = Identity::new(home, ha.as_ref());
    let (_, plan) = arca_cluster::storage::load_plan(home, &identity)?;
    Ok((identity, plan))
}

/// The object store of the chain and its queue directory, when the chain has an eventual
/// queue (`eventual`, or a cluster node's `eventual-cluster`).
fn queued_backend(plan: &StoragePlan) -> Option<(&ObjectStoreSpec, &std::path::Path)> {
    let os = match &plan.backend {
        BackendSpec::ObjectStore(os) => os,
        BackendSpec::Cluster(c) => match &c.local {
            ClusterLocalSpec::ObjectStore(os) => os,
            ClusterLocalSpec::StateAware(_) => return None,
        },
        BackendSpec::FileSystem(_) => return None,
    };
    os.eventual.as_ref().map(|e| (os, e.dir.as_path()))
}

/// Run until SIGTERM/SIGINT.
pub async fn run(home: Home) -> anyhow::Result<()> {
    let started = Instant::now();
    let notifier = Notifier::new();
    notifier.status("checking configuration");
    check_config(&home)?;
    let (identity, plan) = load_plan(&home)?;
    let mut control = arca_runtime::control_channel()?;
    let heartbeat = Heartbeat::new();
    let wake = Arc::new(Notify::new());
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    let (view, ready, runner) = match queued_backend(&plan) {
        None => {
            let msg = format!(
                "idle: chain '{}' has no eventual queue, nothing to move",
                plan.description
            );
            tracing::info!("{msg}");
            let view = StatusView {
                chain: plan.description.clone(),
                queue: None,
                stats,
            };
            let runner = tokio::spawn(mover::idle(stop_rx, heartbeat.clone()));
            (view, msg, runner)
        }
        Some((spec, _)) => {
            let mover = open_mover(&home, &identity, &plan, spec, stats, &notifier).await?;
            let ready = format!(
                "moving {} to {} ({} workers, scan every {} ms)",
                mover.queue.dir().display(),
                mover.store.describe(),
                mover.workers,
                mover.interval.as_millis()
            );
            let view = StatusView {
                chain: plan.description.clone(),
                queue: Some(mover.queue.clone()),
                stats: mover.stats.clone(),
            };
            let runner = tokio::spawn(Arc::new(mover).run(
                stop_rx,
                wake.clone(),
                heartbeat.clone(),
                notifier.clone(),
            ));
            (view, ready, runner)
        }
    };
    let mut runner = runner;

    let socket = ControlSocket::bind(&home.mover_socket())?;
    let socket_path = socket.path().to_path_buf();
    let server = tokio::spawn(socket.serve(view.clone(), wake));

    notifier.ready(&ready);
    let hb = heartbeat.clone();
    arca_runtime::spawn_watchdog(notifier.clone(), move || hb.is_fresh(LOOP_MAX_AGE));
    tracing::info!(
        arca_node_id = %identity.node_id,
        "arca-storage-mover {} ready in {} ms: {ready}; control socket {}",
        arca_runtime::BUILD,
        started.elapsed().as_millis(),
        socket_path.display()
    );

    loop {
        tokio::select! {
            joined = &mut runner => {
                server.abort();
                bail!("the dispatcher stopped unexpectedly: {joined:?}");
            }
            msg = control.recv() => match msg {
                Some(Control::Reload) => {
                    tracing::info!("SIGHUP: configuration is read at start; restart the service to apply changes");
                }
                Some(Control::Shutdown) | None => break,
            }
        }
    }

    notifier.stopping("stopping");
    tracing::info!("shutting down: no new transfers");
    let _ = stop_tx.send(true);
    loop {
        tokio::select! {
            _ = &mut runner => break,
            msg = control.recv() => match msg {
                Some(Control::Shutdown) => {
                    tracing::warn!("second termination signal; abandoning transfers in flight");
                    runner.abort();
                    let _ = (&mut runner).await;
                    break;
                }
                Some(Control::Reload) => {}
                None => {
                    let _ = (&mut runner).await;
                    break;
                }
            },
        }
    }
    // Dropping the server task drops the socket, which removes its file.
    server.abort();
    let _ = server.await;
    tracing::info!(arca_node_id = %identity.node_id, "stopped");
    Ok(())
}

/// Everything the dispatcher needs; an unreachable object store is not an error here.
async fn open_mover(
    home: &Home,
    identity: &Identity,
    plan: &StoragePlan,
    spec: &ObjectStoreSpec,
    stats: Arc<Stats>,
    notifier: &Notifier,
) -> anyhow::Result<Mover> {
    let Some(eventual) = spec.eventual.as_ref() else {
        bail!("chain '{}' has no eventual queue", plan.description);
    };
    notifier.status("loading the master key");
    let key = MasterKey::load(home)?.ok_or_else(|| {
        anyhow!(
            "{} is missing: arca-server creates it at its first start (a cluster node gets a \
             copy of the cluster's); the mover needs it for the database and object-store \
             credentials",
            home.master_key().display()
        )
    })?;

    notifier.status("opening database");
    let db = {
        let (home, key) = (home.clone(), key.clone());
        let app_name = format!("arca-storage-mover {}", identity.node_id);
        tokio::task::spawn_blocking(move || {
            let props = DbProperties::load(&home)?;
            connect_database(&home, &props, &key, &app_name).map_err(anyhow::Error::from)
        })
        .await
        .context("database start-up worker")?
        .context("connecting to the database")?
    };
    db.ping().await.context("connecting to the database")?;

    notifier.status("connecting to the object store");
    // The credentials as the server sealed them in binarystore.xml (the mover never rewrites
    // the file).
    let storage = {
        let (home, identity) = (home.clone(), identity.clone());
        tokio::task::spawn_blocking(move || load_storage(&home, &identity, &key, false))
            .await
            .context("storage config worker")??
    };
    let store = ObjectStore::new(
        &spec.s3,
        storage.identity.as_deref(),
        storage.credential.as_deref(),
    )?;
    if spec.s3.test_connection {
        match store.test_connection().await {
            Ok(()) => {
                stats.set_reachable(true);
            }
            Err(e) => {
                // An outage must not stop the mover: the queue keeps every upload until the
                // store is back, and the dispatcher retries with back-off.
                stats.set_reachable(false);
                stats.record_failure(&e.to_string());
                tracing::error!(
                    error = %e,
                    "OBJECT STORE UNREACHABLE at start ({}): starting anyway; uploads stay in \
                     the eventual queue until it answers",
                    store.describe()
                );
                notifier.status(&format!("object store unreachable: {e}"));
            }
        }
    }

    let queue = EventualQueue::open(eventual)?;
    Ok(Mover {
        queue,
        store,
        retry: spec.retry.clone(),
        db,
        claimer: Claimer::new(&identity.node_id, eventual.timeout),
        workers: eventual.workers.max(1),
        interval: eventual.dispatcher_interval.max(Duration::from_millis(10)),
        stats,
    })
}
