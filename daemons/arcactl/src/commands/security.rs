//! What `arcactl user|group|permission` share: opening the home's database at the security
//! schema, reading a password, printing tables and JSON. The rules (names, patterns, actions,
//! memberships, the security version servers poll) are all in `arca_db::security` and
//! `arca_db::permissions`; the commands only call them.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context as _, bail};
use arca_config::Home;
use arca_db::{Conn, Db, DbError};

use crate::cli::{HomeArgs, NameArgs};
use crate::commands::database;
use crate::exit;

/// The schema version that added users' login state, groups and permission targets.
pub const SECURITY_SCHEMA_VERSION: i64 = 6;

/// The database of the home `args` names, at the security schema or newer.
pub fn open(args: &HomeArgs) -> anyhow::Result<Db> {
    database::open_for_tool(
        &Home::new(&args.home),
        SECURITY_SCHEMA_VERSION,
        "users, groups and permissions",
    )
}

/// A password from stdin (`from_stdin`) or a file; `None` when neither is given. One trailing
/// newline (`\n` or `\r\n`) is dropped; an empty password is refused. Warns on `err` when the
/// file is readable by group or others.
pub fn read_password(
    from_stdin: bool,
    file: Option<&Path>,
    stdin: &mut dyn Read,
    err: &mut dyn Write,
) -> anyhow::Result<Option<String>> {
    let (mut text, source) = if from_stdin {
        let mut bytes = Vec::new();
        stdin
            .read_to_end(&mut bytes)
            .context("--password-stdin: reading the password from stdin")?;
        (
            String::from_utf8(bytes).context("--password-stdin: the password is not UTF-8")?,
            "--password-stdin: the password from stdin".to_string(),
        )
    } else if let Some(file) = file {
        let bytes = fs::read(file)
            .with_context(|| format!("--password-file: reading {}", file.display()))?;
        if let Ok(meta) = fs::metadata(file)
            && meta.permissions().mode() & 0o077 != 0
        {
            writeln!(
                err,
                "warning: {} is readable by group or others (mode {:04o}): chmod 600 it",
                file.display(),
                meta.permissions().mode() & 0o7777
            )
            .context("writing to stderr")?;
        }
        (
            String::from_utf8(bytes)
                .with_context(|| format!("--password-file: {} is not UTF-8", file.display()))?,
            format!("--password-file: the password in {}", file.display()),
        )
    } else {
        return Ok(None);
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        bail!("{source} is empty");
    }
    Ok(Some(text))
}

/// argon2id hash of `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    arca_crypto::hash_password(password).map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// `value` as pretty JSON and a newline.
pub fn write_json(out: &mut dyn Write, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("formatting JSON")?;
    writeln!(out, "{text}").context("writing to stdout")
}

/// Columns left-aligned, two spaces apart; the last one unpadded.
pub fn write_table(out: &mut dyn Write, table: &[Vec<String>]) -> anyhow::Result<()> {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end()).context("writing to stdout")?;
    }
    Ok(())
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A list for a table cell or a text line: `a, b` or `-` when empty.
pub fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items.join(", ")
    }
}

/// `arcactl user|group|permission delete`: `remove(conn, name)` in a write transaction; prints
/// "<kind> 'name' deleted<also>" (`also`: what goes with it), or fails when there is no such
/// `kind` (user, group, permission target).
pub fn delete_named(
    args: &NameArgs,
    kind: &str,
    remove: fn(&Conn<'_>, &str) -> Result<bool, DbError>,
    also: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let deleted = open(&args.home)?
        .write_blocking(|conn| remove(conn, name))
        .with_context(|| format!("cannot delete {kind} '{name}'"))?;
    if !deleted {
        bail!("{kind} '{name}' does not exist");
    }
    line(out, format!("{kind} '{name}' deleted{also}"))?;
    Ok(exit::OK)
}

/// Write a line to `out`.
pub fn line(out: &mut dyn Write, text: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(out, "{text}").context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_drop_one_trailing_newline_and_refuse_empty() {
        let read = |text: &str| read_password(true, None, &mut text.as_bytes(), &mut Vec::new());
        assert_eq!(read("s3cret\n").unwrap().as_deref(), Some("s3cret"));
        assert_eq!(read("s3cret\r\n").unwrap().as_deref(), Some("s3cret"));
        assert_eq!(read("two\n\n").unwrap().as_deref(), Some("two\n"));
        assert_eq!(read(" sp ").unwrap().as_deref(), Some(" sp "));
        let e = read("\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--password-stdin: the password from stdin is empty"
        );
        assert!(
            read_password(false, None, &mut "x".as_bytes(), &mut Vec::new())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn password_file_warns_when_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        fs::write(&file, "pw\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let mut err = Vec::new();
        let pw = read_password(false, Some(&file), &mut std::io::empty(), &mut err).unwrap();
        assert_eq!(pw.as_deref(), Some("pw"));
        assert!(
            String::from_utf8(err).unwrap().contains("mode 0644"),
            "warning"
        );
        let e = read_password(
            false,
            Some(&dir.path().join("missing")),
            &mut std::io::empty(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(format!("{e:#}").starts_with("--password-file: reading "));
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &[
                vec!["A".into(), "BB".into(), "C".into()],
                vec!["long".into(), "".into(), "x".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A     BB  C\nlong      x\n"
        );
    }
}
