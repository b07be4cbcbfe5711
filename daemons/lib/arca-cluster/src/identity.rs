//! Who this node is: its id, role, context URL and data directories, from
//! `etc/ha-node.properties` or, without it, a standalone node named after the host.

use std::path::PathBuf;

use arca_config::ha_node::ContextUrl;
use arca_config::{HaNodeProperties, Home, NodeConfig};
use arca_db::cluster::NodeRole;

/// Who this node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub node_id: String,
    pub role: NodeRole,
    /// `context.url`; `None` on a single node (and on an HA node without one, which check-config
    /// warns about).
    pub context_url: Option<ContextUrl>,
    pub membership_port: u16,
    /// Where binaries live: `arca.ha.data.dir`, else `<home>/data`.
    pub data_dir: PathBuf,
    /// `arca.ha.backup.dir`, else `<home>/backup`.
    pub backup_dir: PathBuf,
    /// `<host>:<home>`: tells a restart of this installation from a second
    /// process using the same node id elsewhere.
    pub instance: String,
}

impl Identity {
    /// The identity of the node `ha` (the parsed `etc/ha-node.properties`)
    /// describes; without it a standalone node named after the host.
    pub fn new(home: &Home, ha: Option<&HaNodeProperties>) -> Identity {
        let root = std::fs::canonicalize(home.root()).unwrap_or_else(|_| home.root().to_path_buf());
        let instance = format!(
            "{}:{}",
            nix_hostname().unwrap_or_else(|| "localhost".to_string()),
            root.display()
        );
        match ha {
            Some(ha) => Identity {
                role: if ha.primary {
                    NodeRole::Primary
                } else {
                    NodeRole::Member
                },
                context_url: ha.context.clone(),
                membership_port: ha.membership_port.unwrap_or(0),
                data_dir: ha.data_dir.clone().unwrap_or_else(|| home.data()),
                backup_dir: ha.backup_dir.clone().unwrap_or_else(|| home.backup()),
                node_id: ha.node_id.clone(),
                instance,
            },
            None => Identity {
                node_id: nix_hostname().unwrap_or_else(|| "arca".to_string()),
                role: NodeRole::Standalone,
                context_url: None,
                membership_port: 0,
                data_dir: home.data(),
                backup_dir: home.backup(),
                instance,
            },
        }
    }

    /// The identity of the node `config` describes (see [`Identity::new`]).
    pub fn of(config: &NodeConfig) -> Identity {
        Identity::new(&config.home, config.ha.as_ref())
    }

    pub fn is_ha(&self) -> bool {
        self.role != NodeRole::Standalone
    }

    /// `context.url` as configured, `""` without one (the node registry's column and the
    /// `contextUrl` of `/api/system/ha/self`).
    pub fn context_url_text(&self) -> &str {
        self.context_url
            .as_ref()
            .map_or("", |c| c.configured.as_str())
    }
}

/// The host name from uname(2): /proc/sys/kernel/hostname is hidden by the units'
/// `ProcSubset=pid`, which made every packaged single node call itself "arca".
fn nix_hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}
