//! `arcactl config …`

use std::io::Write;

use anyhow::Context as _;
use arca_config::{Home, check_home};

use crate::cli::{ConfigCommand, HomeArgs};
use crate::exit;

pub fn run(cmd: ConfigCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Check(args) => check(&args, out, err),
    }
}

/// `arcactl config check`: every diagnostic on `err`, `config OK: <home>` on `out` when there
/// is no error. Returns the exit status.
pub fn check(args: &HomeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let home = Home::new(&args.home);
    let diagnostics = check_home(&home);
    for d in &diagnostics {
        writeln!(err, "{d}").context("writing to stderr")?;
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        let warnings = diagnostics.len() - errors;
        writeln!(
            err,
            "config check failed: {errors} error(s), {warnings} warning(s) in {}",
            home.root().display()
        )
        .context("writing to stderr")?;
        return Ok(exit::FAILURE);
    }
    writeln!(out, "config OK: {}", home.root().display()).context("writing to stdout")?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_check(home: &std::path::Path) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let args = HomeArgs {
            home: home.to_path_buf(),
        };
        let code = check(&args, &mut out, &mut err).unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn ok_home() {
        let dir = tempfile::tempdir().unwrap();
        Home::new(dir.path()).init_layout().unwrap();
        let (code, out, err) = run_check(dir.path());
        assert_eq!(code, exit::OK);
        assert_eq!(out, format!("config OK: {}\n", dir.path().display()));
        assert_eq!(err, "");
    }

    #[test]
    fn warnings_do_not_fail() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init_layout().unwrap();
        std::fs::write(home.system_properties(), "some.key=1\n").unwrap();
        let (code, out, err) = run_check(dir.path());
        assert_eq!(code, exit::OK);
        assert!(out.starts_with("config OK"));
        assert!(err.starts_with("warning: "), "{err}");
        assert!(
            err.contains("system.properties:1: some.key: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn errors_fail_with_summary() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init_layout().unwrap();
        std::fs::write(home.db_properties(), "type=oracle\n").unwrap();
        let (code, out, err) = run_check(dir.path());
        assert_eq!(code, exit::FAILURE);
        assert_eq!(out, "");
        assert!(err.contains("error: "), "{err}");
        assert!(
            err.contains("db.properties:1: type: unknown database type 'oracle'"),
            "{err}"
        );
        assert!(
            err.contains("config check failed: 1 error(s), 0 warning(s)"),
            "{err}"
        );
    }
}
