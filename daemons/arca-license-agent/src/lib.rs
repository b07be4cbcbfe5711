//! `arca-license-agent`: holds a license from the cluster's pool for this HA node.
//!
//! Every `arca.license.agent.interval.secs` it checks the pool in the shared database: a node
//! without a license claims the free one with the latest expiry; a node whose license expires
//! within `arca.license.swap.window.days` moves to a free one that is valid longer. It reports
//! the result to the local `arca-server` over `<run>/arca-server.sock`
//! ([`arca_cluster::node_license`]), which answers 503 while the node has none. On SIGTERM it
//! gives the license back. A single node needs no license: the agent then idles.
//!
//! - [`cli`]: arguments (`--home`, `check-config`).
//! - [`app`]: start-up, the main loop, `STATUS=`, the watchdog and the release at stop.
//! - [`agent`]: one round against the pool (claim / swap), with the clock passed in.

pub mod agent;
pub mod app;
pub mod cli;
