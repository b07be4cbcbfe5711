//! The `main` every arca daemon shares: logging, the `--home` option, the `check-config`
//! command's report, and the tokio runtime its service runs in.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

/// The `--home` option of every daemon (global, so it also works after a subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct HomeArg {
    /// Home directory holding etc/, data/, backup/ and run/ (created on first start).
    #[arg(
        long,
        env = "ARCA_HOME",
        default_value = "/var/lib/arca",
        global = true
    )]
    pub home: PathBuf,
}

/// The subcommands every daemon has.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum DaemonCommand {
    /// Validate the configuration files and exit (0 = fine); used by ExecStartPre=.
    CheckConfig,
}

/// The command line of a daemon that has only `--home` and `check-config` (the sidecars:
/// `arca-storage-mover`, `arca-license-agent`).
#[derive(Debug, clap::Parser)]
struct SidecarCli {
    #[command(flatten)]
    home: HomeArg,
    #[command(subcommand)]
    command: Option<DaemonCommand>,
}

/// What a sidecar daemon is: its name, runtime thread name, `--help` text, its
/// `check-config` (a one-line summary of what it will do) and its service.
pub struct Sidecar<C, R> {
    pub name: &'static str,
    pub thread_name: &'static str,
    pub about: &'static str,
    pub check_config: C,
    pub run: R,
}

/// The whole `main` of a sidecar: parse `[--home DIR] [check-config]`, start logging, then
/// report `check-config` (`config OK: <home>; <summary>`) or run the service.
pub fn sidecar_main<C, R, F>(sidecar: Sidecar<C, R>) -> ExitCode
where
    C: FnOnce(&std::path::Path) -> anyhow::Result<String>,
    R: FnOnce(PathBuf) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    use clap::{CommandFactory, FromArgMatches};
    let command = SidecarCli::command()
        .name(sidecar.name)
        .version(crate::build().version)
        .about(sidecar.about);
    let cli = match SidecarCli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    start_logging(sidecar.name);
    let home = cli.home.home;
    match cli.command {
        Some(DaemonCommand::CheckConfig) => report_check(
            (sidecar.check_config)(&home).map(|summary| format!("{}; {summary}", home.display())),
        ),
        None => run_service(sidecar.name, sidecar.thread_name, (sidecar.run)(home)),
    }
}

/// Set up logging for daemon `name` (an error is printed, never fatal: stderr still works).
pub fn start_logging(name: &str) {
    start_logging_with(name, crate::LogOptions::default());
}

/// [`start_logging`] with `options` (e.g. keeping the recent log in memory).
pub fn start_logging_with(name: &str, options: crate::LogOptions) {
    if let Err(e) = crate::init_logging_with(name, options) {
        eprintln!("{name}: cannot set up logging: {e}");
    }
}

/// The outcome of a `check-config` command: `config OK: <what>` on stdout and 0, or the error
/// in the log and 1 (the problems themselves were logged by the check).
pub fn report_check(result: anyhow::Result<String>) -> ExitCode {
    match result {
        Ok(summary) => {
            println!("config OK: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Become the service user `name` for good (groups, gid, uid: real, effective and saved) when
/// started as root, e.g. by a unit's `ExecStartPre=+` step, which runs as root outside the
/// sandbox so that it can write what the service itself may not. Already `name`: nothing to do.
/// Any other user: refused, since only root can switch.
pub fn become_user(name: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use nix::unistd::{Uid, User, setgroups, setresgid, setresuid};
    let user = User::from_name(name)
        .with_context(|| format!("looking up the user {name}"))?
        .ok_or_else(|| anyhow::anyhow!("no user {name} on this host"))?;
    let current = Uid::effective();
    if current == user.uid {
        return Ok(());
    }
    if !current.is_root() {
        anyhow::bail!(
            "running as uid {current}: only root can switch to {name} (uid {})",
            user.uid
        );
    }
    setgroups(&[user.gid]).context("dropping the supplementary groups")?;
    setresgid(user.gid, user.gid, user.gid)
        .with_context(|| format!("switching to the group of {name}"))?;
    setresuid(user.uid, user.uid, user.uid).with_context(|| format!("switching to {name}"))?;
    Ok(())
}

/// The exit status of a daemon that stopped gracefully to be started again (systemd:
/// `SuccessExitStatus=75` + `RestartForceExitStatus=75` in its unit).
pub const EXIT_RESTART: u8 = 75;

/// A service returns this error to exit with [`EXIT_RESTART`] after a graceful stop.
#[derive(Debug, thiserror::Error)]
#[error("restart requested: {0}")]
pub struct RestartRequested(pub String);

/// Run daemon `name`'s service on a multi-threaded runtime (worker threads named
/// `thread_name`) until it returns; an error is logged and exits 1.
pub fn run_service<F>(name: &str, thread_name: &str, service: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(thread_name)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(restart) = e.downcast_ref::<RestartRequested>() {
                tracing::info!("{name} stopped to be restarted ({})", restart.0);
                return ExitCode::from(EXIT_RESTART);
            }
            tracing::error!("{name} failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A daemon with nothing to do on this node (e.g. a single node needs no license): `READY=1`
/// with `message` as `STATUS=` and in the log, watchdog pings from a 1 s beat, then wait for
/// SIGTERM/SIGINT (`STOPPING=1`). The unit stays active, so it can be enabled on every node.
/// (See [`Service::idle`](crate::service::Service::idle).)
pub async fn idle(
    name: &str,
    message: &str,
    notifier: crate::Notifier,
    heartbeat: crate::Heartbeat,
    control: tokio::sync::mpsc::Receiver<crate::Control>,
) -> anyhow::Result<()> {
    let service = crate::service::Service {
        started: std::time::Instant::now(),
        notifier,
        heartbeat,
        control,
    };
    service.idle(name, message).await
}
