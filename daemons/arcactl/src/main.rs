//! arcactl: the operator CLI of arca (config validation, master-key generation/checking,
//! draining a node, the HA self-test, license keys and the license pool, users, groups and
//! permissions; backup/restore later).
//!
//! Exit status: 0 success, 1 the command found problems or failed, 2 usage error.

mod cli;
mod commands;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help / --version print to stdout and succeed; anything else is a usage error.
            let _ = err.print();
            return if err.use_stderr() {
                exit::USAGE.into()
            } else {
                exit::OK.into()
            };
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::FAILURE.into()
        }
    }
}
