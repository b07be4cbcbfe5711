//! What the arcactl test binaries share: running the built binary.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `arcactl args…` (no ARCA_HOME), feeding `stdin` when given.
pub fn arcactl_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
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
        let written = child
            .stdin
            .take()
            .expect("stdin pipe")
            .write_all(text.as_bytes());
        // arcactl may exit (a usage error) before it reads its input
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("write stdin: {e}");
        }
    }
    child.wait_with_output().expect("wait for arcactl")
}

/// A throw-away PostgreSQL database, opened and migrated, that `home`'s db.properties names
/// (ARCA_TEST_PG_URL must be set: tests/run-all.sh starts PostgreSQL).
pub fn postgres_for(home: &arca_config::Home) -> (arca_testkit::PgTestDb, arca_db::Db) {
    let pg = arca_testkit::PgTestDb::create().expect("create a test database");
    let db = pg.open().expect("open and migrate");
    std::fs::write(
        home.db_properties(),
        pg.db_properties().expect("db.properties"),
    )
    .expect("write db.properties");
    (pg, db)
}

/// The words of a command line whose arguments hold no spaces (`&words("user add bob")`).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The cells of a table line (columns are two or more spaces apart).
pub fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Two `#[test]`s: `$sqlite` runs `$scenario` on `$home::sqlite()`, `$postgres` on
/// `$home::postgres()`.
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $scenario:ident, $home:ident) => {
        #[test]
        fn $sqlite() {
            $scenario(&$home::sqlite());
        }

        #[test]
        fn $postgres() {
            $scenario(&$home::postgres());
        }
    };
}
pub(crate) use on_both_backends;
