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
    /// Generate or inspect the cluster master key (etc/security/master.key).
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
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

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key (32 hex characters, like `openssl rand -hex 16`).
    ///
    /// Prints only the key and a newline; nothing is written to disk. To install it:
    /// `(umask 077; arcactl master-key generate > $ARCA_HOME/etc/security/master.key)`.
    Generate,
    /// Load etc/security/master.key and print its key-check value.
    ///
    /// The key-check value is a non-secret fingerprint: equal values on two nodes mean the
    /// same key. Warns on stderr when the file is readable by group or others (mode above
    /// 0600). Exit status 1 when the file is missing or invalid.
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
        let Command::Config(ConfigCommand::Check(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.home, PathBuf::from("/srv/arca"));
    }

    #[test]
    fn parses_master_key() {
        let cli = Cli::try_parse_from(["arcactl", "master-key", "generate"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::MasterKey(MasterKeyCommand::Generate)
        ));
        let cli = Cli::try_parse_from(["arcactl", "master-key", "check", "--home", "/h"]).unwrap();
        let Command::MasterKey(MasterKeyCommand::Check(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.home, PathBuf::from("/h"));
    }
}
