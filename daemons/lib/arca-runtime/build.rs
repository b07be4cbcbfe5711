//! Embeds the version, git revision and build date into arca-runtime:
//! `ARCA_VERSION`, `ARCA_GIT_REVISION` and `ARCA_BUILD_DATE` (read with `env!`).
//!
//! Version: env `ARCA_VERSION` if set (packaging a higher version of the same
//! code for upgrade tests), else the crate's (= the workspace's) version.
//!
//! Revision: env `ARCA_GIT_REVISION` if set and non-empty, else
//! `git rev-parse --short=12 HEAD` (only when a `.git` is found above the crate),
//! else "unknown". Date (YYYY-MM-DD, UTC): env `SOURCE_DATE_EPOCH`, else
//! `git log -1 --format=%cs`, else "unknown". Packaging (deb/rpm) should set both
//! variables, since source tarballs carry no `.git`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ARCA_GIT_REVISION");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo::rerun-if-env-changed=ARCA_VERSION");

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let git = find_git_dir(&manifest_dir);
    if let Some(git) = &git {
        watch_git_files(git);
    }

    let revision = env_nonempty("ARCA_GIT_REVISION")
        .or_else(|| {
            git.as_ref()?;
            run_git(&manifest_dir, &["rev-parse", "--short=12", "HEAD"])
                .filter(|r| r.len() <= 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .unwrap_or_else(|| "unknown".to_owned());

    let date = env_nonempty("SOURCE_DATE_EPOCH")
        .and_then(|s| s.parse::<i64>().ok())
        .map(civil_date)
        .or_else(|| {
            git.as_ref()?;
            run_git(&manifest_dir, &["log", "-1", "--format=%cs"]).filter(|d| is_iso_date(d))
        })
        .unwrap_or_else(|| "unknown".to_owned());

    // The packages may be built as another version of the same code (upgrade tests build
    // version N+1): ARCA_VERSION overrides the workspace version the binaries report.
    let version = env_nonempty("ARCA_VERSION")
        .or_else(|| env_nonempty("CARGO_PKG_VERSION"))
        .unwrap_or_else(|| "0.0.0".to_owned());
    println!("cargo::rustc-env=ARCA_VERSION={version}");
    println!("cargo::rustc-env=ARCA_GIT_REVISION={revision}");
    println!("cargo::rustc-env=ARCA_BUILD_DATE={date}");
}

fn env_nonempty(name: &str) -> Option<String> {
    let v = env::var(name).ok()?;
    let v = v.trim();
    (!v.is_empty() && !v.contains(['\n', '\r'])).then(|| v.to_owned())
}

/// Where git keeps things for the checkout containing `start`.
struct GitDir {
    /// Per-worktree directory (holds `HEAD`).
    git_dir: PathBuf,
    /// Shared directory (holds `refs/`, `packed-refs`); same as `git_dir` unless a worktree.
    common_dir: PathBuf,
}

fn find_git_dir(start: &Path) -> Option<GitDir> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(GitDir {
                common_dir: dot_git.clone(),
                git_dir: dot_git,
            });
        }
        if dot_git.is_file() {
            // worktree / submodule: "gitdir: <path>"
            let content = fs::read_to_string(&dot_git).ok()?;
            let rel = content.strip_prefix("gitdir:")?.trim();
            let git_dir = dir.join(rel);
            let common_dir = fs::read_to_string(git_dir.join("commondir"))
                .ok()
                .map(|c| git_dir.join(c.trim()))
                .unwrap_or_else(|| git_dir.clone());
            return Some(GitDir {
                git_dir,
                common_dir,
            });
        }
    }
    None
}

/// Rerun when HEAD moves: watch `HEAD`, the branch ref it points to, and
/// `packed-refs`. Only existing files are watched, because cargo treats a missing
/// rerun-if-changed path as always stale (which would rebuild every time).
fn watch_git_files(git: &GitDir) {
    let head = git.git_dir.join("HEAD");
    watch_if_exists(&head);
    if let Ok(content) = fs::read_to_string(&head)
        && let Some(reference) = content.strip_prefix("ref:")
    {
        let reference = reference.trim();
        // per-worktree refs live in git_dir, branches in common_dir
        watch_if_exists(&git.git_dir.join(reference));
        if git.common_dir != git.git_dir {
            watch_if_exists(&git.common_dir.join(reference));
        }
    }
    watch_if_exists(&git.common_dir.join("packed-refs"));
}

fn watch_if_exists(path: &Path) {
    if path.is_file() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}

fn run_git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Unix seconds → "YYYY-MM-DD" (UTC), proleptic Gregorian (H. Hinnant's civil_from_days).
fn civil_date(epoch: i64) -> String {
    let z = epoch.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
