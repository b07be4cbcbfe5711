//! Command line of `arca-server`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use arca_config::Home;
use arca_runtime::daemon::{self, DaemonCommand, HomeArg};

use crate::app::{ServeOptions, check_config, serve};

#[derive(Debug, Parser)]
#[command(name = "arca-server", version = arca_runtime::build().version, about = "arca artifact repository server")]
struct Cli {
    #[command(flatten)]
    home: HomeArg,
    /// Address to listen on.
    #[arg(long, env = "ARCA_LISTEN", default_value = "0.0.0.0:8081")]
    listen: SocketAddr,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Daemon(DaemonCommand),
    /// Do the server's writes into etc/ before it starts (default files, master key, encrypted
    /// object-store credentials and database password), so that the server itself never
    /// writes its configuration; used by `ExecStartPre=+` of the unit, as root, with --user.
    PrepareConfig {
        /// Switch to this user first (the service user) when started as root.
        #[arg(long)]
        user: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // the recent log in memory: GET /api/system/logs, the web UI's System Logs
    daemon::start_logging_with("arca-server", arca_runtime::LogOptions::keeping_recent());
    let home = Home::new(cli.home.home);
    match cli.command {
        Some(Command::Daemon(DaemonCommand::CheckConfig)) => {
            daemon::report_check(check_config(&home).map(|()| home.root().display().to_string()))
        }
        Some(Command::PrepareConfig { user }) => report_prepared(&home, user.as_deref()),
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

/// `prepare-config`: one log line per change, `config prepared: …` on stdout and 0, or the
/// error and 1 (the unit's start fails with it).
fn report_prepared(home: &Home, user: Option<&str>) -> ExitCode {
    let prepared = (|| -> anyhow::Result<Vec<String>> {
        if let Some(user) = user {
            daemon::become_user(user)?;
        }
        // Files created here get the server's modes whatever umask the caller had.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
        Ok(arca_cluster::bootstrap::prepare_config(
            home,
            "arca-server prepare-config",
        )?)
    })();
    match prepared {
        Ok(done) => {
            for line in &done {
                tracing::info!("{line}");
            }
            let summary = if done.is_empty() {
                "nothing to change".to_string()
            } else {
                format!("{} change(s)", done.len())
            };
            println!("config prepared: {}; {summary}", home.root().display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
