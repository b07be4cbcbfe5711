//! `etc/ha-node.properties`: this node's identity in an HA cluster (absent = single node).

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::{Entry, PropFile};

/// Longest accepted `node.id` (it is stored as the owner of DB locks).
pub const MAX_NODE_ID_LEN: usize = 64;

const KNOWN_KEYS: [&str; 11] = [
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
    /// `context.url`: how peers reach this node (trailing `/` trimmed).
    pub context_url: Option<String>,
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

    /// The path part of `context.url` (`""` when it has none), e.g. `/artifactory`.
    pub fn context_url_path(&self) -> Option<String> {
        let url = self.context_url.as_deref()?;
        let rest = url.split_once("://")?.1;
        Some(
            rest.find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_default(),
        )
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
    let value = analyse_file(&file, &mut diags);
    (value, diags, true)
}

fn check_mode(path: &Path, diags: &mut Diags) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o133 != 0 {
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

    let context_url = match file.get_set("context.url") {
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
        Some(e) => match check_context_url(&e.value) {
            Ok(url) => Some(url),
            Err(why) => {
                diags.error(file.err(
                    e,
                    format!(
                        "'{}' is not a valid URL ({why}); expected http(s)://host:port/path",
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
        Some(e) => match e.value.as_str() {
            "true" => true,
            "false" => false,
            v => {
                diags.error(file.err(e, format!("'{v}' is not a boolean; expected true or false")));
                ok = false;
                false
            }
        },
    };

    let dir = |diags: &mut Diags, ok: &mut bool, keys: [&str; 2]| -> Option<PathBuf> {
        let e = aliased(file, keys, diags, ok)?;
        let p = Path::new(&e.value);
        if p.is_absolute() {
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

    let cluster_interface = match aliased(
        file,
        ["cluster.interface", "hazelcast.interface"],
        diags,
        &mut ok,
    ) {
        None => None,
        Some(e) => {
            if is_valid_interface(&e.value) {
                Some(e.value.clone())
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
                None
            }
        }
    };

    let node_id = node_id?;
    ok.then_some(HaNodeProperties {
        node_id,
        context_url,
        membership_port,
        primary,
        data_dir,
        backup_dir,
        cluster_interface,
    })
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

/// Check an `http(s)://host[:port][/path]` URL; trailing `/` and `\` are trimmed (as the
/// reference does).
pub fn check_context_url(raw: &str) -> Result<String, &'static str> {
    let url = raw.trim_end_matches(['/', '\\']);
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    let (scheme, rest) = url.split_once("://").ok_or("missing http:// or https://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("scheme must be http or https");
    }
    if rest.contains(['?', '#']) {
        return Err("no query or fragment allowed");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("no user info allowed");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in host")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "bad IPv6 address")?;
        (addr, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("bad host name");
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Err("bad port");
    }
    Ok(url.to_string())
}

/// An IPv4/IPv6 literal, or an IPv4 wildcard whose parts are numbers, `*` or ranges `a-b`
/// (`10.1.*.*`, `10.3.10.4-18`). Syntax only; matching a local interface is the server's job.
pub fn is_valid_interface(s: &str) -> bool {
    let s = s.trim();
    let bare = s
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(s);
    if bare.parse::<IpAddr>().is_ok() {
        return true;
    }
    let octet = |p: &str| -> Option<u8> {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            *p == "*"
                || octet(p).is_some()
                || p.split_once('-')
                    .and_then(|(a, b)| Some((octet(a)?, octet(b)?)))
                    .is_some_and(|(a, b)| a <= b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::has_errors;

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
                context_url: Some("http://10.0.0.121:8081/artifactory".into()),
                membership_port: Some(0),
                primary: true,
                data_dir: Some("/mnt/shared/data".into()),
                backup_dir: Some("/mnt/shared/backup".into()),
                cluster_interface: Some("10.0.*.*".into()),
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

    #[test]
    fn every_error_has_file_line_key() {
        let d = all(
            "node.id=bad id!\ncontext.url=ftp://x\nmembership.port=http\nprimary=yes\n\
             arca.ha.data.dir=relative/dir\narca.ha.backup.dir=/a\nartifactory.ha.backup.dir=/b\n",
        );
        let errs: Vec<_> = d
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
            .collect();
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
