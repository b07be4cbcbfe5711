//! Command-line definition (clap derive). One enum variant per command group; each group is a
//! module under `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "arcactl", version, about = "Operate an arca node or cluster")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect the configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate every config file under the home directory (used by ExecStartPre=).
    ///
    /// Prints each problem as `error: <file>:<line>: <key>: <message>` (or `warning: …`) on
    /// stderr and `config OK: <home>` on stdout when there is no error. Exit status 0 without
    /// errors, 1 with errors.
    Check(HomeArgs),
}

/// Selects the node's home directory (`etc/`, `data/`, `backup/`, `run/`).
#[derive(Debug, Clone, Args)]
pub struct HomeArgs {
    /// Home directory of the node.
    #[arg(long, env = "ARCA_HOME", value_name = "DIR")]
    pub home: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_config_check() {
        let cli =
            Cli::try_parse_from(["arcactl", "config", "check", "--home", "/srv/arca"]).unwrap();
        let Command::Config(ConfigCommand::Check(args)) = cli.command;
        assert_eq!(args.home, PathBuf::from("/srv/arca"));
    }
}
