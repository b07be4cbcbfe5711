//! Running arca's daemons from tests: their command line, and the checks every sidecar daemon
//! shares.

use std::path::Path;
use std::process::{Command, Output};

/// `binary --home <home>` without the systemd variables of the test's own environment, so the
/// daemon neither notifies the test's service manager nor logs to its journal (set them again
/// on the command to test that).
pub fn daemon_command(binary: &Path, home: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--home")
        .arg(home)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("INVOCATION_ID");
    command
}

/// Run `binary --home <home> check-config` to its end.
pub fn check_config(binary: &Path, home: &Path) -> Output {
    daemon_command(binary, home)
        .arg("check-config")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

/// What a sidecar daemon (license agent, config sync) must do with settings it cannot use.
pub struct BadSettings<'a> {
    /// `system.properties` of an HA node, whose line 2 is wrong.
    pub system: &'a str,
    /// The key of line 2, which the report must name.
    pub key: &'a str,
}

/// `check-config` on a home with `bad.system` as its system.properties exits 1 and names
/// `system.properties:2` and `bad.key` on stderr.
pub fn assert_bad_settings_refused(binary: &Path, home: &Path, bad: &BadSettings<'_>) {
    let out = check_config(binary, home);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("system.properties:2") && stderr.contains(bad.key),
        "{stderr}"
    );
}

/// `check-config` on a single node succeeds and says `says` on stdout.
pub fn assert_single_node_checks(binary: &Path, home: &Path, says: &str) {
    let out = check_config(binary, home);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains(says), "{stdout}");
}
