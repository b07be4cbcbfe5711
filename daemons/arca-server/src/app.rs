//! Start-up, serving and shutdown of `arca-server`.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use arca_cluster::bootstrap::{self, Identity};
use arca_cluster::{Build, ClusterError, Membership, Timing};
use arca_config::{DbProperties, HaNodeProperties, Home, SystemProperties};
use arca_db::cluster::NodeState;
use arca_db::security::{self, User};
use arca_db::{Db, SystemClock};
use arca_runtime::{Control, Heartbeat, Notifier};
use arca_storage::{Storage, StorageOptions};

use crate::state::{AppState, Settings};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the first admin password is written (mode 0600).
pub use arca_config::home::INITIAL_ADMIN_PASSWORD_FILE;
/// The administrator the first start creates.
pub const INITIAL_ADMIN_USER: &str = "admin";

pub struct ServeOptions {
    pub home: Home,
    pub listen: SocketAddr,
}

/// Validate every config file under `home`; log the problems (errors and warnings) and fail
/// when there is an error. Used by `check-config` and at start.
pub fn check_config(home: &Home) -> anyhow::Result<()> {
    Ok(arca_config::require_valid(home)?)
}

fn load_settings(home: &Home, ha: Option<&HaNodeProperties>) -> anyhow::Result<Settings> {
    let sys = SystemProperties::load(home)?;
    let mut context_path = sys.context_path()?;
    if context_path.is_empty()
        && let Some(path) = ha.and_then(HaNodeProperties::context_url_path)
    {
        // An HA node serves under the path of its context.url (e.g. /artifactory).
        context_path = path;
    }
    Ok(Settings {
        context_path,
        url_base: sys.url_base()?,
        timing: Timing {
            heartbeat: Duration::from_secs(sys.ha_heartbeat_secs()?),
            stale: Duration::from_secs(sys.ha_stale_secs()?),
            lock_lease: Duration::from_secs(sys.ha_lock_lease_secs()?),
        },
        max_upload_bytes: sys.max_upload_bytes()?,
        storage_reserve_bytes: sys.storage_reserve_bytes()?,
        max_path_length: sys.max_path_length()?,
        gc_interval: Duration::from_secs(sys.gc_interval_secs()?),
        gc_grace: Duration::from_secs(sys.gc_grace_secs()?),
        auth_cache_ttl: Duration::from_secs(sys.auth_cache_secs()?),
        drain_delay: Duration::from_secs(sys.drain_delay_secs()?),
        login_policy: arca_db::security::LoginPolicy {
            max_failures: sys.login_max_failures()?,
            lockout_ms: i64::try_from(sys.login_lockout_secs()?.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        },
        login_trusted_proxies: sys.login_trusted_proxies()?,
        token_max_expires_secs: i64::try_from(sys.token_max_expires_secs()?).unwrap_or(i64::MAX),
        password_check_queue: sys.password_check_queue()?,
        session_provider: sys.map_provider_type()?,
        session_idle_timeout: Duration::from_secs(sys.session_idle_timeout_secs()?),
        session_absolute_timeout: Duration::from_secs(sys.session_absolute_timeout_secs()?),
        node_signature_v1: sys.node_signature_v1()?,
    })
}

/// Create the administrator on the very first start, with a random password
/// printed once to stderr (the journal) and written to `etc/security/initial-admin-password`
/// (0600), which the first change of the password removes.
async fn ensure_admin(db: &Db, home: &Home, now: i64) -> anyhow::Result<()> {
    let users = db
        .read(security::user_count)
        .await
        .context("counting users")?;
    if users > 0 {
        return Ok(());
    }
    let password = arca_crypto::random_password();
    let hash = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || arca_crypto::hash_password(&p))
            .await
            .context("hashing the admin password")??
    };
    let file = home.security().join(INITIAL_ADMIN_PASSWORD_FILE);
    write_secret_file(&file, &password).with_context(|| format!("writing {}", file.display()))?;
    db.write(move |tx| {
        security::insert_user(
            tx,
            &User {
                name: INITIAL_ADMIN_USER.into(),
                password_hash: hash,
                email: None,
                admin: true,
                created: now,
                ..Default::default()
            },
        )
    })
    .await
    .context("creating the admin user")?;
    // Printed once, when generated, straight to stderr (the journal) — not through the
    // logger, whose lines may be shipped elsewhere; the file goes at the first password change.
    eprintln!(
        "arca-server: created user '{INITIAL_ADMIN_USER}' with the generated password \
         {password} (also in {}, mode 0600, removed at the first change of the password)",
        file.display()
    );
    tracing::info!(
        "created user '{INITIAL_ADMIN_USER}'; its initial password is in {}",
        file.display()
    );
    Ok(())
}

/// Read this node's license from the registry every heartbeat (HA only): a restarted agent or
/// server, or a license moved by a delete, converges to the database's answer.
fn spawn_license_refresh(app: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !app.license.required() {
            return;
        }
        let mut tick = tokio::time::interval(app.settings.timing.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = app.refresh_license().await {
                tracing::debug!("reading this node's license from the registry: {e}");
            }
        }
    })
}

/// How often a server checks the cluster's security version: a user, group, permission or
/// token changed on another node takes effect here within this long.
const SECURITY_POLL: Duration = Duration::from_secs(1);

fn spawn_security_refresh(app: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SECURITY_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = app.refresh_security().await {
                tracing::warn!("reading the cluster's permissions: {e}");
            }
        }
    })
}

/// How many of the smallest binaries a changed chain must be able to read before it is
/// recorded: a chain that moved the binaries elsewhere misses all of them.
const CHAIN_CHANGE_SAMPLE: usize = 8;

/// The primary (or a single node), alone, starts with another storage chain than the cluster
/// ran: record it when the stored binaries are readable through it (a sample of the smallest,
/// so the check is cheap even for an object store); refuse the start otherwise, saying what to
/// run. Nothing is changed in the database when refused.
async fn accept_chain_change(
    db: &Db,
    storage: &Storage,
    chain: &arca_cluster::storage::ChainRecord,
    previous: Option<&arca_cluster::storage::ChainRecord>,
) -> anyhow::Result<()> {
    let (sample, (count, bytes)) = db
        .read(|c| {
            Ok::<_, arca_db::DbError>((
                arca_db::items::smallest_binaries(c, CHAIN_CHANGE_SAMPLE)?,
                arca_db::items::binary_totals(c)?,
            ))
        })
        .await
        .context("reading the stored binaries")?;
    let mut missing = 0;
    for (sha256, size) in &sample {
        match storage.locate(sha256, *size).await {
            Ok(_) => {}
            Err(arca_storage::StorageError::NotFound(_)) => missing += 1,
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "etc/binarystore.xml changes the storage chain, and binary {sha256} cannot be \
                     read through the new one to check it: {e}"
                ));
            }
        }
    }
    let what = match previous {
        Some(p) => format!(
            " (the cluster ran `{}`, recorded by {}; {})",
            p.chain_line(),
            p.node,
            arca_cluster::storage::chain_difference(&p.canonical, &chain.canonical, 6)
        ),
        None => String::new(),
    };
    if missing > 0 {
        return Err(anyhow::anyhow!(
            "etc/binarystore.xml changes the storage chain{what}, and {missing} of the {} \
             binaries checked are not where the new chain reads them: the {count} binaries \
             stored so far ({bytes} bytes) would be missing. Move them first, with arca-server \
             stopped: `arcactl storage migrate` copies every binary from the chain the cluster \
             ran (recorded in the database) into the new one — resumable, with progress — and \
             records the new chain; then start arca-server again. Or put the previous \
             binarystore.xml back",
            sample.len()
        ));
    }
    let record = chain.clone();
    db.write(move |c| arca_cluster::storage::record_chain(c, &record))
        .await
        .context("recording the new storage chain")?;
    tracing::warn!(
        "etc/binarystore.xml changed the storage chain{what}; the {} smallest stored binaries \
         are readable through it, so it is the cluster's chain from now on",
        sample.len()
    );
    Ok(())
}

/// A refused start-up check becomes the error message as is (it says what to do).
fn refusal(e: ClusterError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn write_secret_file(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Descriptors a connection may hold (its socket, a file being stored or served), and what the
/// process needs besides its connections (database, storage, logs).
const FDS_PER_CONNECTION: u64 = 2;
const FDS_RESERVED: u64 = 256;

/// Raise the soft limit of open files to the hard one (`LimitNOFILE=` of the unit sets both), and
/// warn when it cannot cover `max_connections`: running out of descriptors refuses every client,
/// including the load balancer's health checks.
fn raise_open_files_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let needed = (max_connections as u64)
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(FDS_RESERVED);
    if soft < needed {
        tracing::warn!(
            "open files limit {soft} is below what {max_connections} connections \
             ({}) may need ({needed}): raise LimitNOFILE= of the unit or lower {}",
            arca_config::system::HTTP_MAX_CONNECTIONS,
            arca_config::system::HTTP_MAX_CONNECTIONS
        );
    }
}

/// Run the server until SIGTERM/SIGINT. Returns after a graceful drain.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let notifier = Notifier::new();
    let home = opts.home;
    notifier.status("checking configuration");
    let created = home
        .init_layout()
        .with_context(|| format!("creating the home layout under {}", home.root().display()))?;
    for f in &created {
        tracing::info!("created {}", f.display());
    }
    check_config(&home)?;
    let ha = HaNodeProperties::load(&home)?.map(|(ha, _warnings)| ha);
    let settings = load_settings(&home, ha.as_ref())?;
    let identity = Identity::new(&home, ha.as_ref());
    let node_id = identity.node_id.clone();
    let clock = Arc::new(SystemClock);
    if let Some(ha) = &ha {
        // cluster.interface must name one of this host's addresses (exact or wildcard)
        let addrs = arca_config::ha_node::local_addresses()?;
        if let Some(addr) = ha.cluster_address(&addrs)? {
            tracing::info!("cluster interface: {addr}");
        }
    }

    notifier.status("loading the master key");
    let master_key = bootstrap::load_or_create_master_key(&home, &identity).map_err(refusal)?;

    notifier.status("opening database");
    let db_props = DbProperties::load(&home)?;
    let db = {
        let (home, key, node_id, clock) = (
            home.clone(),
            master_key.clone(),
            node_id.clone(),
            clock.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<Db, ClusterError> {
            let app_name = format!("arca-server {node_id}");
            let (db, _) = bootstrap::open_database(&home, &db_props, &key.key, &app_name)?;
            bootstrap::check_master_key(&db, &home, &key, arca_db::Clock::now_ms(&*clock))?;
            Ok(db)
        })
        .await
        .context("database start-up worker")?
        .map_err(refusal)
        .context("opening the database")?
    };

    notifier.status("joining the cluster");
    let build = &arca_runtime::BUILD;
    let membership = Membership::join(
        db.clone(),
        identity.clone(),
        clock.clone(),
        settings.timing,
        Build {
            version: build.version.to_string(),
            revision: build.revision.to_string(),
            release_date: build.timestamp.to_string(),
        },
    )
    .await
    .map_err(refusal)?;
    arca_cluster::licenses::load_bootstrap_file(&home, &db, &identity, &*clock).await;

    notifier.status("checking storage");
    let resolved = arca_cluster::storage::load_storage(&home, &identity, &master_key.key, true)
        .map_err(refusal)?;
    let chain = {
        let file = std::fs::read(home.binarystore_xml()).unwrap_or_default();
        arca_cluster::storage::ChainRecord::new(
            &resolved.config,
            &file,
            &master_key.key,
            &node_id,
            arca_db::Clock::now_ms(&*clock),
        )
    };
    let chain_check = {
        let (db, identity, chain) = (db.clone(), identity.clone(), chain.clone());
        let now = arca_db::Clock::now_ms(&*clock);
        let stale_ms = settings.timing.stale_ms();
        let checked = tokio::task::spawn_blocking(move || {
            bootstrap::check_storage_config(&db, &identity, &chain, now, stale_ms)
        })
        .await
        .context("storage check worker")?;
        match checked {
            Ok(check) => check,
            Err(e) => {
                // leave the registry cleanly: the refusal is not a crash
                let _ = membership.leave().await;
                return Err(refusal(e));
            }
        }
    };
    notifier.status(&format!("opening storage: {}", resolved.plan.description));
    let storage = Storage::open(
        &resolved.plan,
        StorageOptions {
            // Shared staging dirs (NFS): each node stages uploads in its own directory, so a
            // node's start-up cleanup never touches another node's in-flight uploads.
            node_id: identity.is_ha().then(|| node_id.clone()),
            identity: resolved.identity.clone(),
            credential: resolved.credential.clone(),
            // sharding-cluster: registry and copy bookkeeping, peer calls signed as this node
            cluster: Some(arca_storage::ClusterContext {
                db: db.clone(),
                signer: arca_crypto::master_key::RequestSigner::new(master_key.key.bytes())
                    .with_v1_compat(settings.node_signature_v1),
                node_id: node_id.clone(),
                stale: settings.timing.stale,
            }),
        },
    )
    .await
    .with_context(|| format!("opening storage chain '{}'", resolved.plan.description))?;
    if let bootstrap::ChainCheck::Changed { previous } = chain_check
        && let Err(e) = accept_chain_change(&db, &storage, &chain, previous.as_ref()).await
    {
        let _ = membership.leave().await;
        return Err(e);
    }
    let cleaned = storage
        .clean_staging()
        .context("cleaning leftovers of interrupted uploads")?;
    if cleaned > 0 {
        tracing::warn!(
            "removed {cleaned} partial upload(s) left in {} by an earlier crash",
            storage.staging_dir().display()
        );
    }
    let drain_flag = home.drain_flag();
    if drain_flag.exists() {
        tracing::info!(
            "clearing the drain request of the previous run ({})",
            drain_flag.display()
        );
        let _ = std::fs::remove_file(&drain_flag);
    }

    ensure_admin(&db, &home, arca_db::Clock::now_ms(&*clock)).await?;
    let now = arca_db::Clock::now_ms(&*clock);
    db.write(move |tx| security::ensure_anonymous(tx, now))
        .await
        .context("creating the anonymous user")?;

    let app = Arc::new(AppState::new(
        home.clone(),
        membership.clone(),
        settings.clone(),
        db,
        storage.clone(),
        clock,
        &master_key.key,
    ));

    // The agent reports on this socket; the registry is read now and every heartbeat.
    let control_socket = crate::control::bind(&app)?;
    if let Err(e) = app.refresh_license().await {
        tracing::warn!("could not read this node's license from the registry: {e}");
    }
    let control_server = tokio::spawn(crate::control::serve(control_socket, app.clone()));
    let license_refresh = spawn_license_refresh(app.clone());
    app.refresh_security()
        .await
        .context("reading users, groups and permissions")?;
    let security_refresh = spawn_security_refresh(app.clone());

    let system = SystemProperties::load(&home)?;
    let http_limits = crate::serve::HttpLimits::from_properties(&system)?;
    raise_open_files_limit(http_limits.max_connections);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    // The optional HTTPS listener: its certificate is reloaded on SIGHUP.
    let (https, https_certs, https_url) = match system.https()? {
        Some(settings) => {
            let certs = crate::tls::ReloadableCert::load(settings)?;
            let addr = certs.settings().listen;
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("binding {addr} ({})", arca_config::system::HTTPS_LISTEN)
            })?;
            let local = listener.local_addr().context("reading the bound address")?;
            let acceptor = certs.acceptor()?;
            (
                Some(crate::serve::HttpsListener { listener, acceptor }),
                Some(certs),
                format!(" and https://{local}"),
            )
        }
        None => (None, None, String::new()),
    };

    let mut control = arca_runtime::control_channel()?;
    let heartbeat = Heartbeat::new();
    {
        let hb = heartbeat.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                hb.beat();
            }
        });
    }
    let heartbeats = membership.spawn();
    crate::gc::spawn(app.clone());
    // sharding-cluster: the redundancy restore, reconcile and orphan sweep of this node's
    // copies run in arca-storage-mover (it holds the same tier); the server records copies.

    // The file store when the chain has one (NFS in HA), else the data dir.
    let data_dir = match &resolved.plan.backend {
        arca_config::storage_plan::BackendSpec::FileSystem(f) => f.file_store_dir.clone(),
        _ => identity.data_dir.clone(),
    };
    let ctx = if settings.context_path.is_empty() {
        "/"
    } else {
        settings.context_path.as_str()
    };
    tracing::info!(
        arca_node_id = %node_id,
        "arca-server {} (revision {}, {}) HA Node ID: '{node_id}' ({}); home {}; data dir {}; \
         backup dir {}; database {}; storage {}; listening on http://{local}{ctx}{https_url}",
        build.version,
        build.revision,
        build.timestamp,
        identity.role,
        home.root().display(),
        data_dir.display(),
        identity.backup_dir.display(),
        app.db.backend_name(),
        storage.description(),
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let server = crate::serve::serve_http(app.clone(), listener, https, http_limits, async {
        let _ = shutdown_rx.await;
    });
    let mut server = Box::pin(server);
    if let Err(e) = membership.set_state(NodeState::Running).await {
        tracing::warn!("could not record state RUNNING in the node registry: {e}");
    }
    notifier.ready(&format!(
        "serving http://{local}{ctx} as node {node_id} (ready in {} ms)",
        started.elapsed().as_millis()
    ));
    // Watchdog pings start with READY=1 (the protocol's order).
    let hb = heartbeat.clone();
    arca_runtime::spawn_watchdog(notifier.clone(), move || {
        hb.is_fresh(Duration::from_secs(10))
    });
    tracing::info!(
        arca_node_id = %node_id,
        "ready in {} ms",
        started.elapsed().as_millis()
    );

    let mut restart = false;
    loop {
        tokio::select! {
            () = &mut server => {
                bail!("HTTP server stopped unexpectedly");
            }
            () = app.restart_requested.notified() => {
                restart = true;
                break;
            }
            msg = control.recv() => match msg {
                Some(Control::Reload) => {
                    if let Some(certs) = &https_certs {
                        match certs.reload() {
                            Ok(()) => tracing::info!("SIGHUP: new HTTPS connections get the certificate just read; open ones keep theirs"),
                            Err(e) => tracing::error!("SIGHUP: {e:#}"),
                        }
                    }
                    tracing::info!("SIGHUP: other configuration is read at start; restart the service to apply changes");
                    let pending = app.restart_required_for();
                    if pending.is_empty() {
                        notifier.status(&format!("serving http://{local}{ctx} as node {node_id}"));
                    } else {
                        notifier.status(&format!(
                            "serving http://{local}{ctx} as node {node_id}; RESTART REQUIRED for {}",
                            pending.join(", ")
                        ));
                    }
                }
                Some(Control::Shutdown) | None => break,
            }
        }
    }

    app.start_draining();
    if let Err(e) = membership.set_state(NodeState::Stopping).await {
        tracing::warn!("could not record state STOPPING in the node registry: {e}");
    }
    let delay = settings.drain_delay;
    if !delay.is_zero() {
        // Health checks answer 503 from now on; keep serving until the load
        // balancer has noticed, then close the listener.
        notifier.stopping(&format!(
            "health checks answer 503; closing the listener in {} s",
            delay.as_secs()
        ));
        tracing::info!(arca_node_id = %node_id, "shutting down: health checks answer 503, listener closes in {} s", delay.as_secs());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut server => bail!("HTTP server stopped unexpectedly"),
            msg = control.recv() => if msg == Some(Control::Shutdown) {
                tracing::warn!("second termination signal; skipping the drain delay");
            },
        }
    }
    notifier.stopping("draining in-flight requests");
    tracing::info!(arca_node_id = %node_id, "shutting down: no new connections, draining in-flight requests");
    let _ = shutdown_tx.send(());
    tokio::select! {
        () = &mut server => tracing::info!("all requests finished"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timeout after {:?}; closing remaining connections", DRAIN_TIMEOUT),
        msg = control.recv() => if msg == Some(Control::Shutdown) {
            tracing::warn!("second termination signal; closing remaining connections");
        },
    }
    heartbeats.abort();
    license_refresh.abort();
    security_refresh.abort();
    control_server.abort();
    let _ = control_server.await;
    match membership.leave().await {
        Ok(()) => {
            tracing::info!(arca_node_id = %node_id, "left the cluster: state STOPPED, locks released")
        }
        Err(e) => {
            tracing::warn!("could not record state STOPPED (the node turns stale instead): {e}")
        }
    }
    tracing::info!(arca_node_id = %node_id, "stopped");
    if restart {
        return Err(arca_runtime::daemon::RestartRequested(format!(
            "arca-config-sync changed {}",
            app.restart_required_for().join(", ")
        ))
        .into());
    }
    Ok(())
}
