//! The node's cache of repository and item metadata: a hot download needs no database round
//! trip (`docs/cache.md`). Only what was found is cached, never "not found"; the cache starts
//! empty and is bounded ([`MAX_ITEMS`], [`MAX_REPOS`]).
//!
//! Invalidation is coarse and complete: every write transaction of this process moves the
//! database's write generation when it ends ([`arca_db::cache_notify`]); on SQLite a
//! probe of the WAL index sees other processes' commits (`arcactl`); on PostgreSQL every write
//! transaction of any process `NOTIFY`s [`CHANNEL`], which this node listens to. A reader notes
//! the generation before its database read and caches the answer only if the generation is
//! unchanged, so a row read before a commit is never kept after it.
//!
//! Across nodes (PostgreSQL) a delete acknowledged on one node is never served by another: a
//! node serves from its cache only while a ping it sent itself less than [`FRESH_FOR`] ago came
//! back through its listening connection (so it has processed every notification committed
//! before), and a writer returns only once every other caching node acknowledged its
//! transaction or [`FRESH_FOR`] + [`MARGIN`] passed. The argument is in `docs/cache.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arca_db::cache_notify::{AfterCommit, DataVersionProbe};
use arca_db::{Db, DbError, Item, Repo, items, repos};

/// Items kept at most (a full cache is emptied and fills again with what is hot).
pub const MAX_ITEMS: usize = 10_000;
/// Repositories kept at most.
pub const MAX_REPOS: usize = 10_000;
/// How often a node pings itself through its listening connection.
pub const PING_EVERY: Duration = Duration::from_millis(200);
/// A node serves from its cache only while a ping sent less than this long ago came back.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Added to [`FRESH_FOR`] for the longest a writer waits for other nodes' acknowledgements.
pub const MARGIN: Duration = Duration::from_millis(200);
/// Nodes whose ping was seen this recently are waited for by writers.
const PEER_WINDOW: Duration = Duration::from_secs(3);
/// After (re)connecting or a lapse of freshness, a node serves from its cache only after this
/// long: a writer that has not seen its pings yet cannot be waiting for it.
const HOLD_OFF: Duration = Duration::from_millis(3_200);
/// Acknowledgements remembered for writes nobody waits for any more.
const MAX_ACKED: usize = 4096;

/// Values found at one generation; emptied when the generation moves.
#[derive(Debug, Default)]
struct Tagged<M> {
    generation: u64,
    map: M,
}

#[derive(Debug, Default)]
struct ItemMap {
    /// repository → path → item (looked up by `&str`, no allocation).
    by_repo: HashMap<String, HashMap<String, Item>>,
    count: usize,
}

/// How the cache learns of other processes' writes.
#[derive(Debug)]
pub(crate) enum Watch {
    /// The cache is off (the probe could not be opened).
    Off,
    /// SQLite: the WAL-index header (or `PRAGMA data_version`), checked per lookup.
    Sqlite(DataVersionProbe),
    /// PostgreSQL: the listening connection ([`ClusterState`]).
    Postgres(Arc<ClusterState>),
}

/// See the module documentation.
#[derive(Debug)]
pub struct MetaCache {
    db: Db,
    /// Bumped when other processes wrote (added to the database's write generation).
    local_generation: AtomicU64,
    repos: Mutex<Tagged<HashMap<String, Repo>>>,
    items: Mutex<Tagged<ItemMap>>,
    pub(crate) watch: Watch,
}

impl MetaCache {
    pub fn new(db: Db) -> MetaCache {
        let watch = match db.backend() {
            arca_db::Backend::Postgres => Watch::Postgres(Arc::new(ClusterState::new(
                db.write_events().origin().to_string(),
            ))),
            arca_db::Backend::Sqlite => match db.write_events().data_version_probe() {
                Ok(Some(probe)) => Watch::Sqlite(probe),
                Ok(None) => Watch::Off,
                Err(e) => {
                    tracing::warn!("metadata cache off: cannot watch the SQLite database: {e}");
                    Watch::Off
                }
            },
        };
        MetaCache {
            db,
            local_generation: AtomicU64::new(0),
            repos: Mutex::default(),
            items: Mutex::default(),
            watch,
        }
    }

    fn generation(&self) -> u64 {
        // Both counters only grow: the sum moves whenever either does.
        self.local_generation
            .load(Ordering::SeqCst)
            .wrapping_add(self.db.write_events().generation())
    }

    /// Drop everything cached (other processes wrote).
    pub fn invalidate(&self) {
        self.local_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation to look up and remember at, when the cache may be used now.
    fn current(&self) -> Option<u64> {
        let usable = match &self.watch {
            Watch::Off => false,
            Watch::Sqlite(probe) => match probe.check(|| self.invalidate()) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!("metadata cache bypassed: SQLite change probe: {e}");
                    self.invalidate();
                    false
                }
            },
            Watch::Postgres(cluster) => cluster.serving(),
        };
        usable.then(|| self.generation())
    }

    fn cached_repo(&self, generation: u64, key: &str) -> Option<Repo> {
        let repos = self.repos.lock().ok()?;
        if repos.generation != generation {
            return None;
        }
        repos.map.get(key).cloned()
    }

    fn cached_item(&self, generation: u64, repo: &str, path: &str) -> Option<Item> {
        let items = self.items.lock().ok()?;
        if items.generation != generation {
            return None;
        }
        items.map.by_repo.get(repo)?.get(path).cloned()
    }

    /// Remember `repo`, read after [`MetaCache::current`] answered `generation`.
    fn remember_repo(&self, generation: u64, repo: &Repo) {
        let Ok(mut repos) = self.repos.lock() else {
            return;
        };
        // A write ended since the read began: the row may be older than the write.
        if self.generation() != generation {
            return;
        }
        if repos.generation != generation || repos.map.len() >= MAX_REPOS {
            repos.map.clear();
            repos.generation = generation;
        }
        repos.map.insert(repo.key.clone(), repo.clone());
    }

    fn remember_item(&self, generation: u64, repo: &str, path: &str, item: &Item) {
        let Ok(mut items) = self.items.lock() else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        if items.generation != generation || items.map.count >= MAX_ITEMS {
            items.map = ItemMap::default();
            items.generation = generation;
        }
        let paths = items.map.by_repo.entry(repo.to_string()).or_default();
        if paths.insert(path.to_string(), item.clone()).is_none() {
            items.map.count += 1;
        }
    }

    /// A lookup through the cache: `cached` at the current generation, else `read` from the
    /// database, whose answer `remember` keeps (when the cache may be used now).
    fn lookup<T: Send>(
        &self,
        cached: impl FnOnce(u64) -> Option<T>,
        read: impl FnOnce(&arca_db::Conn<'_>) -> Result<Option<T>, DbError> + Send,
        remember: impl FnOnce(u64, &T),
    ) -> Result<Option<T>, DbError> {
        let generation = self.current();
        if let Some(hit) = generation.and_then(cached) {
            return Ok(Some(hit));
        }
        let found = self.db.read_now(read)?;
        if let (Some(g), Some(value)) = (generation, &found) {
            remember(g, value);
        }
        Ok(found)
    }

    /// The repository `key` (`repos::get`).
    pub fn repo(&self, key: &str) -> Result<Option<Repo>, DbError> {
        self.lookup(
            |g| self.cached_repo(g, key),
            |conn| repos::get(conn, key),
            |g, repo| self.remember_repo(g, repo),
        )
    }

    /// The item at `path` of repository `repo` (`items::get`).
    pub fn item(&self, repo: &str, path: &str) -> Result<Option<Item>, DbError> {
        self.lookup(
            |g| self.cached_item(g, repo, path),
            |conn| items::get(conn, repo, path),
            |g, item| self.remember_item(g, repo, path, item),
        )
    }

    /// The repository `repo` and its item at `path` (`items::repo_and_item`): from memory when
    /// both are cached, else one database query.
    pub fn repo_and_item(
        &self,
        repo: &str,
        path: &str,
    ) -> Result<Option<(Repo, Option<Item>)>, DbError> {
        self.lookup(
            |g| {
                let item = self.cached_item(g, repo, path)?;
                Some((self.cached_repo(g, repo)?, Some(item)))
            },
            |conn| items::repo_and_item(conn, repo, path),
            |g, (found_repo, item)| {
                self.remember_repo(g, found_repo);
                if let Some(item) = item {
                    self.remember_item(g, repo, path, item);
                }
            },
        )
    }

    /// Entries cached now (repositories, items), for tests and diagnostics.
    pub fn len(&self) -> (usize, usize) {
        let g = self.generation();
        let repos = self
            .repos
            .lock()
            .map_or(0, |r| if r.generation == g { r.map.len() } else { 0 });
        let items = self
            .items
            .lock()
            .map_or(0, |i| if i.generation == g { i.map.count } else { 0 });
        (repos, items)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// What the listening thread knows, shared with writers ([`AfterCommit`]).
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub(crate) origin: String,
    base: Instant,
    pub(crate) listening: AtomicBool,
    /// Milliseconds since `base` until which a ping sent less than [`FRESH_FOR`] ago has come
    /// back; 0: none.
    fresh_until: AtomicU64,
    /// Milliseconds since `base` from which the cache may serve ([`HOLD_OFF`]).
    serve_from: AtomicU64,
    /// Other caching nodes, by origin, and when their last ping was seen.
    peers: Mutex<HashMap<String, Instant>>,
    /// This process's write transactions → the nodes that acknowledged them.
    acks: Mutex<BTreeMap<u64, Vec<String>>>,
    acked: Condvar,
}

impl ClusterState {
    fn new(origin: String) -> ClusterState {
        ClusterState {
            origin,
            base: Instant::now(),
            listening: AtomicBool::new(false),
            fresh_until: AtomicU64::new(0),
            serve_from: AtomicU64::new(u64::MAX),
            peers: Mutex::default(),
            acks: Mutex::default(),
            acked: Condvar::new(),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn connected(&self) {
        self.fresh_until.store(0, Ordering::SeqCst);
        self.serve_from.store(u64::MAX, Ordering::SeqCst);
        self.listening.store(true, Ordering::SeqCst);
    }

    /// Everything committed before `now - FRESH_FOR` has been processed.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        self.listening.load(Ordering::SeqCst)
            && self.ms(now) < self.fresh_until.load(Ordering::SeqCst)
    }

    pub(crate) fn serving(&self) -> bool {
        let now = Instant::now();
        self.fresh(now) && self.ms(now) >= self.serve_from.load(Ordering::SeqCst)
    }

    /// The ping sent at `sent` came back.
    pub(crate) fn ping_returned(&self, sent: Instant) {
        let now = Instant::now();
        if !self.fresh(now) {
            // Fresh again after a lapse (or for the first time): wait until every writer
            // that could have missed this node is one that waits long enough.
            self.serve_from
                .store(self.ms(now + HOLD_OFF), Ordering::SeqCst);
        }
        self.fresh_until
            .store(self.ms(sent + FRESH_FOR), Ordering::SeqCst);
    }

    pub(crate) fn saw_peer(&self, origin: String) {
        if let Ok(mut peers) = self.peers.lock() {
            let now = Instant::now();
            if peers.len() > 64 {
                peers.retain(|_, seen| now.duration_since(*seen) < PEER_WINDOW);
            }
            peers.insert(origin, now);
        }
    }

    pub(crate) fn acked(&self, seq: u64, from: String) {
        if let Ok(mut acks) = self.acks.lock() {
            acks.entry(seq).or_default().push(from);
            while acks.len() > MAX_ACKED {
                acks.pop_first();
            }
        }
        self.acked.notify_all();
    }

    /// Whether every node seen recently acknowledged `seq` (and this node knows who they are).
    fn all_acked(&self, now: Instant, acks: &BTreeMap<u64, Vec<String>>, seq: u64) -> bool {
        if !self.fresh(now) {
            return false;
        }
        let Ok(peers) = self.peers.lock() else {
            return false;
        };
        let got = acks.get(&seq);
        peers
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) < PEER_WINDOW)
            .all(|(peer, _)| got.is_some_and(|g| g.contains(peer)))
    }
}

impl AfterCommit for ClusterState {
    /// Wait until every other caching node dropped what transaction `seq` may have changed,
    /// or until none can serve it any more ([`FRESH_FOR`] + [`MARGIN`]).
    fn committed(&self, seq: u64) {
        let deadline = Instant::now() + FRESH_FOR + MARGIN;
        let Ok(mut acks) = self.acks.lock() else {
            std::thread::sleep(FRESH_FOR + MARGIN);
            return;
        };
        loop {
            let now = Instant::now();
            if self.all_acked(now, &acks, seq) {
                break;
            }
            if now >= deadline {
                tracing::debug!(
                    seq,
                    "metadata cache: not every node acknowledged a write in time; they stop \
                     serving from their caches meanwhile"
                );
                break;
            }
            // Woken by acknowledgements; also re-checks freshness now and then.
            let step = (deadline - now).min(Duration::from_millis(50));
            acks = match self.acked.wait_timeout(acks, step) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
        acks.remove(&seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_state_serves_only_after_the_hold_off_and_while_fresh() {
        let c = ClusterState::new("me".into());
        assert!(!c.serving(), "not listening");
        c.connected();
        assert!(!c.serving(), "no ping back yet");
        c.ping_returned(Instant::now());
        assert!(c.fresh(Instant::now()));
        assert!(!c.serving(), "hold-off");
        c.serve_from.store(0, Ordering::SeqCst);
        assert!(c.serving());
        assert!(
            !c.fresh(Instant::now() + FRESH_FOR + MARGIN),
            "ping too old"
        );
        c.listening.store(false, Ordering::SeqCst);
        assert!(!c.serving(), "listener down");
    }

    #[test]
    fn a_writer_waits_for_the_peers_it_knows() {
        let c = ClusterState::new("me".into());
        c.connected();
        let now = Instant::now();
        let mut acks = BTreeMap::new();
        assert!(
            !c.all_acked(now, &acks, 1),
            "not fresh: who the peers are is unknown"
        );
        c.ping_returned(now);
        assert!(c.all_acked(now, &acks, 1), "alone: nothing to wait for");
        c.saw_peer("other".into());
        assert!(!c.all_acked(now, &acks, 1));
        acks.insert(1, vec!["third".to_string()]);
        assert!(!c.all_acked(now, &acks, 1));
        acks.insert(1, vec!["third".to_string(), "other".to_string()]);
        assert!(c.all_acked(now, &acks, 1));
        assert!(!c.all_acked(now, &acks, 2));
        // a node not seen for a while is not waited for
        let later = Instant::now() + PEER_WINDOW + Duration::from_secs(1);
        c.ping_returned(later);
        assert!(c.all_acked(later, &BTreeMap::new(), 2));
    }
}
