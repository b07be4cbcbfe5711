//! Start-up, main loop and shutdown of `arca-storage-mover`.
//!
//! Order: config check (nothing started on error) → storage plan → a chain with nothing to do
//! (no eventual queue, no sharding-cluster): idle (still `READY=1` with the watchdog: the unit
//! is installed on every node, whatever its chain) → master key → database → object store
//! (+ `testConnection`; an unreachable store is logged loudly and retried, never fatal: the
//! queue keeps everything) → sharding-cluster tier (its maintenance: redundancy restore,
//! reconcile, orphan sweep, every `checkPeriod`) → control socket → `READY=1` → dispatcher
//! until SIGTERM → `STOPPING=1`, in-flight transfers finish or are abandoned (entries stay
//! queued) → exit 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arca_cluster::Identity;
use arca_cluster::bootstrap::connect_sidecar;
use arca_cluster::storage::load_storage;
use arca_config::storage_plan::{
    BackendSpec, ClusterLocalSpec, ClusterSpec, ObjectStoreSpec, StoragePlan,
};
use arca_config::{Home, MasterKey, NodeConfig};
use arca_crypto::master_key::RequestSigner;
use arca_db::Db;
use arca_runtime::{Control, Notifier, Starting};
use arca_storage::{Claimer, ClusterContext, ClusterTier, EventualQueue, ObjectStore};
use tokio::sync::{Notify, watch};

use crate::mover::{self, Mover, Stats, StatusView};

/// The watchdog is fed while the main loop beat within this long (it beats every second;
/// a listing of a hung NFS mount stops it).
const LOOP_MAX_AGE: Duration = Duration::from_secs(30);

/// Validate every config file under `home` and resolve the storage plan. Returns a one-line
/// summary of what the mover will do.
pub fn check_config(home: &Home) -> anyhow::Result<String> {
    let (_, _, plan) = load_plan(home)?;
    Ok(describe_work(&plan))
}

/// What the mover does for `plan`, in one line.
fn describe_work(plan: &StoragePlan) -> String {
    let mut work = Vec::new();
    if let Some((_, queue)) = queued_backend(plan) {
        work.push(format!("moving {} to the object store", queue.display()));
    }
    if let Some(cluster) = cluster_spec(plan) {
        work.push(format!(
            "restoring the redundancy ({}) of sharding-cluster '{}'",
            cluster.redundancy, cluster.id
        ));
    }
    if work.is_empty() {
        return format!(
            "chain {} has no eventual queue and no sharding-cluster: the mover idles",
            plan.description
        );
    }
    format!("chain {}: {}", plan.description, work.join("; "))
}

/// The sharding-cluster of the chain, if it is one.
fn cluster_spec(plan: &StoragePlan) -> Option<&ClusterSpec> {
    match &plan.backend {
        BackendSpec::Cluster(c) => Some(c),
        BackendSpec::FileSystem(_) | BackendSpec::ObjectStore(_) => None,
    }
}

/// The configuration, checked once (problems logged; an error refuses), and the storage plan.
fn load_plan(home: &Home) -> anyhow::Result<(NodeConfig, Identity, StoragePlan)> {
    let config = NodeConfig::load(home)?;
    let identity = Identity::of(&config);
    let (_, plan) = arca_cluster::storage::node_plan(&config, &identity)?;
    Ok((config, identity, plan))
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
    let starting = Starting::new();
    let (config, identity, plan) = load_plan(&home)?;
    let mut service = starting.listen()?;
    let (notifier, heartbeat) = (service.notifier.clone(), service.heartbeat.clone());
    let wake = Arc::new(Notify::new());
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    // First: a second mover of this home stops here, before it touches anything.
    let socket = crate::control::bind(&home.mover_socket())?;
    let socket_path = socket.path().to_path_buf();

    let queued = queued_backend(&plan);
    let cluster = cluster_spec(&plan);
    let mut maintenance = None;
    let (view, ready, runner) = if queued.is_none() && cluster.is_none() {
        let msg = format!("idle: {}", describe_work(&plan));
        tracing::info!("{msg}");
        let view = StatusView {
            chain: plan.description.clone(),
            queue: None,
            cluster: None,
            stats,
        };
        let runner = tokio::spawn(mover::idle(stop_rx, heartbeat.clone()));
        (view, msg, runner)
    } else {
        let opened = open_work(&config, &identity, &plan, stats.clone(), &notifier).await?;
        maintenance = opened.cluster.as_ref().map(|tier| {
            arca_storage::sharding::spawn_maintenance(tier.clone(), opened.orphan_grace)
        });
        let view = StatusView {
            chain: plan.description.clone(),
            queue: opened.mover.as_ref().map(|m| m.queue.clone()),
            cluster: opened.cluster.clone(),
            stats,
        };
        let mut ready = Vec::new();
        let runner = match opened.mover {
            Some(mover) => {
                ready.push(format!(
                    "moving {} to {} ({} workers, scan every {} ms)",
                    mover.queue.dir().display(),
                    mover.store.describe(),
                    mover.workers,
                    mover.interval.as_millis()
                ));
                tokio::spawn(Arc::new(mover).run(
                    stop_rx,
                    wake.clone(),
                    heartbeat.clone(),
                    notifier.clone(),
                ))
            }
            None => tokio::spawn(mover::idle(stop_rx, heartbeat.clone())),
        };
        if let Some(tier) = &opened.cluster {
            ready.push(format!(
                "restoring redundancy {} every {} ms",
                tier.redundancy(),
                tier.check_period().as_millis()
            ));
        }
        (view, ready.join("; "), runner)
    };
    let mut runner = runner;

    let server = tokio::spawn(crate::control::serve(socket, view.clone(), wake));

    service.ready(&ready, LOOP_MAX_AGE);
    tracing::info!(
        arca_node_id = %identity.node_id,
        "arca-storage-mover {} ready in {} ms: {ready}; control socket {}",
        arca_runtime::build(),
        service.started.elapsed().as_millis(),
        socket_path.display()
    );

    tokio::select! {
        joined = &mut runner => {
            server.abort();
            anyhow::bail!("the dispatcher stopped unexpectedly: {joined:?}");
        }
        () = service.stop_requested() => {}
    }

    notifier.stopping("stopping");
    tracing::info!("shutting down: no new transfers");
    let _ = stop_tx.send(true);
    loop {
        tokio::select! {
            _ = &mut runner => break,
            msg = service.control.recv() => match msg {
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
    if let Some(m) = maintenance {
        m.abort();
    }
    // Dropping the server task drops the socket, which removes its file.
    server.abort();
    let _ = server.await;
    tracing::info!(arca_node_id = %identity.node_id, "stopped");
    Ok(())
}

/// What a mover with work opened.
struct Opened {
    /// The queue's dispatcher (chains with an eventual queue).
    mover: Option<Mover>,
    /// The sharding-cluster tier whose maintenance this mover runs.
    cluster: Option<ClusterTier>,
    /// `arca.gc.grace.secs`: how old an unreferenced copy must be before the sweep removes it.
    orphan_grace: Duration,
}

/// Everything the dispatcher and the cluster maintenance need; an unreachable object store
/// is not an error here.
async fn open_work(
    config: &NodeConfig,
    identity: &Identity,
    plan: &StoragePlan,
    stats: Arc<Stats>,
    notifier: &Notifier,
) -> anyhow::Result<Opened> {
    notifier.status("opening database");
    let home = &config.home;
    let (key, db) = connect_sidecar(home, "arca-storage-mover", &identity.node_id)
        .await
        .context("connecting to the database")?;
    let sys = &config.system;

    let store = match queued_backend(plan) {
        Some((spec, _)) => Some((
            spec,
            open_object_store(home, identity, &key, spec, &stats, notifier).await?,
        )),
        None => None,
    };
    let cluster = match cluster_spec(plan) {
        Some(spec) => {
            notifier.status("opening the sharding-cluster");
            // The server's staging dir for this node (the tier opens it; the mover stages
            // nothing).
            let staging = if identity.is_ha() {
                plan.staging_dir.join(&identity.node_id)
            } else {
                plan.staging_dir.clone()
            };
            let ctx = ClusterContext {
                db: db.clone(),
                signer: RequestSigner::new(key.bytes()).with_v1_compat(sys.node_signature_v1),
                node_id: identity.node_id.clone(),
                stale: sys.ha_stale,
            };
            let objects = store.as_ref().map(|(_, s)| s.clone());
            Some(ClusterTier::open(spec, staging, &ctx, objects)?)
        }
        None => None,
    };
    let mover = match store {
        Some((spec, store)) => Some(queue_mover(
            identity,
            plan,
            spec,
            store,
            db,
            cluster.clone(),
            stats,
        )?),
        None => None,
    };
    Ok(Opened {
        mover,
        cluster,
        orphan_grace: sys.gc_grace,
    })
}

/// The object store with the credentials as the server sealed them in binarystore.xml (the
/// mover never rewrites the file); `testConnection` failing is logged, not fatal.
async fn open_object_store(
    home: &Home,
    identity: &Identity,
    key: &MasterKey,
    spec: &ObjectStoreSpec,
    stats: &Stats,
    notifier: &Notifier,
) -> anyhow::Result<ObjectStore> {
    notifier.status("connecting to the object store");
    let storage = {
        let (home, identity, key) = (home.clone(), identity.clone(), key.clone());
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
    Ok(store)
}

/// The dispatcher of the chain's eventual queue.
fn queue_mover(
    identity: &Identity,
    plan: &StoragePlan,
    spec: &ObjectStoreSpec,
    store: ObjectStore,
    db: Db,
    cluster: Option<ClusterTier>,
    stats: Arc<Stats>,
) -> anyhow::Result<Mover> {
    let Some(eventual) = spec.eventual.as_ref() else {
        anyhow::bail!("chain '{}' has no eventual queue", plan.description);
    };
    let queue = EventualQueue::open(eventual)?;
    let claimer = Claimer::new(&identity.node_id, eventual.timeout);
    // This node's mover was killed holding claims: they are nobody's now (only one mover runs
    // per node, and this one owns the control socket), so they need not wait out `timeout`.
    let released = queue.release_claims_of_earlier_runs(&claimer)?;
    if released > 0 {
        tracing::info!(
            released,
            "released the claims this node's previous mover run left in the queue"
        );
    }
    Ok(Mover {
        queue,
        store,
        retry: spec.retry.clone(),
        db,
        claimer,
        workers: eventual.workers.max(1),
        interval: eventual.dispatcher_interval.max(Duration::from_millis(10)),
        stats,
        cluster,
    })
}
