//! Command line of `arca-storage-mover`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use arca_config::Home;

#[derive(Debug, Parser)]
#[command(
    name = "arca-storage-mover",
    version = arca_runtime::BUILD.version,
    about = "arca storage mover: uploads the eventual queue to the object store"
)]
struct Cli {
    /// Home directory holding etc/, data/, backup/ and run/ (the server's).
    #[arg(
        long,
        env = "ARCA_HOME",
        default_value = "/var/lib/arca",
        global = true
    )]
    home: PathBuf,
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
    if let Err(e) = arca_runtime::init_logging("arca-storage-mover") {
        eprintln!("arca-storage-mover: cannot set up logging: {e}");
    }
    let home = Home::new(cli.home);
    match cli.command {
        Some(Command::CheckConfig) => match crate::app::check_config(&home) {
            Ok(summary) => {
                println!("config OK: {}; {summary}", home.root().display());
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
                .thread_name("arca-mover")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(crate::app::run(home)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("arca-storage-mover failed: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
