//! Targets for the configuration files: `properties` (system.properties), `db-properties`,
//! `ha-node` and `binarystore`. Each input is the file's text, parsed and validated the way the
//! daemons do at start-up and `arcactl config check` does; the property is "no panic".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use arca_config::binarystore::{KNOWN_PROVIDER_TYPES, KNOWN_TEMPLATES, known_parameters};
use arca_config::ha_node::{
    ContextUrl, check_context_url, is_valid_interface, resolve_cluster_interface,
};
use arca_config::home::{
    DEFAULT_BINARYSTORE_XML, DEFAULT_DB_PROPERTIES, DEFAULT_SYSTEM_PROPERTIES,
};
use arca_config::storage_plan::DataRoots;
use arca_config::{BinaryStoreConfig, DbProperties, HaNodeProperties, Home, SystemProperties};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::targets::pick;

use crate::mutate::mutate;
use crate::runner::Target;

/// Longest generated file.
const MAX_TEXT: usize = 256 * 1024;

/// Values that sit on the validators' edges, shared by every properties file.
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "30",
    "4096",
    "1000000",
    "1000001",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1k",
    "1K",
    "10m",
    "1.5g",
    "1 GB",
    "1tb",
    "1e3",
    // decimal rates (arca.storage.scrub.rate.mb)
    "0.5",
    "0.0000001",
    ".5",
    "5.",
    ".",
    "1..2",
    "100000",
    "100000.0000001",
    "NaN",
    "inf",
    "-0",
    "+5",
    "0x10",
    " 7 ",
    "true",
    "false",
    "TRUE",
    "yes",
    "db",
    "local",
    "hazelcast",
    "/artifactory",
    "/",
    "//",
    "/a/b/",
    "artifactory",
    "/a b",
    "/é",
    "http://h:8081/artifactory",
    "https://[::1]:8443/",
    "http://",
    "http://h:99999/",
    "http://[::1",
    "http://a..b/",
    "0.0.0.0:8443",
    "[::]:8443",
    "8443",
    "cert.pem",
    "../../etc/passwd",
    "0 0 * * * ?",
    "17 * * *",
    "0 0/5 * * * ? 2027",
    "* * * * * * * *",
    "0 0 12 ? * MON-FRI",
    "0 15 10 L * ?",
    "0 0 0 31 2 ?",
    "\\u0041",
    "\\uZZZZ",
    "\\u",
    "\\",
    "\\\\",
    "é",
    "\u{10FFFF}",
    "enc:v1:AAAA",
    "enc:v1:",
    "sqlite",
    "postgresql",
    "postgres",
    "mysql",
    "jdbc:postgresql://h:5432/db",
    "postgresql://arca@h/db?sslmode=verify-full",
    "postgres://[::1]:5432/x",
    "postgresql://:@/",
    "postgresql://h:0/",
    "postgresql://h/db?user=",
    "jdbc:sqlite:/x/y.db",
    "sqlite://",
    "sqlite:",
    "data/arca.db",
    "disable",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
    "ca.pem",
    "10.1.*.*",
    "10.3.10.4-18",
    "10.3.10.18-4",
    "fd00::3",
    "[fd00::3]",
    "256.1.1.1",
    "1.2.3.4-",
    "*.*.*.*",
    "1-2.*.*.*",
    "10.0.0.1",
    "art1",
    "a.b_c-d",
    "a b",
    "\0",
    "\t",
    "=",
    ":",
    "#",
    "!",
];

const SYSTEM_EXTRA_KEYS: &[&str] = &["unknown.key", "", "arca.", "artifactory.context.path"];

/// Keys the db-properties target writes besides `arca_config::db::KNOWN_KEYS`.
const DB_EXTRA_KEYS: &[&str] = &["driver", "unknown"];

/// Keys the ha-node target writes besides `arca_config::ha_node::KNOWN_KEYS`.
const HA_EXTRA_KEYS: &[&str] = &["cluster.home", "unknown"];

const HA_EXAMPLE: &str = "node.id=art1\ncontext.url=http://10.0.0.121:8081/artifactory\n\
    membership.port=10001\nprimary=true\narca.ha.data.dir=/mnt/shared/data\n\
    arca.ha.backup.dir=/mnt/shared/backup\ncluster.interface=10.0.0.*\n";

/// Syntax tokens of Java properties that mutations insert.
const PROPERTIES_DICTIONARY: &[&str] = &[
    "=",
    ":",
    " ",
    "\t",
    "\\",
    "\\\n",
    "\\\r\n",
    "\n",
    "\r\n",
    "\r",
    "#",
    "!",
    "\\u",
    "\\u00",
    "\\uD800",
    "\\uDC00",
    "\\uFFFF",
    "\\t",
    "\\n",
    "\\=",
    "\\:",
    "\\ ",
    "\u{FEFF}",
    "\u{10FFFF}",
    "\0",
    "é",
    "99999999999999999999",
    "-",
    ".",
    "*",
];

/// A properties file: lines of `key<sep>value`, comments, blank and continued lines.
fn properties_text(rng: &mut StdRng, keys: &[&str], corpus: &[&str]) -> Vec<u8> {
    let mut text = String::new();
    if rng.gen_bool(0.1) {
        text.push_str(pick(rng, corpus));
    }
    for _ in 0..rng.gen_range(0..14) {
        match rng.gen_range(0..10) {
            0 => text.push_str(pick(rng, &["# comment", "! comment", "", "   ", "#\\"])),
            1 => {
                // a value continued on the next line
                text.push_str(pick(rng, keys));
                text.push_str("=a\\");
                text.push_str(pick(rng, &["\n", "\r\n", "\r"]));
                text.push_str(pick(rng, &["   b", "", "\\", "# not a comment"]));
            }
            _ => {
                let key = if rng.gen_bool(0.9) {
                    pick(rng, keys)
                } else {
                    pick(rng, VALUES)
                };
                text.push_str(key);
                text.push_str(pick(rng, &["=", "=", " = ", ":", " ", "\t", "=\\\n  "]));
                if rng.gen_bool(0.8) {
                    text.push_str(pick(rng, VALUES));
                } else {
                    text.push_str(&rng.r#gen::<i64>().to_string());
                }
            }
        }
        text.push_str(pick(rng, &["\n", "\n", "\n", "\r\n", "\r"]));
    }
    let mut data = text.into_bytes();
    if rng.gen_bool(0.5) {
        let other = pick(rng, corpus).as_bytes();
        mutate(rng, &mut data, PROPERTIES_DICTIONARY, other, 6, MAX_TEXT);
    }
    data
}

/// Files are read as UTF-8 (`read_text` refuses anything else), so only UTF-8 reaches the parsers.
fn as_text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

/// Every `key=value`'s value, roughly (for the value parsers called on their own).
fn rough_values(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.split_once(['=', ':']).map(|(_, v)| v.trim()))
}

fn addresses() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 121)),
        IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6("fd00::3".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)),
    ]
}

// ------------------------------------------------------------------ system.properties

pub struct SystemPropertiesTarget;

impl Target for SystemPropertiesTarget {
    fn name(&self) -> &'static str {
        "properties"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let keys = [arca_config::system::KNOWN_KEYS, SYSTEM_EXTRA_KEYS].concat();
        properties_text(rng, &keys, &[DEFAULT_SYSTEM_PROPERTIES])
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = as_text(input);
        if let Ok(props) = SystemProperties::parse(&text, Path::new("/h/etc/system.properties")) {
            let _ = props.check();
        }
        for value in rough_values(&text) {
            let _ = arca_config::system::parse_size(value);
            check_rate_mb(value)?;
        }
        Ok(())
    }
}

/// `parse_rate_mb` (the scrub rate, also from `?rate.mb=` and `arcactl storage scrub --rate-mb`):
/// what it accepts is a plain decimal within the bound, and a positive rate is at least 1 byte/s.
fn check_rate_mb(value: &str) -> Result<(), String> {
    use arca_config::system::{MAX_SCRUB_RATE_MB, parse_rate_mb};
    let Some(bytes) = parse_rate_mb(value) else {
        return Ok(());
    };
    let plain = value.trim();
    if plain.is_empty() || !plain.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("rate {value:?} accepted: not a plain decimal"));
    }
    let mb: f64 = plain
        .parse()
        .map_err(|e| format!("rate {value:?} accepted, but it is no number: {e}"))?;
    if bytes as f64 > MAX_SCRUB_RATE_MB * 1_000_000.0 {
        return Err(format!("rate {value:?} gave {bytes} B/s, over the bound"));
    }
    if mb > 0.0 && bytes == 0 {
        return Err(format!("positive rate {value:?} gave 0 B/s"));
    }
    if (bytes as f64 - mb * 1_000_000.0).abs() > 1.0 {
        return Err(format!("rate {value:?} gave {bytes} B/s"));
    }
    Ok(())
}

// ------------------------------------------------------------------ db.properties

pub struct DbPropertiesTarget {
    home: Home,
}

impl DbPropertiesTarget {
    pub fn new() -> Self {
        DbPropertiesTarget {
            home: Home::new("/nonexistent/arca-fuzz-home"),
        }
    }
}

impl Default for DbPropertiesTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for DbPropertiesTarget {
    fn name(&self) -> &'static str {
        "db-properties"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        const POSTGRES: &str =
            "type=postgresql\nurl=postgresql://h:5432/arca\nusername=arca\npassword=x\n";
        let keys = [&arca_config::db::KNOWN_KEYS[..], DB_EXTRA_KEYS].concat();
        properties_text(rng, &keys, &[DEFAULT_DB_PROPERTIES, POSTGRES])
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = as_text(input);
        let file = self.home.db_properties();
        for ha in [false, true] {
            if let Ok((db, _warnings)) =
                DbProperties::parse_with_warnings(&text, &file, &self.home, ha)
            {
                let _ = (
                    db.postgres_url(),
                    db.sqlite_path(),
                    db.password_is_encrypted(),
                );
            }
        }
        for value in rough_values(&text) {
            let _ = arca_config::db::normalize_postgres_url(value);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ ha-node.properties

pub struct HaNodeTarget {
    addresses: Vec<IpAddr>,
}

impl HaNodeTarget {
    pub fn new() -> Self {
        HaNodeTarget {
            addresses: addresses(),
        }
    }
}

impl Default for HaNodeTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for HaNodeTarget {
    fn name(&self) -> &'static str {
        "ha-node"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let keys = [&arca_config::ha_node::KNOWN_KEYS[..], HA_EXTRA_KEYS].concat();
        properties_text(rng, &keys, &[HA_EXAMPLE])
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = as_text(input);
        if let Ok((ha, _warnings)) =
            HaNodeProperties::parse_with_warnings(&text, Path::new("/h/etc/ha-node.properties"))
        {
            let _ = ha.cluster_address(&self.addresses);
            let _ = ha.context_url_path();
            if let Some(c) = &ha.context {
                let _ = (c.host_ip(), c.authority());
            }
        }
        for value in rough_values(&text) {
            let _ = check_context_url(value);
            let _ = ContextUrl::parse(value);
            let _ = is_valid_interface(value);
            let _ = resolve_cluster_interface(value, &self.addresses);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ binarystore.xml

/// The shipped examples (commented out in etc/binarystore.xml) as whole files.
fn shipped_examples() -> Vec<String> {
    DEFAULT_BINARYSTORE_XML
        .split("<!-- Example")
        .skip(1)
        .filter_map(|rest| {
            let body = &rest[..rest.find("-->")?];
            let body = &body[body.find('<')?..];
            Some(format!("<config version=\"2\">\n{body}</config>\n"))
        })
        .chain(std::iter::once(DEFAULT_BINARYSTORE_XML.to_string()))
        .collect()
}

const XML_DICTIONARY: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<provider id=\"p\" type=\"file-system\">",
    "</provider>",
    "<sub-provider id=\"s\" type=\"state-aware\"/>",
    "<dynamic-provider id=\"d\" type=\"remote\"/>",
    "<chain>",
    "</chain>",
    "<chain template=\"file-system\"/>",
    "<property name=\"a\" value=\"b\"/>",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&#xD800;",
    "&unknown;",
    "<![CDATA[x]]>",
    "<!-- c -->",
    "<!DOCTYPE config [<!ENTITY e \"&e;&e;\">]>",
    "&e;",
    "<?xml version=\"1.0\"?>",
    "=\"",
    "\"",
    "'",
    " id=\"x\"",
    " type=\"sharding\"",
    " template=\"\"",
    "xmlns=\"urn:x\"",
    "\u{FEFF}",
    "\0",
    "é",
    "\u{10FFFF}",
    "-1",
    "99999999999999999999",
    "enc:v1:AAAA",
    "s3.example:9000",
    "http://",
];

const XML_VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "-1",
    "3",
    "100",
    "99999999999999999999",
    "1GB",
    "10000000000000",
    "true",
    "false",
    "filestore",
    "/abs/dir",
    "../up",
    "s3.example.internal:9000",
    "http://s3:9000",
    "https://",
    "[::1]:9000",
    "bucket",
    "BUCKET_",
    "a/b/",
    "/lead",
    "enc:v1:AAAA",
    "é",
    "\u{10FFFF}",
    "zone-a",
    "roundRobin",
    "freeSpace",
    "percentageFreeSpace",
    "us-east-1",
    "5000",
    "1.5",
];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// `<name>value</name>` parameters of a provider type (known names mostly).
fn xml_params(rng: &mut StdRng, provider_type: &str, out: &mut String) {
    let known = known_parameters(provider_type).unwrap_or_default();
    for _ in 0..rng.gen_range(0..4) {
        let name = if !known.is_empty() && rng.gen_bool(0.85) {
            known.choose(rng).copied().unwrap_or("x")
        } else {
            pick(
                rng,
                &[
                    "unknownParam",
                    "property",
                    "provider",
                    "x-y",
                    "endpoint",
                    "identity",
                    "credential",
                ],
            )
        };
        let value = xml_escape(pick(rng, XML_VALUES));
        if name == "property" {
            out.push_str(&format!("<property name=\"{value}\" value=\"{value}\"/>"));
        } else {
            out.push_str(&format!("<{name}>{value}</{name}>"));
        }
    }
}

fn xml_provider(rng: &mut StdRng, element: &str, depth: usize, out: &mut String) {
    let ty = if rng.gen_bool(0.9) {
        pick(rng, &KNOWN_PROVIDER_TYPES)
    } else {
        pick(rng, &["s3", "blob", "", "x"])
    };
    let id = if rng.gen_bool(0.8) {
        ty.to_string()
    } else {
        pick(rng, &["p", "", " ", "dup"]).to_string()
    };
    out.push_str(&format!(
        "<{element} id=\"{}\" type=\"{ty}\">",
        xml_escape(&id)
    ));
    xml_params(rng, ty, out);
    if depth < 5 {
        match ty {
            "sharding" | "sharding-cluster" => {
                for _ in 0..rng.gen_range(0..4) {
                    xml_provider(rng, "sub-provider", depth + 1, out);
                }
                if rng.gen_bool(0.3) {
                    xml_provider(rng, "dynamic-provider", depth + 1, out);
                }
            }
            _ if rng.gen_bool(0.6) => xml_provider(rng, "provider", depth + 1, out),
            _ => {}
        }
    }
    out.push_str(&format!("</{element}>"));
}

/// A binarystore.xml: a template or explicit chain, parameter blocks; sometimes deeply nested.
pub fn binarystore_text(rng: &mut StdRng, examples: &[String]) -> Vec<u8> {
    let mut xml = String::new();
    if rng.gen_bool(0.2) {
        xml.push_str(examples.choose(rng).map(String::as_str).unwrap_or_default());
    } else {
        if rng.gen_bool(0.2) {
            xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        xml.push_str(pick(
            rng,
            &[
                "<config version=\"2\">",
                "<config>",
                "<config version=\"1\">",
                "<cfg>",
            ],
        ));
        match rng.gen_range(0..10) {
            0..=4 => {
                let template = if rng.gen_bool(0.9) {
                    pick(rng, &KNOWN_TEMPLATES)
                } else {
                    pick(rng, &["s3", "", "x"])
                };
                xml.push_str(&format!("<chain template=\"{template}\"/>"));
            }
            5 => {
                // nesting far deeper than any real chain
                let depth = *[33, 50, 500, 5000].choose(rng).unwrap_or(&50);
                xml.push_str("<chain>");
                for _ in 0..depth {
                    xml.push_str("<provider id=\"c\" type=\"cache-fs\">");
                }
                xml.push_str("<provider id=\"f\" type=\"file-system\"/>");
                for _ in 0..depth {
                    xml.push_str("</provider>");
                }
                xml.push_str("</chain>");
            }
            _ => {
                xml.push_str("<chain>");
                xml_provider(rng, "provider", 0, &mut xml);
                xml.push_str("</chain>");
            }
        }
        for _ in 0..rng.gen_range(0..4) {
            let ty = pick(rng, &KNOWN_PROVIDER_TYPES);
            xml.push_str(&format!("<provider id=\"{ty}\" type=\"{ty}\">"));
            xml_params(rng, ty, &mut xml);
            xml.push_str("</provider>");
        }
        xml.push_str("</config>");
    }
    let mut data = xml.into_bytes();
    if rng.gen_bool(0.5) {
        let other = examples
            .choose(rng)
            .map(String::as_bytes)
            .unwrap_or_default();
        mutate(rng, &mut data, XML_DICTIONARY, other, 6, 2 * MAX_TEXT);
    }
    data
}

pub struct BinaryStoreTarget {
    examples: Vec<String>,
    home: Home,
    roots: DataRoots,
    file: PathBuf,
}

impl BinaryStoreTarget {
    pub fn new() -> Self {
        let home = Home::new("/srv/arca-fuzz");
        let roots = DataRoots::new(&home, Some(Path::new("/mnt/shared")));
        BinaryStoreTarget {
            examples: shipped_examples(),
            file: home.binarystore_xml(),
            home,
            roots,
        }
    }
}

impl Default for BinaryStoreTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for BinaryStoreTarget {
    fn name(&self) -> &'static str {
        "binarystore"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        binarystore_text(rng, &self.examples)
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = as_text(input);
        if let Ok((config, _warnings)) = BinaryStoreConfig::parse_with_warnings(&text, &self.file) {
            if let Some(chain) = config.resolved_chain() {
                let _ = (chain.describe(), chain.walk().len());
            }
            let _ = config.canonical();
            let _ = config.plan(&self.home, &self.roots);
            let _ = config.file_system_layout(&self.home);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_examples_are_found() {
        let examples = shipped_examples();
        assert_eq!(examples.len(), 8);
        for xml in &examples {
            BinaryStoreConfig::parse(xml, Path::new("/h/etc/binarystore.xml"))
                .unwrap_or_else(|e| panic!("{e}\n{xml}"));
        }
    }
}
