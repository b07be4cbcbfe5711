//! Start-up of a cluster member: identity, master key, database.

use std::path::{Path, PathBuf};

use arca_config::{DbProperties, DbType, Home, MasterKey, NodeConfig};
use arca_crypto::master_key::{SecretBox, generate_master_key_hex, is_sealed, key_check_value};
use arca_db::cluster::{self, NodeRole};
use arca_db::{Db, PgOptions};

use crate::ClusterError;
pub use crate::identity::Identity;
use crate::storage::STORAGE_DIGEST_SETTING;

/// Cluster setting holding the master key's key-check value: every node
/// compares its own key against it at start.
pub const MASTER_KEY_CHECK_SETTING: &str = "master_key.check_value";

/// Associated data sealed with the database password, so the ciphertext of
/// another secret cannot be swapped in.
const DB_PASSWORD_CONTEXT: &[u8] = b"db.properties:password";

/// The master key and whether this start created it.
#[derive(Debug, Clone)]
pub struct MasterKeyState {
    pub key: MasterKey,
    pub created: bool,
}

/// Load `etc/security/master.key`. When absent, the primary (or a single
/// node) creates one (mode 0600); a secondary refuses: it must use the key of
/// the cluster it joins.
pub fn load_or_create_master_key(
    home: &Home,
    identity: &Identity,
) -> Result<MasterKeyState, ClusterError> {
    if let Some(key) = MasterKey::load(home)? {
        return Ok(MasterKeyState {
            key,
            created: false,
        });
    }
    let path = home.master_key();
    if identity.role == NodeRole::Member {
        return Err(ClusterError::Refused(missing_key_message(&path)));
    }
    let hex = generate_master_key_hex();
    let security = home.security();
    std::fs::create_dir_all(&security).map_err(|source| ClusterError::Io {
        path: security,
        source,
    })?;
    if !arca_config::home::write_new_file(&path, &format!("{hex}\n"), 0o600)? {
        return Err(ClusterError::Io {
            path,
            source: std::io::ErrorKind::AlreadyExists.into(),
        });
    }
    tracing::warn!(
        "created the master key {} (mode 0600); copy it to every other node of the cluster \
         and keep a backup: secrets in the database cannot be read without it",
        path.display()
    );
    let key = MasterKey::parse(&hex, &path)?;
    Ok(MasterKeyState { key, created: true })
}

fn missing_key_message(path: &Path) -> String {
    format!(
        "{} is missing: every node of a cluster uses the same master key — copy \
         etc/security/master.key from an existing node (mode 0600, owned by the service user), \
         then start this node again",
        path.display()
    )
}

fn sqlite_path(props: &DbProperties) -> Result<PathBuf, ClusterError> {
    props
        .sqlite_path()
        .ok_or_else(|| ClusterError::Refused("db.properties: no SQLite database path".into()))
}

/// Connection options for the PostgreSQL database `db.properties` names,
/// with the password decrypted; the flag says whether it was stored encrypted.
pub fn postgres_options(
    home: &Home,
    props: &DbProperties,
    key: &MasterKey,
    application_name: &str,
) -> Result<(PgOptions, bool), ClusterError> {
    let file = home.db_properties();
    let url = props
        .postgres_url()
        .ok_or_else(|| ClusterError::Refused(format!("{}: url: not set", file.display())))?;
    let (password, sealed) = match props.password.as_deref() {
        Some(p) if is_sealed(p) => {
            let plain = SecretBox::new(key.bytes())
                .open(p, DB_PASSWORD_CONTEXT)
                .map_err(|e| {
                    ClusterError::Refused(format!(
                        "{}: password: cannot decrypt it with {} ({e}); the file was encrypted \
                         with another master key — copy the cluster's master.key or write the \
                         password in plain text again",
                        file.display(),
                        home.master_key().display()
                    ))
                })?;
            let plain = String::from_utf8(plain).map_err(|_| {
                ClusterError::Refused(format!(
                    "{}: password: decrypted value is not UTF-8",
                    file.display()
                ))
            })?;
            (Some(plain), true)
        }
        Some(p) => (Some(p.to_string()), false),
        None => (None, false),
    };
    Ok((
        PgOptions {
            url: url.to_string(),
            username: props.username.clone(),
            password,
            pool_max_active: props.pool_max_active,
            pool_max_idle: props.pool_max_idle,
            lock_pool_max: props.lock_pool_max,
            application_name: application_name.to_string(),
            tls: pg_tls(props),
        },
        sealed,
    ))
}

/// The TLS settings of `db.properties` (`ssl.mode`, `ssl.ca.file`), already checked by
/// arca-config, as arca-db takes them.
fn pg_tls(props: &DbProperties) -> arca_db::PgTls {
    arca_db::PgTls {
        mode: props.ssl_mode,
        ca_file: props.ssl_ca_file.clone(),
    }
}

/// Connect to the database without changing anything (no migrations, no
/// rewrite of db.properties): for tools such as `arcactl`.
pub fn connect_database(
    home: &Home,
    props: &DbProperties,
    key: &MasterKey,
    application_name: &str,
) -> Result<Db, ClusterError> {
    match props.db_type {
        DbType::Sqlite => {
            let path = sqlite_path(props)?;
            Ok(Db::connect_sqlite(&path, 2)?)
        }
        DbType::Postgresql => {
            let (mut opts, _) = postgres_options(home, props, key, application_name)?;
            opts.pool_max_active = 2;
            opts.pool_max_idle = 1;
            opts.lock_pool_max = 1;
            Ok(Db::connect_postgres(&opts)?)
        }
    }
}

/// What a sidecar daemon of a node (`arca-storage-mover`, `arca-license-agent`) needs from
/// the server's first start: the master key, and a connection to the database
/// `db.properties` names (no migrations: the server runs them), checked with one query.
/// `daemon` names the caller in the errors and in PostgreSQL's `application_name`.
pub async fn connect_sidecar(
    home: &Home,
    daemon: &str,
    node_id: &str,
) -> Result<(MasterKey, Db), ClusterError> {
    let key = MasterKey::load(home)?.ok_or_else(|| {
        ClusterError::Refused(format!(
            "{} is missing: arca-server creates it at its first start (a cluster node gets a \
             copy of the cluster's); {daemon} needs it for the database and the cluster's sealed \
             secrets",
            home.master_key().display()
        ))
    })?;
    let db = {
        let (home, key) = (home.clone(), key.clone());
        let app_name = format!("{daemon} {node_id}");
        tokio::task::spawn_blocking(move || {
            let props = DbProperties::load(&home)?;
            connect_database(&home, &props, &key, &app_name)
        })
        .await
        .map_err(|e| ClusterError::Refused(format!("database start-up worker: {e}")))??
    };
    db.ping().await?;
    Ok((key, db))
}

/// Open the database `db.properties` names (running migrations), decrypting
/// an encrypted password with the master key; a plaintext PostgreSQL password
/// is then rewritten encrypted. Returns the database and whether the password
/// was encrypted now.
pub fn open_database(
    home: &Home,
    props: &DbProperties,
    key: &MasterKey,
    application_name: &str,
) -> Result<(Db, bool), ClusterError> {
    match props.db_type {
        DbType::Sqlite => {
            let path = sqlite_path(props)?;
            let db = Db::open_sqlite(&path, props.pool_max_active.clamp(2, 16))?;
            Ok((db, false))
        }
        DbType::Postgresql => {
            let (opts, sealed) = postgres_options(home, props, key, application_name)?;
            let db = Db::open_postgres(&opts)?;
            // Only after a successful login: a wrong password stays readable to fix.
            let encrypted_now = match (opts.password.as_deref(), sealed) {
                (Some(plain), false) => encrypt_db_password(home, key, plain)?,
                _ => false,
            };
            Ok((db, encrypted_now))
        }
    }
}

/// Rewrite the plaintext database password `plain` of `db.properties` encrypted with the
/// master key, when this process may replace the file (`arca-server` under its unit may not:
/// `prepare-config` did it before the start, and the password stays as it is with a warning).
fn encrypt_db_password(home: &Home, key: &MasterKey, plain: &str) -> Result<bool, ClusterError> {
    let file = home.db_properties();
    if !arca_config::home::can_replace(&file) {
        tracing::warn!(
            "{}: the database password is in plain text and this process may not rewrite the \
             file; `arca-server prepare-config` (run before every start of the arca-server \
             unit) encrypts it after a successful login",
            file.display()
        );
        return Ok(false);
    }
    let token = SecretBox::new(key.bytes()).seal(plain.as_bytes(), DB_PASSWORD_CONTEXT);
    arca_config::db::rewrite_password(&file, &token)?;
    tracing::info!(
        "encrypted the database password in {} with the master key",
        file.display()
    );
    Ok(true)
}

/// What [`prepare_config`] did, one line per change (empty: nothing to do).
pub type Prepared = Vec<String>;

/// Every write into `etc/` a server start needs, outside its `etc/security` directory, done
/// before the start so that the server itself never writes the configuration (its unit keeps
/// /etc/arca read-only but for `security/`): the default files of a new installation, the
/// master key (a primary or single node), object-store credentials of `binarystore.xml` and
/// the PostgreSQL password of `db.properties` encrypted with it (the password only after a
/// successful login, so that a wrong one stays readable to fix; a database that cannot be
/// reached leaves it as it is). A master key that is not the cluster's (its key-check value in
/// the database, or an encrypted password it cannot open) encrypts nothing and is refused; one
/// created by this run is removed again. Idempotent. Run as the service user.
pub fn prepare_config(home: &Home, application_name: &str) -> Result<Prepared, ClusterError> {
    let mut done: Prepared = home
        .init_layout()?
        .into_iter()
        .map(|f| format!("created {}", f.display()))
        .collect();
    // The same reading and checks as every daemon's start: a file with an error stops here,
    // naming file, line and key, before anything is written.
    let config = NodeConfig::load(home)?;
    let identity = Identity::of(&config);
    let key = load_or_create_master_key(home, &identity)?;
    if key.created {
        done.push(format!(
            "created the master key {}",
            home.master_key().display()
        ));
    }
    let sealed = crate::storage::seal_store_secrets(home, &identity, &key.key)?;
    if sealed > 0 {
        done.push(format!(
            "encrypted {sealed} object-store credential(s) in {}",
            home.binarystore_xml().display()
        ));
    }
    let props = config.db;
    if props.db_type == DbType::Postgresql
        && let Err(e) = postgres_options(home, &props, &key.key, application_name)
    {
        // An encrypted password this key cannot open: the key is not the cluster's.
        if key.created {
            let _ = std::fs::remove_file(home.master_key());
            return Err(ClusterError::Refused(missing_key_message(
                &home.master_key(),
            )));
        }
        return Err(e);
    }
    let db = match connect_database(home, &props, &key.key, application_name) {
        Ok(db) => db,
        Err(e) => {
            // The server's start reports it (and retries); nothing here depends on it but the
            // password's encryption, which waits for a successful login.
            tracing::warn!(
                "cannot reach the database now ({e}); a plaintext password in {} is encrypted \
                 after the first successful login",
                home.db_properties().display()
            );
            return Ok(done);
        }
    };
    // A key that does not match the cluster's must encrypt nothing (and one created just now
    // is removed again). A database without the value yet (new, no schema) is fine.
    let ours = key_check_value(key.key.bytes());
    if let Ok(Some(stored)) =
        db.read_blocking(|c| cluster::get_setting(c, MASTER_KEY_CHECK_SETTING))
        && stored != ours
    {
        return Err(key_mismatch(home, &key, &stored, &ours));
    }
    if props.db_type == DbType::Postgresql
        && let Some(plain) = props.password.as_deref().filter(|p| !is_sealed(p))
        && encrypt_db_password(home, &key.key, plain)?
    {
        done.push(format!(
            "encrypted the database password in {}",
            home.db_properties().display()
        ));
    }
    Ok(done)
}

/// Compare this node's master key with the cluster's (the first node to start
/// records its key-check value). A key created by this very start that does
/// not match is removed again, so the next start asks for the right one.
pub fn check_master_key(
    db: &Db,
    home: &Home,
    key: &MasterKeyState,
    now_ms: i64,
) -> Result<(), ClusterError> {
    let ours = key_check_value(key.key.bytes());
    let stored =
        db.write_blocking(|c| cluster::init_setting(c, MASTER_KEY_CHECK_SETTING, &ours, now_ms))?;
    if stored == ours {
        return Ok(());
    }
    Err(key_mismatch(home, key, &stored, &ours))
}

/// The refusal of a master key whose key-check value `ours` is not the cluster's `stored`; a
/// key created by this start is removed, so that the next start asks for the right one.
fn key_mismatch(home: &Home, key: &MasterKeyState, stored: &str, ours: &str) -> ClusterError {
    if key.created {
        let _ = std::fs::remove_file(home.master_key());
        return ClusterError::Refused(missing_key_message(&home.master_key()));
    }
    ClusterError::Refused(format!(
        "{} does not match the cluster's master key (key-check value in the database {stored}, \
         this node's {ours}); copy etc/security/master.key from an existing node",
        home.master_key().display()
    ))
}

/// What [`check_storage_config`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// This node runs the chain the cluster runs (or the first one, now recorded).
    Same,
    /// The primary (or a single node), alone, configures another chain than the cluster ran
    /// (`previous`, when recorded). The caller checks that the stored binaries are readable
    /// through the new chain before it records it ([`crate::storage::record_chain`]).
    Changed {
        previous: Option<crate::storage::ChainRecord>,
    },
}

/// Every node must run the same storage chain: compare the digest of this node's
/// `binarystore.xml` (its canonical form, `ours`) with the cluster's. The first node records
/// it. The primary (or a single node) may change it while no other node is active — the way
/// to change the chain of a cluster is to stop every node, change the file everywhere, start
/// the primary — and gets [`ChainCheck::Changed`]; any other node is refused with what
/// differs.
pub fn check_storage_config(
    db: &Db,
    identity: &Identity,
    ours: &crate::storage::ChainRecord,
    now_ms: i64,
    stale_ms: i64,
) -> Result<ChainCheck, ClusterError> {
    use crate::storage::{chain_difference, read_chain_record, record_chain};
    let me = identity.node_id.clone();
    let may_change = identity.role != NodeRole::Member;
    let record = ours.clone();
    let (stored, recorded, others) = db.write_blocking(|c| {
        let stored = cluster::get_setting(c, STORAGE_DIGEST_SETTING)?;
        let recorded = read_chain_record(c)?;
        let first = stored.is_none();
        // First start, or the same chain recorded by an older version: record it fully.
        if first || (stored.as_deref() == Some(record.digest.as_str()) && recorded.is_none()) {
            record_chain(c, &record)?;
        }
        let others: Vec<String> = cluster::list_nodes(c)?
            .into_iter()
            .filter(|n| n.node_id != me && n.is_active(now_ms, stale_ms))
            .map(|n| n.node_id)
            .collect();
        Ok::<_, arca_db::DbError>((stored, recorded, others))
    })?;
    let Some(stored) = stored else {
        return Ok(ChainCheck::Same);
    };
    if stored == ours.digest {
        return Ok(ChainCheck::Same);
    }
    if may_change && others.is_empty() {
        return Ok(ChainCheck::Changed { previous: recorded });
    }
    let (by, what) = match &recorded {
        Some(r) => (
            format!(
                " (recorded by {} at {})",
                r.node,
                crate::licenses::utc_date_iso(r.at)
            ),
            chain_difference(&r.canonical, &ours.canonical, 6),
        ),
        None => (
            String::new(),
            format!(
                "digest in the database {}, this node's {}",
                &stored[..12.min(stored.len())],
                &ours.digest[..12.min(ours.digest.len())]
            ),
        ),
    };
    Err(ClusterError::Refused(format!(
        "etc/binarystore.xml configures another storage chain than the one the cluster runs{by} \
         — {what}. Active: {}. Every node runs the same chain. If the cluster should keep its \
         chain, give this node the binarystore.xml of a running node (arca-config-sync does \
         when it runs). To change the cluster's chain: stop arca-server on every node, put the \
         new binarystore.xml on all of them, start the primary first (it records the new chain, \
         or says to run `arcactl storage migrate` when stored binaries must move), then the \
         others",
        if others.is_empty() {
            "none (only the primary may change the chain)".to_string()
        } else {
            others.join(", ")
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secondary_without_key_is_refused_primary_creates_one() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let mut id = Identity::new(&home, None);
        assert_eq!(id.role, NodeRole::Standalone);
        id.role = NodeRole::Member;
        let err = load_or_create_master_key(&home, &id)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("copy etc/security/master.key from an existing node"),
            "{err}"
        );
        id.role = NodeRole::Primary;
        let created = load_or_create_master_key(&home, &id).unwrap();
        assert!(created.created);
        let mode = std::fs::metadata(home.master_key()).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let again = load_or_create_master_key(&home, &id).unwrap();
        assert!(!again.created);
        assert_eq!(again.key, created.key);
    }

    #[test]
    fn master_key_must_match_the_clusters() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let db = Db::open_sqlite(&dir.path().join("db"), 2).unwrap();
        let id = Identity::new(&home, None);
        let first = load_or_create_master_key(&home, &id).unwrap();
        check_master_key(&db, &home, &first, 1).unwrap();
        std::fs::write(home.master_key(), "00112233445566778899aabbccddeeff\n").unwrap();
        let other = load_or_create_master_key(&home, &id).unwrap();
        let err = check_master_key(&db, &home, &other, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not match the cluster's master key"),
            "{err}"
        );
        // a key generated by this start that does not match is taken back
        std::fs::remove_file(home.master_key()).unwrap();
        let fresh = load_or_create_master_key(&home, &id).unwrap();
        let err = check_master_key(&db, &home, &fresh, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is missing"), "{err}");
        assert!(!home.master_key().exists());
    }

    #[test]
    fn storage_chain_must_match_unless_the_primary_is_alone() {
        use arca_db::cluster::{NodeRecord, NodeState, register_node};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("db"), 2).unwrap();
        let node = |id: &str, role| Identity {
            node_id: id.into(),
            role,
            context_url: None,
            membership_port: 0,
            data_dir: PathBuf::new(),
            backup_dir: PathBuf::new(),
            instance: id.into(),
        };
        let primary = node("p", NodeRole::Primary);
        let member = node("m", NodeRole::Member);
        let chain = |text: &str| crate::storage::ChainRecord {
            digest: arca_crypto::sha256_hex(text.as_bytes()),
            canonical: text.to_string(),
            sealed_file: String::new(),
            node: "p".into(),
            at: 1_000,
        };
        let (a, b, c) = (
            chain("chain template=file-system\n"),
            chain("chain template=cluster-file-system\n"),
            chain("chain template=s3-storage-v3\n"),
        );
        assert_eq!(
            check_storage_config(&db, &primary, &a, 1_000, 30_000).unwrap(),
            ChainCheck::Same
        );
        assert_eq!(
            check_storage_config(&db, &member, &a, 1_000, 30_000).unwrap(),
            ChainCheck::Same
        );
        let err = check_storage_config(&db, &member, &b, 1_000, 30_000).unwrap_err();
        assert!(
            err.to_string().contains(
                "only in the cluster's chain: chain template=file-system; only in this node's: \
                 chain template=cluster-file-system"
            ),
            "{err}"
        );
        // the primary alone may change it (recorded by the caller once the binaries are
        // readable); with an active member it may not
        assert_eq!(
            check_storage_config(&db, &primary, &b, 2_000, 30_000).unwrap(),
            ChainCheck::Changed {
                previous: Some(a.clone())
            }
        );
        db.write_blocking(|conn| crate::storage::record_chain(conn, &b))
            .unwrap();
        db.write_blocking(|c| {
            register_node(
                c,
                &NodeRecord {
                    node_id: "m".into(),
                    start_time: 2_000,
                    context_url: String::new(),
                    membership_port: 0,
                    state: NodeState::Running,
                    role: NodeRole::Member,
                    last_heartbeat: 2_000,
                    version: "1".into(),
                    revision: "r".into(),
                    release_date: "d".into(),
                    data_dir: String::new(),
                    backup_dir: String::new(),
                    instance: "m".into(),
                },
                2_000,
                30_000,
            )
        })
        .unwrap();
        let err = check_storage_config(&db, &primary, &c, 3_000, 30_000).unwrap_err();
        assert!(err.to_string().contains("Active: m."), "{err}");
    }
}
