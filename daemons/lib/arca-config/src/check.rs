//! `check_home`: validate every config file of a home and collect all problems;
//! [`require_valid`]: the same check, logged, failing on an error. Both are
//! [`NodeConfig`](crate::node::NodeConfig)'s one pass over `etc/`.

use std::path::PathBuf;

use crate::error::Diagnostic;
use crate::home::Home;
use crate::node::{ConfigRejected, NodeConfig};

/// Validate everything under `home` ([`check_home`]), log each problem (errors and warnings)
/// and fail when there is an error. [`NodeConfig::load`] also returns the values.
pub fn require_valid(home: &Home) -> Result<(), ConfigRejected> {
    NodeConfig::load(home).map(drop)
}

/// [`require_valid`], except that problems in the files of `tolerated` are logged as warnings
/// (see [`NodeConfig::load_except`]).
pub fn require_valid_except(home: &Home, tolerated: &[PathBuf]) -> Result<(), ConfigRejected> {
    NodeConfig::load_except(home, tolerated).map(drop)
}

/// Validate everything under `home`: each file that exists (absent files mean their defaults).
/// Collects all problems instead of stopping at the first. Errors mean the node must not start.
pub fn check_home(home: &Home) -> Vec<Diagnostic> {
    NodeConfig::analyse(home).diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binarystore;
    use crate::error::has_errors;
    use std::fs;

    fn fresh() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.init_layout().unwrap();
        (dir, home)
    }

    fn put(path: std::path::PathBuf, text: &str) {
        fs::write(path, text).unwrap();
    }

    #[test]
    fn fresh_home_is_clean() {
        let (_d, home) = fresh();
        let d = check_home(&home);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn missing_home_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = check_home(&Home::new(dir.path().join("nope")));
        assert_eq!(d.len(), 1);
        assert!(d[0].is_error());
    }

    #[test]
    fn empty_home_warns_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = check_home(&Home::new(dir.path()));
        assert!(!has_errors(&d), "{d:?}");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn collects_problems_of_every_file() {
        let (_d, home) = fresh();
        put(
            home.ha_node_properties(),
            "node.id=n2\ncontext.url=http://h:8081/a\nprimary=false\n",
        );
        put(
            home.binarystore_xml(),
            "<config version=\"2\">\n  <chain template=\"bogus\"/>\n</config>\n",
        );
        put(home.system_properties(), "arca.gc.grace.secs=soon\n");
        put(home.master_key(), "not-a-key");
        let d = check_home(&home);
        let errors: Vec<String> = d
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        let etc = home.etc().display().to_string();
        assert_eq!(
            errors,
            vec![
                format!(
                    "error: {etc}/db.properties:{}: type: HA needs an external database: sqlite is only for a single node and etc/ha-node.properties exists; set type=postgresql with url, username and password",
                    crate::home::DEFAULT_DB_PROPERTIES
                        .lines()
                        .position(|l| l == "type=sqlite")
                        .unwrap()
                        + 1
                ),
                format!(
                    "error: {etc}/binarystore.xml:2: template: unknown template 'bogus'; known templates: {}",
                    binarystore::KNOWN_TEMPLATES.join(", ")
                ),
                format!(
                    "error: {etc}/system.properties:1: arca.gc.grace.secs: 'soon' is invalid; expected a whole number of seconds"
                ),
                format!(
                    "error: {etc}/security/master.key: contains characters that are not hexadecimal; expected 32 hexadecimal characters (an AES-128 key, e.g. from `openssl rand -hex 16`)"
                ),
            ]
        );
    }

    #[test]
    fn runnable_chains_are_clean_and_others_refused() {
        let (_d, home) = fresh();
        put(
            home.binarystore_xml(),
            "<config>\n<chain template=\"cache-fs\"/></config>",
        );
        let d = check_home(&home);
        assert!(d.is_empty(), "{d:?}");

        put(
            home.binarystore_xml(),
            "<config>\n<chain template=\"full-db\"/></config>",
        );
        let d = check_home(&home);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].is_error());
        assert!(
            d[0].to_string().ends_with(
                "binarystore.xml:2: template: template 'full-db': binaries in the database \
                 are not supported; use file-system or s3-storage-v3"
            ),
            "{}",
            d[0]
        );
    }

    #[test]
    fn bad_values_are_all_reported_once_with_the_shape_error() {
        let (_d, home) = fresh();
        fs::write(
            home.binarystore_xml(),
            "<config>\n<chain template=\"cache-fs\"/>\n\
             <provider id=\"cache-fs\" type=\"cache-fs\">\n\
             <maxCacheSize>5GB</maxCacheSize>\n\
             <skipDuringUpload>yes</skipDuringUpload>\n\
             </provider></config>",
        )
        .unwrap();
        let d = check_home(&home);
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        let file = home.binarystore_xml().display().to_string();
        assert_eq!(
            text,
            vec![
                format!(
                    "error: {file}:4: maxCacheSize: provider 'cache-fs': expected a size in bytes (e.g. 5000000000), got '5GB'"
                ),
                format!(
                    "error: {file}:5: skipDuringUpload: provider 'cache-fs': expected true or false, got 'yes'"
                ),
            ]
        );

        // A chain arca does not run is reported next to the value errors.
        fs::write(
            home.binarystore_xml(),
            "<config><chain>\n<provider id=\"r\" type=\"retry\">\n\
             <maxTrys>0</maxTrys>\n\
             <provider id=\"fs\" type=\"file-system\"/></provider></chain></config>",
        )
        .unwrap();
        let d = check_home(&home);
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].ends_with(
                ":3: maxTrys: provider 'r': expected a whole number of at least 1, got '0'"
            ),
            "{text:?}"
        );
        assert!(
            text[1].contains(":2: provider: provider 'r' (type 'retry'): retry must wrap s3-storage-v3 or google-storage-v2, not 'file-system'"),
            "{text:?}"
        );
    }

    fn ha_with_interface(interface: &str) -> (tempfile::TempDir, Home) {
        let (d, home) = fresh();
        put(
            home.db_properties(),
            "type=postgresql\nurl=postgresql://db/arca\nusername=arca\n",
        );
        put(
            home.ha_node_properties(),
            &format!("node.id=n1\ncontext.url=http://h:8081/a\nprimary=true\n{interface}\n"),
        );
        (d, home)
    }

    #[test]
    fn cluster_interface_matching_loopback_is_clean() {
        let (_d, home) = ha_with_interface("cluster.interface=127.0.0.*");
        let d = check_home(&home);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn cluster_interface_without_local_match_is_error_listing_addresses() {
        for key in ["cluster.interface", "hazelcast.interface"] {
            let (_d, home) = ha_with_interface(&format!("{key}=203.0.113.77"));
            let d = check_home(&home);
            assert_eq!(d.len(), 1, "{d:?}");
            assert!(d[0].is_error());
            let e = &d[0].error;
            assert_eq!(e.file, home.ha_node_properties());
            assert_eq!((e.line, e.key.as_deref()), (Some(4), Some(key)));
            let text = d[0].to_string();
            let expected = format!(
                "{}:4: {key}: '203.0.113.77' matches no address of this host (nor can \
                 this host bind it); this host's addresses: ",
                home.ha_node_properties().display()
            );
            assert!(text.contains(&expected), "{text}");
            assert!(text.contains("127.0.0.1"), "{text}");
        }
    }

    #[test]
    fn secondary_without_master_key() {
        let (_d, home) = fresh();
        put(
            home.db_properties(),
            "type=postgresql\nurl=postgresql://db/arca\nusername=arca\n",
        );
        put(
            home.ha_node_properties(),
            "node.id=n2\ncontext.url=http://h:8081/a\nprimary=false\n",
        );
        let d = check_home(&home);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].error
                .message
                .contains("copy etc/security/master.key from an existing node")
        );
    }
}
