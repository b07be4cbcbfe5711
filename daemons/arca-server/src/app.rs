//! Start-up, serving and shutdown of `arca-server`.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use arca_cluster::bootstrap::{self, Identity, MasterKeyState};
use arca_cluster::storage::{ChainRecord, ResolvedStorage};
use arca_cluster::{Build, ClusterError, Membership, Timing};
use arca_config::{Home, NodeConfig, SystemSettings};
use arca_db::cluster::NodeState;
use arca_db::security::{self, User};
use arca_db::{Db, SystemClock};
use arca_runtime::{Control, Notifier, Service, Starting};
use arca_storage::{Storage, StorageOptions};

use crate::state::{App, AppState, Settings};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub use crate::admin::{INITIAL_ADMIN_PASSWORD_FILE, INITIAL_ADMIN_USER};

pub struct ServeOptions {
    pub home: Home,
    pub listen: SocketAddr,
}

/// Validate every config file under `home`; log the problems (errors and warnings) and fail
/// when there is an error. Used by `check-config` and at start ([`NodeConfig::load`]).
pub fn check_config(home: &Home) -> anyhow::Result<()> {
    NodeConfig::load(home)?;
    Ok(())
}

/// The server's settings: the typed values of `system.properties` it uses.
fn settings_of(config: &NodeConfig) -> Settings {
    let sys = &config.system;
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Settings {
        context_path: config.context_path(),
        url_base: crate::state::LiveUrlBase::new(sys.url_base.clone()),
        timing: Timing {
            heartbeat: sys.ha_heartbeat,
            stale: sys.ha_stale,
            lock_lease: sys.ha_lock_lease,
        },
        max_upload_bytes: sys.max_upload_bytes,
        storage_reserve_bytes: sys.storage_reserve_bytes,
        max_path_length: sys.max_path_length,
        gc_interval: sys.gc_interval,
        gc_grace: sys.gc_grace,
        oci_upload_expiry: sys.oci_upload_expiry,
        oci_untagged_retention: sys.oci_untagged_retention,
        auth_cache_ttl: sys.auth_cache,
        drain_delay: sys.drain_delay,
        login_policy: arca_db::security::LoginPolicy {
            max_failures: sys.login_max_failures,
            lockout_ms: millis(sys.login_lockout),
        },
        login_trusted_proxies: sys.login_trusted_proxies.clone(),
        token_max_expires_secs: i64::try_from(sys.token_max_expires.as_secs()).unwrap_or(i64::MAX),
        password_check_queue: sys.password_check_queue,
        session_provider: sys.map_provider_type,
        session_idle_timeout: sys.session_idle_timeout,
        session_absolute_timeout: sys.session_absolute_timeout,
        node_signature_v1: sys.node_signature_v1,
    }
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
///
/// Three steps (docs/ARCHITECTURE.md, "Inside arca-server"): [`Prepared`] (configuration,
/// master key, database, cluster, storage, first users) → [`Running`] (listeners bound,
/// `READY=1`, serving until a stop) → the drain ([`Running::drain`]).
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let starting = Starting::new();
    let prepared = Prepared::open(opts.home, &starting.notifier).await?;
    let mut running = prepared.start_serving(opts.listen, starting).await?;
    let stop = running.serve_until_stopped().await?;
    running.drain(stop).await
}

/// Everything opened before the server listens: checked configuration, master key, database,
/// cluster membership, storage, the first users.
struct Prepared {
    home: Home,
    settings: Settings,
    /// `arca.http.*` and `arca.https.*` of system.properties.
    system: SystemSettings,
    identity: Identity,
    clock: Arc<SystemClock>,
    master_key: MasterKeyState,
    db: Db,
    membership: Arc<Membership>,
    resolved: ResolvedStorage,
    storage: Storage,
}

/// The configuration, read and checked once.
struct Configured {
    home: Home,
    config: NodeConfig,
    settings: Settings,
    identity: Identity,
}

impl Prepared {
    async fn open(home: Home, notifier: &Notifier) -> anyhow::Result<Prepared> {
        let Configured {
            home,
            config,
            settings,
            identity,
        } = configure(home)?;
        let clock = Arc::new(SystemClock);

        notifier.status("loading the master key");
        let master_key = bootstrap::load_or_create_master_key(&home, &identity).map_err(refusal)?;

        notifier.status("opening database");
        let db = open_database(&config, &identity, &master_key, &clock).await?;

        notifier.status("joining the cluster");
        let membership = join_cluster(&db, &identity, &clock, settings.timing).await?;
        arca_cluster::licenses::load_bootstrap_file(&home, &db, &identity, &*clock).await;

        let (resolved, storage) = open_storage(
            &home,
            &identity,
            &master_key,
            &db,
            &membership,
            &settings,
            &clock,
            notifier,
        )
        .await?;
        clear_drain_request(&home);
        ensure_users(&db, &home, &clock).await?;
        Ok(Prepared {
            home,
            settings,
            system: config.system,
            identity,
            clock,
            master_key,
            db,
            membership,
            resolved,
            storage,
        })
    }
}

/// The home's layout (created on the first start), the configuration checked and read, and
/// who this node is.
fn configure(home: Home) -> anyhow::Result<Configured> {
    let created = home
        .init_layout()
        .with_context(|| format!("creating the home layout under {}", home.root().display()))?;
    for f in &created {
        tracing::info!("created {}", f.display());
    }
    let config = NodeConfig::load(&home)?;
    let settings = settings_of(&config);
    let identity = Identity::of(&config);
    if let Some(ha) = &config.ha {
        // cluster.interface must name one of this host's addresses (exact or wildcard)
        let addrs = arca_config::ha_node::local_addresses()?;
        if let Some(addr) = ha.cluster_address(&addrs)? {
            tracing::info!("cluster interface: {addr}");
        }
    }
    Ok(Configured {
        home,
        config,
        settings,
        identity,
    })
}

/// Open the database (migrations included) and compare the master key with the cluster's.
async fn open_database(
    config: &NodeConfig,
    identity: &Identity,
    master_key: &MasterKeyState,
    clock: &Arc<SystemClock>,
) -> anyhow::Result<Db> {
    let (home, props, key, clock) = (
        config.home.clone(),
        config.db.clone(),
        master_key.clone(),
        clock.clone(),
    );
    let app_name = format!("arca-server {}", identity.node_id);
    tokio::task::spawn_blocking(move || -> Result<Db, ClusterError> {
        let (db, _) = bootstrap::open_database(&home, &props, &key.key, &app_name)?;
        bootstrap::check_master_key(&db, &home, &key, arca_db::Clock::now_ms(&*clock))?;
        Ok(db)
    })
    .await
    .context("database start-up worker")?
    .map_err(refusal)
    .context("opening the database")
}

async fn join_cluster(
    db: &Db,
    identity: &Identity,
    clock: &Arc<SystemClock>,
    timing: Timing,
) -> anyhow::Result<Arc<Membership>> {
    let build = arca_runtime::build();
    Membership::join(
        db.clone(),
        identity.clone(),
        clock.clone(),
        timing,
        Build {
            version: build.version.to_string(),
            revision: build.revision.to_string(),
            release_date: build.timestamp.to_string(),
        },
    )
    .await
    .map_err(refusal)
}

/// Check the storage chain against the cluster's, open it (recording an accepted change),
/// and clean what interrupted uploads left. A refusal leaves the registry cleanly.
#[allow(clippy::too_many_arguments)]
async fn open_storage(
    home: &Home,
    identity: &Identity,
    master_key: &MasterKeyState,
    db: &Db,
    membership: &Membership,
    settings: &Settings,
    clock: &Arc<SystemClock>,
    notifier: &Notifier,
) -> anyhow::Result<(ResolvedStorage, Storage)> {
    notifier.status("checking storage");
    let resolved = arca_cluster::storage::load_storage(home, identity, &master_key.key, true)
        .map_err(refusal)?;
    let chain = {
        let file = std::fs::read(home.binarystore_xml()).unwrap_or_default();
        let now = arca_db::Clock::now_ms(&**clock);
        ChainRecord::new(
            &resolved.config,
            &file,
            &master_key.key,
            &identity.node_id,
            now,
        )
    };
    let now = arca_db::Clock::now_ms(&**clock);
    let checked = {
        let (db, identity, chain) = (db.clone(), identity.clone(), chain.clone());
        let stale_ms = settings.timing.stale_ms();
        tokio::task::spawn_blocking(move || {
            bootstrap::check_storage_config(&db, &identity, &chain, now, stale_ms)
        })
        .await
        .context("storage check worker")?
    };
    let chain_check = match checked {
        Ok(check) => check,
        Err(e) => {
            // leave the registry cleanly: the refusal is not a crash
            let _ = membership.leave().await;
            return Err(refusal(e));
        }
    };
    notifier.status(&format!("opening storage: {}", resolved.plan.description));
    let storage = open_chain(&resolved, identity, master_key, db, settings).await?;
    if let bootstrap::ChainCheck::Changed { previous } = chain_check
        && let Err(e) = accept_chain_change(db, &storage, &chain, previous.as_ref()).await
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
    Ok((resolved, storage))
}

async fn open_chain(
    resolved: &ResolvedStorage,
    identity: &Identity,
    master_key: &MasterKeyState,
    db: &Db,
    settings: &Settings,
) -> anyhow::Result<Storage> {
    let node_id = &identity.node_id;
    Storage::open(
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
    .with_context(|| format!("opening storage chain '{}'", resolved.plan.description))
}

/// The drain flag (`arcactl ha drain`) belongs to the run that was asked to drain.
fn clear_drain_request(home: &Home) {
    let drain_flag = home.drain_flag();
    if drain_flag.exists() {
        tracing::info!(
            "clearing the drain request of the previous run ({})",
            drain_flag.display()
        );
        let _ = std::fs::remove_file(&drain_flag);
    }
}

/// The administrator of the very first start, and the anonymous user.
async fn ensure_users(db: &Db, home: &Home, clock: &SystemClock) -> anyhow::Result<()> {
    ensure_admin(db, home, arca_db::Clock::now_ms(clock)).await?;
    let now = arca_db::Clock::now_ms(clock);
    db.write(move |tx| security::ensure_anonymous(tx, now))
        .await
        .context("creating the anonymous user")?;
    Ok(())
}

/// The tasks that run beside the HTTP server; aborted after the drain.
struct Background {
    heartbeats: tokio::task::JoinHandle<()>,
    license_refresh: tokio::task::JoinHandle<()>,
    security_refresh: tokio::task::JoinHandle<()>,
    control_server: tokio::task::JoinHandle<()>,
    download_stats: tokio::task::JoinHandle<()>,
}

/// The bound listeners.
struct Listeners {
    http: tokio::net::TcpListener,
    local: SocketAddr,
    https: Option<crate::serve::HttpsListener>,
    /// Reloaded on SIGHUP.
    https_certs: Option<Arc<crate::tls::ReloadableCert>>,
    /// `" and https://<addr>"`, or empty.
    https_url: String,
}

/// The server serving: what the main loop and the drain need.
struct Running {
    app: App,
    membership: Arc<Membership>,
    service: Service,
    server: Pin<Box<dyn Future<Output = ()>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    https_certs: Option<Arc<crate::tls::ReloadableCert>>,
    /// `http://<addr><context path>`, as `STATUS=` says it.
    serving: String,
    background: Background,
}

/// Why the main loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM/SIGINT.
    Shutdown,
    /// arca-config-sync changed a file read at start (`arca.config.sync.restart`).
    Restart,
}

impl Prepared {
    /// The application state, its background tasks and listeners; then `READY=1`.
    async fn start_serving(
        self,
        listen: SocketAddr,
        starting: Starting,
    ) -> anyhow::Result<Running> {
        let app = Arc::new(AppState::new(
            self.home.clone(),
            self.membership.clone(),
            self.settings.clone(),
            self.db,
            self.storage.clone(),
            self.clock,
            &self.master_key.key,
        ));
        let (control_server, license_refresh, security_refresh) = start_refreshes(&app).await?;
        let listeners = bind_listeners(listen, &self.system).await?;
        let service = starting.listen()?;
        service.beat_every_second();
        let background = Background {
            heartbeats: self.membership.spawn(),
            license_refresh,
            security_refresh,
            control_server,
            download_stats: crate::http::download_stats::spawn_flush(
                app.downloads.clone(),
                app.db.clone(),
            ),
        };
        crate::gc::spawn(app.clone());
        // sharding-cluster: the redundancy restore, reconcile and orphan sweep of this node's
        // copies run in arca-storage-mover (it holds the same tier); the server records copies.
        let ctx = if self.settings.context_path.is_empty() {
            "/"
        } else {
            self.settings.context_path.as_str()
        };
        let serving = format!("http://{}{ctx}", listeners.local);
        log_started(&app, &self.identity, &self.resolved, &serving, &listeners);
        let limits = crate::serve::HttpLimits::from_settings(&self.system);
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let server = crate::serve::serve_http(
            app.clone(),
            listeners.http,
            listeners.https,
            limits,
            async {
                let _ = shutdown_rx.await;
            },
        );
        let running = Running {
            app,
            membership: self.membership,
            service,
            server: Box::pin(server),
            shutdown: Some(shutdown_tx),
            https_certs: listeners.https_certs,
            serving,
            background,
        };
        running.announce_ready().await;
        // After READY=1: its progress is appended to the serving line of STATUS=.
        running.app.scrub.spawn(
            &running.app.home,
            crate::scrub::ScrubSettings::of(&self.system),
            running.app.storage.clone(),
            running.app.db.clone(),
            running.service.notifier.clone(),
            &format!(
                "serving {} as node {}",
                running.serving, running.app.node_id
            ),
        );
        Ok(running)
    }
}

/// The control socket (the agent reports on it), this node's license read now and every
/// heartbeat, and the cluster's users, groups and permissions read now and every second.
async fn start_refreshes(
    app: &App,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
)> {
    let control_socket = crate::control::bind(app)?;
    if let Err(e) = app.refresh_license().await {
        tracing::warn!("could not read this node's license from the registry: {e}");
    }
    let control_server = tokio::spawn(crate::control::serve(control_socket, app.clone()));
    let license_refresh = spawn_license_refresh(app.clone());
    app.refresh_security()
        .await
        .context("reading users, groups and permissions")?;
    let security_refresh = spawn_security_refresh(app.clone());
    // Security changes on other nodes arrive through the metadata cache's listener at once.
    crate::meta_listener::start(app);
    Ok((control_server, license_refresh, security_refresh))
}

/// The HTTP listener, and the optional HTTPS one (its certificate is reloaded on SIGHUP).
async fn bind_listeners(listen: SocketAddr, system: &SystemSettings) -> anyhow::Result<Listeners> {
    raise_open_files_limit(system.http_max_connections);
    let http = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let local = http.local_addr().context("reading the bound address")?;
    let (https, https_certs, https_url) = match &system.https {
        Some(settings) => {
            let certs = crate::tls::ReloadableCert::load(settings.clone())?;
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
    Ok(Listeners {
        http,
        local,
        https,
        https_certs,
        https_url,
    })
}

/// The start-up line of the journal: version, node, directories, database, storage, URLs.
fn log_started(
    app: &App,
    identity: &Identity,
    resolved: &ResolvedStorage,
    serving: &str,
    listeners: &Listeners,
) {
    // The file store when the chain has one (NFS in HA), else the data dir.
    let data_dir = match &resolved.plan.backend {
        arca_config::storage_plan::BackendSpec::FileSystem(f) => f.file_store_dir.clone(),
        _ => identity.data_dir.clone(),
    };
    let build = arca_runtime::build();
    let node_id = &identity.node_id;
    tracing::info!(
        arca_node_id = %node_id,
        "arca-server {} (revision {}, {}) HA Node ID: '{node_id}' ({}); home {}; data dir {}; \
         backup dir {}; database {}; storage {}; listening on {serving}{}",
        build.version,
        build.revision,
        build.timestamp,
        identity.role,
        app.home.root().display(),
        data_dir.display(),
        identity.backup_dir.display(),
        app.db.backend_name(),
        app.storage.description(),
        listeners.https_url,
    );
}

impl Running {
    /// State RUNNING in the registry, `READY=1`, then the watchdog.
    async fn announce_ready(&self) {
        if let Err(e) = self.membership.set_state(NodeState::Running).await {
            tracing::warn!("could not record state RUNNING in the node registry: {e}");
        }
        let node_id = &self.app.node_id;
        let started = self.service.started;
        // Watchdog pings start with READY=1 (the protocol's order).
        self.service.ready(
            &format!(
                "serving {} as node {node_id} (ready in {} ms)",
                self.serving,
                started.elapsed().as_millis()
            ),
            Duration::from_secs(10),
        );
        tracing::info!(
            arca_node_id = %node_id,
            "ready in {} ms",
            started.elapsed().as_millis()
        );
        // The start-up records (the "HA Node ID" banner among them) stay in the recent log for
        // good; what follows goes through its ring.
        if let Some(log) = arca_runtime::recent_log() {
            log.end_startup();
        }
    }

    /// Serve until SIGTERM/SIGINT or a restart request; SIGHUP reloads the HTTPS certificate.
    async fn serve_until_stopped(&mut self) -> anyhow::Result<Stop> {
        loop {
            tokio::select! {
                () = &mut self.server => bail!("HTTP server stopped unexpectedly"),
                () = self.app.restart_requested.notified() => return Ok(Stop::Restart),
                msg = self.service.control.recv() => match msg {
                    Some(Control::Reload) => self.reload(),
                    Some(Control::Shutdown) | None => return Ok(Stop::Shutdown),
                }
            }
        }
    }

    /// SIGHUP: a new HTTPS certificate; other configuration is read at start.
    fn reload(&self) {
        if let Some(certs) = &self.https_certs {
            match certs.reload() {
                Ok(()) => tracing::info!(
                    "SIGHUP: new HTTPS connections get the certificate just read; open ones keep theirs"
                ),
                Err(e) => tracing::error!("SIGHUP: {e:#}"),
            }
        }
        tracing::info!(
            "SIGHUP: other configuration is read at start; restart the service to apply changes"
        );
        let (serving, node_id) = (&self.serving, &self.app.node_id);
        let pending = self.app.restart_required_for();
        // through the scrubber, which appends its progress
        if pending.is_empty() {
            self.app
                .scrub
                .set_status_base(&format!("serving {serving} as node {node_id}"));
        } else {
            self.app.scrub.set_status_base(&format!(
                "serving {serving} as node {node_id}; RESTART REQUIRED for {}",
                pending.join(", ")
            ));
        }
    }

    /// Health checks answer 503, the drain delay passes, in-flight requests finish (or the
    /// drain timeout), then the node leaves the cluster.
    async fn drain(mut self, stop: Stop) -> anyhow::Result<()> {
        self.app.start_draining();
        if let Err(e) = self.membership.set_state(NodeState::Stopping).await {
            tracing::warn!("could not record state STOPPING in the node registry: {e}");
        }
        self.wait_drain_delay().await?;
        self.finish_requests().await;
        self.leave().await;
        if stop == Stop::Restart {
            return Err(arca_runtime::daemon::RestartRequested(format!(
                "arca-config-sync changed {}",
                self.app.restart_required_for().join(", ")
            ))
            .into());
        }
        Ok(())
    }

    /// Health checks answer 503 from now on; keep serving until the load balancer has
    /// noticed, then close the listener.
    async fn wait_drain_delay(&mut self) -> anyhow::Result<()> {
        let delay = self.app.settings.drain_delay;
        if delay.is_zero() {
            return Ok(());
        }
        self.service.notifier.stopping(&format!(
            "health checks answer 503; closing the listener in {} s",
            delay.as_secs()
        ));
        tracing::info!(arca_node_id = %self.app.node_id, "shutting down: health checks answer 503, listener closes in {} s", delay.as_secs());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = &mut self.server => bail!("HTTP server stopped unexpectedly"),
            msg = self.service.control.recv() => if msg == Some(Control::Shutdown) {
                tracing::warn!("second termination signal; skipping the drain delay");
            },
        }
        Ok(())
    }

    /// No new connections; in-flight requests finish within [`DRAIN_TIMEOUT`].
    async fn finish_requests(&mut self) {
        self.service
            .notifier
            .stopping("draining in-flight requests");
        tracing::info!(arca_node_id = %self.app.node_id, "shutting down: no new connections, draining in-flight requests");
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::select! {
            () = &mut self.server => tracing::info!("all requests finished"),
            _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timeout after {:?}; closing remaining connections", DRAIN_TIMEOUT),
            msg = self.service.control.recv() => if msg == Some(Control::Shutdown) {
                tracing::warn!("second termination signal; closing remaining connections");
            },
        }
    }

    /// Stop the background tasks and leave the registry (state STOPPED, locks released).
    async fn leave(&mut self) {
        let node_id = &self.app.node_id;
        // a running scrub pass saves its position (the next start continues it)
        self.app.scrub.stop().await;
        let background = &mut self.background;
        background.heartbeats.abort();
        background.license_refresh.abort();
        background.security_refresh.abort();
        background.control_server.abort();
        background.download_stats.abort();
        let _ = (&mut background.control_server).await;
        if let Err(e) = self.app.downloads.flush(&self.app.db).await {
            tracing::warn!("writing the last download statistics: {e}");
        }
        match self.membership.leave().await {
            Ok(()) => {
                tracing::info!(arca_node_id = %node_id, "left the cluster: state STOPPED, locks released")
            }
            Err(e) => {
                tracing::warn!("could not record state STOPPED (the node turns stale instead): {e}")
            }
        }
        tracing::info!(arca_node_id = %node_id, "stopped");
    }
}
