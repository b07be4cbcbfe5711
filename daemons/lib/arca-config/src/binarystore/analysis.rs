//! Reading `binarystore.xml`: the structure, every parameter name and value, each problem with
//! its line and key (unknown and legacy names get a hint); and the parameter view the storage
//! plan reads values through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use super::model::{BinaryStoreConfig, ChainSpec, ProviderNode, ProviderParams, template_chain};
use super::parameters::{
    KNOWN_PROVIDER_TYPES, KNOWN_TEMPLATES, endpoint_is_http, expected_form, known_parameters,
    no_effect, param_kind, parse_bool, parse_number, parse_port, valid_value,
};
use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::read_text;

/// Deepest provider nesting accepted in an explicit `<chain>` (the built-in templates nest 5).
pub const MAX_CHAIN_DEPTH: usize = 32;

impl BinaryStoreConfig {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{error_sites, has_errors};

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
        let errs = error_sites(&d);
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
