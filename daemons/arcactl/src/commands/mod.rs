//! One module per command group; `run` dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod config;
mod database;
pub mod group;
pub mod ha;
mod http;
pub mod license;
pub mod master_key;
pub mod node;
pub mod permission;
mod security;
pub mod storage;
pub mod user;

/// The wall clock in ms since the epoch: the only place commands read it (they pass it on).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ms` since the epoch as an RFC 3339 UTC time, to the second.
pub fn iso8601(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Run the parsed command. `Err` is an operational failure (printed as `error: …`, status 1).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let status = match cli.command {
        Command::Config(cmd) => config::run(cmd, &mut stdout, &mut stderr)?,
        Command::MasterKey(cmd) => master_key::run(cmd, &mut stdout, &mut stderr)?,
        Command::Node(cmd) => node::run(cmd, &mut stdout, &mut stderr)?,
        Command::Ha(cmd) => ha::run(cmd, &mut stdout, &mut stderr)?,
        Command::License(cmd) => license::run(cmd, &mut stdout, &mut stderr)?,
        Command::User(cmd) => user::run(cmd, &mut stdout, &mut stderr)?,
        Command::Group(cmd) => group::run(cmd, &mut stdout, &mut stderr)?,
        Command::Permission(cmd) => permission::run(cmd, &mut stdout, &mut stderr)?,
        Command::Storage(cmd) => storage::run(cmd, &mut stdout, &mut stderr)?,
    };
    Ok(ExitCode::from(status))
}
