//! Start-up, serving and shutdown of `arca-server`.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use arca_config::{
    BinaryStoreConfig, DbProperties, DbType, HaNodeProperties, Home, SystemProperties, check_home,
};
use arca_db::security::{self, User};
use arca_db::{Db, SystemClock};
use arca_runtime::{Control, Heartbeat, Notifier};
use arca_storage::FileStore;

use crate::state::{AppState, Settings};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the first admin password is written (mode 0600).
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

pub struct ServeOptions {
    pub home: Home,
    pub listen: SocketAddr,
}

/// Validate every config file under `home`; print the problems (errors and
/// warnings) and fail when there is an error. Used by `check-config` and at start.
pub fn check_config(home: &Home) -> anyhow::Result<()> {
    let diagnostics = check_home(home);
    let mut errors = 0;
    for d in &diagnostics {
        if d.is_error() {
            errors += 1;
            tracing::error!("config: {}", d.error);
        } else {
            tracing::warn!("config: {}", d.error);
        }
    }
    if errors > 0 {
        bail!(
            "{errors} configuration error(s) under {}; nothing was started",
            home.etc().display()
        );
    }
    Ok(())
}

fn load_settings(home: &Home) -> anyhow::Result<Settings> {
    let sys = SystemProperties::load(home)?;
    Ok(Settings {
        context_path: sys.context_path()?,
        max_upload_bytes: sys.max_upload_bytes()?,
        max_path_length: sys.max_path_length()?,
        gc_interval: Duration::from_secs(sys.gc_interval_secs()?),
        gc_grace: Duration::from_secs(sys.gc_grace_secs()?),
        auth_cache_ttl: Duration::from_secs(sys.auth_cache_secs()?),
        drain_delay: Duration::from_secs(sys.drain_delay_secs()?),
    })
}

fn node_id(home: &Home) -> anyhow::Result<String> {
    if let Some((ha, _)) = HaNodeProperties::load(home)? {
        return Ok(ha.node_id);
    }
    Ok(nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "arca".to_string()))
}

/// Create the administrator on the very first start, with a random password
/// written once to the log and to `etc/security/initial-admin-password` (0600).
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
                name: "admin".into(),
                password_hash: hash,
                email: None,
                admin: true,
                created: now,
            },
        )
    })
    .await
    .context("creating the admin user")?;
    tracing::warn!(
        "created user 'admin' with password {password} (also in {}, mode 0600)",
        file.display()
    );
    Ok(())
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
    let settings = load_settings(&home)?;
    let node_id = node_id(&home)?;

    notifier.status("opening database");
    let db_props = DbProperties::load(&home)?;
    let db = match db_props.db_type {
        DbType::Sqlite => {
            let path = db_props
                .sqlite_path()
                .context("db.properties: no SQLite database path")?;
            Db::open_sqlite(&path, db_props.pool_max_active.clamp(2, 16))
                .with_context(|| format!("opening SQLite database {}", path.display()))?
        }
        DbType::Postgresql => bail!(
            "{}: type=postgresql is not available in this build yet (HA support lands with the cluster work); use type=sqlite for a single node",
            home.etc().join("db.properties").display()
        ),
    };

    notifier.status("checking storage");
    let store_cfg = BinaryStoreConfig::load(&home)?;
    let layout = store_cfg.file_system_layout(&home)?;
    let store = FileStore::open(layout.file_store_dir.clone(), layout.temp_dir.clone())
        .with_context(|| format!("opening file store {}", layout.file_store_dir.display()))?;
    let cleaned = store
        .clean_temp()
        .context("cleaning leftovers of interrupted uploads")?;
    if cleaned > 0 {
        tracing::warn!(
            "removed {cleaned} partial upload(s) left in {} by an earlier crash",
            layout.temp_dir.display()
        );
    }

    let clock = Arc::new(SystemClock);
    ensure_admin(&db, &home, arca_db::Clock::now_ms(&*clock)).await?;

    let app = Arc::new(AppState::new(
        home.clone(),
        node_id.clone(),
        settings.clone(),
        db,
        store,
        clock,
    ));

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;

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
    let hb = heartbeat.clone();
    arca_runtime::spawn_watchdog(notifier.clone(), move || {
        hb.is_fresh(Duration::from_secs(10))
    });
    crate::gc::spawn(app.clone());

    let build = &arca_runtime::BUILD;
    let ctx = if settings.context_path.is_empty() {
        "/"
    } else {
        settings.context_path.as_str()
    };
    tracing::info!(
        arca_node_id = %node_id,
        "arca-server {} (revision {}, {}) HA Node ID: {node_id}; home {}; data {}; listening on http://{local}{ctx}",
        build.version,
        build.revision,
        build.timestamp,
        home.root().display(),
        layout.file_store_dir.display(),
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let server = crate::serve::serve_http(app.clone(), listener, async {
        let _ = shutdown_rx.await;
    });
    let mut server = Box::pin(server);
    notifier.ready(&format!(
        "serving http://{local}{ctx} as node {node_id} (ready in {} ms)",
        started.elapsed().as_millis()
    ));
    tracing::info!(
        arca_node_id = %node_id,
        "ready in {} ms",
        started.elapsed().as_millis()
    );

    loop {
        tokio::select! {
            () = &mut server => {
                bail!("HTTP server stopped unexpectedly");
            }
            msg = control.recv() => match msg {
                Some(Control::Reload) => {
                    tracing::info!("SIGHUP: configuration is read at start; restart the service to apply changes");
                    notifier.status(&format!("serving http://{local}{ctx} as node {node_id}"));
                }
                Some(Control::Shutdown) | None => break,
            }
        }
    }

    app.start_draining();
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
    tracing::info!(arca_node_id = %node_id, "stopped");
    Ok(())
}
