//! `arcactl license …` through the built binary: issuer files and modes, issue → verify round
//! trip, rejected keys and exit statuses.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use arca_config::Home;

fn arcactl(args: &[&str]) -> Output {
    arcactl_with_stdin(args, None)
}

fn arcactl_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(args)
        .env_remove("ARCA_HOME")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run arcactl");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin pipe")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for arcactl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

/// A fresh home, an issuer whose `.pub` is in the home's trusted issuers, and the path of the
/// issuer's private key.
fn home_trusting_an_issuer() -> (tempfile::TempDir, Home, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("arca"));
    home.init_layout().expect("init layout");
    let issuers = home.security().join("license-issuers");
    fs::create_dir_all(&issuers).expect("mkdir license-issuers");
    let key = dir.path().join("issuer.key");
    let out = arcactl(&[
        "license",
        "issuer-new",
        "--out",
        path_str(&key),
        "--pub",
        path_str(&issuers.join("test-issuer.pub")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (dir, home, key)
}

fn issue(key: &Path, valid_through: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "license",
        "issue",
        "--issuer-key",
        path_str(key),
        "--to",
        "ACME Corp.",
        "--valid-through",
        valid_through,
    ];
    args.extend_from_slice(extra);
    let out = arcactl(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn issuer_new_writes_0600_private_and_public_key_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("ops-issuer.key");
    let out = arcactl(&["license", "issuer-new", "--out", path_str(&key)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let public = dir.path().join("ops-issuer.key.pub");
    assert_eq!(mode_of(&key), 0o600);
    assert!(public.is_file());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("issuer "), "{stdout}");
    assert!(
        stdout.contains("copy it into etc/security/license-issuers/ on every node"),
        "{stdout}"
    );
    let private_text = fs::read_to_string(&key).expect("read key");
    assert!(
        private_text.contains("\narca-license-issuer-v1 "),
        "{private_text}"
    );
    let public_text = fs::read_to_string(&public).expect("read pub");
    assert!(
        public_text.contains("\narca-license-issuer-pub-v1 "),
        "{public_text}"
    );
    // the seed never appears in the output or in the public file
    let seed = private_text
        .lines()
        .find_map(|l| l.strip_prefix("arca-license-issuer-v1 "))
        .expect("key line");
    assert!(!stdout.contains(seed));
    assert!(!public_text.contains(seed));

    let out = arcactl(&["license", "issuer-new", "--out", path_str(&key)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists; refusing to overwrite it"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&key).expect("read key"), private_text);
}

#[test]
fn issue_then_verify_round_trip_through_the_cli() {
    let (_dir, home, key) = home_trusting_an_issuer();
    let keys = issue(
        &key,
        "2999-12-31",
        &["--count", "3", "--type", "Enterprise"],
    );
    assert_eq!(keys.len(), 3);
    for k in &keys {
        assert!(k.starts_with("arca-lic-v1."), "{k}");
    }
    let file = home.root().join("keys.txt");
    fs::write(&file, format!("{}\n\n{} ; {}\n", keys[0], keys[1], keys[2])).expect("write");
    let out = arcactl(&[
        "license",
        "verify",
        "--home",
        path_str(home.root()),
        path_str(&file),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, k) in lines.iter().zip(&keys) {
        assert_eq!(
            *line,
            format!(
                "OK {} ACME Corp. valid through 2999-12-31",
                arca_license::license_hash(k)
            )
        );
    }

    // the same through stdin, and the home from ARCA_HOME
    let mut child = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(["license", "verify", "-"])
        .env("ARCA_HOME", home.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run arcactl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(keys.join(";").as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), stdout);
}

#[test]
fn rejected_keys_exit_1_with_a_reason_per_key() {
    let (_dir, home, key) = home_trusting_an_issuer();
    let good = issue(&key, "2999-12-31", &[]).remove(0);
    let expired = issue(&key, "2001-01-31", &["--issued", "2001-01-01"]).remove(0);
    // an issuer the home does not trust
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_key = other_dir.path().join("other.key");
    let out = arcactl(&["license", "issuer-new", "--out", path_str(&other_key)]);
    assert_eq!(out.status.code(), Some(0));
    let untrusted = issue(&other_key, "2999-12-31", &[]).remove(0);
    let (head, _) = good.rsplit_once('.').expect("signature part");

    let input = format!("{good}\n{expired}\n{untrusted}\n{head}\ngarbage\n");
    let out = arcactl_with_stdin(
        &["license", "verify", "--home", path_str(home.root()), "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[0].starts_with("OK "), "{stdout}");
    let hash = arca_license::license_hash;
    assert_eq!(
        lines[1],
        format!(
            "REJECTED {}: license expired: it was valid through 2001-01-31",
            hash(&expired)
        )
    );
    assert!(
        lines[2].starts_with(&format!(
            "REJECTED {}: license key from an untrusted issuer ",
            hash(&untrusted)
        )),
        "{stdout}"
    );
    assert_eq!(
        lines[3],
        format!(
            "REJECTED {}: unsigned license key: it has no signature part",
            hash(head)
        )
    );
    assert!(
        lines[4].starts_with(&format!(
            "REJECTED {}: garbled license key: not an arca license key",
            hash("garbage")
        )),
        "{stdout}"
    );
    assert_eq!(
        text(&out.stderr),
        "license verify: 4 of 5 key(s) rejected\n"
    );
}

#[test]
fn issue_refuses_a_group_readable_issuer_key() {
    let (_dir, _home, key) = home_trusting_an_issuer();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = arcactl(&[
        "license",
        "issue",
        "--issuer-key",
        path_str(&key),
        "--to",
        "ACME",
        "--valid-through",
        "2999-12-31",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: loading the issuer's private key: {}: permissions 0644",
            key.display()
        )) && stderr.contains("chmod 600"),
        "{stderr}"
    );

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(issue(&key, "2999-12-31", &[]).len(), 1);
}

#[test]
fn bad_public_key_file_is_named_and_bad_arguments_are_usage_errors() {
    let (_dir, home, key) = home_trusting_an_issuer();
    let bad = home.security().join("license-issuers").join("broken.pub");
    fs::write(&bad, "# x\narca-license-issuer-pub-v1 1234\n").expect("write");
    let out = arcactl_with_stdin(
        &["license", "verify", "--home", path_str(home.root()), "-"],
        Some("x"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: loading the trusted license issuers: {}:2: the key is not 64 hexadecimal \
             characters\n",
            bad.display()
        )
    );

    for args in [
        &[
            "license",
            "issue",
            "--issuer-key",
            path_str(&key),
            "--to",
            "A",
        ][..],
        &[
            "license",
            "issue",
            "--issuer-key",
            path_str(&key),
            "--to",
            "A",
            "--valid-through",
            "2027-02-30",
        ],
        &["license", "verify"],
        &["license", "add", "-"],
    ] {
        assert_eq!(arcactl(args).status.code(), Some(2), "{args:?}");
    }
}
