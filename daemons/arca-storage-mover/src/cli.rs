//! Command line of `arca-storage-mover`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use arca_config::Home;
use arca_runtime::daemon::{self, HomeArg};

#[derive(Debug, Parser)]
#[command(
    name = "arca-storage-mover",
    version = arca_runtime::BUILD.version,
    about = "arca storage mover: uploads the eventual queue to the object store and restores the \
             redundancy of a sharding-cluster"
)]
struct Cli {
    #[command(flatten)]
    home: HomeArg,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration files and exit (0 = fine); used by ExecStartPre=.
    CheckConfig,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::start_logging("arca-storage-mover");
    let home = Home::new(cli.home.home);
    match cli.command {
        Some(Command::CheckConfig) => daemon::report_check(
            crate::app::check_config(&home)
                .map(|summary| format!("{}; {summary}", home.root().display())),
        ),
        None => daemon::run_service("arca-storage-mover", "arca-mover", crate::app::run(home)),
    }
}
