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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

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

/// The only chain this build runs.
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
                out.push_str(&format!("  {k}={v}\n"));
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
            out.push_str(&format!("{indent}  {k}={v}\n"));
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
        Some(BinaryStoreConfig {
            version,
            chain,
            providers: blocks,
            file: self.file.to_path_buf(),
            chain_line: Some(chain_line),
        })
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
        let top = self.chain_node(tops[0]);
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

    fn chain_node(&mut self, node: Node<'a, 'input>) -> Option<ProviderNode> {
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
            match self.chain_node(child) {
                Some(n) => target.push((n, child)),
                None => ok = false,
            }
        }
        let (params, _lines) = self.params(node, &param_nodes, ty);
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
        let c = parse(
            "<config><chain template=\"file-system\"/>\n<provider id=\"file-system\" type=\"file-system\">\n<fileStoreDir> </fileStoreDir></provider></config>",
        )
        .unwrap();
        let e = c.file_system_layout(&Home::new("/h")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("fileStoreDir")));
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
    fn other_templates_validate_but_do_not_run() {
        for t in KNOWN_TEMPLATES {
            let xml = format!("<config version=\"2\">\n  <chain template=\"{t}\"/>\n</config>");
            let c = parse(&xml).unwrap();
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
            "<config><chain template=\"file-system\"/>\n<provider id=\"s3\" type=\"s3-storage-v3\"><bucketName>b</bucketName></provider></config>",
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
}
