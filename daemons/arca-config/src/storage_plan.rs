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

use std::path::PathBuf;
use std::time::Duration;

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
