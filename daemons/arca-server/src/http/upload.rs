//! Receiving a request body into the node's staging area (for a deploy, and for a binary
//! another node pushes): the size limit, the free-space reserve, "disk full" as 507.

use futures_util::StreamExt;
use warp::http::StatusCode;

use crate::http::error::{ApiError, ApiResult};
use crate::http::{Request, format};

/// Stream the request body into the node's staging dir (hashed on the way), refusing bodies
/// over `arca.upload.max.bytes` before reading (Content-Length) or while reading. Dropping the
/// result deletes the staged file.
pub async fn receive_upload(req: &Request) -> ApiResult<arca_storage::StagedBlob> {
    let max = req.app.settings.max_upload_bytes;
    let declared_len = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared_len
        && len > max
    {
        return Err(too_large(max));
    }
    check_free_space(req, declared_len.unwrap_or(0))?;
    let mut body = req.take_body();
    let mut upload = req.app.storage.begin_upload().await?;
    let mut next_space_check = FREE_SPACE_CHECK_BYTES;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| crate::http::body_error(&e))?;
        if upload.bytes_written() + chunk.len() as u64 > max {
            return Err(too_large(max));
        }
        // A body without a length (chunked) is measured as it grows.
        if declared_len.is_none() && upload.bytes_written() >= next_space_check {
            // statvfs costs about a microsecond: once per MiB is nothing next to the writes
            check_free_space(req, 0)?;
            next_space_check += FREE_SPACE_CHECK_BYTES;
        }
        upload
            .write(chunk)
            .await
            .map_err(|e| storage_full_or(req, e))?;
    }
    let staged = upload.finish().await.map_err(|e| storage_full_or(req, e))?;
    // A body without a length is on disk now: it must have left the reserve (the checks while
    // it streamed may lag behind the writer by a few chunks). Dropping `staged` removes it.
    if declared_len.is_none() {
        check_free_space(req, 0)?;
    }
    Ok(staged)
}

pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Upload is larger than the limit of {max} bytes (arca.upload.max.bytes)"),
    )
}

/// How often a body of unknown length re-checks the free space while it streams.
const FREE_SPACE_CHECK_BYTES: u64 = 1 << 20;

/// Refuse an upload of `incoming` bytes that would leave less than the reserve free
/// (`arca.storage.reserve.bytes`): deletes, GC and the database keep room to work.
pub fn check_free_space(req: &Request, incoming: u64) -> ApiResult<()> {
    let reserve = req.app.settings.storage_reserve_bytes;
    if reserve == 0 {
        return Ok(());
    }
    let (free, dir) = req.app.storage.free_space()?;
    if free < reserve.saturating_add(incoming) {
        return Err(insufficient_storage(free, &dir, reserve));
    }
    Ok(())
}

fn insufficient_storage(free: u64, dir: &std::path::Path, reserve: u64) -> ApiError {
    ApiError::new(
        StatusCode::INSUFFICIENT_STORAGE,
        format!(
            "Insufficient storage: {} free on {}, and uploads leave {} in reserve \
             (arca.storage.reserve.bytes); nothing was stored. Deleting files frees space.",
            format::human_bytes(free),
            dir.display(),
            format::human_bytes(reserve)
        ),
    )
}

/// A storage error while writing an upload: "no space left" becomes 507 with the free space.
pub fn storage_full_or(req: &Request, e: arca_storage::StorageError) -> ApiError {
    if !e.is_storage_full() {
        return e.into();
    }
    tracing::error!(error = %e, "upload failed: out of disk space");
    let (free, dir) = req
        .app
        .storage
        .free_space()
        .unwrap_or_else(|_| (0, req.app.storage.staging_dir().to_path_buf()));
    insufficient_storage(free, &dir, req.app.settings.storage_reserve_bytes)
}

/// Store `bytes` as the file at `repo/path`, through the storage chain like a deploy: content
/// the server generates (Maven's metadata). `still_valid` runs inside the commit transaction:
/// `false` means what the content was computed from changed meanwhile, and nothing is stored
/// (the caller computes again).
pub async fn store_bytes(
    app: &crate::state::App,
    repo: &str,
    path: &str,
    bytes: bytes::Bytes,
    user: &str,
    still_valid: impl FnOnce(&arca_db::Conn<'_>) -> Result<bool, arca_db::DbError> + Send + 'static,
) -> ApiResult<Option<arca_db::Item>> {
    store_bytes_with(
        app,
        repo,
        path,
        bytes,
        user,
        move |tx| Ok(still_valid(tx)?),
        |_, _| Ok(()),
    )
    .await
}

/// [`store_bytes`] with work of the caller's in the same transaction: `before` decides whether
/// to store at all (`false`: nothing is stored, `None` returned), `after` runs once the item is
/// in place (an npm version's row beside its tarball). An error from either rolls everything
/// back and is the answer.
pub async fn store_bytes_with(
    app: &crate::state::App,
    repo: &str,
    path: &str,
    bytes: bytes::Bytes,
    user: &str,
    before: impl FnOnce(&arca_db::Conn<'_>) -> ApiResult<bool> + Send + 'static,
    after: impl FnOnce(&arca_db::Conn<'_>, &arca_db::Item) -> ApiResult<()> + Send + 'static,
) -> ApiResult<Option<arca_db::Item>> {
    let mut upload = app.storage.begin_upload().await?;
    upload.write(bytes).await?;
    let staged = upload.finish().await?;
    store_staged_with(app, repo, path, staged, user, before, after).await
}

/// [`store_bytes_with`] of a file already staged.
pub async fn store_staged_with(
    app: &crate::state::App,
    repo: &str,
    path: &str,
    staged: arca_storage::StagedBlob,
    user: &str,
    before: impl FnOnce(&arca_db::Conn<'_>) -> ApiResult<bool> + Send + 'static,
    after: impl FnOnce(&arca_db::Conn<'_>, &arca_db::Item) -> ApiResult<()> + Send + 'static,
) -> ApiResult<Option<arca_db::Item>> {
    let (r, p) = (repo.to_string(), path.to_string());
    let stored = store_staged_binary(app, staged, user, before, move |tx, new_file| {
        let item = arca_db::items::put_file(tx, &r, &p, new_file)?;
        after(tx, &item)?;
        Ok(item)
    })
    .await?;
    if stored.is_some() {
        app.wake_mover();
    }
    Ok(stored)
}

/// Store a staged file as a binary, which `record` makes something reference in the same
/// transaction (an item; an OCI upload's chunk): `before` decides whether to store at all
/// (`false`: nothing is stored, `None` returned); the binary's row is in place when `record`
/// runs. An error from either rolls everything back and is the answer.
pub async fn store_staged_binary<T: Send + 'static>(
    app: &crate::state::App,
    staged: arca_storage::StagedBlob,
    user: &str,
    before: impl FnOnce(&arca_db::Conn<'_>) -> ApiResult<bool> + Send + 'static,
    record: impl FnOnce(&arca_db::Conn<'_>, &arca_db::NewFile) -> ApiResult<T> + Send + 'static,
) -> ApiResult<Option<T>> {
    let c = staged.checksums().clone();
    let binary = arca_db::Binary {
        sha256: c.sha256.clone(),
        sha1: c.sha1.clone(),
        md5: c.md5.clone(),
        size: c.size,
    };
    let new_file = arca_db::NewFile::new(binary, user, app.now_ms());
    app.storage.prepare(&staged).await?;
    let storage = app.storage.clone();
    let stored = app
        .db
        .write(move |tx| {
            if !before(tx)? {
                return Ok::<_, ApiError>(None);
            }
            let new_binary = arca_db::items::insert_binary(tx, &new_file.binary, new_file.now)?;
            let recorded = record(tx, &new_file)?;
            let committed = storage.commit(staged, !new_binary)?;
            Ok(Some((recorded, committed)))
        })
        .await?;
    Ok(stored.map(|(recorded, committed)| {
        app.storage.after_commit(&committed);
        recorded
    }))
}
