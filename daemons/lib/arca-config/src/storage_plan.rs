//! The storage chain a node runs, resolved from `binarystore.xml`: every provider of the chain
//! with typed, validated parameters (defaults filled in, directories made absolute).
//!
//! `BinaryStoreConfig::plan` turns the parsed file (a template or an explicit chain, plus
//! parameter blocks matched by provider id) into a [`StoragePlan`]. Chains are normalised to
//! the shapes arca runs:
//!
//! ```text
//! [cache-fs] -> file-system                                   file-system, cache-fs (NFS: baseDataDir on the mount)
//! [cache-fs] -> [eventual] -> [retry] -> s3-storage-v3        s3-storage-v3, s3-storage-v3-direct, google-storage-v2(-direct)
//! [cache-fs] -> sharding-cluster{state-aware; remote}         cluster-file-system
//! [cache-fs] -> sharding-cluster{eventual-cluster -> [retry] -> s3-storage-v3; remote}
//!                                                             cluster-s3-storage-v3, cluster-google-storage-v2
//! ```
//!
//! Any other arrangement is refused with an error naming the provider that does not fit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::binarystore::{
    BinaryStoreConfig, ChainSpec, ParamView, ProviderNode, endpoint_is_http, parse_key_prefix,
};
use crate::db::ENCRYPTED_PREFIX;
use crate::error::ConfigError;
use crate::home::Home;

/// The resolved chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePlan {
    /// e.g. `cache-fs -> eventual -> retry -> s3-storage-v3` (for the banner and messages).
    pub description: String,
    /// Optional node-local LRU cache in front of everything.
    pub cache: Option<CacheFsSpec>,
    pub backend: BackendSpec,
    /// Node-local directory where uploads are received and hashed (`_pre`), on the same
    /// filesystem as the place a committed upload is renamed to (the filestore, the eventual
    /// queue or the state-aware store). A cluster node uses its own sub-directory of it.
    pub staging_dir: PathBuf,
}

/// `cache-fs`: node-local LRU cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFsSpec {
    pub id: String,
    /// `cacheProviderDir` resolved (default `<local data>/cache`).
    pub dir: PathBuf,
    /// `maxCacheSize` in bytes (default 5 000 000 000).
    pub max_cache_size: u64,
    /// `maxFileSizeLimit`: larger binaries are not cached (`None` = no limit).
    pub max_file_size_limit: Option<u64>,
    /// `skipDuringUpload` (default false): uploads are not copied into the cache.
    pub skip_during_upload: bool,
    /// `validateChecksum` (default true): cached copies are verified on read.
    pub validate_checksum: bool,
}

/// Where binaries persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSpec {
    /// `file-system` (on a shared mount in HA: NFS).
    FileSystem(FileSystemSpec),
    /// `[eventual] -> [retry] -> s3-storage-v3 | google-storage-v2`.
    ObjectStore(ObjectStoreSpec),
    /// `sharding-cluster` over the nodes of the cluster.
    Cluster(ClusterSpec),
}

/// `file-system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSystemSpec {
    pub id: String,
    /// `baseDataDir` resolved (default: the shared `arca.ha.data.dir` in HA, `<home>/data` else).
    pub base_data_dir: PathBuf,
    /// `fileStoreDir` resolved against `baseDataDir` (default `filestore`).
    pub file_store_dir: PathBuf,
}

/// An object store reached through the S3 API, with the optional eventual queue in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStoreSpec {
    /// `eventual` / `eventual-cluster`; `None` for the `-direct` templates (uploads go to the
    /// object store before the deploy is acknowledged).
    pub eventual: Option<EventualSpec>,
    /// `retry` (default interval 5 s, 5 tries); a chain without one gets a single try.
    pub retry: RetrySpec,
    pub s3: S3Spec,
}

/// `eventual` (shared mount in HA) or `eventual-cluster` (node-local).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventualSpec {
    pub id: String,
    /// true for `eventual-cluster`.
    pub cluster: bool,
    /// `<baseDataDir>/eventual`: holds `_pre`, `_add`, `_delete` (not configurable, like the
    /// reference). `eventual` uses the shared data dir, `eventual-cluster` the local one.
    pub dir: PathBuf,
    /// `numberOfThreads` (eventual, default 5) / `maxWorkers` (eventual-cluster, default 5).
    pub workers: usize,
    /// `dispatcherInterval` (eventual 5000 ms, eventual-cluster 1000 ms).
    pub dispatcher_interval: Duration,
    /// `timeout` (default 120000 ms): how long an entry may stay claimed by a mover before
    /// another mover may take it over.
    pub timeout: Duration,
    /// `addStalePeriod` (eventual-cluster, default 300000 ms).
    pub add_stale_period: Duration,
}

/// `retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySpec {
    /// `interval` (default 5000 ms): first back-off; doubled per try.
    pub interval: Duration,
    /// `maxTrys` (default 5).
    pub max_tries: u32,
}

/// A secret parameter (`identity`, `credential`): plaintext as written by the operator, or
/// sealed with the master key (`enc:v1:…`) after the first start.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretValue {
    Plain(String),
    Sealed(String),
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretValue::Plain(_) => f.write_str("Plain(..)"),
            SecretValue::Sealed(_) => f.write_str("Sealed(..)"),
        }
    }
}

/// `s3-storage-v3` or `google-storage-v2` (through GCS's S3-compatible XML API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    pub id: String,
    /// `s3-storage-v3` or `google-storage-v2`.
    pub provider_type: String,
    /// `bucketName` (required).
    pub bucket_name: String,
    /// `region` (default `us-east-1`; GCS: `auto`).
    pub region: String,
    /// `endpoint` as written (host or URL); `None` = AWS (`s3.<region>.amazonaws.com`) or
    /// `storage.googleapis.com` for GCS.
    pub endpoint: Option<String>,
    /// `port` (default: 443, or 80 with `useHttp`).
    pub port: Option<u16>,
    /// `useHttp` (default false). For GCS, `httpsOnly=false` means the same.
    pub use_http: bool,
    /// `enablePathStyleAccess` (default false).
    pub path_style: bool,
    /// `path` (default `filestore`): key prefix inside the bucket, without slashes at the ends.
    pub path: String,
    /// `rootFoldersNameLength` (default 2, 0..=5): `<path>/<sha256[..n]>/<sha256>`.
    pub root_folders_name_length: usize,
    pub identity: Option<SecretValue>,
    pub credential: Option<SecretValue>,
    /// `useInstanceCredentials` (default false): credentials from the environment.
    pub use_instance_credentials: bool,
    /// `testConnection` (default true): write, read and delete a probe object at start.
    pub test_connection: bool,
    /// `multiPartLimit` (default 100 000 000 bytes): larger binaries go up in parts.
    pub multi_part_limit: u64,
    /// `multipartElementSize` (default 16 777 216 bytes; at least 5 MiB, S3's minimum).
    pub multipart_element_size: u64,
    /// `maxConnections` (default 50).
    pub max_connections: usize,
    /// `connectionTimeout` (default 10000 ms).
    pub connection_timeout: Duration,
    /// `socketTimeout` (default 50000 ms).
    pub socket_timeout: Duration,
}

/// `sharding-cluster`: copies of each binary on several nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub id: String,
    /// `redundancy` (default 2): copies per binary.
    pub redundancy: u32,
    /// `lenientLimit` (default 1; must be >= 1 and <= redundancy): copies a deploy needs to
    /// succeed.
    pub lenient_limit: u32,
    /// The node's own store (the `<sub-provider>`).
    pub local: ClusterLocalSpec,
    /// The `<dynamic-provider type="remote">` used for every peer.
    pub remote: RemoteSpec,
}

/// A cluster node's own store.
// Built once at start and never copied in a hot path: boxing the larger variant would only make
// matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterLocalSpec {
    /// `state-aware`: a node-local filestore.
    StateAware(StateAwareSpec),
    /// `eventual-cluster -> [retry] -> s3-storage-v3`: node-local queue to a shared bucket.
    ObjectStore(ObjectStoreSpec),
}

/// `state-aware`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAwareSpec {
    pub id: String,
    /// `fileStoreDir` resolved against the node-local data dir (default `filestore`).
    pub file_store_dir: PathBuf,
    /// `checkPeriod` (default 15000 ms).
    pub check_period: Duration,
    /// `writeEnabled` (default true).
    pub write_enabled: bool,
    /// `zone` (default `local`).
    pub zone: String,
}

/// `remote`: a peer's filestore over HTTP, with node-to-node authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    pub id: String,
    /// `connectionTimeout` (default 5000 ms).
    pub connection_timeout: Duration,
    /// `socketTimeout` (default 15000 ms).
    pub socket_timeout: Duration,
    /// `maxConnections` (default 200).
    pub max_connections: usize,
    /// `connectionRetry` (default 2).
    pub connection_retry: u32,
    /// `checkPeriod` (default 15000 ms): how long a failed peer is skipped.
    pub check_period: Duration,
}

/// Where the plan's relative directories are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoots {
    /// Node-local data dir (`<home>/data`): cache, state-aware, eventual-cluster.
    pub local: PathBuf,
    /// Shared data dir (`arca.ha.data.dir` in HA, else `<home>/data`): file-system, eventual.
    pub shared: PathBuf,
}

/// The chains [`BinaryStoreConfig::plan`] accepts, named in its messages.
pub const RUNNABLE_TEMPLATES: [&str; 9] = [
    "file-system",
    "cache-fs",
    "s3-storage-v3",
    "s3-storage-v3-direct",
    "google-storage-v2",
    "google-storage-v2-direct",
    "cluster-file-system",
    "cluster-s3-storage-v3",
    "cluster-google-storage-v2",
];

impl DataRoots {
    /// `local` is `<home>/data`; `shared` is `ha_data_dir` (an HA node's `arca.ha.data.dir`)
    /// when given, else `<home>/data` too.
    pub fn new(home: &Home, ha_data_dir: Option<&Path>) -> DataRoots {
        DataRoots {
            local: home.data(),
            shared: ha_data_dir.map_or_else(|| home.data(), Path::to_path_buf),
        }
    }
}

impl SecretValue {
    /// A value as written in `binarystore.xml`: sealed when it carries the `enc:v1:` prefix.
    pub fn from_config(value: &str) -> SecretValue {
        if value.starts_with(ENCRYPTED_PREFIX) {
            SecretValue::Sealed(value.to_string())
        } else {
            SecretValue::Plain(value.to_string())
        }
    }

    pub fn is_sealed(&self) -> bool {
        matches!(self, SecretValue::Sealed(_))
    }

    /// The text as written in the file (the plaintext, or the sealed token to open).
    pub fn as_written(&self) -> &str {
        match self {
            SecretValue::Plain(s) | SecretValue::Sealed(s) => s,
        }
    }
}

/// The structure of a runnable chain, before parameters are read.
struct Shape<'t> {
    cache: Option<&'t ProviderNode>,
    backend: BackendShape<'t>,
}

enum BackendShape<'t> {
    FileSystem(&'t ProviderNode),
    ObjectStore(ObjectShape<'t>),
    Cluster {
        node: &'t ProviderNode,
        local: LocalShape<'t>,
        remote: &'t ProviderNode,
    },
}

struct ObjectShape<'t> {
    eventual: Option<&'t ProviderNode>,
    retry: Option<&'t ProviderNode>,
    store: &'t ProviderNode,
}

enum LocalShape<'t> {
    StateAware(&'t ProviderNode),
    ObjectStore(ObjectShape<'t>),
}

fn under(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
}

const OBJECT_STORES: [&str; 2] = ["s3-storage-v3", "google-storage-v2"];

impl BinaryStoreConfig {
    /// The storage this config runs, with every parameter typed and defaulted and every
    /// directory absolute: relative `baseDataDir` against the home, other directories against
    /// `roots` (file-system and eventual on `roots.shared`; cache-fs, state-aware and
    /// eventual-cluster on `roots.local`).
    ///
    /// Errors (the first one): a chain that is not one of the shapes in this module's docs
    /// (naming the provider that does not fit and what would), then any invalid parameter value
    /// (the same problems `check_home` lists).
    pub fn plan(&self, home: &Home, roots: &DataRoots) -> Result<StoragePlan, ConfigError> {
        let tree = self.resolved_chain().ok_or_else(|| {
            let mut e = ConfigError::new(&self.file, "unknown template").with_key("template");
            e.line = self.chain_line;
            e
        })?;
        let shape = self.shape(&tree)?;
        // Values after the shape: `check_home` reports value errors from the analysis already,
        // so a shape error is the one thing plan() adds to them.
        if let Some(e) = self.value_diags().first_error() {
            return Err(e);
        }
        let view = |n: &ProviderNode| self.param_view(n, &tree);

        let cache = match shape.cache {
            Some(n) => Some(cache_spec(&view(n), roots)?),
            None => None,
        };
        let object = |o: &ObjectShape<'_>, cluster: bool| -> Result<ObjectStoreSpec, ConfigError> {
            Ok(ObjectStoreSpec {
                eventual: match o.eventual {
                    Some(n) => Some(eventual_spec(&view(n), roots, cluster)?),
                    None => None,
                },
                retry: retry_spec(o.retry.map(view).as_ref())?,
                s3: s3_spec(&view(o.store))?,
            })
        };
        // Staging must be on the filesystem the committed upload is renamed into; a direct
        // object store has no such place, so the cache (read back into on upload) or local data.
        let object_staging = |os: &ObjectStoreSpec| match &os.eventual {
            Some(e) => e.dir.join("_pre"),
            None => cache
                .as_ref()
                .map_or_else(|| roots.local.clone(), |c| c.dir.clone())
                .join("_pre"),
        };
        let (backend, staging_dir) = match &shape.backend {
            BackendShape::FileSystem(n) => {
                let (fs, staging) = file_system_spec(&view(n), home, roots)?;
                (BackendSpec::FileSystem(fs), staging)
            }
            BackendShape::ObjectStore(o) => {
                let os = object(o, false)?;
                let staging = object_staging(&os);
                (BackendSpec::ObjectStore(os), staging)
            }
            BackendShape::Cluster {
                node,
                local,
                remote,
            } => {
                let v = view(node);
                let (local, staging) = match local {
                    LocalShape::StateAware(n) => {
                        let sa = state_aware_spec(&view(n), roots)?;
                        let staging = sa.file_store_dir.join("_pre");
                        (ClusterLocalSpec::StateAware(sa), staging)
                    }
                    LocalShape::ObjectStore(o) => {
                        let os = object(o, true)?;
                        let staging = object_staging(&os);
                        (ClusterLocalSpec::ObjectStore(os), staging)
                    }
                };
                let cluster = ClusterSpec {
                    id: v.id.clone(),
                    redundancy: v.u32_or("redundancy", 2)?,
                    lenient_limit: v.u32_or("lenientLimit", 1)?,
                    local,
                    remote: remote_spec(&view(remote))?,
                };
                (BackendSpec::Cluster(cluster), staging)
            }
        };
        Ok(StoragePlan {
            description: tree.describe(),
            cache,
            backend,
            staging_dir,
        })
    }

    /// An error about where `node` sits in the chain.
    fn shape_error(&self, node: &ProviderNode, message: impl std::fmt::Display) -> ConfigError {
        let (line, key, what) = match &self.chain {
            // Template nodes have no line of their own: point at the <chain> element.
            ChainSpec::Template(t) => (self.chain_line, "template", format!("template '{t}'")),
            ChainSpec::Explicit(_) => (
                Some(node.line),
                "provider",
                format!("provider '{}' (type '{}')", node.id, node.provider_type),
            ),
        };
        let mut e = ConfigError::new(&self.file, format!("{what}: {message}")).with_key(key);
        e.line = line;
        e
    }

    /// `node` cannot be where it is; say where it can be.
    fn misplaced(&self, node: &ProviderNode) -> ConfigError {
        let fits = match node.provider_type.as_str() {
            "blob" => {
                "binaries in the database are not supported; use file-system or s3-storage-v3"
                    .to_string()
            }
            "cache-fs" => "a cache-fs is only allowed as the outermost provider (one node-local \
                           cache in front of the store)"
                .to_string(),
            "sharding" => "sharding over local mounts is not supported; use file-system (one \
                           mount, e.g. NFS) or cluster-file-system (copies on several nodes)"
                .to_string(),
            "state-aware" => "state-aware only runs as the <sub-provider> of a sharding-cluster \
                              (cluster-file-system); for a single store use file-system"
                .to_string(),
            "remote" => "remote only runs as the <dynamic-provider> of a sharding-cluster \
                         (cluster-file-system, cluster-s3-storage-v3)"
                .to_string(),
            "eventual-cluster" => "eventual-cluster only runs as the <sub-provider> of a \
                                   sharding-cluster (cluster-s3-storage-v3); outside a cluster \
                                   use eventual"
                .to_string(),
            "sharding-cluster" => {
                "a sharding-cluster is only allowed as the outermost provider or under cache-fs"
                    .to_string()
            }
            _ => format!(
                "does not fit a chain arca runs; use one of the templates {}",
                RUNNABLE_TEMPLATES.join(", ")
            ),
        };
        self.shape_error(node, fits)
    }

    fn only_child<'t>(&self, node: &'t ProviderNode) -> Result<&'t ProviderNode, ConfigError> {
        match node.children.as_slice() {
            [child] => Ok(child),
            _ => Err(self.shape_error(node, "wraps exactly one nested <provider>")),
        }
    }

    fn shape<'t>(&self, top: &'t ProviderNode) -> Result<Shape<'t>, ConfigError> {
        let (cache, rest) = if top.provider_type == "cache-fs" {
            (Some(top), self.only_child(top)?)
        } else {
            (None, top)
        };
        let backend = match rest.provider_type.as_str() {
            "file-system" => BackendShape::FileSystem(rest),
            "eventual" | "retry" | "s3-storage-v3" | "google-storage-v2" => {
                BackendShape::ObjectStore(self.object_shape(rest, false)?)
            }
            "sharding-cluster" => self.cluster_shape(rest)?,
            _ => return Err(self.misplaced(rest)),
        };
        Ok(Shape { cache, backend })
    }

    /// `[eventual | eventual-cluster] -> [retry] -> s3-storage-v3 | google-storage-v2`.
    fn object_shape<'t>(
        &self,
        node: &'t ProviderNode,
        cluster: bool,
    ) -> Result<ObjectShape<'t>, ConfigError> {
        let queue = if cluster {
            "eventual-cluster"
        } else {
            "eventual"
        };
        if cluster && node.provider_type == "eventual" {
            return Err(self.shape_error(
                node,
                "inside a sharding-cluster the upload queue is node-local: use eventual-cluster \
                 (as cluster-s3-storage-v3 does)",
            ));
        }
        let mut cur = node;
        let eventual = if cur.provider_type == queue {
            let e = cur;
            cur = self.only_child(cur)?;
            Some(e)
        } else {
            None
        };
        let retry = if cur.provider_type == "retry" {
            let r = cur;
            cur = self.only_child(cur)?;
            Some(r)
        } else {
            None
        };
        if OBJECT_STORES.contains(&cur.provider_type.as_str()) {
            return Ok(ObjectShape {
                eventual,
                retry,
                store: cur,
            });
        }
        Err(match (retry, eventual) {
            (Some(r), _) => {
                let mut msg = format!(
                    "retry must wrap s3-storage-v3 or google-storage-v2, not '{}'",
                    cur.provider_type
                );
                if cur.provider_type == "file-system" {
                    msg.push_str(
                        "; a file-system needs no retry: use <chain template=\"file-system\"/>",
                    );
                }
                self.shape_error(r, msg)
            }
            (None, Some(e)) => self.shape_error(
                e,
                format!(
                    "{queue} queues uploads for an object store and must wrap s3-storage-v3 or \
                     google-storage-v2 (optionally through retry), not '{}'",
                    cur.provider_type
                ),
            ),
            (None, None) => self.misplaced(cur),
        })
    }

    /// `sharding-cluster{state-aware | eventual-cluster -> [retry] -> store; remote}`.
    fn cluster_shape<'t>(&self, node: &'t ProviderNode) -> Result<BackendShape<'t>, ConfigError> {
        let sub = match node.sub_providers.as_slice() {
            [sub] => sub,
            subs => {
                return Err(self.shape_error(
                    node,
                    format!(
                        "arca's sharding-cluster takes exactly one <sub-provider> (this node's \
                         store: state-aware, or eventual-cluster -> s3-storage-v3); found {}",
                        subs.len()
                    ),
                ));
            }
        };
        let remote = match node.dynamic_providers.as_slice() {
            [remote] => remote,
            dynamic => {
                return Err(self.shape_error(
                    node,
                    format!(
                        "needs exactly one <dynamic-provider type=\"remote\"> (the link to the \
                         other nodes); found {}",
                        dynamic.len()
                    ),
                ));
            }
        };
        let local = match sub.provider_type.as_str() {
            "state-aware" => LocalShape::StateAware(sub),
            "eventual-cluster" | "eventual" => {
                LocalShape::ObjectStore(self.object_shape(sub, true)?)
            }
            "retry" | "s3-storage-v3" | "google-storage-v2" => {
                return Err(self.shape_error(
                    sub,
                    "in a sharding-cluster an object store is reached through eventual-cluster \
                     (cluster-s3-storage-v3); for uploads straight to the bucket use \
                     s3-storage-v3-direct without sharding-cluster",
                ));
            }
            _ => {
                return Err(self.shape_error(
                    sub,
                    "the <sub-provider> of a sharding-cluster is this node's store: state-aware \
                     (cluster-file-system) or eventual-cluster -> s3-storage-v3 \
                     (cluster-s3-storage-v3)",
                ));
            }
        };
        Ok(BackendShape::Cluster {
            node,
            local,
            remote,
        })
    }
}

fn cache_spec(v: &ParamView<'_>, roots: &DataRoots) -> Result<CacheFsSpec, ConfigError> {
    Ok(CacheFsSpec {
        id: v.id.clone(),
        dir: under(
            &roots.local,
            v.dir("cacheProviderDir")?
                .unwrap_or_else(|| PathBuf::from("cache")),
        ),
        max_cache_size: v.number_or("maxCacheSize", 5_000_000_000)?,
        max_file_size_limit: v.number("maxFileSizeLimit")?,
        skip_during_upload: v.bool_or("skipDuringUpload", false)?,
        validate_checksum: v.bool_or("validateChecksum", true)?,
    })
}

/// The spec and the staging dir (`tempDir`, relative to the filestore, default `_pre`).
fn file_system_spec(
    v: &ParamView<'_>,
    home: &Home,
    roots: &DataRoots,
) -> Result<(FileSystemSpec, PathBuf), ConfigError> {
    let base_data_dir = match v.dir("baseDataDir")? {
        Some(p) => under(home.root(), p),
        None => roots.shared.clone(),
    };
    let file_store_dir = under(
        &base_data_dir,
        v.dir("fileStoreDir")?
            .unwrap_or_else(|| PathBuf::from("filestore")),
    );
    let staging = under(
        &file_store_dir,
        v.dir("tempDir")?.unwrap_or_else(|| PathBuf::from("_pre")),
    );
    Ok((
        FileSystemSpec {
            id: v.id.clone(),
            base_data_dir,
            file_store_dir,
        },
        staging,
    ))
}

fn eventual_spec(
    v: &ParamView<'_>,
    roots: &DataRoots,
    cluster: bool,
) -> Result<EventualSpec, ConfigError> {
    // `eventual` is shared by the nodes (any node may move an entry); `eventual-cluster` is
    // each node's own queue.
    let base = if cluster { &roots.local } else { &roots.shared };
    Ok(EventualSpec {
        id: v.id.clone(),
        cluster,
        dir: base.join("eventual"),
        workers: v.usize_or(
            if cluster {
                "maxWorkers"
            } else {
                "numberOfThreads"
            },
            5,
        )?,
        dispatcher_interval: v
            .millis_or("dispatcherInterval", if cluster { 1000 } else { 5000 })?,
        timeout: v.millis_or("timeout", 120_000)?,
        add_stale_period: v.millis_or("addStalePeriod", 300_000)?,
    })
}

fn retry_spec(v: Option<&ParamView<'_>>) -> Result<RetrySpec, ConfigError> {
    Ok(match v {
        Some(v) => RetrySpec {
            interval: v.millis_or("interval", 5000)?,
            max_tries: v.u32_or("maxTrys", 5)?,
        },
        // Without a retry provider an operation is tried once.
        None => RetrySpec {
            interval: Duration::from_millis(5000),
            max_tries: 1,
        },
    })
}

fn s3_spec(v: &ParamView<'_>) -> Result<S3Spec, ConfigError> {
    let gcs = v.provider_type == "google-storage-v2";
    let bucket_name = v
        .text("bucketName")?
        .ok_or_else(|| v.err("bucketName", "bucketName is required"))?;
    let endpoint = match v.text("endpoint")? {
        Some(e) => Some(e),
        None if gcs => Some("storage.googleapis.com".to_string()),
        None => None,
    };
    let url_http = endpoint.as_deref().and_then(endpoint_is_http);
    let (use_http, port) = if gcs {
        let use_http = v
            .bool_opt("httpsOnly")?
            .map(|https_only| !https_only)
            .or(url_http)
            .unwrap_or(false);
        // The reference's GCS provider has a port per scheme.
        let port = if use_http {
            v.port("port")?
        } else {
            match v.port("httpsPort")? {
                Some(p) => Some(p),
                None => v.port("port")?,
            }
        };
        (use_http, port)
    } else {
        let use_http = v.bool_opt("useHttp")?.or(url_http).unwrap_or(false);
        (use_http, v.port("port")?)
    };
    let path = match v.checked("path")? {
        Some(p) => parse_key_prefix(p).ok_or_else(|| v.err("path", "invalid key prefix"))?,
        None => "filestore".to_string(),
    };
    let secret = |key: &str| -> Result<Option<SecretValue>, ConfigError> {
        Ok(v.text(key)?.as_deref().map(SecretValue::from_config))
    };
    Ok(S3Spec {
        id: v.id.clone(),
        provider_type: v.provider_type.clone(),
        bucket_name,
        region: if gcs {
            "auto".to_string()
        } else {
            v.text("region")?.unwrap_or_else(|| "us-east-1".to_string())
        },
        endpoint,
        port,
        use_http,
        // GCS's XML API takes path-style requests (storage.googleapis.com/<bucket>/<key>).
        path_style: gcs || v.bool_or("enablePathStyleAccess", false)?,
        path,
        root_folders_name_length: v.usize_or("rootFoldersNameLength", 2)?,
        identity: secret("identity")?,
        credential: secret("credential")?,
        use_instance_credentials: v.bool_or("useInstanceCredentials", false)?,
        test_connection: v.bool_or("testConnection", true)?,
        multi_part_limit: v.number_or("multiPartLimit", 100_000_000)?,
        multipart_element_size: v.number_or("multipartElementSize", 16_777_216)?,
        max_connections: v.usize_or("maxConnections", 50)?,
        connection_timeout: v.millis_or("connectionTimeout", 10_000)?,
        socket_timeout: v.millis_or("socketTimeout", 50_000)?,
    })
}

fn state_aware_spec(v: &ParamView<'_>, roots: &DataRoots) -> Result<StateAwareSpec, ConfigError> {
    Ok(StateAwareSpec {
        id: v.id.clone(),
        file_store_dir: under(
            &roots.local,
            v.dir("fileStoreDir")?
                .unwrap_or_else(|| PathBuf::from("filestore")),
        ),
        check_period: v.millis_or("checkPeriod", 15_000)?,
        write_enabled: v.bool_or("writeEnabled", true)?,
        zone: v.text("zone")?.unwrap_or_else(|| "local".to_string()),
    })
}

fn remote_spec(v: &ParamView<'_>) -> Result<RemoteSpec, ConfigError> {
    Ok(RemoteSpec {
        id: v.id.clone(),
        connection_timeout: v.millis_or("connectionTimeout", 5000)?,
        socket_timeout: v.millis_or("socketTimeout", 15_000)?,
        max_connections: v.usize_or("maxConnections", 200)?,
        connection_retry: v.u32_or("connectionRetry", 2)?,
        check_period: v.millis_or("checkPeriod", 15_000)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binarystore::{KNOWN_TEMPLATES, template_chain};

    const F: &str = "/h/etc/binarystore.xml";

    fn home() -> Home {
        Home::new("/h")
    }

    fn roots() -> DataRoots {
        DataRoots {
            local: "/h/data".into(),
            shared: "/mnt/shared".into(),
        }
    }

    fn config(xml: &str) -> BinaryStoreConfig {
        BinaryStoreConfig::parse(xml, Path::new(F)).unwrap()
    }

    fn plan(xml: &str) -> Result<StoragePlan, ConfigError> {
        config(xml).plan(&home(), &roots())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn default_cache() -> CacheFsSpec {
        CacheFsSpec {
            id: "cache-fs".into(),
            dir: "/h/data/cache".into(),
            max_cache_size: 5_000_000_000,
            max_file_size_limit: None,
            skip_during_upload: false,
            validate_checksum: true,
        }
    }

    fn default_s3(provider_type: &str, id: &str) -> S3Spec {
        let gcs = provider_type == "google-storage-v2";
        S3Spec {
            id: id.into(),
            provider_type: provider_type.into(),
            bucket_name: "arca".into(),
            region: if gcs { "auto" } else { "us-east-1" }.into(),
            endpoint: gcs.then(|| "storage.googleapis.com".to_string()),
            port: None,
            use_http: false,
            path_style: gcs,
            path: "filestore".into(),
            root_folders_name_length: 2,
            identity: None,
            credential: None,
            use_instance_credentials: false,
            test_connection: true,
            multi_part_limit: 100_000_000,
            multipart_element_size: 16_777_216,
            max_connections: 50,
            connection_timeout: ms(10_000),
            socket_timeout: ms(50_000),
        }
    }

    fn default_remote() -> RemoteSpec {
        RemoteSpec {
            id: "remote".into(),
            connection_timeout: ms(5000),
            socket_timeout: ms(15_000),
            max_connections: 200,
            connection_retry: 2,
            check_period: ms(15_000),
        }
    }

    fn eventual(cluster: bool) -> EventualSpec {
        EventualSpec {
            id: if cluster {
                "eventual-cluster"
            } else {
                "eventual"
            }
            .into(),
            cluster,
            dir: if cluster {
                "/h/data/eventual"
            } else {
                "/mnt/shared/eventual"
            }
            .into(),
            workers: 5,
            dispatcher_interval: ms(if cluster { 1000 } else { 5000 }),
            timeout: ms(120_000),
            add_stale_period: ms(300_000),
        }
    }

    const RETRY: RetrySpec = RetrySpec {
        interval: Duration::from_millis(5000),
        max_tries: 5,
    };
    const ONE_TRY: RetrySpec = RetrySpec {
        interval: Duration::from_millis(5000),
        max_tries: 1,
    };

    /// The bucket block an object-store template needs (ids as in the template).
    fn bucket_block(template: &str) -> &'static str {
        if template.contains("s3") {
            r#"<provider id="s3-storage-v3" type="s3-storage-v3"><bucketName>arca</bucketName></provider>"#
        } else if template.contains("google") {
            r#"<provider id="google-storage-v2" type="google-storage-v2"><bucketName>arca</bucketName></provider>"#
        } else {
            ""
        }
    }

    fn template_xml(t: &str) -> String {
        format!(
            "<config version=\"2\">\n<chain template=\"{t}\"/>\n{}\n</config>",
            bucket_block(t)
        )
    }

    /// The plan each runnable template gives with nothing but a bucket name.
    fn expected(template: &str) -> StoragePlan {
        let fs = || {
            BackendSpec::FileSystem(FileSystemSpec {
                id: "file-system".into(),
                base_data_dir: "/mnt/shared".into(),
                file_store_dir: "/mnt/shared/filestore".into(),
            })
        };
        let store = if template.contains("google") {
            "google-storage-v2"
        } else {
            "s3-storage-v3"
        };
        let (description, cache, backend, staging): (&str, _, _, &str) = match template {
            "file-system" => ("file-system", None, fs(), "/mnt/shared/filestore/_pre"),
            "cache-fs" => (
                "cache-fs -> file-system",
                Some(default_cache()),
                fs(),
                "/mnt/shared/filestore/_pre",
            ),
            "s3-storage-v3" | "google-storage-v2" => (
                "",
                Some(default_cache()),
                BackendSpec::ObjectStore(ObjectStoreSpec {
                    eventual: Some(eventual(false)),
                    retry: RETRY,
                    s3: default_s3(store, store),
                }),
                "/mnt/shared/eventual/_pre",
            ),
            "s3-storage-v3-direct" | "google-storage-v2-direct" => (
                "",
                Some(default_cache()),
                BackendSpec::ObjectStore(ObjectStoreSpec {
                    eventual: None,
                    retry: ONE_TRY,
                    s3: default_s3(store, store),
                }),
                "/h/data/cache/_pre",
            ),
            "cluster-file-system" => (
                "cache-fs -> sharding-cluster{state-aware; remote}",
                Some(default_cache()),
                BackendSpec::Cluster(ClusterSpec {
                    id: "sharding-cluster".into(),
                    redundancy: 2,
                    lenient_limit: 1,
                    local: ClusterLocalSpec::StateAware(StateAwareSpec {
                        id: "state-aware".into(),
                        file_store_dir: "/h/data/filestore".into(),
                        check_period: ms(15_000),
                        write_enabled: true,
                        zone: "local".into(),
                    }),
                    remote: default_remote(),
                }),
                "/h/data/filestore/_pre",
            ),
            "cluster-s3-storage-v3" | "cluster-google-storage-v2" => (
                "",
                Some(default_cache()),
                BackendSpec::Cluster(ClusterSpec {
                    id: "sharding-cluster".into(),
                    redundancy: 2,
                    lenient_limit: 1,
                    local: ClusterLocalSpec::ObjectStore(ObjectStoreSpec {
                        eventual: Some(eventual(true)),
                        retry: RETRY,
                        s3: default_s3(store, store),
                    }),
                    remote: default_remote(),
                }),
                "/h/data/eventual/_pre",
            ),
            other => panic!("no expectation for {other}"),
        };
        let description = match (description, template) {
            ("", "s3-storage-v3" | "google-storage-v2") => {
                format!("cache-fs -> eventual -> retry -> {store}")
            }
            ("", "s3-storage-v3-direct" | "google-storage-v2-direct") => {
                format!("cache-fs -> {store}")
            }
            ("", _) => {
                format!(
                    "cache-fs -> sharding-cluster{{eventual-cluster -> retry -> {store}; remote}}"
                )
            }
            (d, _) => d.to_string(),
        };
        StoragePlan {
            description,
            cache,
            backend,
            staging_dir: staging.into(),
        }
    }

    #[test]
    fn every_runnable_template_plans_with_defaults() {
        for t in RUNNABLE_TEMPLATES {
            let p = plan(&template_xml(t)).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(p, expected(t), "{t}");
        }
    }

    /// `node` as nested chain elements.
    fn chain_xml(node: &ProviderNode, tag: &str) -> String {
        let mut s = format!("<{tag} id=\"{}\" type=\"{}\">", node.id, node.provider_type);
        for (inner, nodes) in [
            ("provider", &node.children),
            ("sub-provider", &node.sub_providers),
            ("dynamic-provider", &node.dynamic_providers),
        ] {
            for n in nodes {
                s.push_str(&chain_xml(n, inner));
            }
        }
        s.push_str(&format!("</{tag}>"));
        s
    }

    #[test]
    fn explicit_chains_equal_their_templates() {
        for t in RUNNABLE_TEMPLATES {
            let tree = template_chain(t).unwrap();
            let xml = format!(
                "<config version=\"2\">\n<chain>{}</chain>\n{}\n</config>",
                chain_xml(&tree, "provider"),
                bucket_block(t)
            );
            let explicit = plan(&xml).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(explicit, plan(&template_xml(t)).unwrap(), "{t}");
        }
    }

    #[test]
    fn explicit_chains_may_leave_out_cache_eventual_and_retry() {
        let p = plan(
            r#"<config><chain><provider id="s3" type="s3-storage-v3"><bucketName>arca</bucketName></provider></chain></config>"#,
        )
        .unwrap();
        assert_eq!(p.description, "s3-storage-v3");
        assert_eq!(p.cache, None);
        assert_eq!(p.staging_dir, PathBuf::from("/h/data/_pre"));
        let BackendSpec::ObjectStore(os) = &p.backend else {
            panic!("{p:?}")
        };
        assert_eq!((os.eventual.as_ref(), os.retry.max_tries), (None, 1));
        assert_eq!(os.s3, default_s3("s3-storage-v3", "s3"));

        let p = plan(
            r#"<config><chain>
  <provider id="q" type="eventual"><provider id="gcs" type="google-storage-v2"/></provider>
</chain>
<provider id="gcs" type="google-storage-v2"><bucketName>arca</bucketName></provider>
</config>"#,
        )
        .unwrap();
        assert_eq!(p.description, "eventual -> google-storage-v2");
        assert_eq!(p.staging_dir, PathBuf::from("/mnt/shared/eventual/_pre"));

        let p = plan(
            r#"<config><chain>
  <provider id="sc" type="sharding-cluster">
    <sub-provider id="sa" type="state-aware"><fileStoreDir>shard-fs-1</fileStoreDir></sub-provider>
    <dynamic-provider id="r" type="remote"/>
  </provider>
</chain></config>"#,
        )
        .unwrap();
        assert_eq!(p.cache, None);
        assert_eq!(p.staging_dir, PathBuf::from("/h/data/shard-fs-1/_pre"));
    }

    #[test]
    fn directories_resolve() {
        // Relative baseDataDir: against the home; tempDir: against the filestore.
        let p = plan(
            r#"<config><chain template="cache-fs"/>
<provider id="file-system" type="file-system">
  <baseDataDir>store</baseDataDir><fileStoreDir>fs</fileStoreDir><tempDir>tmp</tempDir>
</provider>
<provider id="cache-fs" type="cache-fs"><cacheProviderDir>/var/cache/arca</cacheProviderDir></provider>
</config>"#,
        )
        .unwrap();
        assert_eq!(
            p.backend,
            BackendSpec::FileSystem(FileSystemSpec {
                id: "file-system".into(),
                base_data_dir: "/h/store".into(),
                file_store_dir: "/h/store/fs".into(),
            })
        );
        assert_eq!(p.staging_dir, PathBuf::from("/h/store/fs/tmp"));
        assert_eq!(p.cache.unwrap().dir, PathBuf::from("/var/cache/arca"));

        // Absolute tempDir wins; the default roots come from DataRoots::new.
        let c = config(
            r#"<config><chain template="file-system"/>
<provider id="file-system" type="file-system"><tempDir>/fast/pre</tempDir></provider></config>"#,
        );
        let h = home();
        let p = c.plan(&h, &DataRoots::new(&h, None)).unwrap();
        assert_eq!(p.staging_dir, PathBuf::from("/fast/pre"));
        let BackendSpec::FileSystem(fs) = &p.backend else {
            panic!()
        };
        assert_eq!(fs.file_store_dir, PathBuf::from("/h/data/filestore"));
        let p = c
            .plan(&h, &DataRoots::new(&h, Some(Path::new("/nfs"))))
            .unwrap();
        let BackendSpec::FileSystem(fs) = &p.backend else {
            panic!()
        };
        assert_eq!(fs.file_store_dir, PathBuf::from("/nfs/filestore"));
    }

    #[test]
    fn every_parameter_is_read() {
        let p = plan(
            r#"<config><chain template="cluster-s3-storage-v3"/>
<provider id="cache-fs" type="cache-fs">
  <maxCacheSize>100</maxCacheSize><maxFileSizeLimit>10</maxFileSizeLimit>
  <skipDuringUpload>TRUE</skipDuringUpload><validateChecksum>False</validateChecksum>
</provider>
<provider id="sharding-cluster" type="sharding-cluster">
  <redundancy>3</redundancy><lenientLimit>2</lenientLimit>
  <readBehavior>crossNetworkStrategy</readBehavior><property name="zones" value="local, remote"/>
</provider>
<provider id="eventual-cluster" type="eventual-cluster">
  <maxWorkers>7</maxWorkers><dispatcherInterval>250</dispatcherInterval><addStalePeriod>1000</addStalePeriod>
</provider>
<provider id="retry" type="retry"><interval>100</interval><maxTrys>9</maxTrys></provider>
<provider id="remote" type="remote">
  <connectionTimeout>1</connectionTimeout><socketTimeout>2</socketTimeout><maxConnections>3</maxConnections>
  <connectionRetry>0</connectionRetry><checkPeriod>4</checkPeriod>
</provider>
<provider id="s3-storage-v3" type="s3-storage-v3">
  <bucketName>my.bucket-1</bucketName><region>garage</region>
  <endpoint>http://[::1]:3900/</endpoint><port>3900</port><enablePathStyleAccess>true</enablePathStyleAccess>
  <path>/a/b/</path><rootFoldersNameLength>0</rootFoldersNameLength>
  <identity>AK</identity><credential>enc:v1:sealed</credential>
  <testConnection>false</testConnection><multiPartLimit>1</multiPartLimit>
  <multipartElementSize>5242880</multipartElementSize><maxConnections>8</maxConnections>
  <connectionTimeout>11</connectionTimeout><socketTimeout>12</socketTimeout>
</provider>
</config>"#,
        )
        .unwrap();
        assert_eq!(
            p.cache,
            Some(CacheFsSpec {
                id: "cache-fs".into(),
                dir: "/h/data/cache".into(),
                max_cache_size: 100,
                max_file_size_limit: Some(10),
                skip_during_upload: true,
                validate_checksum: false,
            })
        );
        let BackendSpec::Cluster(c) = p.backend else {
            panic!()
        };
        assert_eq!((c.redundancy, c.lenient_limit), (3, 2));
        assert_eq!(
            c.remote,
            RemoteSpec {
                id: "remote".into(),
                connection_timeout: ms(1),
                socket_timeout: ms(2),
                max_connections: 3,
                connection_retry: 0,
                check_period: ms(4),
            }
        );
        let ClusterLocalSpec::ObjectStore(os) = c.local else {
            panic!()
        };
        let ev = os.eventual.unwrap();
        assert_eq!(
            (ev.workers, ev.dispatcher_interval, ev.add_stale_period),
            (7, ms(250), ms(1000))
        );
        assert_eq!(
            os.retry,
            RetrySpec {
                interval: ms(100),
                max_tries: 9
            }
        );
        assert_eq!(
            os.s3,
            S3Spec {
                id: "s3-storage-v3".into(),
                provider_type: "s3-storage-v3".into(),
                bucket_name: "my.bucket-1".into(),
                region: "garage".into(),
                endpoint: Some("http://[::1]:3900/".into()),
                port: Some(3900),
                // from the endpoint's scheme
                use_http: true,
                path_style: true,
                path: "a/b".into(),
                root_folders_name_length: 0,
                identity: Some(SecretValue::Plain("AK".into())),
                credential: Some(SecretValue::Sealed("enc:v1:sealed".into())),
                use_instance_credentials: false,
                test_connection: false,
                multi_part_limit: 1,
                multipart_element_size: 5_242_880,
                max_connections: 8,
                connection_timeout: ms(11),
                socket_timeout: ms(12),
            }
        );
    }

    #[test]
    fn google_ports_and_scheme() {
        let gcs = |params: &str| {
            let p = plan(&format!(
                r#"<config><chain template="google-storage-v2-direct"/>
<provider id="google-storage-v2" type="google-storage-v2"><bucketName>my_bucket</bucketName>{params}</provider></config>"#
            ))
            .unwrap();
            let BackendSpec::ObjectStore(os) = p.backend else {
                panic!()
            };
            (os.s3.use_http, os.s3.port, os.s3.endpoint)
        };
        let google = Some("storage.googleapis.com".to_string());
        assert_eq!(gcs(""), (false, None, google.clone()));
        assert_eq!(
            gcs("<httpsOnly>false</httpsOnly><port>8080</port><httpsPort>8443</httpsPort>"),
            (true, Some(8080), google.clone())
        );
        assert_eq!(
            gcs("<httpsPort>8443</httpsPort><port>8080</port>"),
            (false, Some(8443), google.clone())
        );
        assert_eq!(gcs("<port>4443</port>"), (false, Some(4443), google));
        assert_eq!(
            gcs("<endpoint>gcs.local:4443</endpoint>"),
            (false, None, Some("gcs.local:4443".to_string()))
        );
    }

    #[test]
    fn inline_parameters_merge_under_blocks() {
        let c = config(
            r#"<config><chain>
  <provider id="c" type="cache-fs">
    <maxCacheSize>1</maxCacheSize>
    <skipDuringUpload>true</skipDuringUpload>
    <provider id="f" type="file-system"/>
  </provider>
</chain>
<provider id="c" type="cache-fs"><maxCacheSize>2</maxCacheSize></provider>
</config>"#,
        );
        let cache = c.plan(&home(), &roots()).unwrap().cache.unwrap();
        assert_eq!((cache.max_cache_size, cache.skip_during_upload), (2, true));
    }

    fn shape_err(xml: &str) -> ConfigError {
        plan(xml).unwrap_err()
    }

    #[test]
    fn chains_arca_does_not_run_are_refused_naming_the_provider() {
        let cases: [(&str, usize, &str, &str); 12] = [
            (
                "<config>\n<chain template=\"full-db\"/></config>",
                2,
                "template",
                "template 'full-db': binaries in the database are not supported; use file-system or s3-storage-v3",
            ),
            (
                "<config>\n<chain template=\"full-db-direct\"/></config>",
                2,
                "template",
                "template 'full-db-direct': binaries in the database are not supported; use file-system or s3-storage-v3",
            ),
            (
                "<config><chain><provider id=\"c1\" type=\"cache-fs\">\n<provider id=\"c2\" type=\"cache-fs\"><provider id=\"f\" type=\"file-system\"/></provider></provider></chain></config>",
                2,
                "provider",
                "provider 'c2' (type 'cache-fs'): a cache-fs is only allowed as the outermost provider (one node-local cache in front of the store)",
            ),
            (
                "<config><chain>\n<provider id=\"e\" type=\"eventual\"><provider id=\"f\" type=\"file-system\"/></provider></chain></config>",
                2,
                "provider",
                "provider 'e' (type 'eventual'): eventual queues uploads for an object store and must wrap s3-storage-v3 or google-storage-v2 (optionally through retry), not 'file-system'",
            ),
            (
                "<config><chain>\n<provider id=\"r\" type=\"retry\"><provider id=\"f\" type=\"file-system\"/></provider></chain></config>",
                2,
                "provider",
                "provider 'r' (type 'retry'): retry must wrap s3-storage-v3 or google-storage-v2, not 'file-system'; a file-system needs no retry: use <chain template=\"file-system\"/>",
            ),
            (
                "<config><chain>\n<provider id=\"s\" type=\"sharding\"><sub-provider id=\"a\" type=\"state-aware\"/><sub-provider id=\"b\" type=\"state-aware\"/></provider></chain></config>",
                2,
                "provider",
                "provider 's' (type 'sharding'): sharding over local mounts is not supported; use file-system (one mount, e.g. NFS) or cluster-file-system (copies on several nodes)",
            ),
            (
                "<config><chain>\n<provider id=\"sa\" type=\"state-aware\"/></chain></config>",
                2,
                "provider",
                "provider 'sa' (type 'state-aware'): state-aware only runs as the <sub-provider> of a sharding-cluster (cluster-file-system); for a single store use file-system",
            ),
            (
                "<config><chain><provider id=\"sc\" type=\"sharding-cluster\">\n<sub-provider id=\"e\" type=\"eventual\"><provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName></provider></sub-provider><dynamic-provider id=\"r\" type=\"remote\"/></provider></chain></config>",
                2,
                "provider",
                "provider 'e' (type 'eventual'): inside a sharding-cluster the upload queue is node-local: use eventual-cluster (as cluster-s3-storage-v3 does)",
            ),
            (
                "<config><chain>\n<provider id=\"sc\" type=\"sharding-cluster\"><sub-provider id=\"a\" type=\"state-aware\"/><sub-provider id=\"b\" type=\"state-aware\"/><dynamic-provider id=\"r\" type=\"remote\"/></provider></chain></config>",
                2,
                "provider",
                "provider 'sc' (type 'sharding-cluster'): arca's sharding-cluster takes exactly one <sub-provider> (this node's store: state-aware, or eventual-cluster -> s3-storage-v3); found 2",
            ),
            (
                "<config><chain>\n<provider id=\"sc\" type=\"sharding-cluster\"><sub-provider id=\"a\" type=\"state-aware\"/></provider></chain></config>",
                2,
                "provider",
                "provider 'sc' (type 'sharding-cluster'): needs exactly one <dynamic-provider type=\"remote\"> (the link to the other nodes); found 0",
            ),
            (
                "<config><chain><provider id=\"sc\" type=\"sharding-cluster\">\n<sub-provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName></sub-provider><dynamic-provider id=\"r\" type=\"remote\"/></provider></chain></config>",
                2,
                "provider",
                "provider 's3' (type 's3-storage-v3'): in a sharding-cluster an object store is reached through eventual-cluster (cluster-s3-storage-v3); for uploads straight to the bucket use s3-storage-v3-direct without sharding-cluster",
            ),
            (
                "<config><chain><provider id=\"c\" type=\"cache-fs\">\n<provider id=\"ec\" type=\"eventual-cluster\"><provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName></provider></provider></provider></chain></config>",
                2,
                "provider",
                "provider 'ec' (type 'eventual-cluster'): eventual-cluster only runs as the <sub-provider> of a sharding-cluster (cluster-s3-storage-v3); outside a cluster use eventual",
            ),
        ];
        for (xml, line, key, message) in cases {
            let e = shape_err(xml);
            assert_eq!(e.file, PathBuf::from(F));
            assert_eq!(
                (e.line, e.key.as_deref(), e.message.as_str()),
                (Some(line), Some(key), message),
                "{xml}"
            );
        }
    }

    #[test]
    fn plan_returns_the_first_value_error() {
        // A config built by hand (or analysed with errors) is checked again by plan().
        let mut c = config(
            r#"<config><chain template="cache-fs"/>
<provider id="cache-fs" type="cache-fs"><maxCacheSize>1</maxCacheSize></provider></config>"#,
        );
        c.providers[0]
            .params
            .insert("maxCacheSize".into(), "5GB".into());
        c.providers[0]
            .params
            .insert("validateChecksum".into(), "no".into());
        let e = c.plan(&home(), &roots()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/h/etc/binarystore.xml:2: maxCacheSize: provider 'cache-fs': expected a size in bytes (e.g. 5000000000), got '5GB'"
        );
    }

    #[test]
    fn secret_values() {
        assert!(SecretValue::from_config("enc:v1:abc").is_sealed());
        let p = SecretValue::from_config("plain");
        assert!(!p.is_sealed());
        assert_eq!(p.as_written(), "plain");
        assert_eq!(format!("{p:?}"), "Plain(..)");
    }

    #[test]
    fn every_known_template_either_plans_or_is_refused() {
        for t in KNOWN_TEMPLATES {
            let r = plan(&template_xml(t));
            assert_eq!(r.is_ok(), RUNNABLE_TEMPLATES.contains(&t), "{t}: {r:?}");
        }
    }
}
