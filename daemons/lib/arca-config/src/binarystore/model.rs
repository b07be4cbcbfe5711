//! The model of `binarystore.xml`: the config, its chain (a template or an explicit provider
//! tree), the parameter blocks, the built-in templates' trees and the file-system layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::parameters::canonical_value;
use crate::error::ConfigError;
use crate::home::Home;

/// The only chain [`BinaryStoreConfig::file_system_layout`] accepts. [`BinaryStoreConfig::plan`]
/// accepts more: [`crate::storage_plan::RUNNABLE_TEMPLATES`].
pub const RUNNABLE_TEMPLATE: &str = "file-system";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binarystore::parameters::KNOWN_TEMPLATES;

    const F: &str = "/h/etc/binarystore.xml";

    fn parse(xml: &str) -> Result<BinaryStoreConfig, ConfigError> {
        BinaryStoreConfig::parse(xml, Path::new(F))
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
}
