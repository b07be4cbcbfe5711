//! `arcactl license …` through the built binary: issuer files and modes, issue → verify round
//! trip, rejected keys and exit statuses; the pool commands (add, list, delete) against a
//! SQLite home and, when ARCA_TEST_PG_URL is set, a PostgreSQL database.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use arca_config::Home;

mod common;
use common::{arcactl_with_stdin, cells, path_str, text, words};

fn arcactl(args: &[&str]) -> Output {
    arcactl_with_stdin(args, None)
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

/// `lines` start with the rejection of `expired` (valid through 2001-01-31), then that of
/// `untrusted` (an unknown issuer); `output` is shown on failure.
fn assert_expired_then_untrusted(lines: &[&str], expired: &str, untrusted: &str, output: &str) {
    let hash = arca_license::license_hash;
    let expired_line = format!(
        "REJECTED {}: license expired: it was valid through 2001-01-31",
        hash(expired)
    );
    assert_eq!(lines[0], expired_line);
    let untrusted_start = format!(
        "REJECTED {}: license key from an untrusted issuer ",
        hash(untrusted)
    );
    assert!(lines[1].starts_with(&untrusted_start), "{output}");
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
    assert_expired_then_untrusted(&lines[1..], &expired, &untrusted, &stdout);
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

    let issue = format!("license issue --issuer-key {} --to A", path_str(&key));
    for line in [
        issue.clone(),
        format!("{issue} --valid-through 2027-02-30"),
        "license verify".into(),
        "license add".into(),
        "license delete".into(),
        "license list --bogus".into(),
    ] {
        let args = words(&line);
        let args = args.as_slice();
        assert_eq!(arcactl(args).status.code(), Some(2), "{args:?}");
    }
}

// --- the pool: add, list, delete straight in the home's database ---

/// A home trusting an issuer (see [`home_trusting_an_issuer`]) whose database holds the
/// schema: SQLite through the default `data/arca.db` (no db.properties), or a fresh
/// PostgreSQL database named in db.properties.
struct PoolHome {
    home: Home,
    key: std::path::PathBuf,
    db: arca_db::Db,
    _pg: Option<arca_testkit::PgTestDb>,
    _dir: tempfile::TempDir,
}

impl PoolHome {
    fn sqlite() -> PoolHome {
        let (dir, home, key) = home_trusting_an_issuer();
        let db = arca_db::Db::open_sqlite(&home.data().join("arca.db"), 2).expect("open sqlite");
        PoolHome {
            home,
            key,
            db,
            _pg: None,
            _dir: dir,
        }
    }

    /// On a throw-away PostgreSQL database (ARCA_TEST_PG_URL must be set: tests/run-all.sh
    /// starts PostgreSQL; `PgTestDb::create` says so otherwise).
    fn postgres() -> PoolHome {
        let (dir, home, key) = home_trusting_an_issuer();
        let (pg, db) = common::postgres_for(&home);
        PoolHome {
            home,
            key,
            db,
            _pg: Some(pg),
            _dir: dir,
        }
    }

    fn root(&self) -> &str {
        path_str(self.home.root())
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut full = vec!["license", args[0], "--home", self.root()];
        full.extend_from_slice(&args[1..]);
        let out = arcactl_with_stdin(&full, stdin);
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    fn hashes_in_db(&self) -> Vec<String> {
        let mut hashes: Vec<String> = self
            .db
            .read_blocking(arca_db::licenses::list_licenses)
            .expect("list")
            .into_iter()
            .map(|r| r.hash)
            .collect();
        hashes.sort();
        hashes
    }
}

/// A key from an issuer the home does not trust.
fn untrusted_key() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("other.key");
    let out = arcactl(&["license", "issuer-new", "--out", path_str(&key)]);
    assert_eq!(out.status.code(), Some(0));
    issue(&key, "2999-12-31", &[]).remove(0)
}

/// add (mixed keys) → add again → list (text, JSON) → delete, on `pool`.
fn pool_round_trip(pool: &PoolHome) {
    let hash = arca_license::license_hash;
    let good = issue(&pool.key, "2999-12-31", &["--count", "2"]);
    let expired = issue(&pool.key, "2001-01-31", &["--issued", "2001-01-01"]).remove(0);
    let untrusted = untrusted_key();
    let garbled = "arca-lic-v1.garbled.sig";
    let secrets = [&good[0], &good[1], &expired, &untrusted];

    // keys from stdin, separated every way the docs allow
    let input = format!(
        "{}\n\n{garbled} ; {}\t{expired};{untrusted}\n{}\n",
        good[0], good[1], good[0]
    );
    let (code, out, err) = pool.run(&["add", "-"], Some(&input));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "the same key twice is judged once: {out}");
    assert_eq!(lines[0], format!("OK {}", hash(&good[0])));
    assert!(
        lines[1].starts_with(&format!(
            "REJECTED {}: garbled license key: ",
            hash(garbled)
        )),
        "{out}"
    );
    assert_eq!(lines[2], format!("OK {}", hash(&good[1])));
    assert_expired_then_untrusted(&lines[3..], &expired, &untrusted, &out);
    assert_eq!(
        err,
        "license add: 2 added, 0 already in the pool, 3 rejected\n"
    );
    let mut expected = vec![hash(&good[0]), hash(&good[1])];
    expected.sort();
    assert_eq!(
        pool.hashes_in_db(),
        expected,
        "only the valid keys are added"
    );

    // again, from a file: already there
    let file = pool.home.root().join("keys.txt");
    fs::write(&file, format!("{}\n", good[1])).expect("write keys");
    let (code, out, err) = pool.run(&["add", path_str(&file)], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, format!("ALREADY {}\n", hash(&good[1])));
    assert_eq!(
        err,
        "license add: 0 added, 1 already in the pool, 0 rejected\n"
    );

    // nothing valid: exit 1, nothing added
    let (code, out, _) = pool.run(&["add", "-"], Some(&format!("{expired}\n{untrusted}")));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().count(), 2);
    assert!(out.lines().all(|l| l.starts_with("REJECTED ")), "{out}");
    assert_eq!(pool.hashes_in_db(), expected);
    let (code, out, err) = pool.run(&["add", "-"], Some(" ;\n"));
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "license add: no license key in stdin\n");

    // list: a table, hashes only
    let (code, out, err) = pool.run(&["list"], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        cells(lines[0]).join("|"),
        "HASH|LICENSED TO|TYPE|VALID THROUGH|EXPIRED|NODE ID|NODE URL"
    );
    for line in &lines[1..] {
        let cells = cells(line);
        assert!(expected.iter().any(|h| h == cells[0]), "{line}");
        assert_eq!(
            cells[1..],
            [
                "ACME Corp.",
                "Enterprise",
                "2999-12-31",
                "no",
                "Not in use",
                "Not in use"
            ],
            "{line}"
        );
    }

    // list --json: the REST shape
    let (code, out, err) = pool.run(&["list", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    let mut listed: Vec<&str> = rows
        .iter()
        .map(|r| r["licenseHash"].as_str().expect("hash"))
        .collect();
    listed.sort();
    assert_eq!(listed, expected);
    assert_eq!(
        rows[0],
        serde_json::json!({"type":"Enterprise","validThrough":"December 31, 2999",
            "licensedTo":"ACME Corp.","licenseHash":rows[0]["licenseHash"],
            "nodeId":"Not in use","nodeUrl":"Not in use","expired":false})
    );

    // delete: a free license goes, an unknown hash is reported
    let unknown = "0".repeat(64);
    let gone = hash(&good[0]);
    let (code, out, err) = pool.run(&["delete", &gone, &unknown], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!("license {gone} deleted\nlicense {unknown} not found\n")
    );
    assert_eq!(pool.hashes_in_db(), [hash(&good[1])]);
    let (code, out, _) = pool.run(&["delete", &unknown], None);
    assert_eq!(code, 1);
    assert_eq!(out, format!("license {unknown} not found\n"));
    let (code, out, _) = pool.run(&["delete", &gone], None);
    assert_eq!(code, 1, "deleted already: {out}");

    // keys are credentials: no output above ever showed one (checked on fresh runs)
    for args in [&["list"][..], &["list", "--json"]] {
        let (_, out, err) = pool.run(args, None);
        for secret in secrets {
            assert!(!out.contains(secret.as_str()) && !err.contains(secret.as_str()));
            let (_, signature) = secret.rsplit_once('.').expect("signature");
            assert!(!out.contains(signature), "{out}");
        }
    }
    let (_, out, err) = pool.run(&["add", "-"], Some(&secrets.map(|s| s.as_str()).join(";")));
    for secret in secrets {
        let (_, signature) = secret.rsplit_once('.').expect("signature");
        assert!(
            !out.contains(signature) && !err.contains(signature),
            "{out}{err}"
        );
    }
}

common::on_both_backends!(
    pool_add_list_delete_on_sqlite,
    pool_add_list_delete_on_postgres,
    pool_round_trip,
    PoolHome
);

#[test]
fn pool_delete_of_a_license_in_use_follows_the_pool_rules() {
    let hash = arca_license::license_hash;
    let pool = PoolHome::sqlite();
    let first = issue(&pool.key, "2999-12-31", &[]).remove(0);
    let (code, _, err) = pool.run(&["add", "-"], Some(&first));
    assert_eq!(code, 0, "{err}");
    // node-a heartbeated 20 s ago: active with the default stale period (30 s)
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let node = arca_db::cluster::NodeRecord {
        node_id: "node-a".into(),
        start_time: now - 60_000,
        context_url: "http://node-a:8081/artifactory".into(),
        membership_port: 0,
        state: arca_db::cluster::NodeState::Running,
        role: arca_db::cluster::NodeRole::Primary,
        last_heartbeat: now - 20_000,
        version: "test".into(),
        revision: "test".into(),
        release_date: "test".into(),
        data_dir: String::new(),
        backup_dir: String::new(),
        instance: "test".into(),
    };
    let claimed = pool
        .db
        .write_blocking(|c| {
            arca_db::cluster::register_node(c, &node, now, 30_000)?;
            arca_db::licenses::claim_license(c, "node-a", "2026-01-01", now, 30_000)
        })
        .expect("register and claim")
        .expect("a license");
    assert_eq!(claimed.hash, hash(&first));

    let (code, out, _) = pool.run(&["list"], None);
    assert_eq!(code, 0);
    let row = out.lines().nth(1).map(cells).unwrap_or_default();
    assert_eq!(
        row,
        [
            hash(&first).as_str(),
            "ACME Corp.",
            "Enterprise",
            "2999-12-31",
            "no",
            "node-a",
            "http://node-a:8081/artifactory"
        ],
        "{out}"
    );

    // in use, nothing to move the node to: kept
    let (code, out, _) = pool.run(&["delete", &hash(&first)], None);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out,
        format!(
            "license {} is in use by node 'node-a' and no other valid license is free to move \
             it to; add a license first, or stop that node\n",
            hash(&first)
        )
    );

    // with a free one: the node moves to it, the license goes
    let second = issue(&pool.key, "2999-06-30", &[]).remove(0);
    let (code, _, err) = pool.run(&["add", "-"], Some(&second));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = pool.run(&["delete", &hash(&first)], None);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!(
            "license {} deleted; node 'node-a' was using it and now uses license {}\n",
            hash(&first),
            hash(&second)
        )
    );

    // the stale period comes from system.properties: with 10 s, node-a is gone
    let (code, out, _) = pool.run(&["delete", &hash(&second)], None);
    assert_eq!(code, 1, "still active with the default 30 s: {out}");
    fs::write(
        pool.home.system_properties(),
        "arca.ha.node.stale.secs=10\n",
    )
    .expect("write system.properties");
    let (code, out, _) = pool.run(&["delete", &hash(&second)], None);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, format!("license {} deleted\n", hash(&second)));
    assert!(pool.hashes_in_db().is_empty());
}

#[test]
fn pool_commands_name_the_file_that_is_wrong() {
    // a home without a database: no db.properties, no data/arca.db
    let (_dir, home, _) = home_trusting_an_issuer();
    let root = path_str(home.root());
    let _ = fs::remove_file(home.db_properties());
    for args in [
        &["license", "list", "--home", root][..],
        &["license", "delete", "--home", root, "abc"],
    ] {
        let out = arcactl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "error: {} does not exist and neither does the single-node database ",
                home.db_properties().display()
            )) && err.contains("run arcactl as root or as the arca user"),
            "{err}"
        );
    }
    // db.properties names a SQLite file that is not there
    fs::write(home.db_properties(), "type=sqlite\n").expect("write db.properties");
    let out = arcactl_with_stdin(&["license", "add", "--home", root, "-"], Some("x"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: SQLite database {} (from {}) does not exist: start the node once\n",
            home.data().join("arca.db").display(),
            home.db_properties().display()
        )
    );
    assert!(!home.data().join("arca.db").exists(), "not created");

    // PostgreSQL with an encrypted password and no master key
    fs::write(
        home.db_properties(),
        "type=postgresql\nurl=postgresql://127.0.0.1:1/arca\nusername=arca\n\
         password=enc:v1:AAAA\n",
    )
    .expect("write db.properties");
    let out = arcactl(&["license", "list", "--home", root]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: the password in {} is encrypted and {} cannot be loaded to decrypt it",
            home.db_properties().display(),
            home.master_key().display()
        )),
        "{err}"
    );

    // PostgreSQL down (nothing listens on port 1)
    fs::write(
        home.db_properties(),
        "type=postgresql\nurl=postgresql://127.0.0.1:1/arca\nusername=arca\npassword=x\n",
    )
    .expect("write db.properties");
    let out = arcactl(&["license", "list", "--home", root]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: cannot open the PostgreSQL database of {}: ",
            home.db_properties().display()
        )),
        "{err}"
    );

    // a bad system.properties stops delete before it touches anything
    fs::write(home.system_properties(), "arca.ha.node.stale.secs=soon\n").expect("write");
    let out = arcactl(&["license", "delete", "--home", root, "abc"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:1: ",
            home.system_properties().display()
        )),
        "{err}"
    );

    // a home that does not exist
    let out = arcactl(&["license", "list", "--home", "/nonexistent/arca-home"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: /nonexistent/arca-home: home directory does not exist\n"
    );
}
