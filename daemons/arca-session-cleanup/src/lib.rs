//! `arca-session-cleanup`: deletes the expired web UI sessions from the database.
//!
//! A oneshot started by `arca-session-cleanup.timer` (hourly at a fixed random minute per
//! host, or the operator's `arca.db.session.cleanup.cron`): one write transaction deletes the
//! sessions whose idle or absolute expiry has passed and the journal says how many. The write
//! transaction holds the cluster-wide write lock on PostgreSQL, so runs on several nodes at
//! the same moment queue and each session is deleted once. With
//! `arca.map.provider.type=local` the sessions live in each node's memory: nothing to do.
//!
//! The same binary is the timer's systemd generator (invoked as
//! `arca-session-cleanup-generator`, or `arca-session-cleanup generator DIR…`): it translates
//! the Quartz expression into an `OnCalendar=` drop-in.
//!
//! - [`cli`]: arguments (`--home`, `check-config`, `print-calendar`, `generator`) and the
//!   generator's argv\[0\] mode.
//! - [`app`]: the cleanup run and `check-config`.
//! - [`schedule`]: the timer's schedule from `system.properties`.
//! - [`calendar`]: Quartz → systemd calendar translation.
//! - [`generator`]: the systemd generator.

pub mod app;
pub mod calendar;
pub mod cli;
pub mod generator;
pub mod schedule;
