//! The license pool (`arca_db::licenses`): every rule on SQLite and on PostgreSQL (a fresh
//! database per test; see `arca_testkit::pg`). Times and dates are passed in.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use arca_db::cluster::{self, NodeState};
use arca_db::licenses::{self, AddOutcome, DeleteOutcome, LicenseRow, NewLicenseRow};
use arca_db::{Conn, Db, DbError};
use arca_testkit::PgTestDb;

const STALE: i64 = 30_000;
const T0: i64 = 1_000_000;
const TODAY: &str = "2026-06-01";

fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_sqlite(&dir.path().join("arca.db"), 4).unwrap();
    (dir, db)
}

/// Runs `$scenario(&Db)` on SQLite and on PostgreSQL, as two tests.
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            #[test]
            fn sqlite() {
                let (_dir, db) = super::sqlite();
                super::$scenario(&db);
            }
            #[test]
            fn postgres() {
                let pg = super::PgTestDb::create().unwrap();
                let db = pg.open().unwrap();
                super::$scenario(&db);
            }
        }
    };
}

fn w<T: Send>(db: &Db, f: impl FnOnce(&Conn<'_>) -> Result<T, DbError> + Send) -> T {
    db.write_blocking(f).unwrap()
}

fn new_license(hash: &str, valid_through: &str) -> NewLicenseRow {
    arca_testkit::pg::license_row(hash, valid_through)
}

fn add(db: &Db, list: &[(&str, &str)]) {
    for (hash, valid_through) in list {
        let l = new_license(hash, valid_through);
        assert_eq!(
            w(db, |c| licenses::add_license(c, &l, T0)),
            AddOutcome::Added
        );
    }
}

/// Register `id` as a running node whose last heartbeat was at `heartbeat`.
fn node(db: &Db, id: &str, heartbeat: i64) {
    let record = arca_testkit::pg::running_node(id, heartbeat);
    w(db, |c| cluster::register_node(c, &record, heartbeat, STALE));
}

fn claim(db: &Db, id: &str, now: i64) -> Option<String> {
    w(db, |c| licenses::claim_license(c, id, TODAY, now, STALE)).map(|l| l.hash)
}

fn get(db: &Db, hash: &str) -> LicenseRow {
    db.read_blocking(|c| licenses::get_license(c, hash))
        .unwrap()
        .unwrap()
}

fn holder(db: &Db, hash: &str) -> Option<String> {
    get(db, hash).holder_node_id
}

/// Adding and listing; the latest expiry is chosen (ties by hash), expired keys never are, a
/// node that holds one gets the same again.
fn claim_latest_expiry(db: &Db) {
    // b and d tie on the latest date; e expired yesterday; f expires today (still valid)
    add(
        db,
        &[
            ("a", "2026-12-31"),
            ("b", "2027-06-30"),
            ("d", "2027-06-30"),
            ("e", "2026-05-31"),
            ("f", "2026-06-01"),
        ],
    );
    let again = new_license("a", "2030-01-01");
    assert_eq!(
        w(db, |c| licenses::add_license(c, &again, T0 + 1)),
        AddOutcome::AlreadyPresent
    );
    assert_eq!(get(db, "a").valid_through, "2026-12-31", "unchanged");
    let bad = new_license("z", "May 15, 2027");
    assert!(
        db.write_blocking(|c| licenses::add_license(c, &bad, T0))
            .is_err()
    );

    for n in ["n1", "n2", "n3", "n4", "n5"] {
        node(db, n, T0);
    }
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("b"));
    let first = get(db, "b");
    assert_eq!(first.claimed_at, Some(T0));
    assert_eq!(
        claim(db, "n1", T0 + 5).as_deref(),
        Some("b"),
        "already holding"
    );
    assert_eq!(get(db, "b"), first, "not re-claimed");
    assert_eq!(claim(db, "n2", T0).as_deref(), Some("d"));
    assert_eq!(claim(db, "n3", T0).as_deref(), Some("a"));
    assert_eq!(claim(db, "n4", T0).as_deref(), Some("f"));
    assert_eq!(claim(db, "n5", T0), None, "e is expired");
    // one license per node, whoever writes the table (the partial unique index)
    let twice = db.write_blocking(|c| {
        c.execute(
            "UPDATE licenses SET holder_node_id = 'n1' WHERE hash = 'e'",
            arca_db::args![],
        )
    });
    assert!(twice.is_err(), "{twice:?}");
    assert_eq!(holder(db, "e"), None);

    let list = db.read_blocking(licenses::list_licenses).unwrap();
    let view: Vec<(&str, Option<&str>, Option<&str>)> = list
        .iter()
        .map(|l| {
            (
                l.hash.as_str(),
                l.holder_node_id.as_deref(),
                l.holder_url.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("b", Some("n1"), Some("http://n1:8081/artifactory")),
            ("d", Some("n2"), Some("http://n2:8081/artifactory")),
            ("a", Some("n3"), Some("http://n3:8081/artifactory")),
            ("f", Some("n4"), Some("http://n4:8081/artifactory")),
            ("e", None, None),
        ]
    );
    assert!(list[4].is_expired(TODAY) && !list[3].is_expired(TODAY));
    assert_eq!(list[0].token, "arca-lic-v1.b.sig");
    assert_eq!(list[0].licensee, "ACME Corp.");
    assert_eq!(list[0].license_type, "Enterprise");
    assert_eq!(list[0].issued, "2026-01-01");
    assert_eq!(list[0].added_at, T0);
}
on_both!(claim_latest_expiry);

/// A stopping node gives its license back; the next starting node gets it.
fn release(db: &Db) {
    add(db, &[("a", "2027-01-01")]);
    node(db, "n1", T0);
    node(db, "n2", T0);
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("a"));
    assert_eq!(claim(db, "n2", T0), None);
    assert!(w(db, |c| licenses::release_license(c, "n1")));
    assert!(!w(db, |c| licenses::release_license(c, "n1")));
    let freed = get(db, "a");
    assert_eq!((freed.holder_node_id, freed.claimed_at), (None, None));
    assert_eq!(claim(db, "n2", T0 + 1).as_deref(), Some("a"));
}
on_both!(release);

/// A node that stops heartbeating keeps its license until the stale period has passed, then
/// loses it (to `reclaim_stale`, or directly to a claiming node).
fn stale_reclaim_after_the_stale_period_only(db: &Db) {
    add(db, &[("a", "2027-01-01"), ("b", "2026-12-01")]);
    node(db, "n1", T0);
    node(db, "n2", T0);
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("a"));
    assert_eq!(claim(db, "n2", T0).as_deref(), Some("b"));
    // n2 keeps heartbeating, n1 does not
    w(db, |c| {
        cluster::heartbeat(c, "n2", NodeState::Running, T0 + STALE)
    });
    node(db, "n3", T0 + STALE - 1);
    assert!(w(db, |c| licenses::reclaim_stale(c, T0 + STALE - 1, STALE)).is_empty());
    assert_eq!(claim(db, "n3", T0 + STALE - 1), None, "n1 is not stale yet");
    assert_eq!(holder(db, "a").as_deref(), Some("n1"));
    assert_eq!(
        w(db, |c| licenses::reclaim_stale(c, T0 + STALE, STALE)),
        ["a"]
    );
    assert_eq!(holder(db, "b").as_deref(), Some("n2"));
    assert_eq!(claim(db, "n3", T0 + STALE).as_deref(), Some("a"));

    // a claiming node takes a stale holder's license over directly
    w(db, |c| {
        cluster::heartbeat(c, "n3", NodeState::Running, T0 + 2 * STALE)
    });
    node(db, "n4", T0 + 2 * STALE + 5);
    assert_eq!(claim(db, "n4", T0 + 2 * STALE + 5).as_deref(), Some("b"));
    assert_eq!(holder(db, "a").as_deref(), Some("n3"));

    // A server stopped cleanly (state STOPPED, its last heartbeat) keeps its license for the
    // stale period, so a restart finds it still held; then it is reclaimed like a crashed one.
    let stop = T0 + 2 * STALE + 10;
    w(db, |c| {
        cluster::heartbeat(c, "n3", NodeState::Stopped, stop)
    });
    // (n4 keeps heartbeating)
    w(db, |c| {
        cluster::heartbeat(c, "n4", NodeState::Running, stop + STALE - 1)
    });
    assert!(w(db, |c| licenses::reclaim_stale(c, stop + STALE - 1, STALE)).is_empty());
    node(db, "n5", stop + STALE - 1);
    assert_eq!(
        claim(db, "n5", stop + STALE - 1),
        None,
        "a stopped holder within the stale period keeps it"
    );
    assert_eq!(holder(db, "a").as_deref(), Some("n3"));
    assert_eq!(
        w(db, |c| licenses::reclaim_stale(c, stop + STALE, STALE)),
        ["a"]
    );
}
on_both!(stale_reclaim_after_the_stale_period_only);

/// A node removed from the registry loses its license.
fn removed_node_license_reclaimed(db: &Db) {
    add(db, &[("a", "2027-01-01")]);
    node(db, "n1", T0);
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("a"));
    w(db, |c| cluster::heartbeat(c, "n1", NodeState::Stopped, T0));
    assert!(w(db, |c| cluster::delete_node(c, "n1", T0 + 1, STALE)));
    // still recorded (no foreign key) until reclaimed; listed without a URL
    assert_eq!(holder(db, "a").as_deref(), Some("n1"));
    assert_eq!(get(db, "a").holder_url, None);
    assert_eq!(w(db, |c| licenses::reclaim_stale(c, T0 + 2, STALE)), ["a"]);
    assert_eq!(holder(db, "a"), None);
    // and a node id that never registered holds nothing for long either
    node(db, "n2", T0 + 3);
    assert_eq!(claim(db, "ghost", T0 + 3).as_deref(), Some("a"));
    assert_eq!(claim(db, "n2", T0 + 3).as_deref(), Some("a"), "taken over");
    assert_eq!(
        w(db, |c| licenses::reclaim_stale(c, T0 + 4, STALE)),
        [] as [String; 0]
    );
}
on_both!(removed_node_license_reclaimed);

/// A license about to expire is swapped for a later-expiring free one, not for an earlier one,
/// an expired one or one held by another node.
fn swap_when_expiring(db: &Db) {
    add(
        db,
        &[
            ("cur", "2026-06-10"),
            ("earlier", "2026-06-05"),
            ("old", "2026-05-01"),
        ],
    );
    node(db, "n1", T0);
    node(db, "n2", T0);
    // n1 gets "cur", the latest valid one
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("cur"));
    let swap = |db: &Db, window_end: &'static str| {
        w(db, move |c| {
            licenses::swap_if_expiring(c, "n1", TODAY, window_end)
        })
    };
    // no swap: only an earlier and an expired license are free
    assert_eq!(swap(db, "2026-07-01"), None);
    // a later one exists, but n2 holds it
    add(db, &[("later", "2026-12-31")]);
    assert_eq!(claim(db, "n2", T0).as_deref(), Some("later"));
    assert_eq!(swap(db, "2026-07-01"), None);
    assert!(w(db, |c| licenses::release_license(c, "n2")));
    // free now, but "cur" is outside the window (valid through 06-10, window ends 06-10)
    assert_eq!(swap(db, "2026-06-10"), None);
    assert_eq!(holder(db, "cur").as_deref(), Some("n1"));
    // inside the window: moved
    assert_eq!(
        swap(db, "2026-06-11"),
        Some(("cur".to_string(), "later".to_string()))
    );
    assert_eq!(holder(db, "later").as_deref(), Some("n1"));
    assert_eq!(get(db, "later").claimed_at, Some(T0));
    assert_eq!(holder(db, "cur"), None);
    // nothing later than "later" is free: stays
    assert_eq!(swap(db, "2027-12-31"), None);
    // a node holding nothing has nothing to swap
    assert_eq!(
        w(db, |c| licenses::swap_if_expiring(
            c,
            "n2",
            TODAY,
            "2030-01-01"
        )),
        None
    );
}
on_both!(swap_when_expiring);

/// DELETE: free → deleted; in use with a free alternative → holder switched, deleted; in use
/// without → refused; unknown → not found; held by a stale node → deleted.
fn delete_rules(db: &Db) {
    add(
        db,
        &[
            ("free", "2026-07-01"),
            ("used", "2027-01-01"),
            ("alt", "2026-09-01"),
            ("expired", "2026-01-01"),
        ],
    );
    node(db, "n1", T0);
    assert_eq!(claim(db, "n1", T0).as_deref(), Some("used"));
    let del = |db: &Db, hashes: &[&str], now: i64| {
        let hashes: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
        w(db, move |c| {
            licenses::delete_licenses(c, &hashes, TODAY, now, STALE)
        })
    };
    // "used" with "alt" also being deleted: "alt" is no alternative; the latest free one is
    // "free" (never the expired one)
    let out = del(db, &["used", "alt", "nope"], T0 + 1);
    assert_eq!(
        out,
        [
            (
                "used".to_string(),
                DeleteOutcome::SwitchedHolderAndDeleted {
                    node_id: "n1".into(),
                    new_hash: "free".into()
                }
            ),
            ("alt".to_string(), DeleteOutcome::Deleted),
            ("nope".to_string(), DeleteOutcome::NotFound),
        ]
    );
    assert!(out[0].1.deleted() && out[1].1.deleted() && !out[2].1.deleted());
    assert_eq!(holder(db, "free").as_deref(), Some("n1"));
    assert_eq!(get(db, "free").claimed_at, Some(T0 + 1));
    // in use, only an expired license is left: refused, with a message naming the node
    let out = del(db, &["free"], T0 + 2);
    assert_eq!(
        out,
        [(
            "free".to_string(),
            DeleteOutcome::RefusedInUse {
                node_id: "n1".into()
            }
        )]
    );
    assert!(out[0].1.message("free").contains("in use by node 'n1'"));
    assert_eq!(holder(db, "free").as_deref(), Some("n1"));
    // the expired one is not in use: deleted
    assert_eq!(
        del(db, &["expired"], T0 + 2),
        [("expired".to_string(), DeleteOutcome::Deleted)]
    );
    // n1 goes stale: its license no longer counts as in use
    assert_eq!(
        del(db, &["free"], T0 + STALE),
        [("free".to_string(), DeleteOutcome::Deleted)]
    );
    assert!(
        db.read_blocking(licenses::list_licenses)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w(db, |c| licenses::claim_license(
            c,
            "n1",
            TODAY,
            T0 + STALE,
            STALE
        )),
        None
    );
}
on_both!(delete_rules);

/// 10 nodes start at the same instant against 5 licenses, each claiming in its own
/// `Db::write`: exactly 5 get one, all different.
fn concurrent_claims(db: &Db) {
    let hashes: Vec<String> = (0..5).map(|i| format!("lic{i}")).collect();
    let dates: Vec<String> = (0..5).map(|i| format!("2027-0{}-01", i + 1)).collect();
    let list: Vec<(&str, &str)> = hashes
        .iter()
        .zip(&dates)
        .map(|(h, d)| (h.as_str(), d.as_str()))
        .collect();
    add(db, &list);
    let ids: Vec<String> = (0..10).map(|i| format!("node{i}")).collect();
    for id in &ids {
        node(db, id, T0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results: Vec<(String, Option<String>)> = runtime.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(ids.len()));
        let tasks: Vec<_> = ids
            .iter()
            .cloned()
            .map(|id| {
                let (db, start) = (db.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let claimed = db
                        .write(move |c| licenses::claim_license(c, &id, TODAY, T0 + 1, STALE))
                        .await
                        .unwrap();
                    claimed.map(|l| (l.holder_node_id.unwrap(), l.hash))
                })
            })
            .collect();
        let mut out = Vec::new();
        for (id, task) in ids.iter().zip(tasks) {
            let got = task.await.unwrap();
            if let Some((holder, _)) = &got {
                assert_eq!(holder, id);
            }
            out.push((id.clone(), got.map(|(_, hash)| hash)));
        }
        out
    });
    drop(runtime);
    let granted: Vec<&String> = results.iter().filter_map(|(_, h)| h.as_ref()).collect();
    let distinct: BTreeSet<&String> = granted.iter().copied().collect();
    assert_eq!(granted.len(), 5, "{results:?}");
    assert_eq!(
        distinct.len(),
        5,
        "a license was granted twice: {results:?}"
    );
    assert_eq!(results.iter().filter(|(_, h)| h.is_none()).count(), 5);
    // the database agrees: 5 distinct holders, each the node that was told so
    let rows = db.read_blocking(licenses::list_licenses).unwrap();
    let holders: BTreeSet<String> = rows
        .iter()
        .map(|l| l.holder_node_id.clone().unwrap())
        .collect();
    assert_eq!(holders.len(), 5);
    for (id, hash) in &results {
        if let Some(hash) = hash {
            assert_eq!(holder(db, hash).as_ref(), Some(id));
        }
    }
}
on_both!(concurrent_claims);
