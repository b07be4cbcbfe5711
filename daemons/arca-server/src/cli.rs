//! Command line of `arca-server`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use arca_config::Home;
use arca_runtime::daemon::{self, DaemonCommand, HomeArg};

use crate::app::{ServeOptions, check_config, serve};

#[derive(Debug, Parser)]
#[command(name = "arca-server", version = arca_runtime::BUILD.version, about = "arca artifact repository server")]
struct Cli {
    #[command(flatten)]
    home: HomeArg,
    /// Address to listen on.
    #[arg(long, env = "ARCA_LISTEN", default_value = "0.0.0.0:8081")]
    listen: SocketAddr,
    #[command(subcommand)]
    command: Option<DaemonCommand>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::start_logging("arca-server");
    let home = Home::new(cli.home.home);
    match cli.command {
        Some(DaemonCommand::CheckConfig) => {
            daemon::report_check(check_config(&home).map(|()| home.root().display().to_string()))
        }
        None => daemon::run_service(
            "arca-server",
            "arca-worker",
            serve(ServeOptions {
                home,
                listen: cli.listen,
            }),
        ),
    }
}
