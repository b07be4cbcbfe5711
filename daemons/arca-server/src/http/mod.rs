//! The HTTP surface. [`router`]: one warp filter hands every request to the dispatch, which
//! strips the context path and routes by hand — artifact paths are free-form, so a table of
//! typed routes would not fit them. [`request`]: the request the handlers see. The handlers
//! and the package formats (`crate::formats`) use `request`, never the router.

mod aql;
pub mod artifacts;
pub mod auth;
pub mod authz;
mod builds;
mod conditional;
pub mod download_stats;
pub mod error;
pub mod format;
mod general;
pub mod hash_pool;
pub mod licenses;
pub mod listing;
mod node_auth;
pub mod npm;
pub mod oci;
mod peer_storage;
pub mod pypi;
pub mod registry_token;
mod repo_fields;
pub mod repos_api;
pub mod request;
pub mod router;
mod scrub;
mod search;
mod security_api;
mod security_users;
pub mod session;
mod storage_api;
pub mod stored;
pub mod streamed;
mod system;
mod system_logs;
pub mod ui;
pub mod upload;
pub mod verify;

pub use request::{BodyStream, Request, body_error, parse_query, read_small_body};
