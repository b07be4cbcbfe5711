//! `etc/binarystore.xml`: the chain of binary providers, in the reference's format.
//!
//! ```xml
//! <config version="2">
//!   <chain template="file-system"/>            <!-- or nested <provider id= type=> elements -->
//!   <provider id="file-system" type="file-system">  <!-- parameter block, matched by id -->
//!     <fileStoreDir>filestore</fileStoreDir>
//!     <property name="x" value="y"/>
//!   </provider>
//! </config>
//! ```
//!
//! Parsing checks the structure, every parameter name and every parameter value (with the
//! line and name of the parameter); parameters of the reference that arca does not use give a
//! warning. [`BinaryStoreConfig::plan`] (in `storage_plan`) turns the result into the storage a
//! node runs. [`seal_secrets`] seals plaintext `identity` / `credential` values in place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::db::ENCRYPTED_PREFIX;
use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::read_text;

/// Built-in chain templates this build knows (validates).
pub const KNOWN_TEMPLATES: [&str; 11] = [
    "file-system",
    "cache-fs",
    "full-db",
    "full-db-direct",
    "cluster-file-system",
    "s3-storage-v3",
    "s3-storage-v3-direct",
    "cluster-s3-storage-v3",
    "google-storage-v2",
    "google-storage-v2-direct",
    "cluster-google-storage-v2",
];

/// Provider types this build knows (validates).
pub const KNOWN_PROVIDER_TYPES: [&str; 11] = [
    "file-system",
    "cache-fs",
    "eventual",
    "eventual-cluster",
    "retry",
    "s3-storage-v3",
    "sharding",
    "sharding-cluster",
    "state-aware",
    "remote",
    "google-storage-v2",
];

/// Deepest provider nesting accepted in an explicit `<chain>` (the built-in templates nest 5).
pub const MAX_CHAIN_DEPTH: usize = 32;

/// The only chain [`BinaryStoreConfig::file_system_layout`] accepts. [`BinaryStoreConfig::plan`]
/// accepts more: [`crate::storage_plan::RUNNABLE_TEMPLATES`].
pub const RUNNABLE_TEMPLATE: &str = "file-system";

const SHARDING_PARAMS: [&str; 11] = [
    "redundancy",
    "lenientLimit",
    "readBehavior",
    "writeBehavior",
    "zone",
    "concurrentStreamWaitTimeout",
    "concurrentStreamBufferKb",
    "maxBalancingRunTime",
    "freeSpaceSampleInterval",
    "minSpareUploaderExecutor",
    "uploaderCleanupIdleTime",
];

/// Parameters (child elements) a provider type accepts. `<property name= value=>` elements are
/// free-form pass-through settings and are not checked against this list.
pub fn known_parameters(provider_type: &str) -> Option<Vec<&'static str>> {
    let list: Vec<&'static str> = match provider_type {
        "file-system" => vec!["baseDataDir", "fileStoreDir", "tempDir"],
        "cache-fs" => vec![
            "maxCacheSize",
            "cacheProviderDir",
            "maxFileSizeLimit",
            "skipDuringUpload",
            // legacy / internal tunables of the reference
            "cacheSynchQuietPeriod",
            "parallelDownloadWindowInMillis",
            "multiReadEnabled",
            "validateChecksum",
            "binaryProviderInfoEvictionTime",
        ],
        "state-aware" => vec!["checkPeriod", "writeEnabled", "zone", "fileStoreDir"],
        "sharding" => SHARDING_PARAMS.to_vec(),
        "sharding-cluster" => {
            let mut v = SHARDING_PARAMS.to_vec();
            v.push("zones");
            v
        }
        "remote" => vec![
            "connectionTimeout",
            "socketTimeout",
            "maxConnections",
            "connectionRetry",
            "checkPeriod",
            "zone",
            "timeout",
            "serviceId",
        ],
        "eventual" => vec![
            "numberOfThreads",
            "timeout",
            "dispatcherInterval",
            "hazelcastWaitingTime",
            "queueSize",
        ],
        "eventual-cluster" => vec![
            "addStalePeriod",
            "maxWorkers",
            "dispatcherInterval",
            "checkPeriod",
            "zone",
        ],
        "retry" => vec!["interval", "maxTrys"],
        "s3-storage-v3" => vec![
            "bucketName",
            "region",
            "endpoint",
            "path",
            "rootFoldersNameLength",
            "identity",
            "credential",
            "useInstanceCredentials",
            "testConnection",
            "port",
            "useHttp",
            "enablePathStyleAccess",
            "maxConnections",
            "connectionTimeout",
            "socketTimeout",
            "connectionAcquisitionTimeout",
            "usePresigning",
            "signatureExpirySeconds",
            "signedUrlExpirySeconds",
            "enableSignedUrlRedirect",
            "cloudFrontDomainName",
            "cloudFrontKeyPairId",
            "cloudFrontPrivateKey",
            "multiPartLimit",
            "multipartElementSize",
            "kmsServerSideEncryptionKeyId",
            "kmsKeyRegion",
            "kmsCryptoMode",
            "kmsClientSideEncryptionKeyId",
            "server-side-encryption-aws-kms",
            "encryptionFormat",
            "proxyHost",
            "proxyPort",
            "nonProxyHost",
            "proxyIdentity",
            "proxyCredential",
            "awsSdkV2",
            "disableChecksumValidation",
            "disableChunkedEncoding",
            "crtTargetThroughputInGbps",
            "crtEnableConnectionHealth",
            "crtMinimumThroughputTimeoutSeconds",
            "crtMinimumThroughputInBps",
        ],
        "google-storage-v2" => vec![
            "useInstanceCredentials",
            "enableSignedUrlRedirect",
            "signedUrlExpirySeconds",
            "bucketName",
            "path",
            "endpoint",
            "httpsOnly",
            "bucketExists",
            "port",
            "httpsPort",
            "identity",
            "credential",
            "providerId",
            "testConnection",
            "multiPartLimit",
            "rootFoldersNameLength",
            "proxyHost",
            "proxyPort",
            "proxyIdentity",
            "proxyCredential",
        ],
        _ => return None,
    };
    Some(list)
}

/// Contents of `etc/binarystore.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryStoreConfig {
    /// `<config version="…">`
    pub version: Option<String>,
    pub chain: ChainSpec,
    /// Top-level parameter blocks, in file order.
    pub providers: Vec<ProviderParams>,
    /// The file this was read from (for messages).
    pub file: PathBuf,
    /// Line of the `<chain>` element (`None` for the built-in default when the file is absent).
    pub chain_line: Option<usize>,
}

/// `<chain template="…"/>` or an explicit provider tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainSpec {
    Template(String),
    Explicit(ProviderNode),
}

/// One provider of an explicit chain (or of a template's built-in chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderNode {
    pub id: String,
    pub provider_type: String,
    /// The wrapped `<provider>` (at most one).
    pub children: Vec<ProviderNode>,
    /// `<sub-provider>` elements (sharding, sharding-cluster).
    pub sub_providers: Vec<ProviderNode>,
    /// `<dynamic-provider>` elements (sharding-cluster; type remote).
    pub dynamic_providers: Vec<ProviderNode>,
    /// Parameters written inline in the chain element (child elements and `<property>`).
    pub params: BTreeMap<String, String>,
    /// Line of each inline parameter.
    pub param_lines: BTreeMap<String, usize>,
    /// Line of the element (0 for built-in template nodes).
    pub line: usize,
}

/// A top-level `<provider id=… type=…>` parameter block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderParams {
    pub id: String,
    pub provider_type: String,
    /// Child elements (`<name>value</name>`) and `<property name= value=>`.
    pub params: BTreeMap<String, String>,
    /// Line of the `<provider>` element.
    pub line: usize,
    /// Line of each parameter.
    pub param_lines: BTreeMap<String, usize>,
}

/// Where the `file-system` chain keeps binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSystemLayout {
    /// `baseDataDir`, default `<home>/data`; relative values are resolved against `<home>`.
    pub base_data_dir: PathBuf,
    /// `fileStoreDir`, default `filestore`, relative to `base_data_dir` unless absolute.
    pub file_store_dir: PathBuf,
    /// `tempDir`, default `_pre`, relative to `file_store_dir` unless absolute: uploads are staged
    /// there and renamed into place, so it must be on the same filesystem as `file_store_dir`.
    pub temp_dir: PathBuf,
}

impl BinaryStoreConfig {
    /// A canonical text of what this file configures (chain and parameters, without line
    /// numbers, comments or formatting): equal for two files that configure the same storage.
    /// Nodes of a cluster compare its digest, since they must all run the same chain.
    pub fn canonical(&self) -> String {
        let mut out = format!("version={}\n", self.version.as_deref().unwrap_or(""));
        match &self.chain {
            ChainSpec::Template(t) => out.push_str(&format!("chain template={t}\n")),
            ChainSpec::Explicit(node) => {
                out.push_str("chain explicit\n");
                node.canonical_into(&mut out, 1);
            }
        }
        let mut blocks: Vec<&ProviderParams> = self.providers.iter().collect();
        blocks.sort_by(|a, b| (&a.id, &a.provider_type).cmp(&(&b.id, &b.provider_type)));
        for b in blocks {
            out.push_str(&format!("provider id={} type={}\n", b.id, b.provider_type));
            for (k, v) in &b.params {
                out.push_str(&format!("  {k}={}\n", canonical_value(k, v)));
            }
        }
        out
    }
}

impl ProviderNode {
    fn canonical_into(&self, out: &mut String, depth: usize) {
        let indent = "  ".repeat(depth);
        out.push_str(&format!("{indent}{} id={}\n", self.provider_type, self.id));
        for (k, v) in &self.params {
            out.push_str(&format!("{indent}  {k}={}\n", canonical_value(k, v)));
        }
        for (label, nodes) in [
            ("provider", &self.children),
            ("sub-provider", &self.sub_providers),
            ("dynamic-provider", &self.dynamic_providers),
        ] {
            for n in nodes {
                out.push_str(&format!("{indent}{label}:\n"));
                n.canonical_into(out, depth + 1);
            }
        }
    }

    fn built_in(provider_type: &str) -> ProviderNode {
        ProviderNode {
            id: provider_type.to_string(),
            provider_type: provider_type.to_string(),
            children: Vec::new(),
            sub_providers: Vec::new(),
            dynamic_providers: Vec::new(),
            params: BTreeMap::new(),
            param_lines: BTreeMap::new(),
            line: 0,
        }
    }

    fn wrapping(provider_type: &str, child: ProviderNode) -> ProviderNode {
        let mut node = ProviderNode::built_in(provider_type);
        node.children.push(child);
        node
    }

    fn sharding(provider_type: &str, subs: Vec<ProviderNode>, dynamic: Vec<ProviderNode>) -> Self {
        let mut node = ProviderNode::built_in(provider_type);
        node.sub_providers = subs;
        node.dynamic_providers = dynamic;
        node
    }

    /// This node and all nodes below it, outermost first.
    pub fn walk(&self) -> Vec<&ProviderNode> {
        let mut out = vec![self];
        for n in self
            .children
            .iter()
            .chain(&self.sub_providers)
            .chain(&self.dynamic_providers)
        {
            out.extend(n.walk());
        }
        out
    }

    /// A one-line description such as `cache-fs -> sharding-cluster{state-aware; remote}`.
    pub fn describe(&self) -> String {
        let mut s = self.provider_type.clone();
        if !self.sub_providers.is_empty() || !self.dynamic_providers.is_empty() {
            let inner: Vec<String> = self
                .sub_providers
                .iter()
                .chain(&self.dynamic_providers)
                .map(ProviderNode::describe)
                .collect();
            s.push_str(&format!("{{{}}}", inner.join("; ")));
        }
        for c in &self.children {
            s.push_str(" -> ");
            s.push_str(&c.describe());
        }
        s
    }
}

/// The provider tree a built-in template stands for (outermost first).
pub fn template_chain(template: &str) -> Option<ProviderNode> {
    use ProviderNode as P;
    let cloud = |t: &str| {
        P::wrapping(
            "cache-fs",
            P::wrapping("eventual", P::wrapping("retry", P::built_in(t))),
        )
    };
    let cluster = |t: &str| {
        P::wrapping(
            "cache-fs",
            P::sharding(
                "sharding-cluster",
                vec![P::wrapping(
                    "eventual-cluster",
                    P::wrapping("retry", P::built_in(t)),
                )],
                vec![P::built_in("remote")],
            ),
        )
    };
    Some(match template {
        "file-system" => P::built_in("file-system"),
        "cache-fs" => P::wrapping("cache-fs", P::built_in("file-system")),
        "full-db" => P::wrapping("cache-fs", P::built_in("blob")),
        "full-db-direct" => P::built_in("blob"),
        "cluster-file-system" => P::wrapping(
            "cache-fs",
            P::sharding(
                "sharding-cluster",
                vec![P::built_in("state-aware")],
                vec![P::built_in("remote")],
            ),
        ),
        "s3-storage-v3" => cloud("s3-storage-v3"),
        "s3-storage-v3-direct" => P::wrapping("cache-fs", P::built_in("s3-storage-v3")),
        "cluster-s3-storage-v3" => cluster("s3-storage-v3"),
        "google-storage-v2" => cloud("google-storage-v2"),
        "google-storage-v2-direct" => P::wrapping("cache-fs", P::built_in("google-storage-v2")),
        "cluster-google-storage-v2" => cluster("google-storage-v2"),
        _ => return None,
    })
}

impl BinaryStoreConfig {
    /// What an absent `binarystore.xml` means: `<chain template="file-system"/>`.
    pub fn default_config(file: impl Into<PathBuf>) -> BinaryStoreConfig {
        BinaryStoreConfig {
            version: None,
            chain: ChainSpec::Template(RUNNABLE_TEMPLATE.to_string()),
            providers: Vec::new(),
            file: file.into(),
            chain_line: None,
        }
    }

    /// Load `<home>/etc/binarystore.xml` (absent = the `file-system` template).
    pub fn load(home: &Home) -> Result<BinaryStoreConfig, ConfigError> {
        Self::load_with_warnings(home).map(|(c, _)| c)
    }

    /// Like [`BinaryStoreConfig::load`], also returning the warnings.
    pub fn load_with_warnings(
        home: &Home,
    ) -> Result<(BinaryStoreConfig, Vec<Diagnostic>), ConfigError> {
        let path = home.binarystore_xml();
        match read_text(&path)? {
            Some(text) => Self::parse_with_warnings(&text, &path),
            None => Ok((Self::default_config(path), Vec::new())),
        }
    }

    /// Parse and validate; the first error is returned.
    pub fn parse(xml: &str, file: &Path) -> Result<BinaryStoreConfig, ConfigError> {
        Self::parse_with_warnings(xml, file).map(|(c, _)| c)
    }

    /// Parse and validate; the config and its warnings, or the first error.
    pub fn parse_with_warnings(
        xml: &str,
        file: &Path,
    ) -> Result<(BinaryStoreConfig, Vec<Diagnostic>), ConfigError> {
        let (value, diags) = analyse(xml, file);
        diags.finish(value)
    }

    /// The provider tree this config runs (a template's built-in tree, or the explicit one).
    pub fn resolved_chain(&self) -> Option<ProviderNode> {
        match &self.chain {
            ChainSpec::Template(t) => template_chain(t),
            ChainSpec::Explicit(node) => Some(node.clone()),
        }
    }

    /// Resolved directories of the file-system provider. Errors (naming the chain) unless the
    /// chain is the `file-system` template or an explicit chain of one `file-system` provider:
    /// other chains are validated but this build does not run them.
    pub fn file_system_layout(&self, home: &Home) -> Result<FileSystemLayout, ConfigError> {
        self.file_system_layout_in(home, &home.data())
    }

    /// Like [`BinaryStoreConfig::file_system_layout`], with `data_root` as the default
    /// `baseDataDir` (an HA node's shared `arca.ha.data.dir`).
    pub fn file_system_layout_in(
        &self,
        home: &Home,
        data_root: &Path,
    ) -> Result<FileSystemLayout, ConfigError> {
        let (chain_id, what) = match &self.chain {
            ChainSpec::Template(t) if t == RUNNABLE_TEMPLATE => (t.clone(), None),
            ChainSpec::Template(t) => (String::new(), Some(format!("template '{t}'"))),
            ChainSpec::Explicit(n) if n.provider_type == "file-system" && n.walk().len() == 1 => {
                (n.id.clone(), None)
            }
            ChainSpec::Explicit(n) => (String::new(), Some(format!("chain '{}'", n.describe()))),
        };
        if let Some(what) = what {
            let mut e = ConfigError::new(
                &self.file,
                format!(
                    "{what} is valid, but this build only runs the '{RUNNABLE_TEMPLATE}' chain; \
                     use <chain template=\"{RUNNABLE_TEMPLATE}\"/>"
                ),
            )
            .with_key("chain");
            e.line = self.chain_line;
            return Err(e);
        }

        let mut params: BTreeMap<String, String> = BTreeMap::new();
        let mut lines: BTreeMap<String, usize> = BTreeMap::new();
        if let ChainSpec::Explicit(n) = &self.chain {
            params.extend(n.params.clone());
            lines.extend(n.params.keys().map(|k| (k.clone(), n.line)));
        }
        let block = self
            .providers
            .iter()
            .find(|p| p.id == chain_id && p.provider_type == "file-system")
            .or_else(|| {
                self.providers
                    .iter()
                    .find(|p| p.provider_type == "file-system")
            });
        if let Some(b) = block {
            params.extend(b.params.clone());
            lines.extend(b.param_lines.clone());
        }

        let param = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
            match params.get(key) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => {
                    let mut e =
                        ConfigError::new(&self.file, "empty value; remove it or set a path")
                            .with_key(key);
                    e.line = lines.get(key).copied();
                    Err(e)
                }
                Some(v) => Ok(Some(PathBuf::from(v.trim()))),
            }
        };
        let under = |base: &Path, p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let base_data_dir = match param("baseDataDir")? {
            Some(p) => under(home.root(), p),
            None => data_root.to_path_buf(),
        };
        let file_store_dir = under(
            &base_data_dir,
            param("fileStoreDir")?.unwrap_or_else(|| PathBuf::from("filestore")),
        );
        let temp_dir = under(
            &file_store_dir,
            param("tempDir")?.unwrap_or_else(|| PathBuf::from("_pre")),
        );
        Ok(FileSystemLayout {
            base_data_dir,
            file_store_dir,
            temp_dir,
        })
    }
}

/// Parameters whose values are secrets: `canonical()` masks them.
const SECRET_PARAMS: [&str; 5] = [
    "identity",
    "credential",
    "proxyIdentity",
    "proxyCredential",
    "cloudFrontPrivateKey",
];

/// Secret parameters arca uses, which `seal_secrets` seals with the master key.
pub const SEALED_PARAMS: [&str; 2] = ["identity", "credential"];

/// S3's smallest multipart part (5 MiB); smaller parts are refused by the service.
pub const MIN_MULTIPART_ELEMENT_SIZE: u64 = 5_242_880;

fn canonical_value<'v>(key: &str, value: &'v str) -> &'v str {
    // Sealed values differ on every node (random nonce) and must not end up in a digest anyway.
    if SECRET_PARAMS.contains(&key) {
        "<secret>"
    } else {
        value
    }
}

/// The form a parameter's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory: absolute, or relative as the parameter documents; not empty.
    Dir,
    /// Bytes, as a whole number.
    Size { min: u64 },
    /// Milliseconds, as a whole number.
    Millis { min: u64 },
    /// `true` / `false`, in any case.
    Bool,
    /// 1..=65535.
    Port,
    /// A whole number that fits in a u32.
    Count { min: u64 },
    /// `rootFoldersNameLength`: 0..=5.
    FolderLen,
    /// `path`: key prefix inside a bucket.
    KeyPrefix,
    /// `bucketName`.
    Bucket { gcs: bool },
    /// `endpoint`: host[:port] or http(s) URL.
    Endpoint,
    /// `readBehavior` / `writeBehavior`.
    Behavior,
    /// `zones`: comma-separated `local` / `remote`.
    Zones,
    /// Any non-empty text.
    Text,
    /// Not checked (pass-through `<property>` settings, free-form names).
    Free,
}

const BEHAVIORS: [&str; 4] = [
    "roundRobin",
    "freeSpace",
    "percentageFreeSpace",
    "crossNetworkStrategy",
];

/// The value form of parameter `name`. The same name means the same thing for every provider
/// type that has it, so only the bucket name rules depend on the type.
pub(crate) fn param_kind(provider_type: &str, name: &str) -> Kind {
    use Kind::*;
    match name {
        "baseDataDir" | "fileStoreDir" | "tempDir" | "cacheProviderDir" => Dir,
        "multipartElementSize" => Size {
            min: MIN_MULTIPART_ELEMENT_SIZE,
        },
        "maxCacheSize" | "maxFileSizeLimit" | "multiPartLimit" => Size { min: 0 },
        // 0 would make the dispatcher spin.
        "dispatcherInterval" => Millis { min: 1 },
        "cacheSynchQuietPeriod"
        | "parallelDownloadWindowInMillis"
        | "binaryProviderInfoEvictionTime"
        | "checkPeriod"
        | "timeout"
        | "hazelcastWaitingTime"
        | "addStalePeriod"
        | "interval"
        | "connectionTimeout"
        | "socketTimeout"
        | "connectionAcquisitionTimeout"
        | "concurrentStreamWaitTimeout"
        | "maxBalancingRunTime"
        | "freeSpaceSampleInterval"
        | "uploaderCleanupIdleTime" => Millis { min: 0 },
        "skipDuringUpload"
        | "multiReadEnabled"
        | "validateChecksum"
        | "writeEnabled"
        | "useInstanceCredentials"
        | "testConnection"
        | "useHttp"
        | "enablePathStyleAccess"
        | "usePresigning"
        | "enableSignedUrlRedirect"
        | "awsSdkV2"
        | "disableChecksumValidation"
        | "disableChunkedEncoding"
        | "crtEnableConnectionHealth"
        | "httpsOnly"
        | "bucketExists" => Bool,
        "port" | "httpsPort" | "proxyPort" => Port,
        "numberOfThreads" | "maxWorkers" | "maxConnections" | "redundancy" | "lenientLimit"
        | "maxTrys" | "queueSize" => Count { min: 1 },
        "connectionRetry"
        | "minSpareUploaderExecutor"
        | "concurrentStreamBufferKb"
        | "signatureExpirySeconds"
        | "signedUrlExpirySeconds" => Count { min: 0 },
        "rootFoldersNameLength" => FolderLen,
        "path" => KeyPrefix,
        "bucketName" => Bucket {
            gcs: provider_type == "google-storage-v2",
        },
        "endpoint" => Endpoint,
        "readBehavior" | "writeBehavior" => Behavior,
        "zones" => Zones,
        "region" | "identity" | "credential" | "zone" => Text,
        _ => Free,
    }
}

/// How the message describes a valid value.
pub(crate) fn expected_form(kind: Kind) -> String {
    match kind {
        Kind::Dir => "a directory path".into(),
        Kind::Size { min: 0 } => "a size in bytes (e.g. 5000000000)".into(),
        Kind::Size { min } => format!("a size in bytes of at least {min} (e.g. 16777216)"),
        Kind::Millis { min: 0 } => "a duration in milliseconds (e.g. 15000)".into(),
        Kind::Millis { min } => {
            format!("a duration in milliseconds of at least {min} (e.g. 1000)")
        }
        Kind::Bool => "true or false".into(),
        Kind::Port => "a port number from 1 to 65535".into(),
        Kind::Count { min: 0 } => "a whole number (e.g. 2)".into(),
        Kind::Count { min } => format!("a whole number of at least {min}"),
        Kind::FolderLen => "a whole number from 0 to 5".into(),
        Kind::KeyPrefix => {
            "a key prefix inside the bucket, without '.', '..' or empty segments (e.g. filestore)"
                .into()
        }
        Kind::Bucket { gcs: false } => "an S3 bucket name: 3 to 63 lowercase letters, digits, \
             dots and hyphens, starting and ending with a letter or digit (e.g. arca-binaries)"
            .into(),
        Kind::Bucket { gcs: true } => "a bucket name: 3 to 63 lowercase letters, digits, dots, \
             hyphens and underscores, starting and ending with a letter or digit (e.g. arca-binaries)"
            .into(),
        Kind::Endpoint => "a host[:port] or an http(s):// URL without a path \
             (e.g. s3.example.internal:9000 or https://s3.example.internal)"
            .into(),
        Kind::Behavior => format!("one of {}", BEHAVIORS.join(", ")),
        Kind::Zones => "a comma-separated list of the zones local and remote (e.g. local,remote)"
            .into(),
        Kind::Text => "a non-empty value".into(),
        Kind::Free => "any value".into(),
    }
}

/// A whole decimal number (digits only: no sign, no unit).
pub(crate) fn parse_number(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// `true` / `false`, in any case.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn parse_port(v: &str) -> Option<u16> {
    parse_number(v)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p > 0)
}

/// `path` without slashes at the ends; `None` when a segment is empty, `.` or `..`.
pub(crate) fn parse_key_prefix(v: &str) -> Option<String> {
    let p = v.trim_matches('/');
    if p.is_empty() {
        // `/` (or an empty element): objects directly under the bucket's root.
        return Some(String::new());
    }
    let ok = p.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
        && !p.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| p.to_string())
}

fn valid_bucket(v: &str, gcs: bool) -> bool {
    let b = v.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    let char_ok = |c: u8| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || (gcs && c == b'_')
    };
    let looks_like_ip = v.parse::<std::net::Ipv4Addr>().is_ok();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| char_ok(*c))
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && !v.contains("..")
        && !looks_like_ip
        // Reserved by AWS for access points and other internal names.
        && !(v.starts_with("xn--") || v.ends_with("-s3alias") || v.ends_with("--ol-s3"))
        && !(gcs && v.starts_with("goog"))
}

/// The scheme of an `endpoint` URL: `Some(true)` for http, `Some(false)` for https, `None` for a
/// bare host[:port].
pub(crate) fn endpoint_is_http(v: &str) -> Option<bool> {
    let (scheme, _) = v.split_once("://")?;
    Some(scheme.eq_ignore_ascii_case("http"))
}

fn valid_endpoint(v: &str) -> bool {
    let rest = match v.split_once("://") {
        Some((scheme, rest)) => {
            if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
                return false;
            }
            rest.strip_suffix('/').unwrap_or(rest)
        }
        None => v,
    };
    // S3 clients address buckets under the endpoint themselves: no path, query or user info.
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return false;
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let Some((h, after)) = r.split_once(']') else {
            return false;
        };
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            a => match a.strip_prefix(':') {
                Some(p) => return parse_port(p).is_some(),
                None => return false,
            },
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if port.is_some_and(|p| parse_port(p).is_none()) {
        return false;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `value` has the form `kind` asks for.
pub(crate) fn valid_value(kind: Kind, v: &str) -> bool {
    match kind {
        Kind::Dir | Kind::Text => !v.is_empty(),
        Kind::Size { min } | Kind::Millis { min } => parse_number(v).is_some_and(|n| n >= min),
        Kind::Count { min } => {
            parse_number(v).is_some_and(|n| n >= min && n <= u64::from(u32::MAX))
        }
        Kind::Bool => parse_bool(v).is_some(),
        Kind::Port => parse_port(v).is_some(),
        Kind::FolderLen => parse_number(v).is_some_and(|n| n <= 5),
        Kind::KeyPrefix => parse_key_prefix(v).is_some(),
        Kind::Bucket { gcs } => valid_bucket(v, gcs),
        Kind::Endpoint => valid_endpoint(v),
        Kind::Behavior => BEHAVIORS.contains(&v),
        Kind::Zones => v.split(',').all(|z| matches!(z.trim(), "local" | "remote")),
        Kind::Free => true,
    }
}

/// Why a parameter is accepted (a reference file keeps working) but changes nothing in arca.
fn no_effect(provider_type: &str, name: &str) -> Option<&'static str> {
    const DOWNLOADS: &str = "downloads are always served by arca, never redirected";
    const SDK: &str = "a tuning option of the reference's AWS SDK client";
    const SHARDING: &str = "a tuning option of the reference's sharding implementation";
    const INTERNAL: &str = "an internal tunable of the reference's implementation";
    Some(match name {
        n if n.starts_with("kms")
            || n == "server-side-encryption-aws-kms"
            || n == "encryptionFormat" =>
        {
            "KMS encryption is not implemented; use the bucket's default encryption"
        }
        n if n.starts_with("cloudFront") => DOWNLOADS,
        "usePresigning"
        | "signatureExpirySeconds"
        | "signedUrlExpirySeconds"
        | "enableSignedUrlRedirect" => DOWNLOADS,
        n if n.starts_with("proxy") || n == "nonProxyHost" => {
            "arca connects to the object store directly, without a proxy"
        }
        n if n.starts_with("crt") => SDK,
        "awsSdkV2" | "disableChunkedEncoding" | "connectionAcquisitionTimeout" => SDK,
        "disableChecksumValidation" => "arca always verifies checksums",
        n if n.starts_with("concurrentStream") => SHARDING,
        "maxBalancingRunTime"
        | "freeSpaceSampleInterval"
        | "minSpareUploaderExecutor"
        | "uploaderCleanupIdleTime" => SHARDING,
        "cacheSynchQuietPeriod"
        | "parallelDownloadWindowInMillis"
        | "multiReadEnabled"
        | "binaryProviderInfoEvictionTime"
        | "hazelcastWaitingTime"
        | "queueSize" => INTERNAL,
        "checkPeriod" if provider_type == "eventual-cluster" => INTERNAL,
        "timeout" | "serviceId" if provider_type == "remote" => INTERNAL,
        "bucketExists" | "providerId" if provider_type == "google-storage-v2" => INTERNAL,
        _ => return None,
    })
}

/// One provider's parameters as the plan sees them: the inline parameters of its chain element
/// overridden by its top-level parameter block, each with the line it is on.
pub(crate) struct ParamView<'c> {
    pub(crate) file: &'c Path,
    pub(crate) id: String,
    pub(crate) provider_type: String,
    values: BTreeMap<String, (String, Option<usize>)>,
    /// Where a problem with a missing parameter is reported.
    pub(crate) line: Option<usize>,
}

impl ParamView<'_> {
    pub(crate) fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str())
    }

    /// An error about `key`, on its line (or the provider's when it is not given).
    pub(crate) fn err(&self, key: &str, message: impl std::fmt::Display) -> ConfigError {
        let mut e =
            ConfigError::new(self.file, format!("provider '{}': {message}", self.id)).with_key(key);
        e.line = self.values.get(key).and_then(|(_, l)| *l).or(self.line);
        e
    }

    fn bad(&self, key: &str, value: &str) -> ConfigError {
        let kind = param_kind(&self.provider_type, key);
        self.err(
            key,
            format!("expected {}, got '{value}'", expected_form(kind)),
        )
    }

    /// The value of `key` if it is given and has the right form.
    pub(crate) fn checked(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) if valid_value(param_kind(&self.provider_type, key), v) => Ok(Some(v)),
            Some(v) => Err(self.bad(key, v)),
        }
    }

    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.checked(key)? {
            None => Ok(None),
            Some(v) => parse_number(v).map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    pub(crate) fn number_or(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        Ok(self.number(key)?.unwrap_or(default))
    }

    pub(crate) fn u32_or(&self, key: &str, default: u32) -> Result<u32, ConfigError> {
        match self.number(key)? {
            None => Ok(default),
            Some(n) => u32::try_from(n).map_err(|_| self.bad(key, &n.to_string())),
        }
    }

    pub(crate) fn usize_or(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        match self.number(key)? {
            None => Ok(default),
            Some(n) => usize::try_from(n).map_err(|_| self.bad(key, &n.to_string())),
        }
    }

    pub(crate) fn millis_or(
        &self,
        key: &str,
        default_ms: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        Ok(std::time::Duration::from_millis(
            self.number_or(key, default_ms)?,
        ))
    }

    pub(crate) fn bool_opt(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.checked(key)? {
            None => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    pub(crate) fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self.bool_opt(key)?.unwrap_or(default))
    }

    pub(crate) fn port(&self, key: &str) -> Result<Option<u16>, ConfigError> {
        match self.checked(key)? {
            None => Ok(None),
            Some(v) => parse_port(v).map(Some).ok_or_else(|| self.bad(key, v)),
        }
    }

    pub(crate) fn dir(&self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self.checked(key)?.map(PathBuf::from))
    }

    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.checked(key)?.map(str::to_string))
    }

    /// Problems between parameters of this provider (each value alone is checked elsewhere);
    /// values that do not parse are skipped here, they have their own error.
    fn cross_check(&self, diags: &mut Diags) {
        let number = |k: &str| self.raw(k).and_then(parse_number);
        let flag = |k: &str| self.raw(k).and_then(parse_bool);
        match self.provider_type.as_str() {
            "sharding" | "sharding-cluster" => {
                let default = if self.provider_type == "sharding" {
                    1
                } else {
                    2
                };
                let redundancy = number("redundancy").unwrap_or(default);
                if let Some(lenient) = number("lenientLimit")
                    && lenient > redundancy
                {
                    diags.error(self.err(
                        "lenientLimit",
                        format!(
                            "lenientLimit {lenient} is larger than redundancy {redundancy}; \
                             expected 1 <= lenientLimit <= redundancy"
                        ),
                    ));
                }
            }
            "s3-storage-v3" | "google-storage-v2" => {
                if self.raw("bucketName").is_none() {
                    diags.error(self.err(
                        "bucketName",
                        format!(
                            "bucketName is required for {} (the bucket that holds the binaries); \
                             add <bucketName>…</bucketName> to its parameter block",
                            self.provider_type
                        ),
                    ));
                }
                // An empty value has its own error; here it counts as not given.
                let given = |k: &str| self.raw(k).filter(|v| !v.is_empty());
                let (identity, credential) = (given("identity"), given("credential"));
                match (identity.is_some(), credential.is_some()) {
                    (true, false) => diags.error(self.err(
                        "identity",
                        "identity is given without credential; give both (access key id and \
                         secret key), or neither and useInstanceCredentials=true",
                    )),
                    (false, true) => diags.error(self.err(
                        "credential",
                        "credential is given without identity; give both (access key id and \
                         secret key), or neither and useInstanceCredentials=true",
                    )),
                    _ => {}
                }
                if flag("useInstanceCredentials") == Some(true)
                    && (identity.is_some() || credential.is_some())
                {
                    diags.error(self.err(
                        "useInstanceCredentials",
                        "useInstanceCredentials=true takes credentials from the environment, but \
                         identity/credential are given too; remove one or the other",
                    ));
                }
                // useHttp (s3) / httpsOnly (GCS) must agree with an endpoint URL's scheme.
                let http_flag = match self.provider_type.as_str() {
                    "s3-storage-v3" => flag("useHttp").map(|h| ("useHttp", h)),
                    _ => flag("httpsOnly").map(|h| ("httpsOnly", !h)),
                };
                if let (Some(url_http), Some((key, http))) =
                    (self.raw("endpoint").and_then(endpoint_is_http), http_flag)
                    && url_http != http
                {
                    diags.error(self.err(
                        key,
                        format!(
                            "contradicts the endpoint's scheme ({}); give a bare host[:port] \
                             endpoint or make them agree",
                            if url_http { "http" } else { "https" }
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Check each value of one source of parameters (an inline chain element or a parameter block).
fn check_values(
    file: &Path,
    id: &str,
    provider_type: &str,
    params: &BTreeMap<String, String>,
    lines: &BTreeMap<String, usize>,
    diags: &mut Diags,
) {
    for (name, value) in params {
        let at = |message: String| {
            let mut e =
                ConfigError::new(file, format!("provider '{id}': {message}")).with_key(name);
            e.line = lines.get(name).copied();
            e
        };
        let kind = param_kind(provider_type, name);
        if !valid_value(kind, value) {
            diags.error(at(format!(
                "expected {}, got '{value}'",
                expected_form(kind)
            )));
        } else if let Some(why) = no_effect(provider_type, name) {
            diags.warn(at(format!(
                "accepted for compatibility but has no effect in arca ({why})"
            )));
        }
    }
}

impl BinaryStoreConfig {
    /// The parameter view of `node`, a provider of `tree` (the resolved chain): its inline
    /// parameters, overridden by the top-level block with its id and type. With a template, a
    /// block of the node's type whose id matches no provider of the tree is used too (the
    /// template's ids are not visible to the operator).
    pub(crate) fn param_view(&self, node: &ProviderNode, tree: &ProviderNode) -> ParamView<'_> {
        let mut values: BTreeMap<String, (String, Option<usize>)> = node
            .params
            .iter()
            .map(|(k, v)| {
                let line = node.param_lines.get(k).copied().or(Some(node.line));
                (k.clone(), (v.clone(), line))
            })
            .collect();
        let ids: Vec<&str> = tree.walk().iter().map(|n| n.id.as_str()).collect();
        let block = self
            .providers
            .iter()
            .find(|b| b.id == node.id && b.provider_type == node.provider_type)
            .or_else(|| match self.chain {
                ChainSpec::Template(_) => self.providers.iter().find(|b| {
                    b.provider_type == node.provider_type && !ids.contains(&b.id.as_str())
                }),
                ChainSpec::Explicit(_) => None,
            });
        if let Some(b) = block {
            for (k, v) in &b.params {
                values.insert(k.clone(), (v.clone(), b.param_lines.get(k).copied()));
            }
        }
        let line = block
            .map(|b| b.line)
            .or((node.line > 0).then_some(node.line))
            .or(self.chain_line);
        ParamView {
            file: &self.file,
            id: block.map_or_else(|| node.id.clone(), |b| b.id.clone()),
            provider_type: node.provider_type.clone(),
            values,
            line,
        }
    }

    /// Every problem with parameter values: each value against its form (errors), parameters
    /// without effect in arca (warnings), and rules between parameters of one provider.
    pub(crate) fn value_diags(&self) -> Diags {
        let mut diags = Diags::default();
        if let ChainSpec::Explicit(top) = &self.chain {
            for n in top.walk() {
                check_values(
                    &self.file,
                    &n.id,
                    &n.provider_type,
                    &n.params,
                    &n.param_lines,
                    &mut diags,
                );
            }
        }
        for b in &self.providers {
            check_values(
                &self.file,
                &b.id,
                &b.provider_type,
                &b.params,
                &b.param_lines,
                &mut diags,
            );
        }
        if let Some(tree) = self.resolved_chain() {
            for n in tree.walk() {
                self.param_view(n, &tree).cross_check(&mut diags);
            }
        }
        diags
    }
}

/// Analyse `<home>/etc/binarystore.xml` (absent = default), collecting every problem.
pub(crate) fn analyse_home(home: &Home) -> (Option<BinaryStoreConfig>, Diags) {
    let path = home.binarystore_xml();
    match read_text(&path) {
        Ok(Some(text)) => analyse(&text, &path),
        Ok(None) => (
            Some(BinaryStoreConfig::default_config(path)),
            Diags::default(),
        ),
        Err(e) => {
            let mut d = Diags::default();
            d.error(e);
            (None, d)
        }
    }
}

/// Parse and validate, collecting every problem.
pub(crate) fn analyse(xml: &str, file: &Path) -> (Option<BinaryStoreConfig>, Diags) {
    let mut diags = Diags::default();
    let doc = match Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            diags.error(
                ConfigError::new(file, format!("malformed XML: {e}")).at_line(e.pos().row as usize),
            );
            return (None, diags);
        }
    };
    let mut a = Analyser {
        doc: &doc,
        file,
        diags,
    };
    let value = a.config();
    (value, a.diags)
}

fn legacy_hint(kind: &str, name: &str) -> Option<String> {
    match name {
        "s3" => Some(format!(
            "{kind} 's3' is the legacy JetS3t provider, which is not supported; \
             use s3-storage-v3 (official AWS SDK) instead"
        )),
        "google-storage" => Some(format!(
            "{kind} 'google-storage' is the legacy JClouds provider, which is not supported; \
             use google-storage-v2 instead"
        )),
        _ => None,
    }
}

struct Analyser<'a, 'input> {
    doc: &'a Document<'input>,
    file: &'a Path,
    diags: Diags,
}

impl<'a, 'input> Analyser<'a, 'input> {
    fn line(&self, node: Node<'a, 'input>) -> usize {
        self.doc.text_pos_at(node.range().start).row as usize
    }

    fn err(&self, node: Node<'a, 'input>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, message)
            .at_line(self.line(node))
            .with_key(key)
    }

    fn config(&mut self) -> Option<BinaryStoreConfig> {
        let root = self.doc.root_element();
        if root.tag_name().name() != "config" {
            let e = self.err(
                root,
                root.tag_name().name(),
                "the root element must be <config>",
            );
            self.diags.error(e);
            return None;
        }
        let version = root.attribute("version").map(str::to_string);
        let mut chain: Option<(ChainSpec, usize)> = None;
        let mut chain_failed = false;
        let mut blocks: Vec<ProviderParams> = Vec::new();
        let mut ok = true;
        for child in root.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "chain" => {
                    if chain.is_some() || chain_failed {
                        let e = self.err(child, "chain", "more than one <chain> element");
                        self.diags.error(e);
                        ok = false;
                        continue;
                    }
                    match self.chain(child) {
                        Some(c) => chain = Some((c, self.line(child))),
                        None => chain_failed = true,
                    }
                }
                "provider" => match self.block(child) {
                    Some(b) => blocks.push(b),
                    None => ok = false,
                },
                other => {
                    let e = self.err(
                        child,
                        other,
                        "unknown element; <config> holds one <chain> and <provider> parameter blocks",
                    );
                    self.diags.error(e);
                    ok = false;
                }
            }
        }
        if chain.is_none() && !chain_failed {
            let e = self.err(
                root,
                "chain",
                "missing <chain>; e.g. <chain template=\"file-system\"/>",
            );
            self.diags.error(e);
        }
        let (chain, chain_line) = chain?;
        self.check_blocks(&chain, &blocks);
        if !ok {
            return None;
        }
        let config = BinaryStoreConfig {
            version,
            chain,
            providers: blocks,
            file: self.file.to_path_buf(),
            chain_line: Some(chain_line),
        };
        // Values are checked on the finished config, where inline parameters and parameter
        // blocks of one provider can be seen together (lenientLimit vs redundancy, …).
        self.diags.extend(config.value_diags().list);
        Some(config)
    }

    fn chain(&mut self, node: Node<'a, 'input>) -> Option<ChainSpec> {
        let inner: Vec<Node<'a, 'input>> = node.children().filter(Node::is_element).collect();
        if let Some(template) = node.attribute("template") {
            let template = template.trim();
            if !inner.is_empty() {
                let e = self.err(
                    node,
                    "chain",
                    "has both template= and nested providers; use one of them",
                );
                self.diags.error(e);
                return None;
            }
            if KNOWN_TEMPLATES.contains(&template) {
                return Some(ChainSpec::Template(template.to_string()));
            }
            let msg = legacy_hint("template", template).unwrap_or_else(|| {
                format!(
                    "unknown template '{template}'; known templates: {}",
                    KNOWN_TEMPLATES.join(", ")
                )
            });
            let e = self.err(node, "template", msg);
            self.diags.error(e);
            return None;
        }
        let mut tops = Vec::new();
        let mut ok = true;
        for child in &inner {
            if child.tag_name().name() == "provider" {
                tops.push(*child);
            } else {
                let e = self.err(
                    *child,
                    child.tag_name().name(),
                    "unexpected element in <chain>; expected one <provider id=\"…\" type=\"…\">",
                );
                self.diags.error(e);
                ok = false;
            }
        }
        match tops.len() {
            0 => {
                let e = self.err(
                    node,
                    "chain",
                    "empty chain: give template=\"…\" or one nested <provider id=\"…\" type=\"…\">",
                );
                self.diags.error(e);
                return None;
            }
            1 => {}
            _ => {
                let e = self.err(
                    tops[1],
                    "provider",
                    "a chain has exactly one outermost <provider>; nest the others inside it",
                );
                self.diags.error(e);
                ok = false;
            }
        }
        let top = self.chain_node(tops[0], 1);
        let top = top?;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for n in top.walk() {
            if let Some(first) = seen.insert(&n.id, n.line) {
                self.diags.error(
                    ConfigError::new(
                        self.file,
                        format!("duplicate provider id '{}' (first on line {first})", n.id),
                    )
                    .at_line(n.line)
                    .with_key("id"),
                );
                ok = false;
            }
        }
        ok.then_some(ChainSpec::Explicit(top))
    }

    /// `id` and `type` attributes, the type checked against the known ones.
    fn id_and_type(&mut self, node: Node<'a, 'input>) -> Option<(String, String)> {
        let id = node
            .attribute("id")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let ty = node
            .attribute("type")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let element = node.tag_name().name();
        if id.is_none() {
            let e = self.err(
                node,
                "id",
                format!("<{element}> needs an id=\"…\" attribute"),
            );
            self.diags.error(e);
        }
        let Some(ty) = ty else {
            let e = self.err(
                node,
                "type",
                format!("<{element}> needs a type=\"…\" attribute"),
            );
            self.diags.error(e);
            return None;
        };
        if !KNOWN_PROVIDER_TYPES.contains(&ty) {
            let msg = legacy_hint("provider type", ty).unwrap_or_else(|| {
                format!(
                    "unknown provider type '{ty}'; known types: {}",
                    KNOWN_PROVIDER_TYPES.join(", ")
                )
            });
            let e = self.err(node, "type", msg);
            self.diags.error(e);
            return None;
        }
        Some((id?.to_string(), ty.to_string()))
    }

    /// The provider tree under `node`, `depth` levels below `<chain>` (1 for the outermost).
    fn chain_node(&mut self, node: Node<'a, 'input>, depth: usize) -> Option<ProviderNode> {
        // Building, walking and dropping the tree recurse once per level: a file nesting
        // thousands of providers would overflow the stack (an abort, not an error message).
        if depth > MAX_CHAIN_DEPTH {
            let e = self.err(
                node,
                "provider",
                format!("providers nested more than {MAX_CHAIN_DEPTH} levels deep"),
            );
            self.diags.error(e);
            return None;
        }
        let line = self.line(node);
        let ids = self.id_and_type(node);
        let ty = ids.as_ref().map(|(_, t)| t.as_str());
        let mut children = Vec::new();
        let mut subs = Vec::new();
        let mut dynamic = Vec::new();
        let mut param_nodes = Vec::new();
        let mut ok = ids.is_some();
        for child in node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            let target = match name {
                "provider" => &mut children,
                "sub-provider" => &mut subs,
                "dynamic-provider" => &mut dynamic,
                _ => {
                    param_nodes.push(child);
                    continue;
                }
            };
            match self.chain_node(child, depth + 1) {
                Some(n) => target.push((n, child)),
                None => ok = false,
            }
        }
        let (params, param_lines) = self.params(node, &param_nodes, ty);
        let (id, ty) = ids?;

        let sharding = ty == "sharding" || ty == "sharding-cluster";
        let leaf = matches!(
            ty.as_str(),
            "file-system" | "state-aware" | "remote" | "s3-storage-v3" | "google-storage-v2"
        );
        if sharding {
            if let Some((_, n)) = children.first() {
                let e = self.err(
                    *n,
                    "provider",
                    format!("'{ty}' takes <sub-provider> elements, not a nested <provider>"),
                );
                self.diags.error(e);
                ok = false;
            }
            if subs.is_empty() {
                let e = self.err(
                    node,
                    "sub-provider",
                    format!("'{ty}' needs at least one <sub-provider>"),
                );
                self.diags.error(e);
                ok = false;
            }
            for (d, n) in &dynamic {
                if ty != "sharding-cluster" || d.provider_type != "remote" {
                    let e = self.err(
                        *n,
                        "dynamic-provider",
                        "only a sharding-cluster takes a <dynamic-provider>, of type remote",
                    );
                    self.diags.error(e);
                    ok = false;
                }
            }
        } else {
            for (_, n) in subs.iter().chain(&dynamic) {
                let e = self.err(
                    *n,
                    n.tag_name().name(),
                    format!("'{ty}' is not a sharding provider; only sharding and sharding-cluster take <{}>", n.tag_name().name()),
                );
                self.diags.error(e);
                ok = false;
            }
            if leaf {
                if let Some((_, n)) = children.first() {
                    let e = self.err(
                        *n,
                        "provider",
                        format!("'{ty}' stores binaries itself and cannot wrap another provider"),
                    );
                    self.diags.error(e);
                    ok = false;
                }
            } else if children.len() != 1 {
                let at = children.get(1).map(|(_, n)| *n).unwrap_or(node);
                let e = self.err(
                    at,
                    "provider",
                    format!("'{ty}' wraps exactly one nested <provider>"),
                );
                self.diags.error(e);
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let strip =
            |v: Vec<(ProviderNode, Node<'a, 'input>)>| v.into_iter().map(|(p, _)| p).collect();
        Some(ProviderNode {
            id,
            provider_type: ty,
            children: strip(children),
            sub_providers: strip(subs),
            dynamic_providers: strip(dynamic),
            params,
            param_lines,
            line,
        })
    }

    /// Check parameter elements of a provider (`<name>value</name>` or `<property name= value=>`).
    /// `provider_type` is `None` when the type itself was invalid (names are then not checked).
    fn params(
        &mut self,
        owner: Node<'a, 'input>,
        nodes: &[Node<'a, 'input>],
        provider_type: Option<&str>,
    ) -> (BTreeMap<String, String>, BTreeMap<String, usize>) {
        let known = provider_type.and_then(known_parameters);
        let mut params = BTreeMap::new();
        let mut lines: BTreeMap<String, usize> = BTreeMap::new();
        for &p in nodes {
            let line = self.line(p);
            let (name, value) = if p.tag_name().name() == "property" {
                match (p.attribute("name"), p.attribute("value")) {
                    (Some(n), Some(v)) if !n.trim().is_empty() => {
                        (n.trim().to_string(), v.trim().to_string())
                    }
                    _ => {
                        let e =
                            self.err(p, "property", "<property> needs name=\"…\" and value=\"…\"");
                        self.diags.error(e);
                        continue;
                    }
                }
            } else {
                let name = p.tag_name().name().to_string();
                if p.children().any(|c| c.is_element()) {
                    let e = self.err(
                        p,
                        &name,
                        "a parameter holds text only; nested elements are not allowed here",
                    );
                    self.diags.error(e);
                    continue;
                }
                if let (Some(known), Some(ty)) = (&known, provider_type)
                    && !known.contains(&name.as_str())
                {
                    let mut msg = format!("unknown parameter '{name}' for provider type '{ty}'");
                    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(&name)) {
                        msg.push_str(&format!("; did you mean '{k}'?"));
                    } else {
                        msg.push_str(&format!("; known parameters: {}", known.join(", ")));
                    }
                    let e = self.err(p, &name, msg);
                    self.diags.error(e);
                    continue;
                }
                let text: String = p
                    .descendants()
                    .filter(|c| c.is_text())
                    .filter_map(|c| c.text())
                    .collect();
                (name, text.trim().to_string())
            };
            if let Some(first) = lines.get(&name) {
                let e = ConfigError::new(
                    self.file,
                    format!(
                        "parameter given twice in <{}> (first on line {first})",
                        owner.tag_name().name()
                    ),
                )
                .at_line(line)
                .with_key(&name);
                self.diags.error(e);
                continue;
            }
            lines.insert(name.clone(), line);
            params.insert(name, value);
        }
        (params, lines)
    }

    /// A top-level `<provider id= type=>` parameter block.
    fn block(&mut self, node: Node<'a, 'input>) -> Option<ProviderParams> {
        let ids = self.id_and_type(node);
        let mut param_nodes = Vec::new();
        let mut ok = true;
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                name @ ("provider" | "sub-provider" | "dynamic-provider") => {
                    let e = self.err(
                        child,
                        name,
                        "parameter blocks cannot nest providers; spell the chain out inside <chain>",
                    );
                    self.diags.error(e);
                    ok = false;
                }
                _ => param_nodes.push(child),
            }
        }
        let ty = ids.as_ref().map(|(_, t)| t.as_str());
        let before = self.diags.list.len();
        let (params, param_lines) = self.params(node, &param_nodes, ty);
        if self.diags.list[before..].iter().any(Diagnostic::is_error) {
            ok = false;
        }
        let (id, provider_type) = ids?;
        ok.then(|| ProviderParams {
            id,
            provider_type,
            params,
            line: self.line(node),
            param_lines,
        })
    }

    /// Match parameter blocks against the chain's providers.
    fn check_blocks(&mut self, chain: &ChainSpec, blocks: &[ProviderParams]) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for b in blocks {
            if let Some(first) = seen.insert(&b.id, b.line) {
                self.diags.error(
                    ConfigError::new(
                        self.file,
                        format!(
                            "duplicate parameter block for id '{}' (first on line {first})",
                            b.id
                        ),
                    )
                    .at_line(b.line)
                    .with_key("id"),
                );
            }
        }
        let (tree, explicit, name) = match chain {
            ChainSpec::Template(t) => match template_chain(t) {
                Some(tree) => (tree, false, format!("template '{t}'")),
                None => return,
            },
            ChainSpec::Explicit(n) => (n.clone(), true, "the chain".to_string()),
        };
        let nodes = tree.walk();
        for b in blocks {
            let at = |msg: String| {
                ConfigError::new(self.file, msg)
                    .at_line(b.line)
                    .with_key("provider")
            };
            if let Some(n) = nodes.iter().find(|n| n.id == b.id) {
                if n.provider_type != b.provider_type {
                    self.diags.error(at(format!(
                        "block id '{}' has type '{}' but provider '{}' in {name} has type '{}'",
                        b.id, b.provider_type, n.id, n.provider_type
                    )));
                }
            } else if explicit || !nodes.iter().any(|n| n.provider_type == b.provider_type) {
                self.diags.warn(at(format!(
                    "parameter block '{}' (type '{}') matches no provider of {name}; it is ignored",
                    b.id, b.provider_type
                )));
            }
        }
    }
}

/// One `identity` / `credential` value in the text of `binarystore.xml`.
struct SecretSite {
    /// Bytes of the raw value in the file (element text without surrounding whitespace, or
    /// the attribute value between its quotes).
    range: std::ops::Range<usize>,
    /// The value as the parser reads it (entities resolved, trimmed).
    value: String,
    in_attribute: bool,
}

fn is_provider_element(node: Node<'_, '_>) -> bool {
    node.is_element()
        && matches!(
            node.tag_name().name(),
            "provider" | "sub-provider" | "dynamic-provider"
        )
}

/// Every sealable secret parameter of the document, in document order.
fn secret_sites(doc: &Document<'_>, text: &str) -> Vec<SecretSite> {
    let mut sites = Vec::new();
    for node in doc.descendants().filter(Node::is_element) {
        if !node.parent().is_some_and(is_provider_element) {
            continue;
        }
        let name = node.tag_name().name();
        if name == "property" {
            let (Some(n), Some(attr)) = (
                node.attribute("name"),
                node.attributes().find(|a| a.name() == "value"),
            ) else {
                continue;
            };
            if SEALED_PARAMS.contains(&n.trim()) {
                sites.push(SecretSite {
                    range: attr.range_value(),
                    value: attr.value().trim().to_string(),
                    in_attribute: true,
                });
            }
        } else if SEALED_PARAMS.contains(&name) {
            // Content = between the end of the start tag and the start of the end tag; a
            // self-closing element has none.
            let whole = node.range();
            let Some(element) = text.get(whole.clone()) else {
                continue;
            };
            let (Some(open_end), Some(close_start)) = (start_tag_end(element), element.rfind("</"))
            else {
                continue;
            };
            if open_end > close_start {
                continue;
            }
            let content = &element[open_end..close_start];
            let lead = content.len() - content.trim_start().len();
            let trail = content.len() - content.trim_end().len();
            if lead == content.len() {
                continue;
            }
            let value: String = node
                .descendants()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect();
            sites.push(SecretSite {
                range: whole.start + open_end + lead..whole.start + close_start - trail,
                value: value.trim().to_string(),
                in_attribute: false,
            });
        }
    }
    sites
}

/// Offset just past the `>` that closes the start tag of `element` (quotes respected).
fn start_tag_end(element: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in element.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn xml_escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\'' if in_attribute => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `config` with the sealed parameters' values blanked (what must stay equal when sealing).
fn without_sealed_values(mut config: BinaryStoreConfig) -> BinaryStoreConfig {
    fn blank(params: &mut BTreeMap<String, String>) {
        for key in SEALED_PARAMS {
            if let Some(v) = params.get_mut(key) {
                v.clear();
            }
        }
    }
    fn blank_tree(node: &mut ProviderNode) {
        blank(&mut node.params);
        for n in node
            .children
            .iter_mut()
            .chain(&mut node.sub_providers)
            .chain(&mut node.dynamic_providers)
        {
            blank_tree(n);
        }
    }
    if let ChainSpec::Explicit(top) = &mut config.chain {
        blank_tree(top);
    }
    for b in &mut config.providers {
        blank(&mut b.params);
    }
    config
}

/// Seal the plaintext `identity` / `credential` values of `binarystore.xml` at `path` (element
/// text or `<property name="identity" value="…"/>`): each value that does not start with
/// [`crate::db::ENCRYPTED_PREFIX`] is replaced by `seal(plaintext)`, which must return such a
/// token. Every other byte of the file stays as it is (comments, whitespace, attribute order).
///
/// The file must parse; the rewritten text is parsed again and must give the same config except
/// for those values before the file is replaced atomically (mode and owner kept; a symlink is
/// followed). Returns how many values were sealed (0: the file is not touched; an absent file
/// has nothing to seal).
pub fn seal_secrets(path: &Path, seal: &dyn Fn(&str) -> String) -> Result<usize, ConfigError> {
    // Rewrite the target, not the link: renaming over a symlink would replace it by a file.
    let real = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ConfigError::io(path, "resolve path", &e)),
    };
    let Some(text) = read_text(&real)? else {
        return Ok(0);
    };
    let before = BinaryStoreConfig::parse(&text, path)?;
    let doc = Document::parse(&text).map_err(|e| {
        ConfigError::new(path, format!("malformed XML: {e}")).at_line(e.pos().row as usize)
    })?;
    let sites = secret_sites(&doc, &text);
    let mut expected: Vec<String> = Vec::with_capacity(sites.len());
    let mut new_text = String::with_capacity(text.len() + 64 * sites.len());
    let mut copied = 0;
    let mut sealed = 0;
    for site in &sites {
        if site.value.is_empty() || site.value.starts_with(ENCRYPTED_PREFIX) {
            expected.push(site.value.clone());
            continue;
        }
        let token = seal(&site.value);
        // A token that does not read back as sealed would be sealed again at every start; one
        // with whitespace would be trimmed or move lines.
        if !token.starts_with(ENCRYPTED_PREFIX)
            || token.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::new(
                path,
                format!("internal error: the sealed value is not an {ENCRYPTED_PREFIX}… token"),
            ));
        }
        new_text.push_str(&text[copied..site.range.start]);
        new_text.push_str(&xml_escape(&token, site.in_attribute));
        copied = site.range.end;
        expected.push(token);
        sealed += 1;
    }
    if sealed == 0 {
        return Ok(0);
    }
    new_text.push_str(&text[copied..]);

    // Guard against a range or escaping mistake before the file is touched.
    let internal = |what: &str| {
        ConfigError::new(
            path,
            format!("internal error: the file with sealed values would not read back ({what})"),
        )
    };
    let after = BinaryStoreConfig::parse(&new_text, path).map_err(|e| internal(&e.message))?;
    if without_sealed_values(before) != without_sealed_values(after) {
        return Err(internal("configuration changed"));
    }
    let new_doc = Document::parse(&new_text).map_err(|e| internal(&e.to_string()))?;
    let got: Vec<String> = secret_sites(&new_doc, &new_text)
        .into_iter()
        .map(|s| s.value)
        .collect();
    if got != expected {
        return Err(internal("secret values"));
    }
    crate::atomic::replace_file(&real, new_text.as_bytes())?;
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::has_errors;

    const F: &str = "/h/etc/binarystore.xml";

    fn parse(xml: &str) -> Result<BinaryStoreConfig, ConfigError> {
        BinaryStoreConfig::parse(xml, Path::new(F))
    }

    fn diags(xml: &str) -> Vec<Diagnostic> {
        analyse(xml, Path::new(F)).1.list
    }

    fn nested_cache_fs(levels: usize) -> String {
        let mut xml = String::from("<config version=\"2\"><chain>");
        for i in 0..levels {
            xml.push_str(&format!("<provider id=\"c{i}\" type=\"cache-fs\">"));
        }
        xml.push_str("<provider id=\"f\" type=\"file-system\"/>");
        xml.push_str(&"</provider>".repeat(levels));
        xml.push_str("</chain></config>");
        xml
    }

    #[test]
    fn deeply_nested_providers_are_an_error_not_a_stack_overflow() {
        // Found by the fuzz harness (daemons/dev/arca-fuzz): 50,000 nested providers overflowed the
        // stack (an abort). A 256 KiB stack is what a small thread gets; the old code needed
        // far more for 20,000 levels.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| parse(&nested_cache_fs(20_000)).map(|_| ()))
            .unwrap();
        let err = handle.join().unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("providers nested more than 32 levels deep"),
            "{err}"
        );
        // The deepest accepted chain: 31 cache-fs around a file-system.
        let ok = parse(&nested_cache_fs(MAX_CHAIN_DEPTH - 1)).unwrap();
        assert_eq!(ok.resolved_chain().unwrap().walk().len(), MAX_CHAIN_DEPTH);
        assert!(parse(&nested_cache_fs(MAX_CHAIN_DEPTH)).is_err());
    }

    #[test]
    fn shipped_default() {
        let (c, w) = BinaryStoreConfig::parse_with_warnings(
            crate::home::DEFAULT_BINARYSTORE_XML,
            Path::new(F),
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.version.as_deref(), Some("2"));
        assert_eq!(c.chain, ChainSpec::Template("file-system".into()));
        assert!(c.providers.is_empty());
        let home = Home::new("/srv/arca");
        let l = c.file_system_layout(&home).unwrap();
        assert_eq!(l.base_data_dir, PathBuf::from("/srv/arca/data"));
        assert_eq!(l.file_store_dir, PathBuf::from("/srv/arca/data/filestore"));
        assert_eq!(l.temp_dir, PathBuf::from("/srv/arca/data/filestore/_pre"));
    }

    #[test]
    fn absent_file_is_file_system_default() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let c = BinaryStoreConfig::load(&home).unwrap();
        assert_eq!(c.chain, ChainSpec::Template("file-system".into()));
        assert_eq!(c.chain_line, None);
        assert!(c.file_system_layout(&home).is_ok());
    }

    #[test]
    fn file_system_params_resolve() {
        let c = parse(
            r#"<config version="2">
  <chain template="file-system"/>
  <provider id="file-system" type="file-system">
    <baseDataDir>/mnt/nfs/arca</baseDataDir>
    <fileStoreDir>store</fileStoreDir>
    <tempDir>/mnt/nfs/arca/store/tmp</tempDir>
  </provider>
</config>"#,
        )
        .unwrap();
        assert_eq!(c.providers[0].line, 3);
        assert_eq!(c.providers[0].param_lines["fileStoreDir"], 5);
        let l = c.file_system_layout(&Home::new("/h")).unwrap();
        assert_eq!(l.base_data_dir, PathBuf::from("/mnt/nfs/arca"));
        assert_eq!(l.file_store_dir, PathBuf::from("/mnt/nfs/arca/store"));
        assert_eq!(l.temp_dir, PathBuf::from("/mnt/nfs/arca/store/tmp"));

        let c = parse(
            r#"<config><chain template="file-system"/>
  <provider id="file-system" type="file-system"><baseDataDir>d2</baseDataDir><fileStoreDir>/abs/fs</fileStoreDir></provider>
</config>"#,
        )
        .unwrap();
        let l = c.file_system_layout(&Home::new("/h")).unwrap();
        assert_eq!(l.base_data_dir, PathBuf::from("/h/d2"));
        assert_eq!(l.file_store_dir, PathBuf::from("/abs/fs"));
        assert_eq!(l.temp_dir, PathBuf::from("/abs/fs/_pre"));
    }

    #[test]
    fn empty_path_param_is_error_with_line() {
        let e = parse(
            "<config><chain template=\"file-system\"/>\n<provider id=\"file-system\" type=\"file-system\">\n<fileStoreDir> </fileStoreDir></provider></config>",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/h/etc/binarystore.xml:3: fileStoreDir: provider 'file-system': expected a directory path, got ''"
        );
    }

    #[test]
    fn explicit_single_file_system_chain_runs() {
        let c = parse(
            r#"<config><chain><provider id="fs1" type="file-system"><fileStoreDir>x</fileStoreDir></provider></chain></config>"#,
        )
        .unwrap();
        let l = c.file_system_layout(&Home::new("/h")).unwrap();
        assert_eq!(l.file_store_dir, PathBuf::from("/h/data/x"));
    }

    #[test]
    fn other_templates_validate_but_do_not_run_in_file_system_layout() {
        for t in KNOWN_TEMPLATES {
            // Object stores need their bucket; a block matched by type works for templates.
            let block = if t.contains("s3") {
                "<provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName></provider>"
            } else if t.contains("google") {
                "<provider id=\"gcs\" type=\"google-storage-v2\"><bucketName>arca</bucketName></provider>"
            } else {
                ""
            };
            let xml =
                format!("<config version=\"2\">\n  <chain template=\"{t}\"/>\n{block}</config>");
            let (c, w) = BinaryStoreConfig::parse_with_warnings(&xml, Path::new(F)).unwrap();
            assert!(w.is_empty(), "{t}: {w:?}");
            assert!(template_chain(t).is_some());
            let r = c.file_system_layout(&Home::new("/h"));
            if t == "file-system" {
                assert!(r.is_ok());
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.line, Some(2));
                assert_eq!(e.key.as_deref(), Some("chain"));
                assert!(e.message.contains(&format!("template '{t}'")), "{e}");
                assert!(
                    e.message.contains("only runs the 'file-system' chain"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn explicit_cluster_chain() {
        let xml = r#"<config version="4">
  <chain>
    <provider id="cache-fs" type="cache-fs">
      <provider id="sharding-cluster" type="sharding-cluster">
        <sub-provider id="state-aware" type="state-aware"/>
        <dynamic-provider id="remote-fs" type="remote"/>
      </provider>
    </provider>
  </chain>
  <provider id="cache-fs" type="cache-fs">
    <maxCacheSize>500000000</maxCacheSize>
  </provider>
  <provider id="sharding-cluster" type="sharding-cluster">
    <redundancy>2</redundancy>
    <property name="zones" value="local,remote"/>
  </provider>
  <provider id="remote-fs" type="remote"><zone>remote</zone></provider>
</config>"#;
        let (c, w) = BinaryStoreConfig::parse_with_warnings(xml, Path::new(F)).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let ChainSpec::Explicit(top) = &c.chain else {
            panic!("explicit expected")
        };
        assert_eq!(top.line, 3);
        assert_eq!(
            top.children[0].sub_providers[0].provider_type,
            "state-aware"
        );
        assert_eq!(top.children[0].dynamic_providers[0].id, "remote-fs");
        assert_eq!(
            top.describe(),
            "cache-fs -> sharding-cluster{state-aware; remote}"
        );
        assert_eq!(c.providers[1].params["zones"], "local,remote");
        assert_eq!(c.providers[1].params["redundancy"], "2");
        let e = c.file_system_layout(&Home::new("/h")).unwrap_err();
        assert!(
            e.message.contains("chain 'cache-fs -> sharding-cluster"),
            "{e}"
        );
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn unknown_template_names_it_with_line() {
        let e = parse("<config version=\"2\">\n  <chain template=\"nfs-magic\"/>\n</config>")
            .unwrap_err();
        assert_eq!(e.file, PathBuf::from(F));
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("template")));
        assert!(e.message.contains("unknown template 'nfs-magic'"), "{e}");
        assert!(
            e.to_string()
                .starts_with("/h/etc/binarystore.xml:2: template: ")
        );
    }

    #[test]
    fn legacy_s3_template_and_type() {
        let e = parse("<config><chain template=\"s3\"/></config>").unwrap_err();
        assert!(
            e.message.contains("legacy JetS3t") && e.message.contains("s3-storage-v3"),
            "{e}"
        );
        let e = parse(
            "<config><chain template=\"s3-storage-v3\"/>\n<provider id=\"s3\" type=\"s3\"/></config>",
        )
        .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("type")));
        assert!(e.message.contains("legacy JetS3t"), "{e}");
    }

    #[test]
    fn unknown_provider_type_and_parameter() {
        let e = parse("<config><chain>\n<provider id=\"x\" type=\"magic\"/></chain></config>")
            .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("type")));
        assert!(e.message.contains("unknown provider type 'magic'"), "{e}");

        let e = parse(
            "<config><chain template=\"cache-fs\"/>\n<provider id=\"cache-fs\" type=\"cache-fs\">\n  <maxCacheSise>1</maxCacheSise>\n</provider></config>",
        )
        .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("maxCacheSise")));
        assert!(
            e.message
                .contains("unknown parameter 'maxCacheSise' for provider type 'cache-fs'"),
            "{e}"
        );
        let e = parse(
            "<config><chain template=\"file-system\"/>\n<provider id=\"file-system\" type=\"file-system\"><basedatadir>/x</basedatadir></provider></config>",
        )
        .unwrap_err();
        assert!(e.message.contains("did you mean 'baseDataDir'"), "{e}");
    }

    #[test]
    fn all_problems_are_collected() {
        let d = diags(
            "<config>\n<chain template=\"file-system\"/>\n<provider id=\"a\" type=\"file-system\"><x>1</x><y>2</y></provider>\n<provider id=\"b\" type=\"nope\"/>\n</config>",
        );
        let errs: Vec<_> = d
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            errs,
            vec![
                (Some(3), "x".to_string()),
                (Some(3), "y".to_string()),
                (Some(4), "type".to_string())
            ]
        );
    }

    #[test]
    fn malformed_xml_has_line() {
        let e = parse("<config>\n<chain template=\"file-system\">\n</config>").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.starts_with("malformed XML"), "{e}");
    }

    #[test]
    fn structure_errors() {
        let cases: [(&str, usize, &str); 10] = [
            ("<store/>", 1, "store"),
            ("<config>\n</config>", 1, "chain"),
            (
                "<config><chain template=\"file-system\"/>\n<chain template=\"cache-fs\"/></config>",
                2,
                "chain",
            ),
            (
                "<config><chain template=\"file-system\"/>\n<weird/></config>",
                2,
                "weird",
            ),
            (
                "<config>\n<chain template=\"file-system\"><provider id=\"a\" type=\"file-system\"/></chain></config>",
                2,
                "chain",
            ),
            ("<config>\n<chain/></config>", 2, "chain"),
            (
                "<config><chain>\n<provider type=\"file-system\"/></chain></config>",
                2,
                "id",
            ),
            (
                "<config><chain>\n<provider id=\"c\" type=\"cache-fs\"/></chain></config>",
                2,
                "provider",
            ),
            (
                "<config><chain><provider id=\"f\" type=\"file-system\">\n<provider id=\"g\" type=\"file-system\"/></provider></chain></config>",
                2,
                "provider",
            ),
            (
                "<config><chain><provider id=\"s\" type=\"sharding\">\n<dynamic-provider id=\"r\" type=\"remote\"/><sub-provider id=\"a\" type=\"state-aware\"/></provider></chain></config>",
                2,
                "dynamic-provider",
            ),
        ];
        for (xml, line, key) in cases {
            let e = parse(xml).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(line), Some(key)),
                "{xml}: {e}"
            );
        }
    }

    #[test]
    fn sharding_needs_subs_and_no_plain_child() {
        let d = diags(
            "<config><chain>\n<provider id=\"s\" type=\"sharding-cluster\">\n<provider id=\"f\" type=\"file-system\"/></provider></chain></config>",
        );
        let keys: Vec<_> = d
            .iter()
            .map(|d| (d.error.line, d.error.key.clone()))
            .collect();
        assert!(
            keys.contains(&(Some(3), Some("provider".into()))),
            "{keys:?}"
        );
        assert!(
            keys.contains(&(Some(2), Some("sub-provider".into()))),
            "{keys:?}"
        );
    }

    #[test]
    fn duplicate_ids_and_params() {
        let d = diags(
            "<config><chain><provider id=\"a\" type=\"cache-fs\">\n<provider id=\"a\" type=\"file-system\"/></provider></chain>\n<provider id=\"a\" type=\"cache-fs\"><maxCacheSize>1</maxCacheSize>\n<maxCacheSize>2</maxCacheSize></provider></config>",
        );
        let msgs: Vec<_> = d.iter().map(|d| d.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains(":2: id: duplicate provider id 'a'")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains(":4: maxCacheSize: parameter given twice")),
            "{msgs:?}"
        );
    }

    #[test]
    fn block_type_mismatch_and_unused_blocks() {
        let e = parse(
            "<config><chain template=\"cache-fs\"/>\n<provider id=\"file-system\" type=\"cache-fs\"/></config>",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message
                .contains("has type 'cache-fs' but provider 'file-system'"),
            "{e}"
        );

        let (_, w) = BinaryStoreConfig::parse_with_warnings(
            "<config><chain template=\"file-system\"/>\n<provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>bucket</bucketName></provider></config>",
            Path::new(F),
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(!has_errors(&w));
        assert!(
            w[0].error.message.contains("matches no provider"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn bad_property_and_nested_param() {
        let d = diags(
            "<config><chain template=\"cluster-file-system\"/>\n<provider id=\"sharding-cluster\" type=\"sharding-cluster\"><property name=\"zones\"/>\n<redundancy><x/></redundancy></provider></config>",
        );
        let keys: Vec<_> = d
            .iter()
            .map(|d| (d.error.line, d.error.key.clone()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (Some(2), Some("property".into())),
                (Some(3), Some("redundancy".into()))
            ]
        );
    }

    #[test]
    fn canonical_ignores_formatting_but_not_configuration() {
        let path = Path::new("binarystore.xml");
        let a = BinaryStoreConfig::parse(
            "<config version=\"2\">\n<chain template=\"file-system\"/>\n</config>\n",
            path,
        )
        .unwrap();
        let b = BinaryStoreConfig::parse(
            "<!-- same -->\n<config   version=\"2\"><chain template=\"file-system\" /></config>",
            path,
        )
        .unwrap();
        assert_eq!(a.canonical(), b.canonical());
        let c = BinaryStoreConfig::parse(
            "<config version=\"2\"><chain template=\"file-system\"/>\
             <provider id=\"file-system\" type=\"file-system\"><fileStoreDir>other</fileStoreDir></provider></config>",
            path,
        )
        .unwrap();
        assert_ne!(a.canonical(), c.canonical());
        assert!(
            c.canonical().contains("fileStoreDir=other"),
            "{}",
            c.canonical()
        );
    }

    /// Diagnostics of a cache-fs/s3/cluster config as `line: key: message` strings.
    fn rendered(xml: &str) -> Vec<String> {
        diags(xml).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn bad_values_name_line_key_provider_and_form() {
        // (provider type, parameter, bad value, expected form)
        let cases: [(&str, &str, &str, &str); 32] = [
            (
                "cache-fs",
                "maxCacheSize",
                "5GB",
                "a size in bytes (e.g. 5000000000)",
            ),
            (
                "cache-fs",
                "maxFileSizeLimit",
                "-1",
                "a size in bytes (e.g. 5000000000)",
            ),
            ("cache-fs", "skipDuringUpload", "yes", "true or false"),
            ("cache-fs", "validateChecksum", "1", "true or false"),
            ("cache-fs", "cacheProviderDir", "", "a directory path"),
            ("file-system", "baseDataDir", "", "a directory path"),
            (
                "eventual",
                "numberOfThreads",
                "0",
                "a whole number of at least 1",
            ),
            (
                "eventual",
                "timeout",
                "2m",
                "a duration in milliseconds (e.g. 15000)",
            ),
            (
                "eventual",
                "dispatcherInterval",
                "0",
                "a duration in milliseconds of at least 1 (e.g. 1000)",
            ),
            (
                "eventual-cluster",
                "maxWorkers",
                "0",
                "a whole number of at least 1",
            ),
            ("retry", "maxTrys", "five", "a whole number of at least 1"),
            (
                "retry",
                "interval",
                "+5",
                "a duration in milliseconds (e.g. 15000)",
            ),
            (
                "remote",
                "maxConnections",
                "0",
                "a whole number of at least 1",
            ),
            (
                "remote",
                "connectionRetry",
                "99999999999",
                "a whole number (e.g. 2)",
            ),
            ("state-aware", "writeEnabled", "on", "true or false"),
            (
                "sharding-cluster",
                "redundancy",
                "0",
                "a whole number of at least 1",
            ),
            (
                "sharding-cluster",
                "lenientLimit",
                "0",
                "a whole number of at least 1",
            ),
            (
                "sharding-cluster",
                "readBehavior",
                "zone",
                "one of roundRobin, freeSpace, percentageFreeSpace, crossNetworkStrategy",
            ),
            (
                "sharding-cluster",
                "zones",
                "local,far",
                "a comma-separated list of the zones local and remote (e.g. local,remote)",
            ),
            (
                "s3-storage-v3",
                "port",
                "0",
                "a port number from 1 to 65535",
            ),
            (
                "s3-storage-v3",
                "port",
                "65536",
                "a port number from 1 to 65535",
            ),
            ("s3-storage-v3", "useHttp", "nope", "true or false"),
            (
                "s3-storage-v3",
                "rootFoldersNameLength",
                "6",
                "a whole number from 0 to 5",
            ),
            (
                "s3-storage-v3",
                "multipartElementSize",
                "1048576",
                "a size in bytes of at least 5242880 (e.g. 16777216)",
            ),
            (
                "s3-storage-v3",
                "maxConnections",
                "0",
                "a whole number of at least 1",
            ),
            (
                "s3-storage-v3",
                "path",
                "a/../b",
                "a key prefix inside the bucket, without '.', '..' or empty segments (e.g. filestore)",
            ),
            (
                "s3-storage-v3",
                "bucketName",
                "My_Bucket",
                "an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (e.g. arca-binaries)",
            ),
            (
                "s3-storage-v3",
                "endpoint",
                "ftp://s3.example",
                "a host[:port] or an http(s):// URL without a path (e.g. s3.example.internal:9000 or https://s3.example.internal)",
            ),
            ("s3-storage-v3", "region", "", "a non-empty value"),
            ("s3-storage-v3", "identity", "", "a non-empty value"),
            (
                "google-storage-v2",
                "httpsPort",
                "x",
                "a port number from 1 to 65535",
            ),
            ("google-storage-v2", "httpsOnly", "no", "true or false"),
        ];
        for (ty, key, value, form) in cases {
            // The template that has a provider of this type, so that the block is used.
            let template = match ty {
                "file-system" => "cache-fs",
                "cache-fs" => "cache-fs",
                "eventual" | "retry" => "s3-storage-v3",
                "google-storage-v2" => "google-storage-v2",
                "s3-storage-v3" | "eventual-cluster" => "cluster-s3-storage-v3",
                _ => "cluster-file-system",
            };
            let bucket = if key == "bucketName" || !ty.ends_with("-v2") && !ty.ends_with("-v3") {
                ""
            } else {
                "<bucketName>arca</bucketName>"
            };
            let mut xml = format!(
                "<config version=\"2\">\n<chain template=\"{template}\"/>\n<provider id=\"p1\" type=\"{ty}\">\n{bucket}\n<{key}>{value}</{key}>\n</provider>\n"
            );
            if template.contains("s3") && ty != "s3-storage-v3" {
                xml.push_str("<provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName></provider>\n");
            }
            xml.push_str("</config>");
            let d = rendered(&xml);
            assert_eq!(
                d,
                vec![format!(
                    "error: {F}:5: {key}: provider 'p1': expected {form}, got '{value}'"
                )],
                "{xml}"
            );
            // parse() and plan() fail with that error too.
            let e = parse(&xml).unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (Some(5), Some(key)));
        }
    }

    #[test]
    fn good_values_pass() {
        for (key, value) in [
            ("endpoint", "s3.example.internal"),
            ("endpoint", "s3.example.internal:9000"),
            ("endpoint", "HTTPS://s3.example.internal/"),
            ("endpoint", "http://10.0.0.1:9000"),
            ("endpoint", "[2001:db8::1]:9000"),
            ("bucketName", "a.b-c"),
            ("path", "/"),
            ("path", "arca/store"),
            ("useHttp", "TRUE"),
            ("multipartElementSize", "5242880"),
            ("rootFoldersNameLength", "0"),
        ] {
            let bucket = if key == "bucketName" {
                ""
            } else {
                "<bucketName>arca</bucketName>"
            };
            let xml = format!(
                "<config><chain template=\"s3-storage-v3-direct\"/><provider id=\"s3-storage-v3\" type=\"s3-storage-v3\">{bucket}<{key}>{value}</{key}></provider></config>"
            );
            assert!(diags(&xml).is_empty(), "{key}={value}: {:?}", diags(&xml));
        }
        for (key, value) in [
            ("endpoint", "https://s3.example/bucket"),
            ("endpoint", "user@s3.example"),
            ("endpoint", "s3.example:0"),
            ("endpoint", "-bad-.example"),
            ("endpoint", "[::1"),
            ("bucketName", "ab"),
            ("bucketName", "a..b"),
            ("bucketName", "192.168.1.1"),
            ("bucketName", "-ab"),
            ("bucketName", "xn--abc"),
            ("path", "a//b"),
            ("path", "./a"),
        ] {
            let xml = format!(
                "<config><chain template=\"s3-storage-v3-direct\"/><provider id=\"s3-storage-v3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName><property name=\"{key}\" value=\"{value}\"/></provider></config>"
            );
            let d = diags(&xml);
            assert!(
                d.len() == 1 && d[0].is_error() && d[0].error.key.as_deref() == Some(key),
                "{key}={value}: {d:?}"
            );
        }
        // GCS bucket names may hold underscores; S3's may not.
        let gcs = "<config><chain template=\"google-storage-v2\"/><provider id=\"g\" type=\"google-storage-v2\"><bucketName>my_bucket</bucketName></provider></config>";
        assert!(diags(gcs).is_empty(), "{:?}", diags(gcs));
    }

    #[test]
    fn inline_parameter_errors_have_their_own_line() {
        let d = rendered(
            "<config><chain>\n<provider id=\"c\" type=\"cache-fs\">\n<maxCacheSize>5GB</maxCacheSize>\n<provider id=\"f\" type=\"file-system\"/></provider></chain></config>",
        );
        assert_eq!(
            d,
            vec![format!(
                "error: {F}:3: maxCacheSize: provider 'c': expected a size in bytes (e.g. 5000000000), got '5GB'"
            )]
        );
    }

    #[test]
    fn rules_between_parameters() {
        let cluster = |params: &str| {
            rendered(&format!(
                "<config><chain template=\"cluster-file-system\"/>\n<provider id=\"sharding-cluster\" type=\"sharding-cluster\">\n{params}</provider></config>"
            ))
        };
        assert_eq!(
            cluster("<redundancy>2</redundancy>\n<lenientLimit>3</lenientLimit>\n"),
            vec![format!(
                "error: {F}:4: lenientLimit: provider 'sharding-cluster': lenientLimit 3 is larger than redundancy 2; expected 1 <= lenientLimit <= redundancy"
            )]
        );
        // The default redundancy (2) counts too.
        assert_eq!(cluster("<lenientLimit>3</lenientLimit>\n").len(), 1);
        assert!(cluster("<redundancy>3</redundancy><lenientLimit>3</lenientLimit>\n").is_empty());

        let s3 = |params: &str| {
            rendered(&format!(
                "<config><chain template=\"s3-storage-v3-direct\"/>\n<provider id=\"s3\" type=\"s3-storage-v3\">\n{params}</provider></config>"
            ))
        };
        assert_eq!(
            s3("<region>eu-west-1</region>\n"),
            vec![format!(
                "error: {F}:2: bucketName: provider 's3': bucketName is required for s3-storage-v3 (the bucket that holds the binaries); add <bucketName>…</bucketName> to its parameter block"
            )]
        );
        assert_eq!(
            s3("<bucketName>arca</bucketName>\n<identity>AK</identity>\n"),
            vec![format!(
                "error: {F}:4: identity: provider 's3': identity is given without credential; give both (access key id and secret key), or neither and useInstanceCredentials=true"
            )]
        );
        assert_eq!(
            s3("<bucketName>arca</bucketName>\n<credential>SK</credential>\n"),
            vec![format!(
                "error: {F}:4: credential: provider 's3': credential is given without identity; give both (access key id and secret key), or neither and useInstanceCredentials=true"
            )]
        );
        assert_eq!(
            s3(
                "<bucketName>arca</bucketName>\n<identity>AK</identity><credential>SK</credential>\n<useInstanceCredentials>true</useInstanceCredentials>\n"
            ),
            vec![format!(
                "error: {F}:5: useInstanceCredentials: provider 's3': useInstanceCredentials=true takes credentials from the environment, but identity/credential are given too; remove one or the other"
            )]
        );
        assert_eq!(
            s3(
                "<bucketName>arca</bucketName>\n<endpoint>https://s3.local</endpoint>\n<useHttp>true</useHttp>\n"
            ),
            vec![format!(
                "error: {F}:5: useHttp: provider 's3': contradicts the endpoint's scheme (https); give a bare host[:port] endpoint or make them agree"
            )]
        );
        assert!(
            s3("<bucketName>arca</bucketName><endpoint>http://s3.local</endpoint><useHttp>true</useHttp>").is_empty()
        );

        // A template without any block: the missing bucket is reported on the <chain> line.
        let d = rendered("<config>\n<chain template=\"cluster-google-storage-v2\"/>\n</config>");
        assert_eq!(
            d,
            vec![format!(
                "error: {F}:2: bucketName: provider 'google-storage-v2': bucketName is required for google-storage-v2 (the bucket that holds the binaries); add <bucketName>…</bucketName> to its parameter block"
            )]
        );
    }

    #[test]
    fn parameters_without_effect_warn() {
        let (_, w) = BinaryStoreConfig::parse_with_warnings(
            "<config><chain template=\"cluster-s3-storage-v3\"/>\n\
             <provider id=\"s3-storage-v3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName>\n\
             <kmsServerSideEncryptionKeyId>k</kmsServerSideEncryptionKeyId>\n\
             <proxyHost>proxy</proxyHost>\n\
             <usePresigning>true</usePresigning>\n\
             <cloudFrontDomainName>cdn</cloudFrontDomainName>\n\
             <awsSdkV2>true</awsSdkV2>\n\
             <crtTargetThroughputInGbps>10</crtTargetThroughputInGbps>\n\
             <signedUrlExpirySeconds>30</signedUrlExpirySeconds>\n\
             </provider>\n\
             <provider id=\"sharding-cluster\" type=\"sharding-cluster\">\n\
             <concurrentStreamWaitTimeout>30000</concurrentStreamWaitTimeout>\n\
             <maxBalancingRunTime>1</maxBalancingRunTime>\n\
             </provider></config>",
            Path::new(F),
        )
        .unwrap();
        let w: Vec<String> = w.iter().map(|d| d.to_string()).collect();
        let s3 = "provider 's3-storage-v3': accepted for compatibility but has no effect in arca";
        let sc =
            "provider 'sharding-cluster': accepted for compatibility but has no effect in arca";
        assert_eq!(
            w,
            vec![
                format!(
                    "warning: {F}:7: awsSdkV2: {s3} (a tuning option of the reference's AWS SDK client)"
                ),
                format!(
                    "warning: {F}:6: cloudFrontDomainName: {s3} (downloads are always served by arca, never redirected)"
                ),
                format!(
                    "warning: {F}:8: crtTargetThroughputInGbps: {s3} (a tuning option of the reference's AWS SDK client)"
                ),
                format!(
                    "warning: {F}:3: kmsServerSideEncryptionKeyId: {s3} (KMS encryption is not implemented; use the bucket's default encryption)"
                ),
                format!(
                    "warning: {F}:4: proxyHost: {s3} (arca connects to the object store directly, without a proxy)"
                ),
                format!(
                    "warning: {F}:9: signedUrlExpirySeconds: {s3} (downloads are always served by arca, never redirected)"
                ),
                format!(
                    "warning: {F}:5: usePresigning: {s3} (downloads are always served by arca, never redirected)"
                ),
                format!(
                    "warning: {F}:12: concurrentStreamWaitTimeout: {sc} (a tuning option of the reference's sharding implementation)"
                ),
                format!(
                    "warning: {F}:13: maxBalancingRunTime: {sc} (a tuning option of the reference's sharding implementation)"
                ),
            ]
        );
    }

    const SECRET_XML: &str = "<?xml version=\"1.0\"?>\n\
<!-- credentials for the lab's S3 -->\n\
<config version=\"2\">\n\
  <chain template=\"s3-storage-v3-direct\"/>\n\
  <provider type=\"s3-storage-v3\"   id=\"s3-storage-v3\">\n\
    <bucketName>arca</bucketName>\n\
    <identity>\n      AKIA&amp;1 </identity>  <!-- keep me -->\n\
    <property value='p&quot;w&amp;d'  name=\"credential\"/>\n\
  </provider>\n\
</config>\n";

    fn fake_seal(plain: &str) -> String {
        // base64url-like and unique per value, like the real tokens
        let hex: String = plain.bytes().map(|b| format!("{b:02x}")).collect();
        format!("enc:v1:{hex}")
    }

    #[test]
    fn seal_secrets_rewrites_only_the_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("binarystore.xml");
        std::fs::write(&path, SECRET_XML).unwrap();
        let seen = std::cell::RefCell::new(Vec::new());
        let seal = |p: &str| {
            seen.borrow_mut().push(p.to_string());
            fake_seal(p)
        };
        assert_eq!(seal_secrets(&path, &seal).unwrap(), 2);
        // The sealer got the values as the parser reads them (entities resolved, trimmed).
        assert_eq!(*seen.borrow(), vec!["AKIA&1", "p\"w&d"]);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = SECRET_XML
            .replace("AKIA&amp;1", &fake_seal("AKIA&1"))
            .replace("p&quot;w&amp;d", &fake_seal("p\"w&d"));
        assert_eq!(text, expected);

        let c = BinaryStoreConfig::parse(&text, &path).unwrap();
        let home = Home::new("/h");
        let plan = c
            .plan(&home, &crate::storage_plan::DataRoots::new(&home, None))
            .unwrap();
        let crate::storage_plan::BackendSpec::ObjectStore(os) = plan.backend else {
            panic!()
        };
        use crate::storage_plan::SecretValue;
        assert_eq!(
            os.s3.identity,
            Some(SecretValue::Sealed(fake_seal("AKIA&1")))
        );
        assert_eq!(
            os.s3.credential,
            Some(SecretValue::Sealed(fake_seal("p\"w&d")))
        );

        // Sealed values stay as they are: nothing left to do.
        let never = |_: &str| -> String { panic!("nothing to seal") };
        assert_eq!(seal_secrets(&path, &never).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    #[test]
    fn seal_secrets_refusals() {
        let dir = tempfile::tempdir().unwrap();
        // Absent file: nothing to seal.
        let absent = dir.path().join("absent.xml");
        assert_eq!(seal_secrets(&absent, &fake_seal).unwrap(), 0);

        let path = dir.path().join("binarystore.xml");
        std::fs::write(&path, SECRET_XML).unwrap();
        // A sealer that does not produce a token: refused, file untouched.
        let e = seal_secrets(&path, &|p: &str| p.to_uppercase()).unwrap_err();
        assert!(e.message.contains("not an enc:v1:… token"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SECRET_XML);

        // An invalid file is not rewritten.
        let bad = SECRET_XML.replace("<bucketName>arca</bucketName>", "");
        std::fs::write(&path, &bad).unwrap();
        let e = seal_secrets(&path, &fake_seal).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("bucketName"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
    }

    #[test]
    fn seal_secrets_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.xml");
        let link = dir.path().join("binarystore.xml");
        std::fs::write(&target, SECRET_XML).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(seal_secrets(&link, &fake_seal).unwrap(), 2);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            std::fs::read_to_string(&target)
                .unwrap()
                .contains(&fake_seal("AKIA&1"))
        );
    }

    #[test]
    fn canonical_masks_secrets() {
        let xml = |id: &str, cred: &str| {
            format!(
                "<config><chain template=\"s3-storage-v3\"/><provider id=\"s3-storage-v3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName><identity>{id}</identity><property name=\"credential\" value=\"{cred}\"/></provider></config>"
            )
        };
        let a = parse(&xml("AKIA1", "secret-one")).unwrap().canonical();
        let b = parse(&xml("enc:v1:n1", "enc:v1:n2")).unwrap().canonical();
        assert_eq!(a, b);
        assert!(!a.contains("AKIA1") && !a.contains("secret-one"), "{a}");
        assert!(
            a.contains("identity=<secret>") && a.contains("credential=<secret>"),
            "{a}"
        );
        // Inline parameters of an explicit chain too.
        let c = parse(
            "<config><chain><provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>arca</bucketName><identity>AKIA1</identity><credential>x</credential></provider></chain></config>",
        )
        .unwrap()
        .canonical();
        assert!(
            !c.contains("AKIA1") && c.contains("identity=<secret>"),
            "{c}"
        );
    }

    #[test]
    fn shipped_examples_are_valid_and_plan() {
        let text = crate::home::DEFAULT_BINARYSTORE_XML;
        let examples: Vec<&str> = text
            .split("<!-- Example")
            .skip(1)
            .map(|rest| {
                let body = &rest[..rest.find("-->").unwrap()];
                // The first element starts after the description.
                &body[body.find('<').unwrap()..]
            })
            .collect();
        assert_eq!(examples.len(), 7);
        let home = Home::new("/srv/arca");
        let roots = crate::storage_plan::DataRoots::new(&home, Some(Path::new("/mnt/shared")));
        let mut described = Vec::new();
        for body in examples {
            let xml = format!("<config version=\"2\">\n{body}</config>");
            let (c, w) = BinaryStoreConfig::parse_with_warnings(&xml, Path::new(F))
                .unwrap_or_else(|e| panic!("{e}\n{xml}"));
            assert!(w.is_empty(), "{w:?}\n{xml}");
            let plan = c
                .plan(&home, &roots)
                .unwrap_or_else(|e| panic!("{e}\n{xml}"));
            described.push(plan.description);
        }
        assert_eq!(
            described,
            vec![
                "file-system",
                "cache-fs -> file-system",
                "cache-fs -> eventual -> retry -> s3-storage-v3",
                "cache-fs -> s3-storage-v3",
                "cache-fs -> sharding-cluster{state-aware; remote}",
                "cache-fs -> sharding-cluster{eventual-cluster -> retry -> s3-storage-v3; remote}",
                "cache-fs -> eventual -> retry -> google-storage-v2",
            ]
        );
    }
}
