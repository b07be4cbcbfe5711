//! One round of the agent against the pool, with the clock passed in (tests move it across
//! expiry dates).
//!
//! A round reads first (its node's registry row, the license it holds, the best free one) and
//! takes the cluster-wide write lock only when a claim or a swap can succeed, so a licensed
//! node costs the database one read per round.

use std::sync::Arc;

use arca_cluster::licenses::utc_date;
use arca_cluster::node_license::HeldLicense;
use arca_db::licenses::{self, LicenseRow};
use arca_db::{Clock, Db, DbError, cluster};
use arca_license::format_date_iso;

/// Where this node stands after a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// This node's `arca-server` is not an active member of the registry (not started yet,
    /// stopped, or stale): nothing is claimed for it. `held` is what the pool still records
    /// for it (free for the others meanwhile).
    NodeInactive {
        held: Option<HeldLicense>,
    },
    Licensed(HeldLicense),
    /// No free, valid license in the pool.
    Unlicensed,
}

impl Standing {
    /// The license the node may serve with (none while its server is not active).
    pub fn license(&self) -> Option<&HeldLicense> {
        match self {
            Standing::Licensed(l) => Some(l),
            Standing::NodeInactive { .. } | Standing::Unlicensed => None,
        }
    }
}

/// What a round changed in the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The node had none and took this one.
    Claimed(HeldLicense),
    /// The node's license expired or was about to; it moved to a later-expiring one.
    Swapped { old_hash: String, new: HeldLicense },
}

/// The result of [`Agent::round`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub standing: Standing,
    pub change: Option<Change>,
    /// The UTC date the round judged expiry with (`YYYY-MM-DD`).
    pub today: String,
}

/// Claims, swaps and releases the license of one node.
#[derive(Clone)]
pub struct Agent {
    db: Db,
    node_id: String,
    clock: Arc<dyn Clock>,
    stale_ms: i64,
    swap_window_days: u32,
}

impl Agent {
    /// `stale_ms`: `arca.ha.node.stale.secs` (a holder without a heartbeat for that long no
    /// longer holds its license). `swap_window_days`: `arca.license.swap.window.days`.
    pub fn new(
        db: Db,
        node_id: &str,
        clock: Arc<dyn Clock>,
        stale_ms: i64,
        swap_window_days: u32,
    ) -> Agent {
        Agent {
            db,
            node_id: node_id.to_string(),
            clock,
            stale_ms,
            swap_window_days,
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// One round: claim a license when the node has none, swap one that expires within the
    /// window for a free one that is valid longer, else change nothing.
    pub async fn round(&self) -> Result<Round, DbError> {
        let now = self.clock.now_ms();
        let today = utc_date(now);
        let today_iso = format_date_iso(today);
        let window_end = format_date_iso(
            today
                .checked_add(time::Duration::days(i64::from(self.swap_window_days)))
                .unwrap_or(today),
        );
        let stale_ms = self.stale_ms;
        let (node, held, best) = {
            let (id, today_iso) = (self.node_id.clone(), today_iso.clone());
            self.db
                .read(move |c| {
                    Ok::<_, DbError>((
                        cluster::get_node(c, &id)?,
                        licenses::license_of(c, &id)?,
                        licenses::best_free_license(c, &today_iso, now, stale_ms)?,
                    ))
                })
                .await?
        };
        let round = |standing, change| Round {
            standing,
            change,
            today: today_iso.clone(),
        };
        if !node.is_some_and(|n| n.is_active(now, stale_ms)) {
            let held = held.as_ref().map(HeldLicense::from);
            return Ok(round(Standing::NodeInactive { held }, None));
        }
        match held {
            Some(current) => {
                let expiring = current.valid_through < window_end;
                let better = best.is_some_and(|b| b.valid_through > current.valid_through);
                if !(expiring && better) {
                    return Ok(round(Standing::Licensed((&current).into()), None));
                }
                let (id, today, end) =
                    (self.node_id.clone(), today_iso.clone(), window_end.clone());
                let (swapped, now_held) = self
                    .db
                    .write(move |c| {
                        let swapped = licenses::swap_if_expiring(c, &id, &today, &end)?;
                        Ok::<_, DbError>((swapped, licenses::license_of(c, &id)?))
                    })
                    .await?;
                Ok(settled(now_held, &today_iso, |new| {
                    swapped.map(|(old_hash, _)| Change::Swapped { old_hash, new })
                }))
            }
            None if best.is_none() => Ok(round(Standing::Unlicensed, None)),
            None => {
                let (id, today) = (self.node_id.clone(), today_iso.clone());
                let claimed = self
                    .db
                    .write(move |c| licenses::claim_license(c, &id, &today, now, stale_ms))
                    .await?;
                Ok(settled(claimed, &today_iso, |new| {
                    Some(Change::Claimed(new))
                }))
            }
        }
    }

    /// Give the node's license back to the pool (clean stop). Returns the hash it held.
    pub async fn release(&self) -> Result<Option<String>, DbError> {
        let id = self.node_id.clone();
        self.db
            .write(move |c| {
                let held = licenses::license_of(c, &id)?;
                licenses::release_license(c, &id)?;
                Ok(held.map(|l| l.hash))
            })
            .await
    }
}

/// The round's result after a write: licensed with `row` (and the change `change` made), or
/// unlicensed when the write found nothing.
fn settled(
    row: Option<LicenseRow>,
    today_iso: &str,
    change: impl FnOnce(HeldLicense) -> Option<Change>,
) -> Round {
    match row {
        Some(row) => {
            let held = HeldLicense::from(&row);
            Round {
                standing: Standing::Licensed(held.clone()),
                change: change(held),
                today: today_iso.to_string(),
            }
        }
        None => Round {
            standing: Standing::Unlicensed,
            change: None,
            today: today_iso.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    //! Rounds against SQLite with a manual clock that crosses expiry dates.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use arca_db::clock::ManualClock;
    use arca_db::cluster::NodeState;
    use arca_db::licenses::NewLicenseRow;

    const DAY: i64 = 86_400_000;
    const STALE: i64 = 30_000;
    /// 2026-06-01T12:00:00Z
    const T0: i64 = 1_780_315_200_000;

    fn setup() -> (tempfile::TempDir, Db, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("arca.db"), 4).unwrap();
        (dir, db, Arc::new(ManualClock::new(T0)))
    }

    /// (Re-)register `id` as running with a heartbeat at `now`.
    fn heartbeat(db: &Db, id: &str, now: i64) {
        let record = arca_testkit::pg::running_node(id, now);
        let present = db
            .write_blocking(|c| cluster::heartbeat(c, id, NodeState::Running, now))
            .unwrap();
        if !present {
            db.write_blocking(|c| cluster::register_node(c, &record, now, STALE))
                .unwrap();
        }
    }

    fn add(db: &Db, hash: &str, valid_through: &str) {
        let row = NewLicenseRow {
            hash: hash.into(),
            token: format!("arca-lic-v1.{hash}.sig"),
            licensee: "ACME".into(),
            license_type: "Enterprise".into(),
            valid_through: valid_through.into(),
            issued: "2026-01-01".into(),
        };
        db.write_blocking(|c| licenses::add_license(c, &row, T0))
            .unwrap();
    }

    fn agent(db: &Db, id: &str, clock: &Arc<ManualClock>, window_days: u32) -> Agent {
        Agent::new(db.clone(), id, clock.clone(), STALE, window_days)
    }

    fn hash_of(round: &Round) -> Option<&str> {
        round.standing.license().map(|l| l.hash.as_str())
    }

    #[tokio::test]
    async fn claims_latest_expiry_waits_for_its_server_and_releases() {
        let (_dir, db, clock) = setup();
        add(&db, "early", "2026-09-01");
        add(&db, "late", "2027-09-01");
        let a = agent(&db, "n1", &clock, 30);
        // No registry row yet: the server has not joined; nothing is claimed.
        let r = a.round().await.unwrap();
        assert_eq!(r.standing, Standing::NodeInactive { held: None });
        heartbeat(&db, "n1", clock.now_ms());
        let r = a.round().await.unwrap();
        assert_eq!(hash_of(&r), Some("late"));
        assert!(matches!(&r.change, Some(Change::Claimed(l)) if l.hash == "late"));
        assert_eq!(r.today, "2026-06-01");
        // Next round: nothing changes.
        let r = a.round().await.unwrap();
        assert_eq!((hash_of(&r), r.change.clone()), (Some("late"), None));
        assert_eq!(a.release().await.unwrap().as_deref(), Some("late"));
        assert_eq!(a.release().await.unwrap(), None);
    }

    #[tokio::test]
    async fn swaps_within_the_window_and_keeps_an_expired_license_without_alternative() {
        let (_dir, db, clock) = setup();
        add(&db, "short", "2026-06-20");
        let a = agent(&db, "n1", &clock, 5);
        heartbeat(&db, "n1", clock.now_ms());
        assert_eq!(hash_of(&a.round().await.unwrap()), Some("short"));
        add(&db, "long", "2027-06-01");
        // 19 days left, window 5: no swap yet.
        let r = a.round().await.unwrap();
        assert_eq!((hash_of(&r), r.change.clone()), (Some("short"), None));
        // 2026-06-16: 4 days left, inside the window: moves to the later one.
        clock.advance(15 * DAY);
        heartbeat(&db, "n1", clock.now_ms());
        let r = a.round().await.unwrap();
        assert_eq!(hash_of(&r), Some("long"));
        assert_eq!(
            r.change.as_ref().map(|c| match c {
                Change::Swapped { old_hash, .. } => old_hash.as_str(),
                Change::Claimed(_) => "claimed",
            }),
            Some("short")
        );
        // A second node gets the short one; past its expiry it keeps it (perpetual rule): no
        // valid license is free to move to.
        let b = agent(&db, "n2", &clock, 5);
        heartbeat(&db, "n2", clock.now_ms());
        // "short" is still valid on 2026-06-16: claimable.
        assert_eq!(hash_of(&b.round().await.unwrap()), Some("short"));
        clock.advance(10 * DAY); // 2026-06-26: expired
        heartbeat(&db, "n1", clock.now_ms());
        heartbeat(&db, "n2", clock.now_ms());
        let r = b.round().await.unwrap();
        assert_eq!((hash_of(&r), r.change.clone()), (Some("short"), None));
        assert!(r.standing.license().unwrap().is_expired(&r.today));
        // A new node is never given an expired license.
        let c = agent(&db, "n3", &clock, 5);
        heartbeat(&db, "n3", clock.now_ms());
        b.release().await.unwrap();
        let r = c.round().await.unwrap();
        assert_eq!(r.standing, Standing::Unlicensed);
        // Window 0: a node moves only off an expired license.
        let r = b.round().await.unwrap();
        assert_eq!(
            r.standing,
            Standing::Unlicensed,
            "expired 'short' is not re-claimed"
        );
        add(&db, "fresh", "2026-07-31");
        let zero = agent(&db, "n3", &clock, 0);
        assert_eq!(hash_of(&zero.round().await.unwrap()), Some("fresh"));
        add(&db, "longer", "2028-01-01");
        let r = zero.round().await.unwrap();
        assert_eq!(
            (hash_of(&r), r.change.clone()),
            (Some("fresh"), None),
            "valid 'fresh' is kept with window 0"
        );
    }

    #[tokio::test]
    async fn a_stale_holder_loses_its_license_to_a_waiting_node_and_deletes_move_holders() {
        let (_dir, db, clock) = setup();
        add(&db, "only", "2027-01-01");
        let (a, b) = (agent(&db, "n1", &clock, 30), agent(&db, "n2", &clock, 30));
        heartbeat(&db, "n1", clock.now_ms());
        heartbeat(&db, "n2", clock.now_ms());
        assert_eq!(hash_of(&a.round().await.unwrap()), Some("only"));
        assert_eq!(b.round().await.unwrap().standing, Standing::Unlicensed);
        // n1 stops heartbeating (kill -9): after the stale period n2 takes its license.
        clock.advance(STALE - 1);
        heartbeat(&db, "n2", clock.now_ms());
        assert_eq!(b.round().await.unwrap().standing, Standing::Unlicensed);
        clock.advance(1);
        heartbeat(&db, "n2", clock.now_ms());
        let r = b.round().await.unwrap();
        assert_eq!(hash_of(&r), Some("only"));
        // n1 comes back: its license is gone; it waits.
        heartbeat(&db, "n1", clock.now_ms());
        assert_eq!(a.round().await.unwrap().standing, Standing::Unlicensed);
        // Deleting the license in use with a free alternative moves n2 to it.
        add(&db, "spare", "2026-12-01");
        heartbeat(&db, "n1", clock.now_ms());
        let today = b.round().await.unwrap().today;
        let now = clock.now_ms();
        let out = db
            .write_blocking(move |c| {
                licenses::delete_licenses(c, &["only".to_string()], &today, now, STALE)
            })
            .unwrap();
        assert!(out[0].1.deleted(), "{out:?}");
        assert_eq!(hash_of(&b.round().await.unwrap()), Some("spare"));
        assert_eq!(a.round().await.unwrap().standing, Standing::Unlicensed);
    }
}
