//! The storage chain a daemon runs, with its secrets: shared by `arca-server` and
//! `arca-storage-mover`, so both read `binarystore.xml` the same way.

use arca_config::storage_plan::{
    BackendSpec, ClusterLocalSpec, DataRoots, S3Spec, SecretValue, StoragePlan,
};
use arca_config::{BinaryStoreConfig, Home, MasterKey, NodeConfig};
use arca_crypto::master_key::SecretBox;

use crate::{ClusterError, Identity};

/// Cluster setting holding the digest of the storage configuration (binarystore.xml):
/// every node must run the same chain.
pub const STORAGE_DIGEST_SETTING: &str = "binarystore.digest";

/// Associated data sealed with object-store credentials.
const STORE_SECRET_CONTEXT: &[u8] = b"binarystore.xml:secret";

/// Cluster setting holding the [`ChainRecord`] of the chain the cluster runs (JSON).
pub const CHAIN_RECORD_SETTING: &str = "binarystore.record";

/// Associated data of the recorded `binarystore.xml`.
const CHAIN_FILE_CONTEXT: &[u8] = b"binarystore.record:file";

/// The storage chain the cluster runs, as the node that set it recorded it: what a node with
/// another chain is told differs, and what `arcactl storage migrate` moves binaries from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainRecord {
    /// SHA-256 of `canonical` (also in `binarystore.digest`, which every node compares).
    pub digest: String,
    /// [`BinaryStoreConfig::canonical`]: the chain and its parameters, secrets masked.
    pub canonical: String,
    /// The whole `binarystore.xml`, sealed with the master key.
    pub sealed_file: String,
    pub node: String,
    /// When it was recorded (ms).
    pub at: i64,
}

impl ChainRecord {
    pub fn new(
        config: &BinaryStoreConfig,
        file: &[u8],
        key: &MasterKey,
        node: &str,
        at: i64,
    ) -> ChainRecord {
        let canonical = config.canonical();
        ChainRecord {
            digest: arca_crypto::sha256_hex(canonical.as_bytes()),
            canonical,
            sealed_file: SecretBox::new(key.bytes()).seal(file, CHAIN_FILE_CONTEXT),
            node: node.to_string(),
            at,
        }
    }

    /// The recorded `binarystore.xml`.
    pub fn file(&self, key: &MasterKey) -> Result<Vec<u8>, ClusterError> {
        SecretBox::new(key.bytes())
            .open(&self.sealed_file, CHAIN_FILE_CONTEXT)
            .map_err(|e| {
                ClusterError::Refused(format!(
                    "the binarystore.xml recorded by {} does not open with this node's master \
                     key ({e})",
                    self.node
                ))
            })
    }

    /// The first line of the canonical form that names the chain (`chain template=…`).
    pub fn chain_line(&self) -> &str {
        self.canonical
            .lines()
            .find(|l| l.starts_with("chain"))
            .unwrap_or("chain ?")
    }
}

/// The recorded chain (`None`: none, or written by an older version).
pub fn read_chain_record(
    conn: &arca_db::Conn<'_>,
) -> Result<Option<ChainRecord>, arca_db::DbError> {
    Ok(arca_db::cluster::get_setting(conn, CHAIN_RECORD_SETTING)?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Record `record` as the chain the cluster runs (the digest every node compares, and the
/// record). Run in a write transaction.
pub fn record_chain(
    conn: &arca_db::Conn<'_>,
    record: &ChainRecord,
) -> Result<(), arca_db::DbError> {
    let json = serde_json::to_string(record)
        .map_err(|e| arca_db::DbError::Corrupt(format!("chain record: {e}")))?;
    arca_db::cluster::put_setting(conn, STORAGE_DIGEST_SETTING, &record.digest, record.at)?;
    arca_db::cluster::put_setting(conn, CHAIN_RECORD_SETTING, &json, record.at)
}

/// What differs between the chain the cluster runs (`theirs`) and this node's: the lines of
/// the canonical forms only one of them has (at most `max` each).
pub fn chain_difference(theirs: &str, ours: &str, max: usize) -> String {
    let only = |a: &str, b: &str| -> Vec<String> {
        let other: Vec<&str> = b.lines().collect();
        a.lines()
            .filter(|l| !other.contains(l))
            .take(max)
            .map(|l| l.trim().to_string())
            .collect()
    };
    let (cluster, node) = (only(theirs, ours), only(ours, theirs));
    let list = |v: &[String]| {
        if v.is_empty() {
            "(nothing)".to_string()
        } else {
            v.join("; ")
        }
    };
    format!(
        "only in the cluster's chain: {}; only in this node's: {}",
        list(&cluster),
        list(&node)
    )
}

/// A plan with the object-store credentials in plain text (in memory only).
#[derive(Debug, Clone)]
pub struct ResolvedStorage {
    pub config: BinaryStoreConfig,
    pub plan: StoragePlan,
    pub identity: Option<String>,
    pub credential: Option<String>,
}

/// Where a node's relative storage directories resolve: node-local `<home>/data`, and the
/// shared `arca.ha.data.dir` (same as local on a single node).
pub fn data_roots(home: &Home, identity: &Identity) -> DataRoots {
    DataRoots {
        local: home.data(),
        shared: identity.data_dir.clone(),
    }
}

/// Load `binarystore.xml` and resolve the plan, secrets still sealed (config checks, and a
/// daemon deciding what it has to do).
pub fn load_plan(
    home: &Home,
    identity: &Identity,
) -> Result<(BinaryStoreConfig, StoragePlan), ClusterError> {
    let config = BinaryStoreConfig::load(home)?;
    let plan = config.plan(home, &data_roots(home, identity))?;
    Ok((config, plan))
}

/// The plan of the `binarystore.xml` `node` read at start (loaded again only when its
/// problems were tolerated there), secrets still sealed.
pub fn node_plan(
    node: &NodeConfig,
    identity: &Identity,
) -> Result<(BinaryStoreConfig, StoragePlan), ClusterError> {
    let config = match &node.binarystore {
        Some(config) => config.clone(),
        None => BinaryStoreConfig::load(&node.home)?,
    };
    let plan = config.plan(&node.home, &data_roots(&node.home, identity))?;
    Ok((config, plan))
}

/// Load `binarystore.xml`, resolve the plan and decrypt its secrets. With `seal` set,
/// plaintext `identity`/`credential` values are first encrypted in the file with the master
/// key (the server does this at start, like the database password; other daemons only read).
pub fn load_storage(
    home: &Home,
    identity: &Identity,
    key: &MasterKey,
    seal: bool,
) -> Result<ResolvedStorage, ClusterError> {
    if seal {
        seal_store_secrets(home, identity, key)?;
    }
    resolve_storage(home, identity, key, BinaryStoreConfig::load(home)?)
}

/// Resolve the plan of `config` (a `binarystore.xml` of this home, or another one such as the
/// chain the cluster ran) and decrypt its secrets.
pub fn resolve_storage(
    home: &Home,
    identity: &Identity,
    key: &MasterKey,
    config: BinaryStoreConfig,
) -> Result<ResolvedStorage, ClusterError> {
    let secret_box = SecretBox::new(key.bytes());
    let plan = config.plan(home, &data_roots(home, identity))?;
    let (identity_value, credential) = match s3_spec(&plan) {
        Some(s3) => (
            reveal(home, &secret_box, "identity", s3.identity.as_ref())?,
            reveal(home, &secret_box, "credential", s3.credential.as_ref())?,
        ),
        None => (None, None),
    };
    Ok(ResolvedStorage {
        config,
        plan,
        identity: identity_value,
        credential,
    })
}

/// Encrypt plaintext object-store credentials (`identity`/`credential`) of `binarystore.xml` in
/// place with the master key; returns how many. A process that may not rewrite the file
/// (`arca-server` under its unit: `prepare-config` does it before the start) warns and leaves
/// them: plaintext values still work.
pub fn seal_store_secrets(
    home: &Home,
    identity: &Identity,
    key: &MasterKey,
) -> Result<usize, ClusterError> {
    let (_, plan) = load_plan(home, identity)?;
    if !s3_spec(&plan).is_some_and(has_plain_secret) {
        return Ok(0);
    }
    let file = home.binarystore_xml();
    if !arca_config::home::can_replace(&file) {
        tracing::warn!(
            "{}: object-store credentials are in plain text and this process may not rewrite \
             the file; `arca-server prepare-config` (run before every start of the arca-server \
             unit) encrypts them",
            file.display()
        );
        return Ok(0);
    }
    let secret_box = SecretBox::new(key.bytes());
    let sealed = arca_config::binarystore::seal_secrets(&file, &|plain: &str| {
        secret_box.seal(plain.as_bytes(), STORE_SECRET_CONTEXT)
    })?;
    if sealed > 0 {
        tracing::info!(
            "encrypted {sealed} object-store credential(s) in {} with the master key",
            file.display()
        );
    }
    Ok(sealed)
}

/// The object store of a plan, if it has one.
pub fn s3_spec(plan: &StoragePlan) -> Option<&S3Spec> {
    match &plan.backend {
        BackendSpec::ObjectStore(o) => Some(&o.s3),
        BackendSpec::Cluster(c) => match &c.local {
            ClusterLocalSpec::ObjectStore(o) => Some(&o.s3),
            ClusterLocalSpec::StateAware(_) => None,
        },
        BackendSpec::FileSystem(_) => None,
    }
}

fn has_plain_secret(s3: &S3Spec) -> bool {
    [&s3.identity, &s3.credential]
        .iter()
        .any(|v| matches!(v, Some(SecretValue::Plain(_))))
}

fn reveal(
    home: &Home,
    secret_box: &SecretBox,
    key: &str,
    value: Option<&SecretValue>,
) -> Result<Option<String>, ClusterError> {
    match value {
        None => Ok(None),
        Some(SecretValue::Plain(p)) => Ok(Some(p.clone())),
        Some(SecretValue::Sealed(token)) => {
            let bytes = secret_box.open(token, STORE_SECRET_CONTEXT).map_err(|e| {
                ClusterError::Refused(format!(
                    "{}: {key}: cannot decrypt it with {} ({e}); it was encrypted with \
                         another master key — copy the cluster's master.key or write the value \
                         in plain text again",
                    home.binarystore_xml().display(),
                    home.master_key().display()
                ))
            })?;
            String::from_utf8(bytes).map(Some).map_err(|_| {
                ClusterError::Refused(format!(
                    "{}: {key}: the decrypted value is not UTF-8",
                    home.binarystore_xml().display()
                ))
            })
        }
    }
}
