//! arca-config: the node's configuration files, in the reference's formats.
//!
//! A home directory ([`Home`]) holds `etc/` with `db.properties` ([`DbProperties`]),
//! `binarystore.xml` ([`BinaryStoreConfig`]), `system.properties` ([`SystemProperties`]),
//! the optional `ha-node.properties` ([`HaNodeProperties`]; absent = single node) and
//! `security/master.key` ([`MasterKey`]). [`check_home`] validates all of them and reports every
//! problem with file, line and key; [`NodeConfig::load`] does the same pass and returns the
//! typed values ([`SystemSettings`] for `system.properties`). [`BinaryStoreConfig::plan`] resolves `binarystore.xml` into
//! the [`StoragePlan`] a node runs.

mod atomic;
pub mod binarystore;
pub mod check;
pub mod db;
pub mod error;
pub mod ha_node;
pub mod home;
pub mod master_key;
pub mod node;
mod perms;
mod props;
pub mod settings;
pub mod storage_plan;
pub mod system;
pub mod tls;

pub use atomic::write_file_atomically;
pub use binarystore::{
    BinaryStoreConfig, ChainSpec, FileSystemLayout, ProviderNode, ProviderParams, seal_secrets,
};
pub use check::{check_home, require_valid, require_valid_except};
pub use db::{DbProperties, DbType};
pub use error::{ConfigError, Diagnostic, Severity, has_errors};
pub use ha_node::HaNodeProperties;
pub use home::Home;
pub use master_key::MasterKey;
pub use node::ConfigRejected;
pub use node::NodeConfig;
pub use settings::SystemSettings;
pub use storage_plan::{
    BackendSpec, CacheFsSpec, ClusterLocalSpec, ClusterSpec, DataRoots, EventualSpec,
    FileSystemSpec, ObjectStoreSpec, RemoteSpec, RetrySpec, S3Spec, SecretValue, StateAwareSpec,
    StoragePlan,
};
pub use system::{MapProviderType, SystemProperties};
