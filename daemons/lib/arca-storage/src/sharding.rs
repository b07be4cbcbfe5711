//! `sharding-cluster` over a node-local store + dynamic `remote`: each binary is kept on
//! `redundancy` nodes, each node in its own store ([`OwnStore`]): a `state-aware` file store
//! (the `cluster-file-system` template), or an `eventual-cluster` queue in front of the object
//! store (`cluster-s3-storage-v3`: the copies on the nodes only bridge the time until the
//! storage mover of one holder uploaded the binary; then the holders drop them).
//!
//! * Write: [`ClusterTier::replicate`] (before the deploy's DB transaction) pushes the staged
//!   upload to `redundancy - 1` peers chosen by rendezvous hashing of (SHA-256, node id) among
//!   the active peers, falling back to the next peer when one fails; the deploy's transaction
//!   then renames the upload into this node's own store ([`ClusterTier::commit_local`]), like
//!   the file-system chain, so a binary row never commits without a local copy (unless the
//!   store is read-only, `writeEnabled=false`: then the peers hold them all) — that is what
//!   keeps a garbage collection racing with a re-deploy of the same content from losing data.
//!   Fewer copies than `lenientLimit` fail the deploy ([`StorageError::Unavailable`], 503);
//!   fewer than `redundancy` succeed with a warning, and the redundancy restore adds the
//!   missing copies later.
//! * Read: own store (through the chain's cache first), then the peers recorded as holders,
//!   then any other active peer; a download is verified against the SHA-256 and size before it
//!   is served.
//! * Garbage collection: the collecting node deletes its own copy inside its transaction and
//!   queues a delete for every recorded holder; a holder deletes only when its database no
//!   longer knows the binary (its own write transaction waits for the collector's).
//! * Maintenance ([`spawn_maintenance`], every `checkPeriod`, run by each node's
//!   `arca-storage-mover`): restore redundancy ([`ClusterTier::restore_redundancy`]; binaries
//!   already in the object store need none), and from time to time reconcile the
//!   `binary_copies` rows with the disk and sweep orphan copies.
//!
//! Bookkeeping lives in the database table `binary_copies` (see `arca_db::copies`); the files
//! are the truth, the rows a hint that every reader tolerates being stale.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use arca_config::storage_plan::{ClusterLocalSpec, ClusterSpec};
use arca_crypto::master_key::RequestSigner;
use arca_db::{Clock, Db, DbError, SystemClock, cluster, copies, items};
use digest::Digest;
use tokio::sync::mpsc;

use crate::own_store::OwnStore;
use crate::remote::{Peer, PeerClient, PeerDelete};
use crate::s3::ObjectStore;
use crate::{Checksums, EventualQueue, FileStore, StagedBlob, StorageError};

/// What a cluster chain needs besides its plan: the database (node registry, copies) and
/// this node's identity for signing peer requests.
#[derive(Debug, Clone)]
pub struct ClusterContext {
    pub db: Db,
    /// Signs peer requests (keyed from the cluster's master key).
    pub signer: RequestSigner,
    /// This node's `node.id`.
    pub node_id: String,
    /// `arca.ha.node.stale.secs`: a node without a heartbeat for this long is not active.
    pub stale: Duration,
}

/// How long the list of active peers read from the node registry is reused.
const PEER_LIST_TTL: Duration = Duration::from_secs(1);
/// Rows per database page (restore, reconcile, sweep).
const PAGE: usize = 500;
/// A binary younger than this is left alone by the restore: its deploying node records its
/// own copy just after the deploy commits, and counting before that would add a third copy.
const RESTORE_SETTLE: Duration = Duration::from_secs(10);
/// Reconcile rows with the disk and sweep orphans every this many maintenance rounds (and in
/// the first): both list the whole store.
const RECONCILE_EVERY: u64 = 20;
/// Bookkeeping jobs handled per database transaction.
const JOB_BATCH: usize = 256;

/// The running sharding-cluster tier. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClusterTier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// This node's own copies.
    own: OwnStore,
    /// Where uploads are staged (same filesystem as `own`: committing is a rename).
    staging: FileStore,
    /// The object store below an `eventual-cluster` (a binary in it needs no more copies).
    objects: Option<ObjectStore>,
    write_enabled: bool,
    redundancy: u32,
    lenient_limit: u32,
    /// The `remote` provider's `checkPeriod`: maintenance interval.
    check_period: Duration,
    db: Db,
    node_id: String,
    stale_ms: i64,
    client: PeerClient,
    view: Mutex<Option<(Instant, Arc<View>)>>,
    /// Bookkeeping done after the fact (own copies, deletions on peers), in order.
    jobs: mpsc::UnboundedSender<Job>,
    /// Active nodes at the last maintenance round (to warn once when below redundancy).
    last_active: AtomicUsize,
    /// What the last redundancy restore did (for the mover's status).
    last_restore: Mutex<Option<RestoreReport>>,
}

/// The cluster as the node registry shows it.
#[derive(Debug, Default)]
struct View {
    /// Active nodes, this one included.
    active: Vec<String>,
    /// Active nodes other than this one, with a context URL.
    peers: Vec<Peer>,
}

/// Work queued for the bookkeeping worker.
#[derive(Debug)]
enum Job {
    /// A deploy committed a copy into this node's store: record it.
    RecordOwn(String),
    /// This node's copy went away (quarantined): forget it unless it is back.
    ForgetOwn(String),
    /// Garbage collection removed the binary: ask every recorded holder to delete its copy.
    DeleteEverywhere(String),
}

/// Which peers [`ClusterTier::fetch`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerScope {
    /// Recorded holders first, then every other active peer.
    All,
    /// Only the peers recorded as holding a copy.
    Recorded,
    /// Only the active peers not recorded as holding one.
    Unrecorded,
}

/// What one redundancy restore did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Binaries this node holds with fewer than `redundancy` copies on active nodes.
    pub under_replicated: usize,
    /// Copies pushed to peers.
    pub copies_added: usize,
    /// Left to another active holder (the one rendezvous hashing picks pushes).
    pub left_to_other_holders: usize,
    /// No active peer without a copy is available.
    pub no_target: usize,
    /// Pushes that failed.
    pub failed: usize,
    /// This node's copy turned out corrupt or missing (quarantined / forgotten).
    pub bad_local_copies: usize,
    /// Already in the object store (`cluster-s3-storage-v3`): no copy needed.
    pub in_object_store: usize,
}

/// What a reconcile of the rows with the disk changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub recorded: usize,
    pub forgotten: usize,
}

fn db_error(e: DbError) -> StorageError {
    StorageError::Unavailable(format!("sharding-cluster bookkeeping: {e}"))
}

fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Rendezvous (highest random weight) score of a node for a binary: every node computes the
/// same order of peers for a binary without coordination, and a node joining or leaving only
/// moves the binaries whose top choices it changes.
fn score(sha256: &str, node_id: &str) -> u64 {
    let mut h = sha2::Sha256::new();
    h.update(sha256.as_bytes());
    h.update([0u8]);
    h.update(node_id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `peers` in rendezvous order for `sha256` (best first).
fn rendezvous<'p>(sha256: &str, peers: impl IntoIterator<Item = &'p Peer>) -> Vec<&'p Peer> {
    let mut ordered: Vec<(u64, &Peer)> = peers
        .into_iter()
        .map(|p| (score(sha256, &p.node_id), p))
        .collect();
    ordered.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.node_id.cmp(&b.1.node_id)));
    ordered.into_iter().map(|(_, p)| p).collect()
}

impl ClusterTier {
    /// Open the node's own store (`state-aware` files, or the `eventual-cluster` queue whose
    /// object store is `objects`), with uploads staged in `staging_dir`, and the peer client.
    /// Must run inside a tokio runtime (it starts the bookkeeping worker).
    pub fn open(
        spec: &ClusterSpec,
        staging_dir: PathBuf,
        ctx: &ClusterContext,
        objects: Option<ObjectStore>,
    ) -> Result<ClusterTier, StorageError> {
        let (own, staging, write_enabled) = match &spec.local {
            ClusterLocalSpec::StateAware(state_aware) => {
                let store = FileStore::open(state_aware.file_store_dir.clone(), staging_dir)?;
                (
                    OwnStore::Files(store.clone()),
                    store,
                    state_aware.write_enabled,
                )
            }
            ClusterLocalSpec::ObjectStore(os) => {
                let Some(eventual) = &os.eventual else {
                    return Err(StorageError::Unusable {
                        path: staging_dir,
                        reason: format!(
                            "sharding-cluster '{}': its object store needs an eventual-cluster \
                             provider in front of it",
                            spec.id
                        ),
                    });
                };
                let queue = EventualQueue::open(eventual)?;
                let staging = FileStore::open(queue.add_dir().to_path_buf(), staging_dir)?;
                (OwnStore::Queue(queue), staging, true)
            }
        };
        let client = PeerClient::new(&spec.remote, ctx.signer.clone(), &ctx.node_id)?;
        let (jobs, rx) = mpsc::unbounded_channel();
        let tier = ClusterTier {
            inner: Arc::new(Inner {
                own,
                staging,
                objects,
                write_enabled,
                redundancy: spec.redundancy.max(1),
                lenient_limit: spec.lenient_limit.max(1),
                check_period: spec.remote.check_period,
                db: ctx.db.clone(),
                node_id: ctx.node_id.clone(),
                stale_ms: i64::try_from(ctx.stale.as_millis()).unwrap_or(i64::MAX),
                client,
                view: Mutex::new(None),
                jobs,
                last_active: AtomicUsize::new(usize::MAX),
                last_restore: Mutex::new(None),
            }),
        };
        // The worker holds a weak reference: it ends when the last Storage is dropped.
        tokio::spawn(bookkeeping(Arc::downgrade(&tier.inner), rx));
        Ok(tier)
    }

    /// This node's own store (what the peer endpoint serves and receives into).
    pub fn own(&self) -> &OwnStore {
        &self.inner.own
    }

    /// Where this node stages uploads (committing into [`Self::own`] is a rename).
    pub fn staging(&self) -> &FileStore {
        &self.inner.staging
    }

    /// The object store below the nodes' queues (`cluster-s3-storage-v3`).
    pub fn object_store(&self) -> Option<&ObjectStore> {
        self.inner.objects.as_ref()
    }

    /// Whether the database knows the binary (a failure counts as "no": the caller then does
    /// the full work).
    pub async fn binary_known(&self, sha256: &str) -> bool {
        let sha = sha256.to_owned();
        self.inner
            .db
            .read(move |c| items::binary_known(c, &sha))
            .await
            .unwrap_or(false)
    }

    /// Whether this node's store takes new copies (`state-aware` `writeEnabled`).
    pub fn write_enabled(&self) -> bool {
        self.inner.write_enabled
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn redundancy(&self) -> u32 {
        self.inner.redundancy
    }

    pub fn lenient_limit(&self) -> u32 {
        self.inner.lenient_limit
    }

    /// What the last redundancy restore of [`Self::maintain`] did.
    pub fn last_restore(&self) -> Option<RestoreReport> {
        *self
            .inner
            .last_restore
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The `remote` provider's `checkPeriod`: how often maintenance runs.
    pub fn check_period(&self) -> Duration {
        self.inner.check_period
    }

    /// The peer client (circuit breaker state included).
    pub fn client(&self) -> &PeerClient {
        &self.inner.client
    }

    fn job(&self, job: Job) {
        if self.inner.jobs.send(job).is_err() {
            tracing::warn!("sharding-cluster bookkeeping worker has stopped");
        }
    }

    /// Active nodes and peers, from the node registry (reused for [`PEER_LIST_TTL`]), and
    /// whether it was read just now. Callers that find too few peers in a reused view read
    /// it again ([`Self::views`]): a node that just joined is not missed for a whole TTL.
    async fn view(&self) -> Result<(Arc<View>, bool), StorageError> {
        if let Some((at, view)) = self.cached_view()
            && at.elapsed() < PEER_LIST_TTL
        {
            return Ok((view, false));
        }
        Ok((self.fresh_view().await?, true))
    }

    /// The view for attempt `pass` (0: possibly reused; 1: read again, `None` when the first
    /// one was fresh already and a second read could not show anything new). `first_fresh`
    /// carries that between the passes.
    async fn views(
        &self,
        pass: u8,
        first_fresh: &mut bool,
    ) -> Option<Result<Arc<View>, StorageError>> {
        let read = match pass {
            0 => self.view().await,
            1 if !*first_fresh => self.fresh_view().await.map(|v| (v, true)),
            _ => return None,
        };
        Some(read.map(|(view, fresh)| {
            *first_fresh |= fresh;
            view
        }))
    }

    fn cached_view(&self) -> Option<(Instant, Arc<View>)> {
        self.inner
            .view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn fresh_view(&self) -> Result<Arc<View>, StorageError> {
        let nodes = self
            .inner
            .db
            .read(cluster::list_nodes)
            .await
            .map_err(db_error)?;
        let now = now_ms();
        let mut view = View::default();
        for n in nodes
            .into_iter()
            .filter(|n| n.is_active(now, self.inner.stale_ms))
        {
            if n.node_id != self.inner.node_id && !n.context_url.is_empty() {
                view.peers.push(Peer {
                    node_id: n.node_id.clone(),
                    url: n.context_url.trim_end_matches('/').to_owned(),
                });
            }
            view.active.push(n.node_id);
        }
        let view = Arc::new(view);
        *self.inner.view.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), view.clone()));
        Ok(view)
    }

    /// Active peers (other nodes), from the node registry.
    pub async fn active_peers(&self) -> Result<Vec<Peer>, StorageError> {
        Ok(self.view().await?.0.peers.clone())
    }

    /// Recorded holders of `sha256`; a database failure is logged and counts as "none known"
    /// (callers then fall back to asking every active peer).
    async fn holders(&self, sha256: &str) -> Vec<String> {
        let sha = sha256.to_owned();
        match self
            .inner
            .db
            .read(move |c| copies::copies_of(c, &sha))
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(arca_sha256 = sha256, error = %e, "could not read the copies of a binary");
                Vec::new()
            }
        }
    }

    /// Before the deploy's transaction: push the staged upload to enough peers that, with the
    /// local copy the transaction will commit, the binary has `redundancy` copies on active
    /// nodes. Fails when fewer than `lenientLimit` copies would exist.
    pub async fn replicate(&self, staged: &Path, sums: &Checksums) -> Result<(), StorageError> {
        let sha = sums.sha256.as_str();
        let inner = &self.inner;
        let local = u32::from(inner.write_enabled);
        // Re-deploying known content: peers that already hold it count.
        let holders = self.holders(sha).await;
        let mut tried: HashSet<String> = HashSet::new();
        let mut failures: Vec<String> = Vec::new();
        let (mut written, mut existing, mut active_peers) = (0u32, 0u32, 0usize);
        let mut first_fresh = false;
        for pass in 0..2 {
            let view = match self.views(pass, &mut first_fresh).await {
                None => break,
                Some(Ok(view)) => view,
                Some(Err(e)) => {
                    // Without the registry no peer is known; the local copy may be enough.
                    tracing::warn!(arca_sha256 = sha, error = %e, "cannot list the peer nodes");
                    failures.push(format!("node registry: {e}"));
                    break;
                }
            };
            active_peers = view.peers.len();
            existing = view
                .peers
                .iter()
                .filter(|p| holders.contains(&p.node_id))
                .count() as u32;
            let wanted = inner.redundancy.saturating_sub(local + existing);
            let mut candidates: VecDeque<&Peer> = VecDeque::new();
            for p in rendezvous(
                sha,
                view.peers
                    .iter()
                    .filter(|p| !holders.contains(&p.node_id) && !tried.contains(&p.node_id)),
            ) {
                tried.insert(p.node_id.clone());
                if inner.client.is_available(&p.node_id) {
                    candidates.push_back(p);
                } else {
                    failures.push(format!("{}: skipped after a recent failure", p.node_id));
                }
            }
            while written < wanted && !candidates.is_empty() {
                let n = (wanted - written) as usize;
                let batch: Vec<&Peer> = candidates.drain(..n.min(candidates.len())).collect();
                let results = futures_util::future::join_all(
                    batch.iter().map(|p| inner.client.put(p, sha, staged, sums)),
                )
                .await;
                for (peer, result) in batch.iter().zip(results) {
                    match result {
                        Ok(()) => written += 1,
                        Err(e) => {
                            tracing::warn!(
                                arca_sha256 = sha,
                                peer = %peer.node_id,
                                error = %e,
                                "could not store a copy on a peer node; trying the next one"
                            );
                            failures.push(format!("{}: {e}", peer.node_id));
                        }
                    }
                }
            }
            if written >= wanted {
                break;
            }
        }
        let view_peers = active_peers;
        let copies = local + existing + written;
        if copies < inner.lenient_limit {
            return Err(StorageError::Unavailable(format!(
                "only {copies} cop{} of binary {sha} could be stored, the sharding-cluster needs \
                 at least {} (lenientLimit) — {} active peer node(s){}{}",
                if copies == 1 { "y" } else { "ies" },
                inner.lenient_limit,
                view_peers,
                if failures.is_empty() { "" } else { "; " },
                failures.join("; ")
            )));
        }
        if copies < inner.redundancy {
            tracing::warn!(
                arca_sha256 = sha,
                copies,
                redundancy = inner.redundancy,
                active_peers = view_peers,
                failures = %failures.join("; "),
                "binary stored on fewer nodes than the redundancy; the redundancy restore adds \
                 the missing copies when peers are available"
            );
        }
        Ok(())
    }

    /// Inside the deploy's transaction: rename the upload into this node's store. Returns
    /// where it is, or `None` when the store is read-only (`writeEnabled=false`: the peers
    /// hold the copies; the staged file is deleted).
    pub fn commit_local(&self, staged: StagedBlob) -> Result<Option<PathBuf>, StorageError> {
        if !self.inner.write_enabled {
            return Ok(None);
        }
        let path = self.inner.own.path(&staged.checksums().sha256)?;
        self.inner.own.place(staged)?;
        Ok(Some(path))
    }

    /// After the deploy's transaction: record the local copy (queued; the periodic reconcile
    /// records it if this is lost in a crash).
    pub fn note_local_copy(&self, sha256: &str) {
        if self.inner.write_enabled {
            self.job(Job::RecordOwn(sha256.to_owned()));
        }
    }

    /// This node's copy was quarantined: forget it (unless a new copy arrived meanwhile), so
    /// the redundancy restore sees the binary as under-replicated.
    pub fn note_local_copy_gone(&self, sha256: &str) {
        self.job(Job::ForgetOwn(sha256.to_owned()));
    }

    /// Garbage collection, inside its transaction after the binary's row was deleted: delete
    /// this node's copy now and queue deletes on the other holders. The holders check the
    /// binary is unknown in their own write transaction, which waits for this one — so a
    /// rolled back collection deletes nothing on them. Holders that are down keep their copy
    /// until their orphan sweep removes it.
    pub fn remove(&self, sha256: &str) -> Result<(), StorageError> {
        self.inner.own.remove(sha256)?;
        self.job(Job::DeleteEverywhere(sha256.to_owned()));
        Ok(())
    }

    /// Download a copy from a peer into `dest` (a new temp file; truncated per attempt) and
    /// check its size and SHA-256. Recorded holders are asked first, then the other active
    /// peers (the rows may lag behind), as far as `scope` allows. Every peer asked without a
    /// copy (or none to ask) → `NotFound`; some unreachable → `Unavailable`.
    pub async fn fetch(
        &self,
        sha256: &str,
        size: u64,
        dest: &Path,
        scope: PeerScope,
    ) -> Result<Checksums, StorageError> {
        let holders = self.holders(sha256).await;
        let mut tried: HashSet<String> = HashSet::new();
        let mut failures = Vec::new();
        let mut unreachable = false;
        let mut first_fresh = false;
        for pass in 0..2 {
            let view = match self.views(pass, &mut first_fresh).await {
                None => break,
                Some(Ok(view)) => view,
                Some(Err(e)) => return Err(e),
            };
            let (recorded, others): (Vec<&Peer>, Vec<&Peer>) = view
                .peers
                .iter()
                .filter(|p| !tried.contains(&p.node_id))
                .partition(|p| holders.contains(&p.node_id));
            let mut order = Vec::new();
            if scope != PeerScope::Unrecorded {
                order.extend(rendezvous(sha256, recorded));
            }
            if scope != PeerScope::Recorded {
                order.extend(rendezvous(sha256, others));
            }
            for peer in order {
                tried.insert(peer.node_id.clone());
                if !self.inner.client.is_available(&peer.node_id) {
                    unreachable = true;
                    failures.push(format!("{}: skipped after a recent failure", peer.node_id));
                    continue;
                }
                match self.inner.client.download_to(peer, sha256, dest).await {
                    Ok(sums) if sums.sha256 == sha256 && sums.size == size => {
                        tracing::debug!(arca_sha256 = sha256, peer = %peer.node_id, "fetched a copy from a peer");
                        return Ok(sums);
                    }
                    Ok(sums) => {
                        tracing::error!(
                            arca_sha256 = sha256,
                            peer = %peer.node_id,
                            "peer sent {} bytes with SHA-256 {}, expected {size} bytes; trying the next one",
                            sums.size,
                            sums.sha256
                        );
                        failures.push(format!("{}: corrupt copy", peer.node_id));
                    }
                    Err(StorageError::NotFound(_)) => {
                        failures.push(format!("{}: no copy", peer.node_id));
                    }
                    Err(e) => {
                        unreachable = true;
                        tracing::warn!(arca_sha256 = sha256, peer = %peer.node_id, error = %e, "could not fetch a copy from a peer");
                        failures.push(format!("{}: {e}", peer.node_id));
                    }
                }
            }
        }
        if unreachable {
            return Err(StorageError::Unavailable(format!(
                "no peer node could supply binary {sha256}: {}",
                failures.join("; ")
            )));
        }
        Err(StorageError::NotFound(sha256.to_owned()))
    }

    /// Push this node's under-replicated binaries to active peers lacking them, until each
    /// has `redundancy` copies on active nodes. For each binary only one holder acts: the
    /// active holder ranked first by rendezvous hashing, so two holders don't both add a copy.
    pub async fn restore_redundancy(&self) -> Result<RestoreReport, StorageError> {
        let inner = &self.inner;
        let view = self.fresh_view().await?;
        let mut report = RestoreReport::default();
        let settle = i64::try_from(RESTORE_SETTLE.as_millis()).unwrap_or(i64::MAX);
        let created_before = now_ms().saturating_sub(settle);
        let mut after = String::new();
        loop {
            let (node, active, redundancy, from) = (
                inner.node_id.clone(),
                view.active.clone(),
                inner.redundancy,
                after.clone(),
            );
            let page = inner
                .db
                .read(move |c| {
                    let shas = copies::under_replicated(
                        c,
                        &node,
                        &active,
                        redundancy,
                        created_before,
                        &from,
                        PAGE,
                    )?;
                    let mut out = Vec::with_capacity(shas.len());
                    for sha in shas {
                        let holders = copies::copies_of(c, &sha)?;
                        let binary = items::binary_by(c, items::ChecksumKind::Sha256, &sha)?;
                        out.push((sha, holders, binary));
                    }
                    Ok::<_, DbError>(out)
                })
                .await
                .map_err(db_error)?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            for (sha, holders, binary) in page {
                report.under_replicated += 1;
                let Some(binary) = binary else { continue }; // collected meanwhile
                let active_holders: Vec<&String> =
                    holders.iter().filter(|h| view.active.contains(h)).collect();
                let leader = active_holders
                    .iter()
                    .max_by_key(|h| (score(&sha, h), std::cmp::Reverse(h.as_str())));
                if leader.is_some_and(|l| **l != inner.node_id) {
                    report.left_to_other_holders += 1;
                    continue;
                }
                if !inner.own.contains(&sha)? {
                    // The row is stale (the file went away): forget it, another holder acts.
                    // From a queue that is the normal end of a copy (the mover uploaded it or
                    // found it uploaded, and forgets the row itself a moment later).
                    if inner.own.queue().is_none() {
                        report.bad_local_copies += 1;
                    }
                    self.note_local_copy_gone(&sha);
                    continue;
                }
                let missing = (inner.redundancy as usize).saturating_sub(active_holders.len());
                let candidates: Vec<&Peer> = rendezvous(
                    &sha,
                    view.peers.iter().filter(|p| {
                        !holders.contains(&p.node_id) && inner.client.is_available(&p.node_id)
                    }),
                );
                if candidates.is_empty() {
                    report.no_target += 1;
                    continue;
                }
                let sums = Checksums {
                    sha256: binary.sha256.clone(),
                    sha1: binary.sha1.clone(),
                    md5: binary.md5.clone(),
                    size: binary.size,
                };
                if let Some(objects) = &inner.objects
                    && objects.head(&sha).await.ok().flatten() == Some(binary.size)
                {
                    // Uploaded already: the copies on the nodes are about to be dropped.
                    report.in_object_store += 1;
                    continue;
                }
                let path = inner.own.path(&sha)?;
                let mut added = 0;
                for peer in candidates {
                    if added == missing {
                        break;
                    }
                    match inner.client.put(peer, &sha, &path, &sums).await {
                        Ok(()) => {
                            added += 1;
                            report.copies_added += 1;
                        }
                        Err(StorageError::Peer {
                            status: Some(409),
                            message,
                            ..
                        }) => {
                            // The peer hashed what we sent and it is not this binary: our
                            // copy is corrupt. Move it away; another holder (or nobody) acts.
                            tracing::error!(
                                arca_sha256 = %sha,
                                peer = %peer.node_id,
                                detail = %message,
                                "this node's copy is corrupt (refused by a peer); quarantining it"
                            );
                            report.bad_local_copies += 1;
                            self.quarantine_local(&sha);
                            break;
                        }
                        Err(e) => {
                            report.failed += 1;
                            tracing::warn!(arca_sha256 = %sha, peer = %peer.node_id, error = %e, "could not restore a copy on a peer");
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Move this node's copy to quarantine and forget it.
    fn quarantine_local(&self, sha256: &str) {
        if let Err(e) = self.inner.own.quarantine(sha256) {
            tracing::error!(arca_sha256 = sha256, error = %e, "could not quarantine a corrupt copy");
        }
        self.note_local_copy_gone(sha256);
    }

    /// Make this node's `binary_copies` rows match its disk: record copies of known binaries
    /// that have no row (a crash between a deploy and its bookkeeping), forget rows whose file
    /// is gone. Every change is re-checked inside a write transaction, where peer pushes
    /// (which place and record in one) cannot interleave.
    pub async fn reconcile(&self) -> Result<ReconcileReport, StorageError> {
        let inner = &self.inner;
        let store = inner.own.clone();
        let on_disk: HashSet<String> = tokio::task::spawn_blocking(move || store.list())
            .await
            .map_err(|e| crate::error::join_error("reconcile", e))??
            .into_iter()
            .map(|(sha, _)| sha)
            .collect();
        let mut rows = HashSet::new();
        let mut after = String::new();
        loop {
            let (node, from) = (inner.node_id.clone(), after.clone());
            let page = inner
                .db
                .read(move |c| copies::copies_on(c, &node, &from, PAGE))
                .await
                .map_err(db_error)?;
            let Some(last) = page.last() else { break };
            after = last.clone();
            rows.extend(page);
        }
        let unrecorded: Vec<String> = on_disk.difference(&rows).cloned().collect();
        let stale: Vec<String> = rows.difference(&on_disk).cloned().collect();
        let mut report = ReconcileReport::default();
        for chunk in unrecorded.chunks(PAGE) {
            let (chunk, store, node, now) = (
                chunk.to_vec(),
                inner.own.clone(),
                inner.node_id.clone(),
                now_ms(),
            );
            report.recorded += inner
                .db
                .write(move |tx| {
                    let mut n = 0;
                    for sha in &chunk {
                        // orphans stay unrecorded: the sweep removes them
                        if items::binary_known(tx, sha)? && store.contains(sha).unwrap_or(false) {
                            copies::record_copy(tx, sha, &node, now)?;
                            n += 1;
                        }
                    }
                    Ok::<_, DbError>(n)
                })
                .await
                .map_err(db_error)?;
        }
        for chunk in stale.chunks(PAGE) {
            report.forgotten += self.forget_own(chunk.to_vec()).await?;
        }
        if report != ReconcileReport::default() {
            tracing::info!(
                recorded = report.recorded,
                forgotten = report.forgotten,
                "reconciled this node's copy records with its store"
            );
        }
        Ok(report)
    }

    /// Forget this node's rows for `shas` whose file is not in the store (checked inside the
    /// write transaction). Returns how many were forgotten.
    async fn forget_own(&self, shas: Vec<String>) -> Result<usize, StorageError> {
        let (store, node) = (self.inner.own.clone(), self.inner.node_id.clone());
        self.inner
            .db
            .write(move |tx| {
                let mut n = 0;
                for sha in &shas {
                    if !store.contains(sha).unwrap_or(true) && copies::remove_copy(tx, sha, &node)?
                    {
                        n += 1;
                    }
                }
                Ok::<_, DbError>(n)
            })
            .await
            .map_err(db_error)
    }

    /// Delete copies in this node's store that no binary row references and that are older
    /// than `grace` (pushed for a deploy that failed, or collected while this node was down),
    /// with their rows. Checked per binary inside a write transaction, like the collector's
    /// own orphan sweep; the grace period protects pushes of deploys still in flight.
    pub async fn sweep_orphans(&self, grace: Duration) -> Result<usize, StorageError> {
        let inner = &self.inner;
        let store = inner.own.clone();
        let candidates: Vec<String> = tokio::task::spawn_blocking(move || {
            let now = SystemTime::now();
            store.list().map(|list| {
                list.into_iter()
                    .filter(|(_, mtime)| now.duration_since(*mtime).unwrap_or_default() > grace)
                    .map(|(sha, _)| sha)
                    .collect()
            })
        })
        .await
        .map_err(|e| crate::error::join_error("orphan sweep", e))??;
        let mut removed = 0;
        for chunk in candidates.chunks(PAGE) {
            let (chunk, store, node) = (chunk.to_vec(), inner.own.clone(), inner.node_id.clone());
            removed += inner
                .db
                .write(move |tx| {
                    let mut n = 0;
                    for sha in &chunk {
                        if !items::binary_known(tx, sha)? {
                            if store.remove(sha).unwrap_or(false) {
                                n += 1;
                            }
                            copies::remove_copy(tx, sha, &node)?;
                        }
                    }
                    Ok::<_, DbError>(n)
                })
                .await
                .map_err(db_error)?;
        }
        if removed > 0 {
            tracing::info!(removed, "removed orphan copies from this node's store");
        }
        Ok(removed)
    }

    /// One maintenance round (`round` counts from 0): reconcile and orphan sweep every
    /// [`RECONCILE_EVERY`] rounds, then the redundancy restore.
    pub async fn maintain(
        &self,
        round: u64,
        orphan_grace: Duration,
    ) -> Result<RestoreReport, StorageError> {
        if round.is_multiple_of(RECONCILE_EVERY) {
            self.reconcile().await?;
            self.sweep_orphans(orphan_grace).await?;
        }
        let report = self.restore_redundancy().await?;
        *self
            .inner
            .last_restore
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(report);
        let active = self.cached_view().map(|(_, v)| v.active.len()).unwrap_or(0);
        let before = self.inner.last_active.swap(active, Ordering::Relaxed);
        if active < self.inner.redundancy as usize && before != active {
            // The reference's wording, so operators find it.
            tracing::warn!(
                "Number of active servers in cluster ({active}) is lower than the redundancy \
                 value ({}); binaries keep fewer copies until nodes return",
                self.inner.redundancy
            );
        }
        if report.copies_added > 0 || report.bad_local_copies > 0 || report.failed > 0 {
            tracing::info!(
                under_replicated = report.under_replicated,
                copies_added = report.copies_added,
                failed = report.failed,
                no_target = report.no_target,
                bad_local_copies = report.bad_local_copies,
                "redundancy restore"
            );
        }
        Ok(report)
    }

    /// Bookkeeping jobs, in one transaction where possible.
    async fn run_jobs(&self, jobs: Vec<Job>) {
        let inner = &self.inner;
        let mut record = Vec::new();
        let mut forget = Vec::new();
        let mut delete = Vec::new();
        for job in jobs {
            match job {
                Job::RecordOwn(sha) => record.push(sha),
                Job::ForgetOwn(sha) => forget.push(sha),
                Job::DeleteEverywhere(sha) => delete.push(sha),
            }
        }
        if !record.is_empty() {
            let (store, node, now, n) = (
                inner.own.clone(),
                inner.node_id.clone(),
                now_ms(),
                record.len(),
            );
            let result = inner
                .db
                .write(move |tx| {
                    for sha in &record {
                        if store.contains(sha).unwrap_or(false) {
                            copies::record_copy(tx, sha, &node, now)?;
                        }
                    }
                    Ok::<_, DbError>(())
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, count = n, "could not record this node's new copies; the next reconcile will");
            }
        }
        if !forget.is_empty()
            && let Err(e) = self.forget_own(forget).await
        {
            tracing::warn!(error = %e, "could not forget this node's lost copies; the next reconcile will");
        }
        for sha in delete {
            self.delete_everywhere(&sha).await;
        }
    }

    /// Ask every recorded holder of a collected binary to delete its copy (this node: forget
    /// the row once the file is gone).
    async fn delete_everywhere(&self, sha256: &str) {
        let holders = self.holders(sha256).await;
        let peers = match self.fresh_view().await {
            Ok(v) => v.peers.clone(),
            Err(e) => {
                tracing::warn!(arca_sha256 = sha256, error = %e, "cannot list the peers to delete a collected binary; their orphan sweeps will");
                Vec::new()
            }
        };
        for holder in holders {
            if holder == self.inner.node_id {
                if let Err(e) = self.forget_own(vec![sha256.to_owned()]).await {
                    tracing::warn!(arca_sha256 = sha256, error = %e, "could not forget a collected copy");
                }
                continue;
            }
            let Some(peer) = peers.iter().find(|p| p.node_id == holder) else {
                tracing::debug!(arca_sha256 = sha256, holder = %holder, "holder not active; its orphan sweep removes the copy");
                continue;
            };
            match self.inner.client.delete(peer, sha256).await {
                Ok(PeerDelete::Deleted | PeerDelete::Absent) => {}
                Ok(PeerDelete::Kept) => tracing::info!(
                    arca_sha256 = sha256,
                    peer = %holder,
                    "peer kept its copy: the binary was deployed again meanwhile"
                ),
                Err(e) => tracing::warn!(
                    arca_sha256 = sha256,
                    peer = %holder,
                    error = %e,
                    "could not delete a collected binary on a peer; its orphan sweep will"
                ),
            }
        }
    }
}

/// The bookkeeping worker: jobs in order, batched.
async fn bookkeeping(tier: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < JOB_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let Some(inner) = tier.upgrade() else { break };
        ClusterTier { inner }.run_jobs(jobs).await;
    }
}

/// Run [`ClusterTier::maintain`] every `checkPeriod` until the task is aborted. The storage
/// mover of a node whose chain is a sharding-cluster runs it.
pub fn spawn_maintenance(tier: ClusterTier, orphan_grace: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = tier.check_period().max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = 0u64;
        loop {
            tick.tick().await;
            if let Err(e) = tier.maintain(round, orphan_grace).await {
                tracing::warn!(error = %e, "sharding-cluster maintenance failed; retrying next period");
            }
            round += 1;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str) -> Peer {
        Peer {
            node_id: id.into(),
            url: format!("http://{id}"),
        }
    }

    #[test]
    fn rendezvous_is_stable_and_spreads() {
        let peers: Vec<Peer> = ["a", "b", "c", "d"].into_iter().map(peer).collect();
        let sha = "ab".repeat(32);
        let one: Vec<&str> = rendezvous(&sha, &peers)
            .iter()
            .map(|p| p.node_id.as_str())
            .collect();
        let reversed: Vec<Peer> = peers.iter().rev().cloned().collect();
        let two: Vec<&str> = rendezvous(&sha, &reversed)
            .iter()
            .map(|p| p.node_id.as_str())
            .collect();
        assert_eq!(one, two, "order does not depend on the input order");
        // removing a node that is not first keeps the first
        let without: Vec<Peer> = peers
            .iter()
            .filter(|p| p.node_id != one[3])
            .cloned()
            .collect();
        assert_eq!(rendezvous(&sha, &without)[0].node_id, one[0]);
        // over many binaries every node comes first sometimes
        let mut firsts = HashSet::new();
        for i in 0..64u32 {
            let sha = format!("{:064x}", i);
            firsts.insert(rendezvous(&sha, &peers)[0].node_id.clone());
        }
        assert_eq!(firsts.len(), 4);
    }
}
