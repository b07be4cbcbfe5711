//! Errors and diagnostics shared by every config file parser.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One problem found in a config file.
///
/// Displays as `<file>:<line>: <key>: <message>`; the line and key parts are left out when they
/// are `None`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// A problem with a whole file (no line, no key).
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    /// Attach the 1-based line number the problem is on.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Attach the key (properties) or element/parameter name (XML) the problem is about.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// A file that exists but cannot be read (or a directory that cannot be created).
    pub fn io(file: &Path, action: &str, err: &io::Error) -> Self {
        ConfigError::new(file, format!("cannot {action}: {err}"))
    }

    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        if let Some(key) = &self.key {
            out.push_str(&format!(": {key}"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }
}

/// How bad a [`Diagnostic`] is: errors stop the node from starting, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A problem plus its severity. Displays as `error: <ConfigError>` / `warning: <ConfigError>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub error: ConfigError,
}

impl Diagnostic {
    pub fn error(error: ConfigError) -> Self {
        Diagnostic {
            severity: Severity::Error,
            error,
        }
    }

    pub fn warning(error: ConfigError) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            error,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.error)
    }
}

/// `true` when at least one diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Where each error of `diagnostics` is reported, as (line, key): what the parsers' tests check.
#[cfg(test)]
pub(crate) fn error_sites(diagnostics: &[Diagnostic]) -> Vec<(Option<usize>, String)> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
        .collect()
}

/// Collects diagnostics while a file is analysed, so that all problems are reported at once.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub(crate) list: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn error(&mut self, error: ConfigError) {
        self.list.push(Diagnostic::error(error));
    }

    pub(crate) fn warn(&mut self, error: ConfigError) {
        self.list.push(Diagnostic::warning(error));
    }

    pub(crate) fn extend(&mut self, other: Vec<Diagnostic>) {
        self.list.extend(other);
    }

    /// The first error, if any (what a `load` function returns).
    pub(crate) fn first_error(&self) -> Option<ConfigError> {
        self.list
            .iter()
            .find(|d| d.is_error())
            .map(|d| d.error.clone())
    }

    /// `Ok(value)` with the warnings if there was no error, else the first error.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<(T, Vec<Diagnostic>), ConfigError> {
        if let Some(err) = self.first_error() {
            return Err(err);
        }
        match value {
            Some(v) => Ok((v, self.list)),
            // An analysis that produced no value always records an error; keep a message anyway.
            None => Err(ConfigError::new("", "invalid configuration")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_all_parts() {
        let e = ConfigError::new("/h/etc/db.properties", "bad value")
            .at_line(3)
            .with_key("type");
        assert_eq!(e.to_string(), "/h/etc/db.properties:3: type: bad value");
    }

    #[test]
    fn display_omits_missing_parts() {
        let e = ConfigError::new("/h/etc/x", "gone");
        assert_eq!(e.to_string(), "/h/etc/x: gone");
        let e = ConfigError::new("/h/etc/x", "gone").at_line(7);
        assert_eq!(e.to_string(), "/h/etc/x:7: gone");
        let e = ConfigError::new("/h/etc/x", "gone").with_key("k");
        assert_eq!(e.to_string(), "/h/etc/x: k: gone");
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic::warning(ConfigError::new("f", "m").at_line(1).with_key("k"));
        assert_eq!(d.to_string(), "warning: f:1: k: m");
        assert!(!d.is_error());
        let d = Diagnostic::error(ConfigError::new("f", "m"));
        assert_eq!(d.to_string(), "error: f: m");
        assert!(has_errors(&[d]));
    }
}
