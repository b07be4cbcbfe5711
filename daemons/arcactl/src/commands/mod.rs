//! One module per command group; `run` dispatches.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod config;
mod database;
pub mod ha;
mod http;
pub mod license;
pub mod master_key;
pub mod node;

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
    };
    Ok(ExitCode::from(status))
}
