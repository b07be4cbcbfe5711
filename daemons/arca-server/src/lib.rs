//! arca-server: HTTP API, repositories, storage and authentication of one
//! arca node. `main.rs` only calls [`cli::main`].

pub mod admin;
pub mod app;
pub mod aql;
pub mod cli;
pub mod control;
pub mod formats;
pub mod front;
pub mod gc;
pub mod http;
pub mod inspect;
pub mod meta_cache;
pub mod meta_listener;
pub mod paths;
pub mod policy;
pub mod remote;
pub mod scrub;
pub mod serve;
pub mod sessions;
pub mod state;
pub mod tls;
pub mod virtual_repo;
pub mod zero_copy;
