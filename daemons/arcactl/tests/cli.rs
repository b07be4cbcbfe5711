//! Runs the built `arcactl` binary against temporary homes.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use arca_config::Home;

fn arcactl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(args)
        .env_remove("ARCA_HOME")
        .output()
        .expect("run arcactl")
}

fn check(home: &Path) -> (i32, String, String) {
    let out = arcactl(&[
        "config",
        "check",
        "--home",
        home.to_str().expect("utf-8 path"),
    ]);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fresh_home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("arca"));
    home.init_layout().expect("init layout");
    (dir, home)
}

#[test]
fn good_home_exits_0() {
    let (_dir, home) = fresh_home();
    let (code, out, err) = check(home.root());
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, format!("config OK: {}\n", home.root().display()));
    assert_eq!(err, "");
}

#[test]
fn home_from_environment() {
    let (_dir, home) = fresh_home();
    let out = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(["config", "check"])
        .env("ARCA_HOME", home.root())
        .output()
        .expect("run arcactl");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config OK: "));
}

#[test]
fn ha_node_interface_with_comment_exits_1_naming_file_line_key() {
    let (_dir, home) = fresh_home();
    fs::write(
        home.db_properties(),
        "type=postgresql\nurl=jdbc:postgresql://db.example:5432/arca\n",
    )
    .expect("write db.properties");
    fs::write(
        home.ha_node_properties(),
        "node.id=art1\ncontext.url=http://10.0.0.1:8081/artifactory\nprimary=true\n\
         cluster.interface=192.168.0.2 (optional)\n",
    )
    .expect("write ha-node.properties");
    let (code, out, err) = check(home.root());
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(out, "");
    let expected = format!(
        "error: {}:4: cluster.interface: '192.168.0.2 (optional)'",
        home.ha_node_properties().display()
    );
    assert!(err.contains(&expected), "stderr: {err}");
}

#[test]
fn sqlite_in_ha_exits_1() {
    let (_dir, home) = fresh_home();
    fs::write(
        home.ha_node_properties(),
        "node.id=art1\ncontext.url=http://h:8081/a\nprimary=true\n",
    )
    .expect("write ha-node.properties");
    let (code, _, err) = check(home.root());
    assert_eq!(code, 1);
    assert!(
        err.contains("db.properties:") && err.contains(": type: sqlite is only for single node"),
        "stderr: {err}"
    );
}

#[test]
fn unknown_binarystore_template_exits_1_naming_it() {
    let (_dir, home) = fresh_home();
    fs::write(
        home.binarystore_xml(),
        "<config version=\"2\">\n    <chain template=\"my-magic-store\"/>\n</config>\n",
    )
    .expect("write binarystore.xml");
    let (code, out, err) = check(home.root());
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(out, "");
    let expected = format!(
        "error: {}:2: template: unknown template 'my-magic-store'",
        home.binarystore_xml().display()
    );
    assert!(err.contains(&expected), "stderr: {err}");
}

#[test]
fn missing_home_argument_is_usage_error() {
    let out = arcactl(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--home"));
}

#[test]
fn unknown_subcommand_is_usage_error() {
    assert_eq!(arcactl(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        arcactl(&["config", "check", "--home"]).status.code(),
        Some(2)
    );
}

#[test]
fn help_exits_0() {
    let out = arcactl(&["config", "check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ARCA_HOME"));
}

#[test]
fn nonexistent_home_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = check(&dir.path().join("missing"));
    assert_eq!(code, 1);
    assert!(
        err.contains("home directory does not exist"),
        "stderr: {err}"
    );
}
