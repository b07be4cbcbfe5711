//! Command line of `arca-session-cleanup`:
//! `[--home DIR] [check-config | print-calendar [EXPR…] | generator NORMAL_DIR [EARLY LATE]]`,
//! and the generator mode when invoked as `arca-session-cleanup-generator`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use arca_config::Home;
use arca_runtime::daemon::{report_check, run_service, start_logging};

use crate::generator::{self, GENERATOR_NAME};

const NAME: &str = "arca-session-cleanup";

/// The packaged home.
const DEFAULT_HOME: &str = "/var/lib/arca";

#[derive(Debug, clap::Parser)]
struct Cli {
    /// Home directory holding etc/, data/, backup/ and run/ [default: /var/lib/arca; the
    /// generator reads /etc/arca/system.properties when neither --home nor ARCA_HOME is set].
    #[arg(long, env = "ARCA_HOME", global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Validate the configuration files and exit (0 = fine); used by ExecStartPre=.
    CheckConfig,
    /// Print the systemd OnCalendar= of a Quartz cron expression (quoted or as separate
    /// words), or without one of arca.db.session.cleanup.cron in system.properties.
    PrintCalendar {
        /// A Quartz expression, e.g. '0 17 * * * ?'.
        expression: Vec<String>,
    },
    /// Run as the systemd generator of arca-session-cleanup.timer (what systemd does through
    /// /usr/lib/systemd/system-generators/arca-session-cleanup-generator): write the
    /// OnCalendar= drop-in of arca.db.session.cleanup.cron into NORMAL_DIR. Always exits 0.
    Generator {
        /// NORMAL_DIR [EARLY_DIR LATE_DIR], as systemd passes them.
        #[arg(required = true, num_args = 1..=3)]
        dirs: Vec<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if Path::new(&argv0).file_name() == Some(GENERATOR_NAME.as_ref()) {
        let home = std::env::var_os("ARCA_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let dirs: Vec<PathBuf> = args.map(PathBuf::from).collect();
        return generator::run(home.as_deref(), &dirs);
    }
    let cli = parse(std::env::args_os());
    match cli.command {
        Some(Command::Generator { dirs }) => generator::run(cli.home.as_deref(), &dirs),
        command => {
            start_logging(NAME);
            let home = Home::new(cli.home.unwrap_or_else(|| PathBuf::from(DEFAULT_HOME)));
            match command {
                Some(Command::CheckConfig) => report_check(
                    crate::app::check_config(&home)
                        .map(|summary| format!("{}; {summary}", home.root().display())),
                ),
                Some(Command::PrintCalendar { expression }) => {
                    crate::app::print_calendar(&home, &expression.join(" "))
                }
                _ => run_service(NAME, "arca-sessions", crate::app::run(home)),
            }
        }
    }
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command()
        .name(NAME)
        .version(arca_runtime::build().version)
        .about(
            "arca session cleanup: deletes the expired web UI sessions from the database \
             (a oneshot run by arca-session-cleanup.timer; also the timer's systemd generator)",
        );
    match Cli::from_arg_matches(&command.get_matches_from(args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}
