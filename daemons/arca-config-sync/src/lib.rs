//! `arca-config-sync`: the cluster's shared config files (`binarystore.xml`,
//! `system.properties`, `cluster.license`; see [`arca_cluster::shared_config`]) mirrored from
//! the config owner to every node through the database, byte for byte, ignoring timestamps.
//!
//! The owner is the node running the cluster duties (the primary while it is active, else the
//! member holding the `cluster-duties` lease). It watches its `etc/` and stores each valid
//! change sealed with the master key; the others are told through PostgreSQL `LISTEN`/`NOTIFY`
//! (polling as the fallback) and write the cluster's copy atomically. A change to a file the
//! server reads at start only is reported to the local `arca-server` (restart required).
//!
//! - [`cli`]: arguments (`--home`, `check-config`).
//! - [`app`]: start-up, the role (owner or member), the watcher, the listener, the loop.
//! - [`sync`]: one pass: publish (owner) or mirror (member).
//! - [`restart`]: automatic restarts one node at a time (`arca.config.sync.restart=true`).

pub mod app;
pub mod cli;
pub mod restart;
pub mod sync;
