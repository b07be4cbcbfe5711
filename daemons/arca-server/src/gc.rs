//! Garbage collection of binaries no item references any more (and of
//! expired access tokens, which need the same periodic sweep).
//!
//! Safety argument: a deploy records its binary row, its item and renames the
//! staged file into place inside one `IMMEDIATE` transaction; GC re-checks
//! "unreferenced" and deletes row and file inside its own `IMMEDIATE`
//! transaction. The two are serialised by the database, so GC never removes a
//! binary that a committed item references, and never one mid-upload (those
//! live in `_pre`, which GC does not touch).

use std::time::{Duration, SystemTime};

use arca_db::{items, security};

use crate::http::error::ApiError;
use crate::state::App;

#[derive(Debug, Default, Clone, Copy)]
pub struct GcReport {
    pub binaries_removed: usize,
    pub orphan_files_removed: usize,
    pub bytes_freed: u64,
    pub expired_tokens_removed: usize,
    /// OCI upload sessions ended for being idle past `arca.oci.upload.expiry.secs`.
    pub oci_uploads_expired: usize,
    /// OCI blobs no manifest of their image referenced for that long, and untagged manifests
    /// past `arca.oci.untagged.retention.secs`.
    pub oci_items_removed: usize,
}

const BATCH: usize = 500;

/// One full collection: unreferenced binaries, then files without a row.
pub async fn collect(app: &App) -> Result<GcReport, ApiError> {
    let grace_ms = i64::try_from(app.settings.gc_grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff = app.now_ms().saturating_sub(grace_ms);
    let mut report = GcReport::default();
    // first what OCI no longer needs: its binaries then go in this same collection
    (report.oci_uploads_expired, report.oci_items_removed) = collect_oci(app).await?;
    loop {
        let candidates: Vec<String> = app
            .db
            .read(move |conn| items::unreferenced_binaries(conn, cutoff, BATCH))
            .await?;
        if candidates.is_empty() {
            break;
        }
        let storage = app.storage.clone();
        let (removed, bytes) = app
            .db
            .write(move |tx| {
                let mut removed = 0usize;
                let mut bytes = 0u64;
                for sha in &candidates {
                    let size = items::binary_by(tx, items::ChecksumKind::Sha256, sha)?
                        .map(|b| b.size)
                        .unwrap_or(0);
                    if items::delete_binary_if_unreferenced(tx, sha)? {
                        // inside the transaction: a deploy of the same content serialises
                        storage.remove(sha)?;
                        removed += 1;
                        bytes += size;
                    }
                }
                Ok::<_, ApiError>((removed, bytes))
            })
            .await?;
        report.binaries_removed += removed;
        report.bytes_freed += bytes;
        if removed == 0 {
            break;
        }
    }
    report.orphan_files_removed = sweep_orphan_files(app, app.settings.gc_grace).await?;
    let now = app.now_ms();
    report.expired_tokens_removed = app
        .db
        .write(move |tx| security::purge_expired_tokens(tx, now))
        .await?;
    if report.binaries_removed > 0
        || report.orphan_files_removed > 0
        || report.oci_uploads_expired > 0
        || report.oci_items_removed > 0
    {
        tracing::info!(
            oci_uploads_expired = report.oci_uploads_expired,
            oci_items_removed = report.oci_items_removed,
            binaries_removed = report.binaries_removed,
            orphan_files_removed = report.orphan_files_removed,
            bytes_freed = report.bytes_freed,
            "garbage collection finished"
        );
    }
    Ok(report)
}

/// The OCI side of a collection: upload sessions idle past `arca.oci.upload.expiry.secs`
/// end (their chunks' binaries are unreferenced then); untagged manifests older than
/// `arca.oci.untagged.retention.secs` (when set) go, unless an index or a subject still needs
/// them; blobs no manifest of their image has referenced for the upload expiry go (a blob
/// pushed for a manifest still to come is kept that long). Returns (sessions ended, items
/// removed).
async fn collect_oci(app: &App) -> Result<(usize, usize), ApiError> {
    let now = app.now_ms();
    let expiry = i64::try_from(app.settings.oci_upload_expiry.as_millis()).unwrap_or(i64::MAX);
    let idle_before = now.saturating_sub(expiry);
    let expired = app
        .db
        .write(move |tx| arca_db::oci::expire_uploads(tx, idle_before))
        .await?;
    let mut removed = 0;
    let retention = app.settings.oci_untagged_retention;
    if !retention.is_zero() {
        let pushed_before =
            now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let repos = app.db.read(arca_db::repos::list).await?;
        for repo in repos
            .into_iter()
            .filter(|r| r.package_type == crate::formats::oci::PACKAGE_TYPE && !r.is_virtual())
        {
            // an index's children become untagged when the index goes: rounds until none
            let key = repo.key.clone();
            removed += delete_all_found(app, move |tx| {
                arca_db::oci::untagged_manifests(tx, &key, pushed_before, BATCH)
            })
            .await?;
        }
    }
    removed += delete_all_found(app, move |tx| {
        arca_db::oci::unreferenced_blobs(tx, idle_before, BATCH)
    })
    .await?;
    Ok((expired, removed))
}

/// Delete the items `find` names (`(repo, path)`, a batch at a time, each batch found and
/// deleted in one transaction) until it finds none; returns how many.
async fn delete_all_found<F>(app: &App, find: F) -> Result<usize, ApiError>
where
    F: Fn(&arca_db::Conn<'_>) -> Result<Vec<(String, String)>, arca_db::DbError>
        + Clone
        + Send
        + 'static,
{
    let mut removed = 0;
    loop {
        let find = find.clone();
        let n = app
            .db
            .write(move |tx| {
                let found = find(tx)?;
                for (repo, path) in &found {
                    items::delete_tree(tx, repo, path)?;
                }
                Ok::<_, arca_db::DbError>(found.len())
            })
            .await?;
        removed += n;
        if n == 0 {
            return Ok(removed);
        }
    }
}

/// Files in the store that have no binary row (a crash between rename and
/// commit leaves one) and are older than the grace period; objects in the
/// object store likewise (a deploy that failed after its upload leaves one).
async fn sweep_orphan_files(app: &App, grace: Duration) -> Result<usize, ApiError> {
    let mut removed = 0;
    if let Some(store) = app.storage.file_store() {
        removed += sweep_orphan_blobs(app, store.clone(), grace).await?;
    }
    if app.storage.object_store().is_some() {
        removed += sweep_orphan_objects(app, grace).await?;
    }
    Ok(removed)
}

async fn sweep_orphan_objects(app: &App, grace: Duration) -> Result<usize, ApiError> {
    let Some(objects) = app.storage.object_store() else {
        return Ok(0);
    };
    let now = SystemTime::now();
    let candidates: Vec<String> = objects
        .list()
        .await?
        .into_iter()
        .filter(|(_, modified)| now.duration_since(*modified).unwrap_or_default() > grace)
        .map(|(sha, _)| sha)
        .collect();
    let mut removed = 0;
    for batch in candidates.chunks(BATCH) {
        let batch = batch.to_vec();
        let storage = app.storage.clone();
        removed += app
            .db
            .write(move |tx| {
                let mut removed = 0;
                for sha in &batch {
                    if !items::binary_known(tx, sha)? {
                        storage.remove(sha)?;
                        removed += 1;
                    }
                }
                Ok::<_, ApiError>(removed)
            })
            .await?;
    }
    Ok(removed)
}

async fn sweep_orphan_blobs(
    app: &App,
    store: arca_storage::FileStore,
    grace: Duration,
) -> Result<usize, ApiError> {
    let lister = store.clone();
    let candidates: Vec<String> = tokio::task::spawn_blocking(move || {
        let now = SystemTime::now();
        lister.list_blobs().map(|list| {
            list.into_iter()
                .filter(|(_, mtime)| now.duration_since(*mtime).unwrap_or_default() > grace)
                .map(|(sha, _)| sha)
                .collect()
        })
    })
    .await
    .map_err(|e| ApiError::internal("gc worker", e))??;
    if candidates.is_empty() {
        return Ok(0);
    }
    app.db
        .write(move |tx| {
            let mut removed = 0;
            for sha in &candidates {
                if !items::binary_known(tx, sha)? && store.remove_blob(sha)? {
                    removed += 1;
                }
            }
            Ok::<_, ApiError>(removed)
        })
        .await
}

/// In a cluster each node stages uploads in `_pre/<node-id>/` on the shared
/// filestore and empties its own directory at start. A node that never comes
/// back would leave its partial uploads forever: the duty holder removes
/// files older than the stale period from directories of nodes that are not
/// active. Returns how many files it removed.
pub async fn sweep_abandoned_uploads(app: &App) -> Result<usize, ApiError> {
    let active = app.membership.active_node_ids().await?;
    let own = app.storage.staging_dir().to_path_buf();
    let Some(root) = own.parent().map(std::path::Path::to_path_buf) else {
        return Ok(0);
    };
    let min_age = app.settings.timing.stale;
    tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in std::fs::read_dir(&root)? {
            let dir = dir?;
            let name = dir.file_name().to_string_lossy().into_owned();
            if dir.path() == own || active.contains(&name) || !dir.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(dir.path())? {
                let file = file?;
                let old = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default() > min_age)
                    .unwrap_or(false);
                if old && std::fs::remove_file(file.path()).is_ok() {
                    removed += 1;
                }
            }
            // only succeeds once empty
            let _ = std::fs::remove_dir(dir.path());
        }
        if removed > 0 {
            tracing::info!("removed {removed} abandoned partial upload(s) of nodes that are gone");
        }
        Ok(removed)
    })
    .await
    .map_err(|e| ApiError::internal("upload sweep worker", e))?
    .map_err(|e| ApiError::internal("sweeping _pre", e))
}

/// Background loop: collect every `interval` (0 disables).
pub fn spawn(app: App) -> Option<tokio::task::JoinHandle<()>> {
    let interval = app.settings.gc_interval;
    if interval.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if app.is_draining() {
                break;
            }
            // A cluster-wide duty: only the holder of the duties lease collects.
            if !app.membership.is_duty_leader() {
                continue;
            }
            if let Err(e) = collect(&app).await {
                tracing::warn!(error = %e.message, "garbage collection failed");
            }
            if app.membership.identity().is_ha()
                && let Err(e) = sweep_abandoned_uploads(&app).await
            {
                tracing::warn!(error = %e.message, "sweeping abandoned uploads failed");
            }
        }
    }))
}
