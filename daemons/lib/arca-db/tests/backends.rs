//! The same scenarios on SQLite and on PostgreSQL (a fresh database per test;
//! see `arca_testkit::pg`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use arca_db::cluster::{self, NodeRecord, NodeRole, NodeState};
use arca_db::copies::{copies_of, copies_on, record_copy, remove_copy, under_replicated};
use arca_db::{Binary, Conn, Db, DbError, NewFile, Repo, items, repos, security};
use arca_testkit::PgTestDb;

fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(&dir.path().join("arca.db"), 4).unwrap();
    (dir, db)
}

fn binary(c: char) -> Binary {
    Binary {
        sha256: c.to_string().repeat(64),
        sha1: c.to_string().repeat(40),
        md5: c.to_string().repeat(32),
        size: 3,
    }
}

fn put(conn: &Conn<'_>, repo: &str, path: &str, c: char) -> arca_db::Item {
    items::insert_binary(conn, &binary(c), 10).unwrap();
    items::put_file(conn, repo, path, &NewFile::new(binary(c), "u", 10)).unwrap()
}

/// Items, folders, ordering, search and properties behave the same.
fn items_scenario(db: &Db) {
    db.write_blocking(|c| {
        repos::insert(c, &Repo::local("libs", 1))?;
        put(c, "libs", "org/Foo/1.0/foo-1.0.jar", 'a');
        put(c, "libs", "org/Foo-extra/x.txt", 'b');
        put(c, "libs", "org/Foo0/y.txt", 'c');
        put(c, "libs", "org/a/z.txt", 'c');
        put(c, "libs", "org/Z/z.txt", 'c');
        put(c, "libs", "org/Foo-extra/b/y.txt", 'b');
        Ok::<_, DbError>(())
    })
    .unwrap();
    db.read_blocking(|c| {
        let below: Vec<String> = items::descendants(c, "libs", "org/Foo")?
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(below, ["org/Foo/1.0", "org/Foo/1.0/foo-1.0.jar"]);
        // byte order, as SQLite sorts: upper case before lower case
        let kids: Vec<String> = items::children(c, "libs", "org")?
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(kids, ["Foo", "Foo-extra", "Foo0", "Z", "a"]);
        // pages of the same order; a name filter (substring or wildcards, ASCII case ignored)
        let page = |name: Option<&str>, p: Option<(u64, u64)>| -> Vec<String> {
            items::children_page(c, "libs", "org", name, p)
                .unwrap()
                .into_iter()
                .map(|i| i.name)
                .collect()
        };
        assert_eq!(page(None, None), kids);
        assert_eq!(page(None, Some((1, 2))), ["Foo-extra", "Foo0"]);
        assert_eq!(page(None, Some((4, 10))), ["a"]);
        assert!(page(None, Some((5, 10))).is_empty());
        assert!(page(None, Some((u64::MAX, u64::MAX))).is_empty());
        assert_eq!(
            page(Some("foo"), Some((0, 10))),
            ["Foo", "Foo-extra", "Foo0"]
        );
        assert_eq!(page(Some("FOO?"), None), ["Foo0"]);
        assert_eq!(page(Some("%"), None), Vec::<String>::new());
        assert_eq!(items::count_children(c, "libs", "org", None)?, 5);
        assert_eq!(items::count_children(c, "libs", "org", Some("foo"))?, 3);
        assert_eq!(items::count_children(c, "libs", "org/Foo/1.0", None)?, 1);
        assert_eq!(items::count_children(c, "libs", "", None)?, 1);
        // folders first: folder `b` before file `x.txt`, also in pages
        let mixed = |p| -> Vec<String> {
            items::children_page(c, "libs", "org/Foo-extra", None, p)
                .unwrap()
                .into_iter()
                .map(|i| i.name)
                .collect()
        };
        assert_eq!(mixed(None), ["b", "x.txt"]);
        assert_eq!(mixed(Some((1, 1))), ["x.txt"]);
        // name search ignores ASCII case on both backends
        assert_eq!(items::search_name(c, "FOO-1.0", &[])?.len(), 1);
        assert_eq!(items::search_name(c, "z.txt", &[])?.len(), 2);
        let file = items::get(c, "libs", "org/Foo/1.0/foo-1.0.jar")?.unwrap();
        assert!(!file.folder);
        // repository and item in one query
        let (repo, item) = items::repo_and_item(c, "libs", "org/Foo/1.0/foo-1.0.jar")?.unwrap();
        assert_eq!(repo.key, "libs");
        assert_eq!(item.as_ref(), Some(&file));
        let (_, none) = items::repo_and_item(c, "libs", "org/nothing")?.unwrap();
        assert!(none.is_none());
        assert!(items::repo_and_item(c, "no-such-repo", "x")?.is_none());
        let (_, folder) = items::repo_and_item(c, "libs", "org/Foo")?.unwrap();
        assert!(folder.unwrap().folder);
        assert_eq!(file.binary.as_ref().map(|b| b.size), Some(3));
        Ok::<_, DbError>(())
    })
    .unwrap();
    let id = db
        .read_blocking(|c| items::get(c, "libs", "org/a/z.txt"))
        .unwrap()
        .unwrap()
        .id;
    db.write_blocking(|c| {
        items::set_props(
            c,
            id,
            &BTreeMap::from([("k".to_string(), vec!["v1".to_string(), "v2".to_string()])]),
        )
    })
    .unwrap();
    let props = db.read_blocking(|c| items::props(c, id)).unwrap();
    assert_eq!(props["k"], ["v1", "v2"]);
    assert_eq!(
        db.write_blocking(|c| items::delete_tree(c, "libs", "org/Foo"))
            .unwrap(),
        3
    );
    let unreferenced = db
        .read_blocking(|c| items::unreferenced_binaries(c, 100, 10))
        .unwrap();
    assert_eq!(unreferenced, vec!["a".repeat(64)]);
    // token listing with and without a subject filter (a NULL-tested parameter)
    db.write_blocking(|c| {
        security::insert_user(
            c,
            &security::User {
                name: "u".into(),
                password_hash: "h".into(),
                email: None,
                admin: false,
                created: 1,
                ..Default::default()
            },
        )?;
        security::insert_token(
            c,
            &security::Token {
                id: "t".into(),
                subject: "u".into(),
                scope: "s".into(),
                created: 1,
                expires: None,
                refreshable: true,
            },
            "d",
            Some("rd"),
        )
    })
    .unwrap();
    assert_eq!(
        db.read_blocking(|c| security::list_tokens(c, None))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.read_blocking(|c| security::list_tokens(c, Some("nobody")))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(db.read_blocking(security::user_count).unwrap(), 1);
}

/// A failed write transaction leaves nothing behind.
fn rollback_scenario(db: &Db) {
    db.write_blocking(|c| repos::insert(c, &Repo::local("r", 1)))
        .unwrap();
    let result: Result<(), DbError> = db.write_blocking(|c| {
        put(c, "r", "a/b.txt", 'a');
        Err(DbError::Conflict("changed my mind".into()))
    });
    assert!(result.is_err());
    assert!(
        db.read_blocking(|c| items::get(c, "r", "a"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn items_on_sqlite() {
    let (_dir, db) = sqlite();
    items_scenario(&db);
    rollback_scenario(&db);
}

#[test]
fn items_on_postgres() {
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    items_scenario(&db);
    rollback_scenario(&db);
}

#[test]
fn postgres_migrations_run_once_when_nodes_start_together() {
    let pg = PgTestDb::create().unwrap();
    let opts = pg.options();
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (opts, barrier) = (opts.clone(), barrier.clone());
            std::thread::spawn(move || {
                let db = Db::connect_postgres(&opts).unwrap();
                barrier.wait();
                db.migrate().unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let applied: Vec<i64> = handles.into_iter().flatten().collect();
    assert_eq!(
        applied,
        (1..=arca_db::migrate::known_version()).collect::<Vec<_>>()
    );
    // a node that knows fewer versions refuses to start, naming both
    let db = Db::connect_postgres(&opts).unwrap();
    db.write_blocking(|c| {
        c.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            arca_db::args![arca_db::migrate::known_version() + 1],
        )
    })
    .unwrap();
    let err = db.migrate().unwrap_err().to_string();
    let known = arca_db::migrate::known_version();
    assert!(
        err.contains(&format!("version {} is newer", known + 1))
            && err.contains(&format!("({known})")),
        "{err}"
    );
}

fn node(id: &str, role: NodeRole, now: i64) -> NodeRecord {
    arca_testkit::pg::node_record(id, NodeState::Starting, role, now)
}

#[test]
fn postgres_two_primaries_starting_together_one_wins() {
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let results: Vec<Result<(), DbError>> = ["p1", "p2"]
        .into_iter()
        .map(|id| {
            let (db, barrier) = (db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.write_blocking(|c| {
                    cluster::register_node(c, &node(id, NodeRole::Primary, 1000), 1000, 30_000)
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

#[test]
fn postgres_leases_are_exclusive_under_contention() {
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let winners: usize = (0..8)
        .map(|i| {
            let (db, barrier) = (db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                db.read_blocking(|c| {
                    cluster::try_acquire_lease(c, "duty", &format!("n{i}"), 1000, 30_000)
                })
                .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(winners, 1);
}

// --- binary copies (cluster-s3 redundancy)

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

/// A binary row for `c`, created at 1.
fn known(conn: &Conn<'_>, c: char) {
    items::insert_binary(conn, &binary(c), 1).unwrap();
}

fn nodes(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Copies recorded, listed and removed; under-replication counted on active nodes only: the
/// same SQL on both backends (upsert, the IN list, `LIMIT` parameters, byte order).
fn copies_scenarios(db: &Db) {
    db.write_blocking(|c| {
        copies_scenario(c);
        under_replicated_scenario(c);
        Ok::<_, DbError>(())
    })
    .unwrap();
}

#[test]
fn copies_on_sqlite() {
    let (_dir, db) = sqlite();
    copies_scenarios(&db);
}

#[test]
fn copies_on_postgres() {
    let pg = PgTestDb::create().unwrap();
    copies_scenarios(&pg.open().unwrap());
}

fn copies_scenario(c: &Conn<'_>) {
    record_copy(c, &sha('a'), "n2", 1).unwrap();
    record_copy(c, &sha('a'), "n1", 2).unwrap();
    record_copy(c, &sha('a'), "n1", 3).unwrap(); // again: refreshed, not duplicated
    assert_eq!(copies_of(c, &sha('a')).unwrap(), nodes(&["n1", "n2"]));
    assert!(remove_copy(c, &sha('a'), "n2").unwrap());
    assert!(!remove_copy(c, &sha('a'), "n2").unwrap());
    assert_eq!(copies_of(c, &sha('a')).unwrap(), nodes(&["n1"]));
    assert!(copies_of(c, &sha('b')).unwrap().is_empty());
    record_copy(c, &sha('b'), "n1", 1).unwrap();
    record_copy(c, &sha('c'), "n2", 1).unwrap();
    assert_eq!(
        copies_on(c, "n1", "", 10).unwrap(),
        vec![sha('a'), sha('b')]
    );
    assert_eq!(copies_on(c, "n1", &sha('a'), 10).unwrap(), vec![sha('b')]);
    assert_eq!(copies_on(c, "n1", "", 1).unwrap(), vec![sha('a')]);
    for x in ['a', 'b', 'c'] {
        remove_copy(c, &sha(x), "n1").unwrap();
        remove_copy(c, &sha(x), "n2").unwrap();
    }
}

fn under_replicated_scenario(c: &Conn<'_>) {
    for x in ['a', 'b', 'c', 'd'] {
        known(c, x);
    }
    // a: n1+n2; b: n1+n3; c: n1 only; d: n2 only; e: n1, but no binary row (orphan)
    record_copy(c, &sha('a'), "n1", 1).unwrap();
    record_copy(c, &sha('a'), "n2", 1).unwrap();
    record_copy(c, &sha('b'), "n1", 1).unwrap();
    record_copy(c, &sha('b'), "n3", 1).unwrap();
    record_copy(c, &sha('c'), "n1", 1).unwrap();
    record_copy(c, &sha('d'), "n2", 1).unwrap();
    record_copy(c, &sha('e'), "n1", 1).unwrap();
    let all = nodes(&["n1", "n2", "n3"]);
    assert_eq!(
        under_replicated(c, "n1", &all, 2, i64::MAX, "", 10).unwrap(),
        vec![sha('c')]
    );
    // n3 down: b counts one active copy
    let up = nodes(&["n1", "n2"]);
    assert_eq!(
        under_replicated(c, "n1", &up, 2, i64::MAX, "", 10).unwrap(),
        vec![sha('b'), sha('c')]
    );
    assert_eq!(
        under_replicated(c, "n1", &up, 2, i64::MAX, &sha('b'), 10).unwrap(),
        vec![sha('c')]
    );
    assert_eq!(
        under_replicated(c, "n1", &up, 2, i64::MAX, "", 1).unwrap(),
        vec![sha('b')]
    );
    assert_eq!(
        under_replicated(c, "n2", &up, 2, i64::MAX, "", 10).unwrap(),
        vec![sha('d')]
    );
    assert_eq!(
        under_replicated(c, "n1", &all, 3, i64::MAX, "", 10).unwrap(),
        vec![sha('a'), sha('b'), sha('c')]
    );
    // binaries created at 1: none is older than 1
    assert!(
        under_replicated(c, "n1", &up, 2, 1, "", 10)
            .unwrap()
            .is_empty()
    );
    // nobody active: everything the holder has that is known
    assert_eq!(
        under_replicated(c, "n1", &[], 1, i64::MAX, "", 10).unwrap(),
        vec![sha('a'), sha('b'), sha('c')]
    );
}
