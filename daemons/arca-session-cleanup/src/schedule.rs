//! The timer's schedule: the unit's default (hourly at a fixed random minute of the host), or
//! `arca.db.session.cleanup.cron` translated to a systemd calendar event.

use std::fmt;
use std::path::Path;

use arca_config::system::SESSION_CLEANUP_CRON;
use arca_config::{ConfigError, SystemProperties};

use crate::calendar;

/// Name of the timer unit the generator's drop-in belongs to.
pub const TIMER: &str = "arca-session-cleanup.timer";

/// When `arca-session-cleanup.timer` fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `arca.db.session.cleanup.cron` is not set: the unit's `OnCalendar=hourly` with
    /// `RandomizedDelaySec=1h` and `FixedRandomDelay=true`.
    Default,
    /// The operator's Quartz expression and its translation.
    Cron {
        quartz: String,
        on_calendar: String,
        /// Where it is set (for the generated drop-in's comment).
        file: std::path::PathBuf,
        line: usize,
    },
}

impl Schedule {
    /// The schedule `sys` asks for. An invalid or untranslatable expression is an error naming
    /// the file, line and key.
    pub fn from_properties(sys: &SystemProperties) -> Result<Schedule, ConfigError> {
        let Some(quartz) = sys.session_cleanup_cron()? else {
            return Ok(Schedule::Default);
        };
        let line = sys.line(SESSION_CLEANUP_CRON).unwrap_or(0);
        match calendar::translate(&quartz) {
            Ok(on_calendar) => Ok(Schedule::Cron {
                quartz,
                on_calendar,
                file: sys.file().to_path_buf(),
                line,
            }),
            Err(e) => Err(untranslatable(sys.file(), line, &quartz, &e)),
        }
    }

    /// The `OnCalendar=` value.
    pub fn on_calendar(&self) -> &str {
        match self {
            Schedule::Default => "hourly",
            Schedule::Cron { on_calendar, .. } => on_calendar,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Default => f.write_str(
                "hourly at a fixed random minute of this host (the timer's default; \
                 arca.db.session.cleanup.cron is not set)",
            ),
            Schedule::Cron {
                quartz,
                on_calendar,
                ..
            } => write!(
                f,
                "arca.db.session.cleanup.cron '{quartz}' = OnCalendar={on_calendar}"
            ),
        }
    }
}

/// The error for a Quartz expression systemd's calendar cannot express.
pub fn untranslatable(
    file: &Path,
    line: usize,
    quartz: &str,
    e: &calendar::CronError,
) -> ConfigError {
    let err = ConfigError::new(
        file,
        format!(
            "'{quartz}' cannot be translated to the systemd timer's OnCalendar=: {e} \
             (docs/session-cleanup.md lists what is supported)"
        ),
    )
    .with_key(SESSION_CLEANUP_CRON);
    if line > 0 { err.at_line(line) } else { err }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(text: &str) -> SystemProperties {
        SystemProperties::parse(text, Path::new("/etc/arca/system.properties"))
            .expect("parsable properties")
    }

    #[test]
    fn default_cron_and_errors_with_file_line_and_key() {
        assert_eq!(
            Schedule::from_properties(&sp("")).expect("valid"),
            Schedule::Default
        );
        assert_eq!(Schedule::Default.on_calendar(), "hourly");
        let s = Schedule::from_properties(&sp(
            "arca.gc.grace.secs=60\narca.db.session.cleanup.cron=0 17 * * * ?\n",
        ))
        .expect("valid");
        assert_eq!(s.on_calendar(), "*-*-* *:17:00");
        assert!(matches!(s, Schedule::Cron { line: 2, .. }), "{s:?}");
        let e = Schedule::from_properties(&sp("\n\narca.db.session.cleanup.cron=0 0 12 L * ?\n"))
            .expect_err("L is refused")
            .to_string();
        assert!(
            e.starts_with("/etc/arca/system.properties:3: arca.db.session.cleanup.cron: '0 0 12 L * ?' cannot be translated"),
            "{e}"
        );
        // the shared check's own refusal, same shape
        let e = Schedule::from_properties(&sp("arca.db.session.cleanup.cron=0 17 * *\n"))
            .expect_err("4 fields")
            .to_string();
        assert!(
            e.starts_with("/etc/arca/system.properties:1: arca.db.session.cleanup.cron:"),
            "{e}"
        );
    }
}
