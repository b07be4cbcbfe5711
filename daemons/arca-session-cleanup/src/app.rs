//! One cleanup run and `check-config`.
//!
//! Order: config check (the shared check of every file, plus the timer's schedule; nothing
//! done on error) → `arca.map.provider.type=local`: nothing in the database, exit 0 → the
//! database `db.properties` names (no migrations: the server runs them) → one write
//! transaction deletes the sessions whose idle or absolute expiry has passed and counts the
//! rest → the journal says how many, with the node id as `ARCA_NODE_ID` → exit 0. A database
//! that cannot be reached is an error (exit 1) naming `db.properties`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use arca_cluster::Identity;
use arca_config::SystemProperties;
use arca_config::{DbProperties, DbType, Home, MapProviderType, MasterKey, NodeConfig};
use arca_db::{Clock, Db, DbError, SystemClock, migrate, sessions};

use crate::calendar;
use crate::schedule::Schedule;

/// The schema version that has the `sessions` table.
pub const SESSIONS_SCHEMA_VERSION: i64 = 6;

/// What `check-config` and the journal say with `arca.map.provider.type=local`.
const LOCAL_PROVIDER: &str = "arca.map.provider.type=local: UI sessions live in each node's \
                              memory, none in the database; nothing to clean";

/// Settings read from the home.
struct Settings {
    node_id: String,
    provider: MapProviderType,
    schedule: Schedule,
    db: DbProperties,
}

/// The configuration, checked once (problems logged; an error refuses), and the timer's
/// schedule: the shared check accepts every Quartz expression; the timer cannot use some:
/// that error (file:line:key) comes from here.
fn load_settings(home: &Home) -> anyhow::Result<Settings> {
    let config = NodeConfig::load(home)?;
    Ok(Settings {
        node_id: Identity::of(&config).node_id,
        provider: config.system.map_provider_type,
        schedule: Schedule::from_properties(&config.properties)?,
        db: config.db,
    })
}

/// Validate every config file under `home` and the timer's schedule. Returns a one-line
/// summary of what a run does.
pub fn check_config(home: &Home) -> anyhow::Result<String> {
    Ok(summary(&load_settings(home)?))
}

fn summary(settings: &Settings) -> String {
    match settings.provider {
        MapProviderType::Local => LOCAL_PROVIDER.to_string(),
        MapProviderType::Db => format!(
            "node '{}': deletes the expired UI sessions from the database; timer: {}",
            settings.node_id, settings.schedule
        ),
    }
}

/// `print-calendar [EXPR]`: the `OnCalendar=` of `expression`, or of the configured key.
pub fn print_calendar(home: &Home, expression: &str) -> ExitCode {
    if !expression.trim().is_empty() {
        return match calendar::translate(expression) {
            Ok(on_calendar) => {
                println!("{on_calendar}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("'{}' cannot be translated: {e}", expression.trim());
                ExitCode::FAILURE
            }
        };
    }
    let schedule = SystemProperties::load(home)
        .and_then(|sys| Schedule::from_properties(&sys).map(|s| (sys, s)));
    match schedule {
        Ok((_, Schedule::Default)) => {
            println!("hourly");
            eprintln!(
                "(arca.db.session.cleanup.cron is not set in {}: the timer's default, hourly \
                 with RandomizedDelaySec=1h and FixedRandomDelay=true, i.e. at a fixed random \
                 minute of this host)",
                home.system_properties().display()
            );
            ExitCode::SUCCESS
        }
        Ok((_, s)) => {
            println!("{}", s.on_calendar());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("config: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One run: delete the expired sessions, log how many.
pub async fn run(home: Home) -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = load_settings(&home)?;
    let node_id = settings.node_id;
    if settings.provider == MapProviderType::Local {
        tracing::info!(arca_node_id = %node_id, "{LOCAL_PROVIDER}");
        return Ok(());
    }
    let opened = {
        let (home, props, node_id) = (home.clone(), settings.db, node_id.clone());
        tokio::task::spawn_blocking(move || open_database(&home, &props, &node_id))
            .await
            .map_err(|e| anyhow!("database start-up worker: {e}"))??
    };
    let db = match opened {
        Opened::Db(db) => db,
        Opened::Nothing(why) => {
            tracing::info!(arca_node_id = %node_id, "nothing to clean: {why}");
            return Ok(());
        }
    };
    let now = SystemClock.now_ms();
    let (deleted, remaining) = db
        .write(move |c| -> Result<(usize, i64), DbError> {
            let deleted = sessions::delete_expired_sessions(c, now)?;
            Ok((deleted, sessions::count_sessions(c)?))
        })
        .await
        .with_context(|| {
            format!(
                "deleting the expired UI sessions in the database of {}",
                home.db_properties().display()
            )
        })?;
    tracing::info!(
        arca_node_id = %node_id,
        arca_sessions_deleted = deleted,
        arca_sessions_remaining = remaining,
        "deleted {deleted} expired UI sessions ({remaining} remain) in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

enum Opened {
    Db(Db),
    /// No database to clean (yet), and why.
    Nothing(String),
}

/// Open the database `db.properties` names the way a tool does: no migrations, no rewrite of
/// `db.properties`, a missing SQLite file not created; the master key only when the password
/// is encrypted.
fn open_database(home: &Home, props: &DbProperties, node_id: &str) -> anyhow::Result<Opened> {
    if props.db_type == DbType::Sqlite
        && let Some(path) = props.sqlite_path().filter(|p| !p.exists())
    {
        return Ok(Opened::Nothing(format!(
            "the single-node database {} does not exist yet (arca-server creates it at its \
             first start)",
            path.display()
        )));
    }
    let key = match MasterKey::load(home)? {
        Some(key) => key,
        // The key only decrypts an encrypted password; a plain one connects with any key.
        None if !props.password_is_encrypted() => placeholder_key()?,
        None => bail!(
            "the password in {} is encrypted and {} is missing; copy etc/security/master.key \
             from an existing node",
            home.db_properties().display(),
            home.master_key().display()
        ),
    };
    let what = match props.db_type {
        DbType::Sqlite => "SQLite",
        DbType::Postgresql => "PostgreSQL",
    };
    let db = arca_cluster::bootstrap::connect_database(
        home,
        props,
        &key,
        &format!("arca-session-cleanup {node_id}"),
    )
    .and_then(|db| {
        db.read_blocking(migrate::current_version)
            .map(|v| (db, v))
            .map_err(Into::into)
    });
    let (db, version) = db.map_err(|e| {
        let hint = match props.db_type {
            DbType::Sqlite => "run it as root or as the arca user".to_string(),
            DbType::Postgresql => format!(
                "check url, username and password in {} and that the database server runs and \
                 accepts connections from this host",
                home.db_properties().display()
            ),
        };
        anyhow!(
            "cannot open the {what} database of {}: {} ({hint})",
            home.db_properties().display(),
            arca_runtime::error_chain(&e)
        )
    })?;
    if version < SESSIONS_SCHEMA_VERSION {
        return Ok(Opened::Nothing(format!(
            "the database has schema version {version}, without UI sessions (they come with \
             version {SESSIONS_SCHEMA_VERSION}: start arca-server of this version)"
        )));
    }
    Ok(Opened::Db(db))
}

fn placeholder_key() -> anyhow::Result<MasterKey> {
    Ok(MasterKey::parse(&"0".repeat(32), Path::new("-"))?)
}
