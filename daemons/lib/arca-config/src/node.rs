//! [`NodeConfig`]: a node's whole configuration, read and checked once.
//!
//! `arca-server check-config`, `arcactl config check` and every daemon's start call
//! [`NodeConfig::analyse`] (through [`NodeConfig::load`] or [`check_home`](crate::check_home)):
//! one pass over `etc/` that reports every problem with file, line and key, and gives the
//! daemons typed values instead of files to parse again.

use std::path::PathBuf;

use crate::binarystore::{self, BinaryStoreConfig};
use crate::db::{self, DbProperties};
use crate::error::{ConfigError, Diagnostic, Diags};
use crate::ha_node::{self, ContextUrl, HaNodeProperties};
use crate::home::Home;
use crate::master_key;
use crate::settings::SystemSettings;
use crate::storage_plan::DataRoots;
use crate::system::SystemProperties;

/// The configuration has errors: the daemon must not start.
#[derive(Debug, thiserror::Error)]
#[error("{errors} configuration error(s) under {}; nothing was started", etc.display())]
pub struct ConfigRejected {
    pub errors: usize,
    pub etc: PathBuf,
}

/// Everything a node reads from `etc/` at start, validated.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub home: Home,
    /// `etc/ha-node.properties`; `None`: a single node.
    pub ha: Option<HaNodeProperties>,
    pub db: DbProperties,
    /// `etc/binarystore.xml`; `None` only when its problems were tolerated
    /// ([`NodeConfig::load_except`]).
    pub binarystore: Option<BinaryStoreConfig>,
    /// The raw `etc/system.properties` (lines and keys, for messages).
    pub properties: SystemProperties,
    /// The values of `etc/system.properties`.
    pub system: SystemSettings,
}

/// What [`NodeConfig::analyse`] found: the values it could read and every problem.
#[derive(Debug, Default)]
pub struct Analysis {
    pub ha: Option<HaNodeProperties>,
    pub db: Option<DbProperties>,
    pub binarystore: Option<BinaryStoreConfig>,
    pub properties: Option<SystemProperties>,
    pub system: Option<SystemSettings>,
    pub diagnostics: Vec<Diagnostic>,
}

impl NodeConfig {
    /// Read and validate every file under `home` (absent files mean their defaults), log each
    /// problem (errors and warnings) and fail when there is an error.
    pub fn load(home: &Home) -> Result<NodeConfig, ConfigRejected> {
        NodeConfig::load_except(home, &[])
    }

    /// [`NodeConfig::load`], except that problems in the files of `tolerated` are logged as
    /// warnings: for a daemon whose job is to report or replace those files (arca-config-sync
    /// refusing to start over an invalid `binarystore.xml` would leave nobody to repair it).
    pub fn load_except(home: &Home, tolerated: &[PathBuf]) -> Result<NodeConfig, ConfigRejected> {
        let analysis = NodeConfig::analyse(home);
        let mut errors = 0;
        for d in &analysis.diagnostics {
            if d.is_error() && !tolerated.contains(&d.error.file) {
                errors += 1;
                tracing::error!("config: {}", d.error);
            } else {
                tracing::warn!("config: {}", d.error);
            }
        }
        let rejected = |errors| ConfigRejected {
            errors,
            etc: home.etc(),
        };
        if errors > 0 {
            return Err(rejected(errors));
        }
        // Without an error every file but a tolerated one has its value.
        let (Some(db), Some(properties), Some(system)) =
            (analysis.db, analysis.properties, analysis.system)
        else {
            return Err(rejected(1));
        };
        Ok(NodeConfig {
            home: home.clone(),
            ha: analysis.ha,
            db,
            binarystore: analysis.binarystore,
            properties,
            system,
        })
    }

    /// Validate everything under `home`: each file that exists (absent files mean their
    /// defaults), collecting all problems instead of stopping at the first. Errors mean the
    /// node must not start.
    pub fn analyse(home: &Home) -> Analysis {
        let mut diags = Diags::default();
        let mut analysis = Analysis::default();
        if !home.root().is_dir() {
            diags.error(ConfigError::new(
                home.root(),
                "home directory does not exist",
            ));
            analysis.diagnostics = diags.list;
            return analysis;
        }
        if !home.etc().is_dir() {
            diags.warn(ConfigError::new(
                home.etc(),
                "directory missing: defaults apply; it is created on first start",
            ));
        }

        // ha-node.properties first: whether this is an HA node changes what db.properties may
        // say.
        let (ha, ha_diags, _present) = ha_node::analyse(home);
        diags.extend(ha_diags.list);
        if let Some(ha) = &ha {
            check_cluster_interface(ha, &mut diags);
        }

        let (db, db_diags) = db::analyse(home);
        diags.extend(db_diags.list);

        let (store, store_diags) = binarystore::analyse_home(home);
        diags.extend(store_diags.list);
        if let Some(store) = &store {
            let ha_data_dir = ha.as_ref().and_then(|h| h.data_dir.as_deref());
            // plan() adds what the analysis does not check (the shape of the chain); its value
            // errors are the analysis' own, already listed.
            if let Err(e) = store.plan(home, &DataRoots::new(home, ha_data_dir))
                && !diags.list.iter().any(|d| d.error == e)
            {
                diags.error(e);
            }
        }

        match SystemProperties::load(home) {
            Ok(system) => {
                diags.extend(system.check());
                crate::tls::analyse(&system, &mut diags);
                analysis.system = Some(SystemSettings::read(&system).settings);
                analysis.properties = Some(system);
            }
            Err(e) => diags.error(e),
        }

        let secondary = ha.as_ref().is_some_and(|h| !h.primary);
        master_key::analyse(home, secondary, &mut diags);

        analysis.ha = ha;
        analysis.db = db;
        analysis.binarystore = store;
        analysis.diagnostics = diags.list;
        analysis
    }

    /// `true` for a node of an HA cluster (`etc/ha-node.properties` exists).
    pub fn is_ha(&self) -> bool {
        self.ha.is_some()
    }

    /// This node's `context.url`; `None` on a single node.
    pub fn context_url(&self) -> Option<&ContextUrl> {
        self.ha.as_ref().and_then(|ha| ha.context.as_ref())
    }

    /// The path the server serves under: `arca.http.context.path`, or, when that is the root,
    /// the path of an HA node's `context.url` (e.g. `/artifactory`).
    pub fn context_path(&self) -> String {
        if self.system.context_path.is_empty()
            && let Some(path) = self
                .ha
                .as_ref()
                .and_then(HaNodeProperties::context_url_path)
        {
            return path;
        }
        self.system.context_path.clone()
    }
}

/// `cluster.interface` must name one of this host's addresses (exact or wildcard).
fn check_cluster_interface(ha: &HaNodeProperties, diags: &mut Diags) {
    if ha.cluster_interface.is_none() {
        return;
    }
    match ha_node::local_addresses() {
        Ok(addrs) => {
            if let Err(e) = ha.cluster_address(&addrs) {
                diags.error(e);
            }
        }
        Err(mut e) => {
            e.message.push_str("; cluster.interface not checked");
            diags.warn(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fresh() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = Home::new(dir.path().join("home"));
        home.init_layout().expect("layout");
        (dir, home)
    }

    #[test]
    fn a_fresh_home_loads_as_a_single_node_with_defaults() {
        let (_d, home) = fresh();
        let config = NodeConfig::load(&home).expect("valid");
        assert!(!config.is_ha());
        assert!(config.context_url().is_none());
        assert!(config.binarystore.is_some());
        assert_eq!(config.context_path(), "/artifactory");
    }

    #[test]
    fn an_error_rejects_and_a_tolerated_file_does_not() {
        let (_d, home) = fresh();
        fs::write(
            home.binarystore_xml(),
            "<config><chain template=\"bogus\"/></config>",
        )
        .expect("write");
        let rejected = NodeConfig::load(&home).expect_err("bogus template");
        assert_eq!(rejected.errors, 1);
        let config = NodeConfig::load_except(&home, &[home.binarystore_xml()]).expect("tolerated");
        assert!(config.binarystore.is_none());
    }
}
