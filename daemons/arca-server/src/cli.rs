//! Command line of `arca-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use arca_config::Home;

use crate::app::{ServeOptions, check_config, serve};

#[derive(Debug, Parser)]
#[command(name = "arca-server", version = arca_runtime::BUILD.version, about = "arca artifact repository server")]
struct Cli {
    /// Home directory holding etc/, data/, backup/ and run/ (created on first start).
    #[arg(
        long,
        env = "ARCA_HOME",
        default_value = "/var/lib/arca",
        global = true
    )]
    home: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "ARCA_LISTEN", default_value = "0.0.0.0:8081")]
    listen: SocketAddr,
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
    if let Err(e) = arca_runtime::init_logging("arca-server") {
        eprintln!("arca-server: cannot set up logging: {e}");
    }
    let home = Home::new(cli.home);
    match cli.command {
        Some(Command::CheckConfig) => match check_config(&home) {
            Ok(()) => {
                println!("config OK: {}", home.root().display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        },
        None => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("arca-worker")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(ServeOptions {
                home,
                listen: cli.listen,
            })) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("arca-server failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
