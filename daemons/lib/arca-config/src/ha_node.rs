//! `etc/ha-node.properties`: this node's identity in an HA cluster (absent = single node).

use std::fmt;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::{Entry, PropFile};

/// Longest accepted `node.id` (it is stored as the owner of DB locks).
pub const MAX_NODE_ID_LEN: usize = 64;

/// The keys `ha-node.properties` accepts (any other gets a warning).
pub const KNOWN_KEYS: [&str; 11] = [
    "node.id",
    "context.url",
    "membership.port",
    "primary",
    "arca.ha.data.dir",
    "artifactory.ha.data.dir",
    "arca.ha.backup.dir",
    "artifactory.ha.backup.dir",
    "cluster.interface",
    "hazelcast.interface",
    // the reference's, accepted and ignored (warned below)
    "cross.zone.order",
];

/// Contents of `etc/ha-node.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaNodeProperties {
    /// `node.id`: unique name of this node (`[A-Za-z0-9._-]+`).
    pub node_id: String,
    /// `context.url`: how peers reach this node (trailing `/` trimmed; `configured`), in parts.
    pub context: Option<ContextUrl>,
    /// `membership.port`: accepted for compatibility, unused.
    pub membership_port: Option<u16>,
    /// `primary`: `true` on exactly one node.
    pub primary: bool,
    /// `arca.ha.data.dir` (alias `artifactory.ha.data.dir`): shared data directory.
    pub data_dir: Option<PathBuf>,
    /// `arca.ha.backup.dir` (alias `artifactory.ha.backup.dir`): shared backup directory.
    pub backup_dir: Option<PathBuf>,
    /// `cluster.interface` (alias `hazelcast.interface`): address or IPv4 wildcard (`10.1.*.*`).
    pub cluster_interface: Option<String>,
    /// Where `cluster_interface` was set (file, line, key as written), for error messages.
    pub cluster_interface_origin: Option<KeyOrigin>,
}

/// Where a value was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOrigin {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// The key as written in the file (e.g. the alias `hazelcast.interface`).
    pub key: String,
}

impl KeyOrigin {
    /// A [`ConfigError`] about this value: `<file>:<line>: <key>: <message>`.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.file, message)
            .at_line(self.line)
            .with_key(&self.key)
    }
}

/// A parsed `context.url`: `http(s)://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextUrl {
    /// `http` or `https` (lower case).
    pub scheme: String,
    /// DNS name, IPv4 address, or IPv6 address (without the brackets of the URL form).
    pub host: String,
    /// The explicit port, else 80 (`http`) or 443 (`https`).
    pub port: u16,
    /// `""` or `/…` without a trailing `/`, e.g. `/artifactory`.
    pub path: String,
    /// The URL as configured, trailing `/` and `\` trimmed: what peers and operators are shown.
    pub configured: String,
}

impl ContextUrl {
    /// Parse strictly: scheme `http`/`https`, a host (DNS name, IPv4, or bracketed IPv6 such as
    /// `[fd00::2]`), an optional port 1-65535 and an optional path; no user info, query or
    /// fragment. Trailing `/` and `\` are trimmed (as the reference does).
    pub fn parse(raw: &str) -> Result<ContextUrl, &'static str> {
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace; comments belong on their own line");
        }
        let (scheme, rest) = raw.split_once("://").ok_or("missing http:// or https://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err("scheme must be http or https"),
        };
        let rest = rest.trim_end_matches(['/', '\\']);
        if rest.contains(['?', '#']) {
            return Err("no query or fragment allowed");
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("no user info allowed");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in host")?;
            addr.parse::<Ipv6Addr>().map_err(|_| "bad IPv6 address")?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or("unexpected text after ']'")?),
            };
            (addr.to_string(), port)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if port.is_some_and(|p| p.contains(':')) {
                return Err(
                    "an IPv6 host must be in brackets, e.g. http://[fd00::2]:8081/artifactory",
                );
            }
            check_host(host)?;
            (host.to_string(), port)
        };
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err("bad port; expected 1-65535"),
            },
        };
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b));
        if !path_ok {
            return Err("bad character in path");
        }
        Ok(ContextUrl {
            scheme,
            host,
            port,
            path: path.to_string(),
            configured: trim_url(raw),
        })
    }

    /// The host as an IP address, when it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ContextUrl {
    /// Canonical form, always with the port: `http://10.0.0.1:80/artifactory`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.path)
    }
}

/// A DNS name or dotted IPv4 address.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("missing host");
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| "bad IPv4 address");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err("bad host name");
    }
    Ok(())
}

impl HaNodeProperties {
    /// `Ok(None)` when the file is absent (single-node mode); otherwise the properties and the
    /// warnings, or the first error.
    pub fn load(home: &Home) -> Result<Option<(HaNodeProperties, Vec<Diagnostic>)>, ConfigError> {
        let (value, diags, present) = analyse(home);
        if !present {
            return Ok(None);
        }
        diags.finish(value).map(Some)
    }

    /// Parse and validate `ha-node.properties` text as [`HaNodeProperties::load`] does the file
    /// (without the file's mode and owner checks); `file` names it in messages.
    pub fn parse_with_warnings(
        text: &str,
        file: &Path,
    ) -> Result<(HaNodeProperties, Vec<Diagnostic>), ConfigError> {
        let mut diags = Diags::default();
        let value = match PropFile::parse(text, file) {
            Ok(f) => analyse_file(&f, &mut diags),
            Err(e) => {
                diags.error(e);
                None
            }
        };
        diags.finish(value)
    }

    /// The path part of `context.url` (`""` when it has none), e.g. `/artifactory`.
    pub fn context_url_path(&self) -> Option<String> {
        self.context.as_ref().map(|c| c.path.clone())
    }

    /// The local address `cluster.interface` selects among `addrs` (see
    /// [`resolve_cluster_interface`]); `Ok(None)` when it is not set. The error names the file,
    /// line and key.
    pub fn cluster_address(&self, addrs: &[IpAddr]) -> Result<Option<IpAddr>, ConfigError> {
        let Some(spec) = self.cluster_interface.as_deref() else {
            return Ok(None);
        };
        resolve_cluster_interface(spec, addrs)
            .map(Some)
            .map_err(|why| match &self.cluster_interface_origin {
                Some(origin) => origin.error(why),
                None => ConfigError::new("ha-node.properties", why).with_key("cluster.interface"),
            })
    }
}

/// `(value, diagnostics, file present)`.
pub(crate) fn analyse(home: &Home) -> (Option<HaNodeProperties>, Diags, bool) {
    let path = home.ha_node_properties();
    let mut diags = Diags::default();
    let file = match PropFile::read(&path) {
        Ok(Some(f)) => f,
        Ok(None) => return (None, diags, false),
        Err(e) => {
            diags.error(e);
            return (None, diags, true);
        }
    };
    check_mode(&path, &mut diags);
    crate::perms::check_owner(&path, &mut diags);
    let value = analyse_file(&file, &mut diags);
    (value, diags, true)
}

fn check_mode(path: &Path, diags: &mut Diags) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        // Any bit outside rw-r--r--, set-id and sticky bits included.
        if mode & !0o644 != 0 {
            diags.warn(ConfigError::new(
                path,
                format!(
                    "permissions {mode:04o} are wider than 0644; run: chmod 644 {}",
                    path.display()
                ),
            ));
        }
    }
}

pub(crate) fn analyse_file(file: &PropFile, diags: &mut Diags) -> Option<HaNodeProperties> {
    file.check_duplicates(diags);
    for e in &file.entries {
        match e.key.as_str() {
            "cross.zone.order" => diags.warn(file.err(e, "ignored: arca has no cross-zone sharding")),
            "cluster.home" => diags.warn(file.err(
                e,
                "ignored: obsolete (3.x/4.x cluster home); use arca.ha.data.dir and arca.ha.backup.dir",
            )),
            k if KNOWN_KEYS.contains(&k) => {}
            _ => diags.warn(file.err(e, "unknown key")),
        }
    }

    let mut ok = true;
    let node_id = match file.get_set("node.id") {
        None => {
            diags.error(
                ConfigError::new(&file.path, "missing required key: this node's unique name")
                    .with_key("node.id"),
            );
            None
        }
        Some(e) => {
            let valid = e
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                diags.error(file.err(
                    e,
                    format!(
                        "'{}' is not a valid node id; use letters, digits, '.', '_', '-'",
                        e.value
                    ),
                ));
                None
            } else if e.value.len() > MAX_NODE_ID_LEN {
                diags.error(file.err(e, format!("longer than {MAX_NODE_ID_LEN} characters")));
                None
            } else {
                Some(e.value.clone())
            }
        }
    };

    let context = match file.get_set("context.url") {
        None => {
            let mut w = ConfigError::new(
                &file.path,
                "not set; peers and `arcactl ha check` cannot reach this node \
                 (e.g. context.url=http://10.0.0.1:8081/artifactory)",
            )
            .with_key("context.url");
            w.line = file.get("context.url").map(|e| e.line);
            diags.warn(w);
            None
        }
        Some(e) => match ContextUrl::parse(&e.value) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                diags.error(file.err(
                    e,
                    format!(
                        "'{}' is not a valid URL ({why}); expected http(s)://host[:port][/path], \
                         e.g. http://10.0.0.1:8081/artifactory or http://[fd00::2]:8081/artifactory",
                        e.value
                    ),
                ));
                ok = false;
                None
            }
        },
    };

    let membership_port = match file.get_set("membership.port") {
        None => None,
        Some(e) => match e.value.parse::<u16>() {
            Ok(port) => {
                if port != 0 {
                    diags.warn(file.err(
                        e,
                        "deprecated and ignored: arca needs no membership port; remove it or set 0",
                    ));
                }
                Some(port)
            }
            Err(_) => {
                diags.error(file.err(e, format!("'{}' is not a port number (0-65535)", e.value)));
                ok = false;
                None
            }
        },
    };

    let primary = match file.get_set("primary") {
        None => false,
        // Any case, as Java's Boolean.parseBoolean reads the reference's files; but where Java
        // would quietly take "yes" for false, that is an error here.
        Some(e) => match e.value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                let v = &e.value;
                diags.error(file.err(e, format!("'{v}' is not a boolean; expected true or false")));
                ok = false;
                false
            }
        },
    };

    let dir = |diags: &mut Diags, ok: &mut bool, keys: [&str; 2]| -> Option<PathBuf> {
        let e = aliased(file, keys, diags, ok)?;
        let p = Path::new(&e.value);
        if is_windows_path(&e.value) {
            // arca runs on Unix only. Written with single backslashes, C:\data\arca reads as
            // C:dataarca: say why.
            let hint = if e.value.contains(['\\', '/']) {
                ""
            } else {
                " (a single \\ in this file escapes the next character; write \\\\ for \\)"
            };
            diags.error(file.err(
                e,
                format!(
                    "'{}' is a Windows path{hint}; arca needs an absolute Unix path, \
                     e.g. /mnt/arca-shared/data",
                    e.value
                ),
            ));
            *ok = false;
            None
        } else if p.is_absolute() {
            if e.value.chars().any(char::is_whitespace) {
                // Legal in a path, but usually a note copied along with it.
                diags.warn(file.err(
                    e,
                    format!(
                        "'{}' contains whitespace; if part of it is a note such as \
                         '(optional)', move that to a # comment line",
                        e.value
                    ),
                ));
            }
            Some(p.to_path_buf())
        } else {
            diags.error(file.err(e, format!("'{}' is not an absolute path", e.value)));
            *ok = false;
            None
        }
    };
    let data_dir = dir(
        diags,
        &mut ok,
        ["arca.ha.data.dir", "artifactory.ha.data.dir"],
    );
    let backup_dir = dir(
        diags,
        &mut ok,
        ["arca.ha.backup.dir", "artifactory.ha.backup.dir"],
    );

    let (cluster_interface, cluster_interface_origin) = match aliased(
        file,
        ["cluster.interface", "hazelcast.interface"],
        diags,
        &mut ok,
    ) {
        None => (None, None),
        Some(e) => {
            if is_valid_interface(&e.value) {
                let origin = KeyOrigin {
                    file: file.path.clone(),
                    line: e.line,
                    key: e.key.clone(),
                };
                (Some(e.value.clone()), Some(origin))
            } else {
                diags.error(file.err(
                    e,
                    format!(
                        "'{}' is not an IPv4/IPv6 address or IPv4 wildcard (e.g. 10.1.2.3, fd00::3, \
                         10.1.*.*, 10.1.2.10-20)",
                        e.value
                    ),
                ));
                ok = false;
                (None, None)
            }
        }
    };

    let node_id = node_id?;
    ok.then_some(HaNodeProperties {
        node_id,
        context,
        membership_port,
        primary,
        data_dir,
        backup_dir,
        cluster_interface,
        cluster_interface_origin,
    })
}

/// `C:\…`, `C:/…`, `C:…` (what `C:\data` without doubled backslashes reads as) or a UNC path
/// `\\server\share`.
fn is_windows_path(s: &str) -> bool {
    let b = s.as_bytes();
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    drive || s.starts_with("\\\\")
}

/// The effective entry of a key that has an alias: `[ours, reference's]`.
fn aliased<'f>(
    file: &'f PropFile,
    keys: [&str; 2],
    diags: &mut Diags,
    ok: &mut bool,
) -> Option<&'f Entry> {
    match (file.get_set(keys[0]), file.get_set(keys[1])) {
        (Some(a), Some(b)) => {
            if a.value == b.value {
                diags.warn(file.err(
                    b,
                    format!("same as {} (line {}); remove one", keys[0], a.line),
                ));
            } else {
                diags.error(file.err(
                    b,
                    format!(
                        "conflicts with {} on line {} ('{}' vs '{}'); set only one",
                        keys[0], a.line, a.value, b.value
                    ),
                ));
                *ok = false;
            }
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

/// Check an `http(s)://host[:port][/path]` URL (see [`ContextUrl::parse`]) and return it with
/// trailing `/` and `\` trimmed (as the reference does).
pub fn check_context_url(raw: &str) -> Result<String, &'static str> {
    Ok(ContextUrl::parse(raw)?.configured)
}

/// `raw` without trailing `/` and `\` after the `scheme://` part.
fn trim_url(raw: &str) -> String {
    match raw.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.trim_end_matches(['/', '\\'])),
        None => raw.to_string(),
    }
}

/// An IPv4/IPv6 literal, or an IPv4 wildcard whose parts are numbers, `*` or ranges `a-b`
/// (`10.1.*.*`, `10.3.10.4-18`). Syntax only; [`resolve_cluster_interface`] matches it.
pub fn is_valid_interface(s: &str) -> bool {
    parse_interface(s).is_some()
}

/// A parsed `cluster.interface` value.
enum InterfaceSpec {
    Exact(IpAddr),
    /// Inclusive range of each IPv4 octet.
    Wildcard([(u8, u8); 4]),
}

impl InterfaceSpec {
    fn matches(&self, addr: IpAddr) -> bool {
        match (self, addr) {
            (InterfaceSpec::Exact(want), a) => *want == a,
            (InterfaceSpec::Wildcard(ranges), IpAddr::V4(a)) => ranges
                .iter()
                .zip(a.octets())
                .all(|((lo, hi), o)| (*lo..=*hi).contains(&o)),
            (InterfaceSpec::Wildcard(_), IpAddr::V6(_)) => false,
        }
    }
}

fn parse_interface(s: &str) -> Option<InterfaceSpec> {
    let s = s.trim();
    let bare = s
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(InterfaceSpec::Exact(ip));
    }
    let octet = |p: &str| -> Option<u8> {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let mut ranges = [(0u8, 255u8); 4];
    let mut parts = s.split('.');
    for range in &mut ranges {
        let p = parts.next()?;
        *range = if p == "*" {
            (0, 255)
        } else if let Some(n) = octet(p) {
            (n, n)
        } else {
            let (a, b) = p.split_once('-')?;
            let (a, b) = (octet(a)?, octet(b)?);
            if a > b {
                return None;
            }
            (a, b)
        };
    }
    if parts.next().is_some() {
        return None;
    }
    Some(InterfaceSpec::Wildcard(ranges))
}

/// This host's interface addresses (IPv4 and IPv6, duplicates removed, in `getifaddrs` order).
pub fn local_addresses() -> Result<Vec<IpAddr>, ConfigError> {
    let ifaces = nix::ifaddrs::getifaddrs().map_err(|e| {
        ConfigError::new(
            "getifaddrs",
            format!("cannot list this host's network interfaces: {e}"),
        )
    })?;
    let mut out: Vec<IpAddr> = Vec::new();
    for iface in ifaces {
        let Some(addr) = iface.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    Ok(out)
}

/// Whether this host can bind `ip` (a UDP socket on an ephemeral port, closed at once).
fn can_bind(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// The one address among `addrs` that `spec` (a `cluster.interface` value: exact IPv4/IPv6
/// address, or IPv4 wildcard such as `10.1.*.*` / `10.1.2.10-20`) selects. No match, several
/// matches, or a malformed `spec` is an error message listing the candidates.
pub fn resolve_cluster_interface(spec: &str, addrs: &[IpAddr]) -> Result<IpAddr, String> {
    let parsed = parse_interface(spec).ok_or_else(|| {
        format!(
            "'{spec}' is not an IPv4/IPv6 address or IPv4 wildcard (e.g. 10.1.2.3, fd00::3, \
             10.1.*.*, 10.1.2.10-20)"
        )
    })?;
    let mut matches: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if parsed.matches(*a) && !matches.contains(a) {
            matches.push(*a);
        }
    }
    let list = |v: &[IpAddr]| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => match &parsed {
            // An address the host can bind without listing it: 127.0.0.0/8 on the loopback
            // interface (listed as 127.0.0.1 only).
            InterfaceSpec::Exact(ip) if can_bind(*ip) => Ok(*ip),
            _ => Err(format!(
                "'{spec}' matches no address of this host (nor can this host bind it); this \
                 host's addresses: {}",
                list(addrs)
            )),
        },
        several => Err(format!(
            "'{spec}' matches several addresses of this host ({}); use a narrower pattern or \
             an exact address",
            list(several)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{error_sites, has_errors};

    fn home_with(text: &str) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        fs::create_dir_all(home.etc()).unwrap();
        fs::write(home.ha_node_properties(), text).unwrap();
        fs::set_permissions(home.ha_node_properties(), fs::Permissions::from_mode(0o644)).unwrap();
        (dir, home)
    }

    fn all(text: &str) -> Vec<Diagnostic> {
        let (_d, home) = home_with(text);
        analyse(&home).1.list
    }

    #[test]
    fn absent_is_single_node() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            HaNodeProperties::load(&Home::new(dir.path()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn full_file() {
        let (_d, home) = home_with(
            "node.id=art-1.eu_west\ncontext.url=http://10.0.0.121:8081/artifactory/\n\
             membership.port=0\nprimary=true\nartifactory.ha.data.dir=/mnt/shared/data\n\
             arca.ha.backup.dir=/mnt/shared/backup\nhazelcast.interface=10.0.*.*\n",
        );
        let (p, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            p,
            HaNodeProperties {
                node_id: "art-1.eu_west".into(),
                context: Some(ContextUrl {
                    scheme: "http".into(),
                    host: "10.0.0.121".into(),
                    port: 8081,
                    path: "/artifactory".into(),
                    configured: "http://10.0.0.121:8081/artifactory".into(),
                }),
                membership_port: Some(0),
                primary: true,
                data_dir: Some("/mnt/shared/data".into()),
                backup_dir: Some("/mnt/shared/backup".into()),
                cluster_interface: Some("10.0.*.*".into()),
                cluster_interface_origin: Some(KeyOrigin {
                    file: home.ha_node_properties(),
                    line: 7,
                    key: "hazelcast.interface".into(),
                }),
            }
        );
        assert_eq!(p.context_url_path().as_deref(), Some("/artifactory"));
    }

    #[test]
    fn shipped_example_is_valid() {
        let (_d, home) = home_with(crate::home::HA_NODE_PROPERTIES_EXAMPLE);
        let (p, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.node_id, "art1");
        assert!(p.primary);
    }

    #[test]
    fn windows_path_escapes_and_continuation() {
        let (_d, home) =
            home_with("node.id=n1\ncontext.url=http://h:1/a\narca.ha.data.dir=/mnt/\\\n  shared\n");
        let (p, _) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(p.data_dir, Some(PathBuf::from("/mnt/shared")));
    }

    #[test]
    fn java_escapes_in_values() {
        // What java.util.Properties.store writes: escaped ':' and '=', \uXXXX, a continuation.
        let (_d, home) = home_with(
            "node\\.id=art\\u002d1\ncontext.url=http\\://[::1]\\:8081/artifactory/\n\
             arca.ha.backup.dir=/mnt/sh\\\n    ared/b\\=1\n",
        );
        let (p, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(p.node_id, "art-1");
        assert_eq!(
            p.context.as_ref().map(|c| c.configured.as_str()),
            Some("http://[::1]:8081/artifactory")
        );
        let c = p.context.unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 8081));
        assert_eq!(p.backup_dir, Some(PathBuf::from("/mnt/shared/b=1")));
    }

    #[test]
    fn windows_paths_are_read_then_refused() {
        // C:\\data\\arca in the file is C:\data\arca; arca runs on Unix, so it is an error.
        for (line, value, hint) in [
            (
                "arca.ha.data.dir=C:\\\\data\\\\arca",
                "C:\\data\\arca",
                false,
            ),
            (
                "artifactory.ha.data.dir=\\\\\\\\nas\\\\share",
                "\\\\nas\\share",
                false,
            ),
            ("arca.ha.data.dir=C:\\data\\arca", "C:dataarca", true),
        ] {
            let (_d, home) = home_with(&format!("node.id=n1\ncontext.url=http://h/a\n{line}\n"));
            let e = HaNodeProperties::load(&home).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(3), line.split('=').next())
            );
            assert!(
                e.message
                    .starts_with(&format!("'{value}' is a Windows path")),
                "{e}"
            );
            assert_eq!(e.message.contains("write \\\\ for \\"), hint, "{e}");
        }
    }

    #[test]
    fn dir_with_copied_note_warns() {
        let (_d, home) = home_with(
            "node.id=n1\ncontext.url=http://h/a\narca.ha.data.dir=/mnt/shared (optional)\n",
        );
        let (p, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(p.data_dir, Some(PathBuf::from("/mnt/shared (optional)")));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            (w[0].error.line, w[0].error.key.as_deref()),
            (Some(3), Some("arca.ha.data.dir"))
        );
        assert!(w[0].error.message.contains("whitespace"), "{}", w[0]);
    }

    #[test]
    fn primary_values() {
        for (v, want) in [
            ("true", true),
            ("false", false),
            ("TRUE", true),
            ("False", false),
        ] {
            let (_d, home) = home_with(&format!(
                "node.id=n1\ncontext.url=http://h/a\nprimary={v}\n"
            ));
            assert_eq!(
                HaNodeProperties::load(&home).unwrap().unwrap().0.primary,
                want,
                "{v}"
            );
        }
        // Unset or empty: not the primary.
        let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\nprimary=\n");
        assert!(!HaNodeProperties::load(&home).unwrap().unwrap().0.primary);
        for v in ["yes", "1", "on", "true (optional)"] {
            let (_d, home) = home_with(&format!(
                "node.id=n1\ncontext.url=http://h/a\nprimary={v}\n"
            ));
            let e = HaNodeProperties::load(&home).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(3), Some("primary")),
                "{v}"
            );
            assert!(e.message.contains("expected true or false"), "{e}");
        }
    }

    #[test]
    fn membership_port_values() {
        let load = |v: &str| {
            let (_d, home) = home_with(&format!(
                "node.id=n1\ncontext.url=http://h/a\nmembership.port={v}\n"
            ));
            HaNodeProperties::load(&home)
        };
        let (p, w) = load("0").unwrap().unwrap();
        assert_eq!((p.membership_port, w.len()), (Some(0), 0));
        let (p, w) = load("10002").unwrap().unwrap();
        assert_eq!(p.membership_port, Some(10002));
        assert_eq!(w.len(), 1);
        assert!(!w[0].is_error());
        for bad in ["65536", "-1", "10002 (optional)"] {
            let e = load(bad).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(3), Some("membership.port"))
            );
        }
    }

    #[test]
    fn interface_with_comment_text_is_error_with_line_and_key() {
        let (_d, home) = home_with(
            "node.id=n1\ncontext.url=http://h:8081/a\ncluster.interface=192.168.0.2 (optional)\n",
        );
        let e = HaNodeProperties::load(&home).unwrap_err();
        assert_eq!(e.file, home.ha_node_properties());
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("cluster.interface"))
        );
        assert!(
            e.to_string()
                .contains("ha-node.properties:3: cluster.interface: '192.168.0.2 (optional)'"),
            "{e}"
        );
    }

    #[test]
    fn interface_syntax() {
        for ok in [
            "10.1.2.3",
            "fd00::3",
            "[fe80::1]",
            "10.1.*.*",
            "10.3.10.4-18",
            "*.*.*.*",
        ] {
            assert!(is_valid_interface(ok), "{ok}");
        }
        for bad in [
            "10.1.*",
            "10.1.2.300",
            "10.1.2.9-3",
            "eth0",
            "10.1.2.3 x",
            "",
            "1.2.3.-",
        ] {
            assert!(!is_valid_interface(bad), "{bad}");
        }
    }

    #[test]
    fn context_url_syntax() {
        assert_eq!(
            check_context_url("https://a.b:443/x/").unwrap(),
            "https://a.b:443/x"
        );
        assert_eq!(
            check_context_url("http://[::1]:8081\\").unwrap(),
            "http://[::1]:8081"
        );
        for bad in [
            "ftp://h/x",
            "h:8081/x",
            "http://:80/x",
            "http://h:99999/x",
            "http://h/x?y",
            "http://h x/",
            "http://u@h/",
        ] {
            assert!(check_context_url(bad).is_err(), "{bad}");
        }
    }

    fn url(s: &str) -> ContextUrl {
        ContextUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn context_url_forms() {
        let u = url("http://10.0.0.1:8081/artifactory/");
        assert_eq!(
            u,
            ContextUrl {
                scheme: "http".into(),
                host: "10.0.0.1".into(),
                port: 8081,
                path: "/artifactory".into(),
                configured: "http://10.0.0.1:8081/artifactory".into(),
            }
        );
        assert_eq!(u.host_ip(), Some(IpAddr::from([10, 0, 0, 1])));
        let u = url("http://[fd00::2]:8081/artifactory");
        assert_eq!((u.host.as_str(), u.port), ("fd00::2", 8081));
        assert_eq!(u.to_string(), "http://[fd00::2]:8081/artifactory");
        assert_eq!(u.host_ip(), "fd00::2".parse().ok());
        let u = url("http://[::1]/");
        assert_eq!((u.port, u.path.as_str()), (80, ""));
        let u = url("HTTPS://Node-1.example.com//");
        assert_eq!(u.scheme, "https");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("Node-1.example.com", 443, "")
        );
        assert_eq!(u.authority(), "Node-1.example.com:443");
        assert_eq!(url("http://h:65535/a/b%20c").path, "/a/b%20c");
        assert_eq!(url("http://art_1").host, "art_1");
    }

    #[test]
    fn context_url_rejects() {
        for (bad, why) in [
            ("ftp://h/x", "scheme must be http or https"),
            ("h:8081/x", "missing http://"),
            ("http://", "missing host"),
            ("http:///artifactory", "missing host"),
            ("http://:80/x", "missing host"),
            ("http://h:0/x", "bad port"),
            ("http://h:99999/x", "bad port"),
            ("http://h:/x", "bad port"),
            ("http://h:+80/x", "bad port"),
            ("http://h:80x/x", "bad port"),
            ("http://h/x?y=1", "no query"),
            ("http://h/x#top", "no query"),
            ("http://u:p@h/", "no user info"),
            ("http://host:8081 (optional)", "whitespace"),
            ("http://fd00::2:8081/a", "IPv6 host must be in brackets"),
            ("http://[fd00::2/a", "unclosed"),
            ("http://[fd00::zz]/a", "bad IPv6"),
            ("http://[fd00::2]x/a", "after ']'"),
            ("http://10.0.0.300/a", "bad IPv4"),
            ("http://10.0.0/a", "bad IPv4"),
            ("http://-h/a", "bad host name"),
            ("http://a..b/a", "bad host name"),
            ("http://h/a<b>", "bad character in path"),
            ("http://h/a\\b", "bad character in path"),
        ] {
            match ContextUrl::parse(bad) {
                Ok(u) => panic!("{bad} accepted as {u:?}"),
                Err(e) => assert!(e.contains(why), "{bad}: {e}"),
            }
        }
    }

    #[test]
    fn context_url_error_names_file_line_key_and_form() {
        let (_d, home) = home_with("node.id=n1\ncontext.url=http://host:8081 (optional)\n");
        let e = HaNodeProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("context.url")));
        assert!(
            e.to_string().contains("ha-node.properties:2: context.url: 'http://host:8081 (optional)' is not a valid URL"),
            "{e}"
        );
        assert!(
            e.message.contains("http://[fd00::2]:8081/artifactory"),
            "{e}"
        );
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn interface_matching() {
        let addrs = ips(&[
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.7",
            "::1",
            "fd00::3",
            "10.2.0.1",
        ]);
        let one = |spec: &str| resolve_cluster_interface(spec, &addrs);
        assert_eq!(one("10.1.2.3"), Ok(addrs[1]));
        assert_eq!(one("fd00::3"), Ok(addrs[4]));
        assert_eq!(one("[fd00::3]"), Ok(addrs[4]));
        assert_eq!(one("10.1.*.*"), Ok(addrs[1]));
        assert_eq!(one("192.168.0.1-9"), Ok(addrs[2]));
        assert_eq!(
            one("*.*.*.1"),
            Err("'*.*.*.1' matches several addresses of this host \
            (127.0.0.1, 10.2.0.1); use a narrower pattern or an exact address"
                .into())
        );
        let all = "127.0.0.1, 10.1.2.3, 192.168.0.7, ::1, fd00::3, 10.2.0.1";
        assert_eq!(
            one("10.9.*.*"),
            Err(format!(
                "'10.9.*.*' matches no address of this host (nor can this host bind it); this \
                 host's addresses: {all}"
            ))
        );
        assert_eq!(
            one("fd00::4"),
            Err(format!(
                "'fd00::4' matches no address of this host (nor can this host bind it); this \
                 host's addresses: {all}"
            ))
        );
        assert!(
            one("192.168.0.2 (optional)")
                .unwrap_err()
                .contains("is not an IPv4/IPv6")
        );
        // Not listed, but bindable: any 127.0.0.0/8 address on the loopback interface.
        assert_eq!(one("127.0.0.12"), Ok("127.0.0.12".parse().unwrap()));
        assert!(one("203.0.113.7").is_err(), "TEST-NET-3 is bound nowhere");
        assert!(
            resolve_cluster_interface("10.1.2.3", &[])
                .unwrap_err()
                .ends_with("addresses: (none)")
        );
        // the same address on two interfaces is one match
        assert_eq!(
            resolve_cluster_interface("10.*.*.*", &ips(&["10.0.0.1", "10.0.0.1"])),
            Ok(ips(&["10.0.0.1"])[0])
        );
    }

    #[test]
    fn local_addresses_include_loopback() {
        let addrs = local_addresses().unwrap();
        assert!(addrs.contains(&IpAddr::from([127, 0, 0, 1])), "{addrs:?}");
    }

    #[test]
    fn cluster_address_method() {
        let (_d, home) =
            home_with("node.id=n1\ncontext.url=http://h/a\n\ncluster.interface=10.1.*.*\n");
        let (p, _) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(
            p.cluster_address(&ips(&["10.1.0.5"])).unwrap(),
            ips(&["10.1.0.5"]).first().copied()
        );
        let e = p.cluster_address(&ips(&["10.2.0.5"])).unwrap_err();
        assert_eq!(
            (e.file.clone(), e.line, e.key.as_deref()),
            (
                home.ha_node_properties(),
                Some(4),
                Some("cluster.interface")
            )
        );
        let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\n");
        let (p, _) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(p.cluster_address(&[]).unwrap(), None);
    }

    #[test]
    fn other_owner_warns() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root can give a file away
        }
        let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\n");
        nix::unistd::chown(
            &home.ha_node_properties(),
            Some(nix::unistd::Uid::from_raw(65534)),
            None,
        )
        .unwrap();
        let (_, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].error.message.contains("owned by"), "{}", w[0]);
    }

    #[test]
    fn every_error_has_file_line_key() {
        let d = all(
            "node.id=bad id!\ncontext.url=ftp://x\nmembership.port=http\nprimary=yes\n\
             arca.ha.data.dir=relative/dir\narca.ha.backup.dir=/a\nartifactory.ha.backup.dir=/b\n",
        );
        let errs = error_sites(&d);
        assert_eq!(
            errs,
            vec![
                (Some(1), "node.id".into()),
                (Some(2), "context.url".into()),
                (Some(3), "membership.port".into()),
                (Some(4), "primary".into()),
                (Some(5), "arca.ha.data.dir".into()),
                (Some(7), "artifactory.ha.backup.dir".into()),
            ]
        );
    }

    #[test]
    fn missing_and_long_node_id() {
        let (_d, home) = home_with("primary=false\n");
        let e = HaNodeProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (None, Some("node.id")));
        let (_d, home) = home_with(&format!("node.id={}\n", "n".repeat(65)));
        let e = HaNodeProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("node.id")));
    }

    #[test]
    fn warnings() {
        let d = all(
            "node.id=n1\nmembership.port=10001\nfoo.bar=1\ncluster.home=/x\n\
             cluster.interface=10.0.0.1\nhazelcast.interface=10.0.0.1\nnode.id=n1\n",
        );
        assert!(!has_errors(&d), "{d:?}");
        let w: Vec<_> = d
            .iter()
            .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            w,
            vec![
                (Some(7), "node.id".into()),
                (Some(3), "foo.bar".into()),
                (Some(4), "cluster.home".into()),
                (None, "context.url".into()),
                (Some(2), "membership.port".into()),
                (Some(6), "hazelcast.interface".into()),
            ]
        );
        assert!(d[1].error.message.contains("unknown key"));
        assert!(d[4].error.message.contains("deprecated"));
    }

    #[test]
    fn permissions_up_to_0644_are_quiet() {
        for mode in [0o644, 0o640, 0o600, 0o400] {
            let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\n");
            fs::set_permissions(home.ha_node_properties(), fs::Permissions::from_mode(mode))
                .unwrap();
            let (_, w) = HaNodeProperties::load(&home).unwrap().unwrap();
            assert!(w.is_empty(), "{mode:o}: {w:?}");
        }
        for mode in [0o646, 0o755, 0o4644, 0o1644] {
            let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\n");
            fs::set_permissions(home.ha_node_properties(), fs::Permissions::from_mode(mode))
                .unwrap();
            let (_, w) = HaNodeProperties::load(&home).unwrap().unwrap();
            assert_eq!(w.len(), 1, "{mode:o}: {w:?}");
            assert!(
                w[0].error
                    .message
                    .contains(&format!("{mode:04o} are wider"))
            );
        }
    }

    #[test]
    fn wide_permissions_warn() {
        let (_d, home) = home_with("node.id=n1\ncontext.url=http://h/a\n");
        fs::set_permissions(home.ha_node_properties(), fs::Permissions::from_mode(0o664)).unwrap();
        let (_, w) = HaNodeProperties::load(&home).unwrap().unwrap();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].error.message.contains("0664 are wider than 0644"),
            "{}",
            w[0]
        );
        assert_eq!(w[0].error.line, None);
    }
}
