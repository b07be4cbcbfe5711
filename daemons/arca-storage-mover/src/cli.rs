//! Command line of `arca-storage-mover`.

use std::process::ExitCode;

use clap::Parser;

use arca_config::Home;
use arca_runtime::daemon::{self, DaemonCommand, HomeArg};

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
    command: Option<DaemonCommand>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::start_logging("arca-storage-mover");
    let home = Home::new(cli.home.home);
    match cli.command {
        Some(DaemonCommand::CheckConfig) => daemon::report_check(
            crate::app::check_config(&home)
                .map(|summary| format!("{}; {summary}", home.root().display())),
        ),
        None => daemon::run_service("arca-storage-mover", "arca-mover", crate::app::run(home)),
    }
}
