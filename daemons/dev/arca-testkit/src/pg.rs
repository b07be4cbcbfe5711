//! Throw-away PostgreSQL databases for tests.
//!
//! `ARCA_TEST_PG_URL` names a role that may create databases (the README test
//! command starts a server and sets it, see `tests/lib/postgres.sh`). Each
//! [`PgTestDb`] is a fresh database, dropped when the value is dropped.

use arca_db::cluster::{NodeRecord, NodeRole, NodeState};
use arca_db::licenses::NewLicenseRow;
use arca_db::{Db, DbError, PgOptions};

use crate::random_suffix;

/// The environment variable with the admin URL.
pub const PG_URL_ENV: &str = "ARCA_TEST_PG_URL";

/// A database created for one test.
#[derive(Debug)]
pub struct PgTestDb {
    admin_url: String,
    name: String,
    /// URL of the new database (credentials included).
    pub url: String,
}

/// The admin URL, or a panic that says how to get one: PostgreSQL tests are
/// part of the suite, not optional.
pub fn admin_url() -> String {
    std::env::var(PG_URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{PG_URL_ENV} is not set: run the suite with tests/run-all.sh, or \
             `eval \"$(tests/lib/postgres.sh --export)\"` first"
        )
    })
}

impl PgTestDb {
    /// Create `arca_t_<random>`.
    pub fn create() -> Result<PgTestDb, DbError> {
        let admin_url = admin_url();
        let name = format!("arca_t_{}", random_suffix());
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let root = base.rsplit_once('/').map(|(r, _)| r).unwrap_or(base);
        let url = format!("{root}/{name}{query}");
        Ok(PgTestDb {
            admin_url,
            name,
            url,
        })
    }

    /// `(url without credentials, user, password)`, for writing a `db.properties`
    /// that names them under their own keys.
    pub fn split_credentials(&self) -> Result<(String, String, String), DbError> {
        let config: postgres::Config = self.url.parse()?;
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_string();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        Ok((
            format!("postgresql://{host}:{port}/{}", self.name),
            user,
            password,
        ))
    }

    /// A `db.properties` for this database (small pools: tests run many servers at once).
    pub fn db_properties(&self) -> Result<String, DbError> {
        let (url, user, password) = self.split_credentials()?;
        Ok(format!(
            "type=postgresql\nurl={url}\nusername={user}\npassword={password}\n\
             pool.max.active=8\npool.max.idle=1\npool.lock.max=2\n"
        ))
    }

    /// Options for [`Db::open_postgres`] with small pools.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            url: self.url.clone(),
            username: None,
            password: None,
            pool_max_active: 8,
            pool_max_idle: 1,
            lock_pool_max: 2,
            application_name: "arca-test".into(),
            tls: arca_db::PgTls::default(),
        }
    }

    /// Open it with migrations applied.
    pub fn open(&self) -> Result<Db, DbError> {
        Db::open_postgres(&self.options())
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = self.admin_url.clone();
        // Runs outside any async runtime: the sync client drives its own.
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// A registry row for node `id` in `state` and `role` with its start and last heartbeat at
/// `heartbeat_ms`, for tests that register nodes without running servers.
pub fn node_record(id: &str, state: NodeState, role: NodeRole, heartbeat_ms: i64) -> NodeRecord {
    NodeRecord {
        node_id: id.into(),
        start_time: heartbeat_ms,
        context_url: format!("http://{id}:8081/artifactory"),
        membership_port: 0,
        state,
        role,
        last_heartbeat: heartbeat_ms,
        version: "v".into(),
        revision: "r".into(),
        release_date: "d".into(),
        data_dir: String::new(),
        backup_dir: String::new(),
        instance: format!("host-of-{id}"),
    }
}

/// [`node_record`] of a RUNNING member.
pub fn running_node(id: &str, heartbeat_ms: i64) -> NodeRecord {
    node_record(id, NodeState::Running, NodeRole::Member, heartbeat_ms)
}

/// A license row for the cluster pool as callers store it once verified (these tests need no
/// signed keys): `hash`, valid through `valid_through`, issued 2026-01-01 to "ACME Corp.".
pub fn license_row(hash: &str, valid_through: &str) -> NewLicenseRow {
    NewLicenseRow {
        hash: hash.into(),
        token: format!("arca-lic-v1.{hash}.sig"),
        licensee: "ACME Corp.".into(),
        license_type: "Enterprise".into(),
        valid_through: valid_through.into(),
        issued: "2026-01-01".into(),
    }
}
