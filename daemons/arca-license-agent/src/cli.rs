//! Command line of `arca-license-agent`.

use std::process::ExitCode;

use clap::Parser;

use arca_config::Home;
use arca_runtime::daemon::{self, DaemonCommand, HomeArg};

#[derive(Debug, Parser)]
#[command(
    name = "arca-license-agent",
    version = arca_runtime::BUILD.version,
    about = "arca license agent: claims this HA node's license from the cluster pool, swaps it \
             before it expires and returns it when stopped"
)]
struct Cli {
    #[command(flatten)]
    home: HomeArg,
    #[command(subcommand)]
    command: Option<DaemonCommand>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::start_logging("arca-license-agent");
    let home = Home::new(cli.home.home);
    match cli.command {
        Some(DaemonCommand::CheckConfig) => daemon::report_check(
            crate::app::check_config(&home)
                .map(|summary| format!("{}; {summary}", home.root().display())),
        ),
        None => daemon::run_service("arca-license-agent", "arca-license", crate::app::run(home)),
    }
}
