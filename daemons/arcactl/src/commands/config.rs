//! `arcactl config …`

use std::io::Write;

use anyhow::Context as _;
use arca_cluster::shared_config::{SHARED_FILES, sha256_hex, shared_file};
use arca_config::{Home, SystemProperties, check_home};
use arca_db::cluster::{self, NodeRecord};
use arca_db::configs::{self, ConfigFileRow, NodeFileRow};
use serde_json::json;

use crate::cli::{ConfigCommand, ConfigStatusArgs, HomeArgs};
use crate::commands::database;
use crate::exit;

/// The schema version of the shared config files as read here (`arca_db::configs`, with the
/// nodes' kept and lost local edits).
const CONFIG_SCHEMA_VERSION: i64 = 9;

pub fn run(cmd: ConfigCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Check(args) => check(&args, out, err),
        ConfigCommand::Status(args) => status(&args, crate::commands::now_ms(), out),
    }
}

/// One node's copy of one file, as `config status` judges it.
struct NodeCopy<'a> {
    node: &'a str,
    /// The hash it reported (`None`: no report yet).
    sha256: Option<&'a str>,
    in_sync: bool,
    restart_required: bool,
    /// The configured primary's local edit, published once it owns the config.
    pending: Option<&'a str>,
    /// Its last local edit that lost to the cluster's copy (message, ms), until handled.
    lost_edit: Option<(&'a str, i64)>,
}

/// `arcactl config status`: the cluster's copy of each shared file and each active node's.
pub fn status(args: &ConfigStatusArgs, now_ms: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let home = Home::new(&args.home.home);
    let db = database::open_for_tool(&home, CONFIG_SCHEMA_VERSION, "the shared config files")?;
    let (files, reports, nodes) = db
        .read_blocking(|c| {
            Ok::<_, arca_db::DbError>((
                configs::list_files(c)?,
                configs::list_node_files(c)?,
                cluster::list_nodes(c)?,
            ))
        })
        .context("reading the shared config files")?;
    let stale_ms = SystemProperties::load(&home)
        .and_then(|s| s.ha_stale_secs())
        .unwrap_or(30)
        .saturating_mul(1000);
    let active: Vec<&NodeRecord> = nodes
        .iter()
        .filter(|n| n.is_active(now_ms, i64::try_from(stale_ms).unwrap_or(i64::MAX)))
        .collect();
    let mut healthy = true;
    let mut json_files = Vec::new();
    for file in &SHARED_FILES {
        let row = files.iter().find(|r| r.name == file.name);
        let copies = node_copies(file.name, row, &reports, &active);
        healthy &= copies.iter().all(|c| c.in_sync && c.lost_edit.is_none());
        healthy &= row.is_none_or(|r| r.rejected.is_none());
        let local = std::fs::read(home.etc().join(file.name))
            .ok()
            .map(|b| sha256_hex(&b));
        if args.json {
            json_files.push(file_json(file.name, row, &copies, local.as_deref()));
        } else {
            write_file_status(out, file.name, row, &copies, local.as_deref())?;
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&json!({ "files": json_files, "inSync": healthy }))
            .context("config status as JSON")?;
        writeln!(out, "{text}").context("writing to stdout")?;
    }
    Ok(if healthy { exit::OK } else { exit::FAILURE })
}

/// What `arcactl ha check` reports about the shared config files: nodes whose copy differs
/// from the cluster's, copies the owner refused, nodes waiting for a restart.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncFindings {
    /// `file on node`.
    pub differs: Vec<String>,
    /// `file: error`.
    pub rejected: Vec<String>,
    /// `node (file)`.
    pub restart: Vec<String>,
    /// `file on node: what happened`: local edits that lost to the cluster's copy.
    pub lost: Vec<String>,
    /// Files the cluster has a copy of.
    pub stored: usize,
}

pub fn sync_findings(
    files: &[ConfigFileRow],
    reports: &[NodeFileRow],
    active: &[&NodeRecord],
) -> SyncFindings {
    let mut f = SyncFindings::default();
    for file in &SHARED_FILES {
        let row = files.iter().find(|r| r.name == file.name);
        if row.is_some_and(|r| r.version > 0) {
            f.stored += 1;
        }
        if let Some(rejected) = row.and_then(|r| r.rejected.as_ref()) {
            f.rejected
                .push(format!("{}: {}", file.name, rejected.error));
        }
        for c in node_copies(file.name, row, reports, active) {
            if !c.in_sync {
                f.differs.push(format!(
                    "{} on {}{}",
                    file.name,
                    c.node,
                    if c.pending.is_some() {
                        " (a local edit, published once that node owns the config)"
                    } else {
                        ""
                    }
                ));
            }
            if let Some((what, _)) = c.lost_edit {
                f.lost.push(format!("{} on {}: {what}", file.name, c.node));
            }
            if c.restart_required {
                f.restart.push(format!("{} ({})", c.node, file.name));
            }
        }
    }
    f
}

fn node_copies<'a>(
    name: &str,
    row: Option<&'a ConfigFileRow>,
    reports: &'a [NodeFileRow],
    active: &[&'a NodeRecord],
) -> Vec<NodeCopy<'a>> {
    let cluster_sha = row.filter(|r| r.version > 0).map(|r| r.sha256.as_str());
    let needs_restart = shared_file(name).is_some_and(|f| f.needs_restart);
    active
        .iter()
        .map(|n| {
            let report = reports
                .iter()
                .find(|r| r.node_id == n.node_id && r.name == name);
            let pending = report.and_then(|r| r.pending_sha256.as_deref());
            // What the node has on disk: a kept local edit, else the copy it has in sync.
            let sha256 = pending.or(report.map(|r| r.sha256.as_str()));
            NodeCopy {
                node: &n.node_id,
                sha256,
                pending,
                lost_edit: report.and_then(|r| r.lost_edit.as_deref().map(|m| (m, r.lost_edit_at))),
                // Nothing stored yet: nothing to differ from.
                in_sync: cluster_sha.is_none_or(|c| sha256 == Some(c)),
                restart_required: needs_restart
                    && report.is_some_and(|r| r.changed_at > n.start_time),
            }
        })
        .collect()
}

fn short(sha: &str) -> &str {
    if sha.is_empty() {
        "(none)"
    } else {
        sha.get(..12).unwrap_or(sha)
    }
}

fn write_file_status(
    out: &mut dyn Write,
    name: &str,
    row: Option<&ConfigFileRow>,
    copies: &[NodeCopy<'_>],
    local: Option<&str>,
) -> anyhow::Result<()> {
    let w =
        |out: &mut dyn Write, line: String| writeln!(out, "{line}").context("writing to stdout");
    match row.filter(|r| r.version > 0) {
        None => w(
            out,
            format!("{name}: not shared yet (no config owner stored it)"),
        )?,
        Some(r) if r.deleted() => w(
            out,
            format!(
                "{name}: version {} DELETED by {} at {}",
                r.version,
                r.updated_by,
                crate::commands::iso8601(r.updated_at)
            ),
        )?,
        Some(r) => w(
            out,
            format!(
                "{name}: version {} sha256 {} stored by {} at {}",
                r.version,
                short(&r.sha256),
                r.updated_by,
                crate::commands::iso8601(r.updated_at)
            ),
        )?,
    }
    if let Some(rejected) = row.and_then(|r| r.rejected.as_ref()) {
        w(
            out,
            format!(
                "  REJECTED on the owner at {} (sha256 {}), not propagated: {}",
                crate::commands::iso8601(rejected.at),
                short(&rejected.sha256),
                rejected.error
            ),
        )?;
    }
    for c in copies {
        let state = match (c.in_sync, c.pending) {
            (true, _) => "in sync",
            (false, Some(_)) => "LOCAL EDIT, published once it owns the config",
            (false, None) => "DIFFERS",
        };
        let restart = if c.restart_required {
            ", RESTART REQUIRED"
        } else {
            ""
        };
        w(
            out,
            format!(
                "  {:<20} {:<12} {state}{restart}",
                c.node,
                c.sha256.map_or("(no report)", short)
            ),
        )?;
        if let Some((what, at)) = c.lost_edit {
            w(
                out,
                format!("    at {}: {what}", crate::commands::iso8601(at)),
            )?;
        }
    }
    w(
        out,
        format!("  this home's copy: {}", local.map_or("(none)", short)),
    )
}

fn file_json(
    name: &str,
    row: Option<&ConfigFileRow>,
    copies: &[NodeCopy<'_>],
    local: Option<&str>,
) -> serde_json::Value {
    json!({
        "name": name,
        "version": row.map(|r| r.version),
        "sha256": row.filter(|r| !r.deleted()).map(|r| r.sha256.clone()),
        "deleted": row.is_some_and(|r| r.deleted() && r.version > 0),
        "updatedBy": row.map(|r| r.updated_by.clone()),
        "updatedAt": row.map(|r| crate::commands::iso8601(r.updated_at)),
        "rejected": row.and_then(|r| r.rejected.as_ref()).map(|r| json!({
            "sha256": r.sha256, "error": r.error, "at": crate::commands::iso8601(r.at)
        })),
        "localSha256": local,
        "nodes": copies.iter().map(|c| json!({
            "node": c.node,
            "sha256": c.sha256,
            "inSync": c.in_sync,
            "restartRequired": c.restart_required,
            "pendingLocalEdit": c.pending,
            "lostLocalEdit": c.lost_edit.map(|(what, at)| json!({
                "message": what, "at": crate::commands::iso8601(at)
            })),
        })).collect::<Vec<_>>(),
    })
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
pub(crate) mod tests {
    use super::*;

    /// A `check` command of `arcactl` taking a node home.
    pub(crate) type HomeCheck = fn(&HomeArgs, &mut dyn Write, &mut dyn Write) -> anyhow::Result<u8>;

    /// Run `check` on `home`: its exit code, stdout and stderr (master_key's tests too).
    pub(crate) fn run_home_check(check: HomeCheck, home: &std::path::Path) -> (u8, String, String) {
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

    fn run_check(home: &std::path::Path) -> (u8, String, String) {
        run_home_check(check, home)
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
