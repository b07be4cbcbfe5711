//! `arcactl user|group|permission …` through the built binary, straight in the database of a
//! SQLite home and, when ARCA_TEST_PG_URL is set, of a PostgreSQL home: add, list, show,
//! change and delete users, groups and permission targets; `permission check`; refused names,
//! actions and references; passwords (generated, from stdin, from a file) that verify against
//! the stored hash, which is never printed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use arca_config::Home;
use arca_db::security::{self, LoginPolicy};

mod common;
use common::{cells, path_str, text, words};

fn arcactl(args: &[&str], stdin: Option<&str>) -> Output {
    common::arcactl_with_stdin(args, stdin)
}

/// A home whose database holds the schema: SQLite at the default `data/arca.db` (no
/// db.properties), or a fresh PostgreSQL database named in db.properties.
struct SecHome {
    home: Home,
    db: arca_db::Db,
    _pg: Option<arca_testkit::PgTestDb>,
    _dir: tempfile::TempDir,
}

impl SecHome {
    fn fresh() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path().join("arca"));
        home.init_layout().expect("init layout");
        (dir, home)
    }

    fn sqlite() -> SecHome {
        let (dir, home) = Self::fresh();
        let db = arca_db::Db::open_sqlite(&home.data().join("arca.db"), 2).expect("open sqlite");
        SecHome {
            home,
            db,
            _pg: None,
            _dir: dir,
        }
    }

    /// On a throw-away PostgreSQL database (ARCA_TEST_PG_URL must be set: tests/run-all.sh
    /// starts PostgreSQL; `PgTestDb::create` says so otherwise).
    fn postgres() -> SecHome {
        let (dir, home) = Self::fresh();
        let (pg, db) = common::postgres_for(&home);
        SecHome {
            home,
            db,
            _pg: Some(pg),
            _dir: dir,
        }
    }

    /// `arcactl <args[0]> <args[1]> --home <home> <args[2..]>`.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut full = vec![args[0], args[1], "--home", path_str(self.home.root())];
        full.extend_from_slice(&args[2..]);
        let out = arcactl(&full, stdin);
        let result = (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        );
        // a password hash is never printed
        assert!(
            !result.1.contains("$argon2") && !result.2.contains("$argon2"),
            "{full:?}: {result:?}"
        );
        result
    }

    /// Run, expect exit 0, return stdout.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (code, out, err) = self.run(args, stdin);
        assert_eq!(code, 0, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// Run, expect exit 1 and nothing on stdout, return stderr.
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (code, out, err) = self.run(args, stdin);
        assert_eq!(code, 1, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        assert_eq!(out, "", "{args:?}");
        err
    }

    fn user(&self, name: &str) -> Option<security::User> {
        let name = name.to_string();
        self.db
            .read_blocking(move |c| security::get_user(c, &name))
            .expect("get user")
    }

    fn password_matches(&self, name: &str, password: &str) -> bool {
        let user = self.user(name).expect("user exists");
        arca_crypto::verify_password(password, &user.password_hash).expect("a valid hash")
    }

    fn security_version(&self) -> i64 {
        self.db
            .read_blocking(arca_db::permissions::security_version)
            .expect("security version")
    }
}

/// The table row whose first cell is `name`.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(cells)
        .find(|c| c.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn round_trip(h: &SecHome) {
    let v0 = h.security_version();

    // --- groups
    assert_eq!(
        h.ok(
            &["group", "add", "devs", "--description", "Developers"],
            None
        ),
        "group 'devs' created\n"
    );
    assert!(h.security_version() > v0, "servers see the change");
    assert_eq!(
        h.ok(
            &words("group add ops --admin --description Operators"),
            None
        ),
        "group 'ops' created (members are administrators)\n"
    );

    // --- users: password from stdin, generated, from a file
    let out = h.ok(
        &words("user add alice --email alice@example.org --group devs --password-stdin"),
        Some("alice-pw\n"),
    );
    assert_eq!(out, "user 'alice' created; groups: devs\n");
    assert!(h.password_matches("alice", "alice-pw"));
    assert!(!h.password_matches("alice", "alice-pw\n"));

    let (code, out, err) = h.run(&["user", "add", "bob"], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "user 'bob' created; groups: readers", "auto-join");
    let generated = lines[1].strip_prefix("password: ").expect("password line");
    assert_eq!(generated.len(), 24, "{generated}");
    assert!(h.password_matches("bob", generated));
    assert!(err.contains("shown only this once"), "{err}");

    let pw_file = h.home.root().join("carol.pw");
    fs::write(&pw_file, "carol-pw\n").expect("write password file");
    fs::set_permissions(&pw_file, fs::Permissions::from_mode(0o600)).expect("chmod");
    let (code, out, err) = h.run(
        &[
            "user",
            "add",
            "carol",
            "--admin",
            "--password-file",
            path_str(&pw_file),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "user 'carol' created (administrator); groups: readers\n"
    );
    assert_eq!(err, "", "no warning for a 0600 file");
    assert!(h.password_matches("carol", "carol-pw"));

    // list: table and JSON
    let table = h.ok(&["user", "list"], None);
    assert_eq!(
        cells(table.lines().next().expect("header")).join("|"),
        "NAME|ADMIN|DISABLED|LOCKED|LAST LOGIN|EMAIL|GROUPS"
    );
    assert_eq!(table.lines().count(), 4, "{table}");
    assert_eq!(
        row(&table, "alice"),
        [
            "alice",
            "no",
            "no",
            "no",
            "never",
            "alice@example.org",
            "devs"
        ]
    );
    assert_eq!(
        row(&table, "carol"),
        ["carol", "yes", "no", "no", "never", "-", "readers"]
    );
    let list = json(&h.ok(&["user", "list", "--json"], None));
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);

    // show: text and JSON
    let shown = h.ok(&["user", "show", "alice"], None);
    for expected in [
        "name:          alice\n",
        "email:         alice@example.org\n",
        "admin:         no\n",
        "disabled:      no\n",
        "locked:        no\n",
        "last login:    never\n",
        "groups:        devs\n",
    ] {
        assert!(shown.contains(expected), "{expected:?} in\n{shown}");
    }
    let alice = json(&h.ok(&["user", "show", "alice", "--json"], None));
    assert_eq!(alice["groups"], serde_json::json!(["devs"]));
    assert_eq!(alice["admin"], false);
    assert_eq!(alice["disabled"], false);
    assert!(alice.get("password_hash").is_none() && alice.get("passwordHash").is_none());

    // group members (exactly) and show
    assert_eq!(
        h.ok(&["group", "members", "ops", "bob", "alice", "bob"], None),
        "group 'ops' members: alice, bob\n"
    );
    assert!(
        h.ok(&["user", "show", "bob"], None)
            .contains("admin:         yes (group ops)\n")
    );
    assert_eq!(
        h.ok(&["group", "members", "ops", "--none"], None),
        "group 'ops' members: -\n"
    );
    let shown = h.ok(&["group", "show", "devs"], None);
    assert!(shown.contains("description: Developers\n"), "{shown}");
    assert!(shown.contains("members:     alice\n"), "{shown}");
    let devs = json(&h.ok(&["group", "show", "devs", "--json"], None));
    assert_eq!(devs["userNames"], serde_json::json!(["alice"]));
    assert_eq!(devs["autoJoin"], false);
    // add again: replaced, members kept
    assert_eq!(
        h.ok(&["group", "add", "devs", "--description", "Devs"], None),
        "group 'devs' replaced; its members are kept\n"
    );
    let table = h.ok(&["group", "list"], None);
    assert_eq!(row(&table, "devs"), ["devs", "no", "no", "1", "Devs"]);
    assert_eq!(row(&table, "readers")[..3], ["readers", "yes", "no"]);
    let groups = json(&h.ok(&["group", "list", "--json"], None));
    assert_eq!(groups.as_array().expect("array").len(), 3);

    // --- permissions
    fs_repo(h, "libs-release");
    let (code, out, err) = h.run(
        &words("permission add deploy-acme --repo libs-release --include org/acme/** --exclude **/*.secret --group devs=deploy"),
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "permission target 'deploy-acme' created\n");
    assert_eq!(err, "");
    let (code, out, err) = h.run(
        &words("permission add deploy-acme --repo libs-release --repo libs-staging --include org/acme/** --exclude **/*.secret --group devs=deploy --user ghost=read"),
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "permission target 'deploy-acme' replaced\n");
    assert!(
        err.contains("warning: user 'ghost' does not exist (yet)")
            && err.contains("warning: repository 'libs-staging' does not exist (yet)"),
        "{err}"
    );
    let table = h.ok(&["permission", "list"], None);
    assert_eq!(
        row(&table, "deploy-acme"),
        [
            "deploy-acme",
            "libs-release, libs-staging",
            "org/acme/**",
            "**/*.secret",
            "ghost=read",
            "devs=deploy"
        ]
    );
    assert_eq!(
        row(&table, "Anything"),
        ["Anything", "ANY", "**", "-", "-", "readers=read"]
    );
    let shown = h.ok(&["permission", "show", "deploy-acme"], None);
    assert!(
        shown.contains("groups:\n  devs: read, annotate, deploy"),
        "{shown}"
    );
    let target = json(&h.ok(&["permission", "show", "deploy-acme", "--json"], None));
    assert_eq!(
        target["repo"]["actions"]["groups"]["devs"],
        serde_json::json!(["read", "annotate", "write"])
    );
    assert_eq!(
        target["repo"]["include-patterns"],
        serde_json::json!(["org/acme/**"])
    );
    let all = json(&h.ok(&["permission", "list", "--json"], None));
    assert_eq!(all.as_array().expect("array").len(), 2);

    // check: deploy for the group member, not for others
    let out = h.ok(
        &words("permission check alice libs-release org/acme/a/1.0/a.jar"),
        None,
    );
    assert_eq!(
        out,
        "user 'alice' at libs-release/org/acme/a/1.0/a.jar (local): read, annotate, deploy\n  \
         deploy-acme: read, annotate, deploy (group devs)\n"
    );
    let out = h.ok(
        &words("permission check bob libs-release org/acme/a/1.0/a.jar"),
        None,
    );
    assert_eq!(
        out,
        "user 'bob' at libs-release/org/acme/a/1.0/a.jar (local): read\n  Anything: read (group \
         readers)\n"
    );
    let out = h.ok(
        &words("permission check alice libs-release /org/acme/x.secret"),
        None,
    );
    assert!(
        out.starts_with("user 'alice' at libs-release/org/acme/x.secret (local): nothing\n"),
        "excluded: {out}"
    );
    let out = h.ok(&["permission", "check", "carol", "libs-release", "x"], None);
    assert!(
        out.starts_with(
            "user 'carol' at libs-release/x (local): read, annotate, deploy, delete, manage \
             (administrator: its flag)"
        ),
        "{out}"
    );
    let checked = json(&h.ok(
        &words("permission check alice libs-release org/acme/b.jar --json"),
        None,
    ));
    assert_eq!(
        checked["actions"],
        serde_json::json!(["read", "annotate", "deploy"])
    );
    assert_eq!(checked["targets"][0]["name"], "deploy-acme");

    // --- passwd, disable, enable, lockout
    h.ok(
        &["user", "passwd", "alice", "--password-stdin"],
        Some("new-pw"),
    );
    assert!(h.password_matches("alice", "new-pw"));
    // The first change of the initial admin's password removes the file that held it.
    h.ok(
        &["user", "add", "admin", "--password-stdin"],
        Some("first-pw"),
    );
    let initial = h.home.initial_admin_password();
    fs::write(&initial, "first-pw\n").expect("write the initial password file");
    let said = h.ok(
        &["user", "passwd", "admin", "--password-stdin"],
        Some("second-pw"),
    );
    assert!(said.contains("removed"), "{said}");
    assert!(!initial.exists(), "{} is still there", initial.display());
    h.ok(
        &["user", "passwd", "alice", "--password-stdin"],
        Some("new-pw"),
    );
    assert_eq!(
        h.ok(&["user", "disable", "alice"], None),
        "user 'alice' disabled (it cannot log in or use its tokens)\n"
    );
    assert!(h.user("alice").expect("alice").disabled);
    assert!(
        h.ok(&["user", "show", "alice"], None)
            .contains("disabled:      yes\n")
    );
    assert!(
        h.ok(
            &["permission", "check", "alice", "libs-release", "org"],
            None
        )
        .contains("\nnote: user 'alice' is disabled")
    );
    assert_eq!(
        h.ok(&["user", "disable", "alice"], None),
        "user 'alice' is disabled already\n"
    );

    // three failed logins lock alice out (as the server records them)
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let policy = LoginPolicy {
        max_failures: 3,
        lockout_ms: 600_000,
    };
    h.db.write_blocking(move |c| {
        for _ in 0..3 {
            security::record_login_failure(c, "alice", policy, now)?;
        }
        Ok::<_, arca_db::DbError>(())
    })
    .expect("lock alice out");
    let shown = h.ok(&["user", "show", "alice"], None);
    assert!(shown.contains("locked:        until "), "{shown}");
    assert!(shown.contains("failed logins: 3\n"), "{shown}");
    assert!(row(&h.ok(&["user", "list"], None), "alice")[3].starts_with("until "));
    assert_eq!(
        h.ok(&["user", "enable", "alice"], None),
        "user 'alice' enabled; its lockout is cleared\n"
    );
    let alice = h.user("alice").expect("alice");
    assert!(!alice.disabled);
    assert_eq!((alice.failed_logins, alice.locked_until), (0, None));
    assert_eq!(alice.last_login, None, "unlocking is no login");

    h.db.write_blocking(move |c| {
        for _ in 0..3 {
            security::record_login_failure(c, "bob", policy, now)?;
        }
        Ok::<_, arca_db::DbError>(())
    })
    .expect("lock bob out");
    assert_eq!(
        h.ok(&["user", "unlock", "bob"], None),
        "user 'bob' unlocked (3 failed logins cleared)\n"
    );
    let bob = h.user("bob").expect("bob");
    assert_eq!(
        (bob.failed_logins, bob.locked_until, bob.last_login),
        (0, None, None)
    );
    assert_eq!(
        h.ok(&["user", "unlock", "bob"], None),
        "user 'bob' is not locked out\n"
    );
    assert!(h.password_matches("bob", generated), "password unchanged");

    // --- deletes
    assert_eq!(
        h.ok(&["permission", "delete", "deploy-acme"], None),
        "permission target 'deploy-acme' deleted\n"
    );
    assert_eq!(
        h.fails(&["permission", "delete", "deploy-acme"], None),
        "error: permission target 'deploy-acme' does not exist\n"
    );
    assert_eq!(
        h.fails(&["permission", "show", "deploy-acme"], None),
        "error: permission target 'deploy-acme' does not exist\n"
    );
    assert!(
        h.ok(&["group", "delete", "devs"], None)
            .starts_with("group 'devs' deleted")
    );
    assert_eq!(
        h.fails(&["group", "show", "devs"], None),
        "error: group 'devs' does not exist\n"
    );
    assert!(
        !h.ok(&["user", "show", "alice", "--json"], None)
            .contains("devs"),
        "memberships go with the group"
    );
    assert!(
        h.ok(&["user", "delete", "alice"], None)
            .starts_with("user 'alice' deleted")
    );
    assert!(h.user("alice").is_none());
    assert_eq!(
        h.fails(&["user", "delete", "alice"], None),
        "error: user 'alice' does not exist\n"
    );
    assert_eq!(
        h.fails(&["user", "show", "alice"], None),
        "error: user 'alice' does not exist\n"
    );
}

/// A local repository `key` in the home's database.
fn fs_repo(h: &SecHome, key: &str) {
    let repo = arca_db::Repo::local(key, 1);
    h.db.write_blocking(move |c| arca_db::repos::insert(c, &repo))
        .expect("create repository");
}

common::on_both_backends!(
    users_groups_permissions_on_sqlite,
    users_groups_permissions_on_postgres,
    round_trip,
    SecHome
);

#[test]
fn bad_names_actions_and_references_are_refused_with_the_message() {
    let h = SecHome::sqlite();
    let err = h.fails(&["user", "add", "a b", "--password-stdin"], Some("pw"));
    assert_eq!(
        err,
        "error: cannot add the user: user name 'a b' is invalid: 1 to 64 characters of \
         letters, digits and . _ - @ + (not starting with '.')\n"
    );
    let err = h.fails(&["group", "add", "../etc"], None);
    assert!(
        err.starts_with("error: cannot add the group: group name '../etc' is invalid"),
        "{err}"
    );
    let err = h.fails(&["permission", "add", "bad name", "--repo", "r"], None);
    assert!(
        err.starts_with(
            "error: cannot add permission target 'bad name': permission target name 'bad \
             name' is invalid"
        ),
        "{err}"
    );
    let err = h.fails(
        &words("permission add p --repo r --user bob=read,fly"),
        None,
    );
    assert_eq!(
        err,
        "error: --user 'bob=read,fly': unknown action 'fly'; known: read, annotate, deploy (or \
         write), delete, manage\n"
    );
    let err = h.fails(
        &["permission", "add", "p", "--repo", "r", "--group", "devs"],
        None,
    );
    assert!(
        err.starts_with("error: --group 'devs': expected GROUP=ACTIONS"),
        "{err}"
    );
    let err = h.fails(
        &[
            "permission",
            "add",
            "p",
            "--repo",
            "r",
            "--user",
            "a b=read",
        ],
        None,
    );
    assert!(err.contains("user name 'a b' is invalid"), "{err}");
    let err = h.fails(&["permission", "add", "p", "--repo", "ANY THING"], None);
    assert!(
        err.contains("repository selector 'ANY THING' is unknown"),
        "{err}"
    );
    let err = h.fails(&words("permission add p --repo r --include a[/**"), None);
    assert!(err.contains("include-patterns: pattern 'a[/**'"), "{err}");
    let listed = h.ok(&["permission", "list", "--json"], None);
    assert_eq!(
        json(&listed).as_array().expect("array").len(),
        1,
        "nothing added"
    );

    // references that must exist
    let err = h.fails(
        &words("user add dave --group nogroup --password-stdin"),
        Some("pw"),
    );
    assert_eq!(
        err,
        "error: cannot add user 'dave': group 'nogroup' does not exist\n"
    );
    assert!(h.user("dave").is_none(), "rolled back");
    h.ok(&["user", "add", "erin", "--password-stdin"], Some("pw"));
    let err = h.fails(&["user", "add", "erin", "--password-stdin"], Some("pw"));
    assert_eq!(
        err,
        "error: cannot add user 'erin': User erin already exists\n"
    );
    let err = h.fails(&["group", "members", "readers", "erin", "ghost"], None);
    assert_eq!(
        err,
        "error: cannot set the members of group 'readers': user 'ghost' does not exist\n"
    );
    assert_eq!(
        h.fails(&["group", "members", "nogroup", "erin"], None),
        "error: group 'nogroup' does not exist\n"
    );
    assert_eq!(
        h.fails(&["user", "passwd", "ghost", "--password-stdin"], Some("pw")),
        "error: user 'ghost' does not exist\n"
    );
    assert_eq!(
        h.fails(&["permission", "check", "ghost", "libs", "a"], None),
        "error: user 'ghost' does not exist\n"
    );
    assert_eq!(
        h.fails(&["permission", "check", "erin", "libs", "a"], None),
        "error: repository 'libs' does not exist\n"
    );
    assert_eq!(
        h.fails(&["user", "passwd", "erin", "--password-stdin"], Some("\n")),
        "error: --password-stdin: the password from stdin is empty\n"
    );
    let err = h.fails(
        &["user", "passwd", "anonymous", "--password-stdin"],
        Some("x"),
    );
    assert!(
        err.starts_with("error: the anonymous user cannot have a password"),
        "{err}"
    );
    let err = h.fails(
        &words("user add frank --email not-an-email --password-stdin"),
        Some("pw"),
    );
    assert_eq!(
        err,
        "error: cannot add user 'frank': email 'not-an-email' is invalid: expected name@domain\n"
    );

    // usage errors: exit 2
    for args in [
        &["user", "passwd", "erin"][..],
        &words("user add x --password-stdin --password-file f"),
        &["user", "add"],
        &["group", "members", "readers"],
        &["group", "members", "readers", "erin", "--none"],
        &["permission", "add", "p"],
        &["permission", "check", "erin", "libs"],
        &["user", "list", "--bogus"],
    ] {
        let (code, _, err) = h.run(args, None);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn a_home_without_a_database_is_named() {
    let (_dir, home) = SecHome::fresh();
    let _ = fs::remove_file(home.db_properties());
    let root = path_str(home.root());
    for args in [
        &["user", "list", "--home", root][..],
        &["group", "list", "--home", root],
        &["permission", "check", "--home", root, "u", "r", "p"],
    ] {
        let out = arcactl(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!(
                "error: {} does not exist and neither does the single-node database ",
                home.db_properties().display()
            )),
            "{err}"
        );
    }
    // the password is read and checked before the database is opened
    let out = arcactl(
        &["user", "add", "--home", root, "x", "--password-stdin"],
        Some(""),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: --password-stdin: the password from stdin is empty\n"
    );
}
