//! Cluster membership shared by arca's daemons.
//!
//! * [`bootstrap`]: who this node is (ha-node.properties or single node), the
//!   master key (created by the primary, refused when missing or different on
//!   a secondary), opening the database with a password encrypted at rest.
//! * [`membership`]: the node's row in the registry, its heartbeat, and the
//!   election of the one node that runs cluster-wide duties.
//! * [`node_license`]: the license a node holds, as `arca-license-agent` reports it.
//! * [`server_socket`]: the protocol of `arca-server`'s local socket `<run>/arca-server.sock`
//!   (license reports from the agent, config changes from the config sync).
//! * [`config_socket`]: the protocol of `arca-config-sync`'s local socket
//!   `<run>/arca-config-sync.sock` (the server has it set `arca.url.base`).
//! * [`shared_config`]: the config files the nodes share (`arca-config-sync`), their
//!   validation and whether a change needs a restart.
//! * [`storage`]: the storage chain from `binarystore.xml`, with its secrets.
//! * [`licenses`]: the license pool (verify and add keys, list, delete, the bootstrap file
//!   `etc/cluster.license`), shared by the REST API and `arcactl license`.

pub mod bootstrap;
pub mod config_socket;
pub mod identity;
pub mod licenses;
pub mod membership;
pub mod node_license;
pub mod server_socket;
pub mod shared_config;
pub mod storage;

use std::path::PathBuf;

pub use bootstrap::MASTER_KEY_CHECK_SETTING;
pub use identity::Identity;
pub use membership::{Build, DUTIES_LEASE, Membership, Timing};

/// Why a node cannot start or keep its place in the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A startup check failed; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Config(#[from] arca_config::ConfigError),
    /// The configuration has errors (each was logged with its file, line and key).
    #[error(transparent)]
    Rejected(#[from] arca_config::ConfigRejected),
    #[error(transparent)]
    Db(#[from] arca_db::DbError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}
