//! `arca-storage-mover`: drains the eventual queue (`eventual` / `eventual-cluster` in
//! `binarystore.xml`) to the object store.
//!
//! The server acknowledges a deploy once the upload is renamed into `<eventual>/_add` (inside
//! its DB transaction); this daemon copies each entry to the object store, verifies it and
//! removes the local file, and deletes objects garbage collection queued in `_delete` once the
//! database confirms nothing references them. Several movers may share one queue directory
//! (an NFS mount in HA): entries are claimed, see [`arca_storage::eventual`].
//!
//! - [`cli`]: arguments (`--home`, `check-config`).
//! - [`app`]: start-up (config, database, object store, control socket, `READY=1`), the main
//!   loop and the shutdown.
//! - [`mover`]: the dispatcher and its workers, counters and back-off.
//! - [`control`]: the unix socket serving [`arca_storage::mover_proto`].

pub mod app;
pub mod cli;
pub mod control;
pub mod mover;
