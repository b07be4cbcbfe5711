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

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn master_key_generate_prints_32_hex_and_differs() {
    let a = arcactl(&["master-key", "generate"]);
    let b = arcactl(&["master-key", "generate"]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(b.status.code(), Some(0));
    assert!(a.stderr.is_empty());
    let a = String::from_utf8(a.stdout).expect("utf-8");
    let b = String::from_utf8(b.stdout).expect("utf-8");
    assert_eq!(a.len(), 33, "{a:?}");
    assert!(a.ends_with('\n'));
    assert!(is_lower_hex(a.trim_end()), "{a:?}");
    assert_ne!(a, b);
}

#[test]
fn master_key_check_valid_key_prints_kcv() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, home) = fresh_home();
    let key = "00112233445566778899aabbccddeeff";
    fs::create_dir_all(home.security()).expect("mkdir security");
    fs::write(home.master_key(), format!("{key}\n")).expect("write key");
    fs::set_permissions(home.master_key(), fs::Permissions::from_mode(0o600)).expect("chmod");
    let root = home.root().to_str().expect("utf-8 path");
    let out = arcactl(&["master-key", "check", "--home", root]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
    let kcv = arca_crypto::key_check_value(&[
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]);
    assert_eq!(stdout, format!("{kcv}\n"));
    assert!(!stdout.contains(key));

    // group/world readable: still exit 0, with a warning naming the file
    fs::set_permissions(home.master_key(), fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = arcactl(&["master-key", "check", "--home", root]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{kcv}\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: {}: permissions 0644",
            home.master_key().display()
        )),
        "stderr: {stderr}"
    );
}

#[test]
fn master_key_check_missing_file_exits_1_naming_path() {
    let (_dir, home) = fresh_home();
    let out = arcactl(&[
        "master-key",
        "check",
        "--home",
        home.root().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&home.master_key().display().to_string()) && stderr.contains("missing"),
        "stderr: {stderr}"
    );
}

#[test]
fn master_key_check_invalid_file_exits_1() {
    let (_dir, home) = fresh_home();
    fs::create_dir_all(home.security()).expect("mkdir security");
    fs::write(home.master_key(), "0011").expect("write key");
    let out = arcactl(&[
        "master-key",
        "check",
        "--home",
        home.root().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&home.master_key().display().to_string())
            && stderr.contains("32 hexadecimal"),
        "stderr: {stderr}"
    );
}
