//! Serving a stored file: headers (checksums, `ETag`, the download protections), conditional
//! and range requests, and the bytes from whichever tier of the storage chain has them,
//! verified on the way. Local, remote (cached) and virtual repositories all answer with it.

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::{Reply, Response};

use arca_db::{Binary, Item, Repo};

use crate::http::conditional::{RangeAsk, etag_matches, not_modified_since, parse_range};
use crate::http::error::{ApiError, ApiResult, empty_response};
use crate::http::{Request, format};

/// The whole content of a stored file (metadata, which a virtual repository merges).
pub async fn read_item(req: &Request, item: &Item) -> ApiResult<Vec<u8>> {
    let binary = item
        .binary
        .as_ref()
        .ok_or_else(|| ApiError::internal("reading a file", "file without binary"))?;
    read_small_verified(req, item, binary).await
}

pub async fn serve_file(req: &Request, repo: &Repo, item: &Item) -> ApiResult<Response> {
    let binary = item
        .binary
        .as_ref()
        .ok_or_else(|| ApiError::internal("download", "file without binary"))?;
    let size = binary.size;
    let etag = format!("\"{}\"", binary.sha1);
    let last_modified = format::http_date(item.modified);

    let mut headers = warp::http::HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("etag", &etag);
    put("last-modified", &last_modified);
    put("x-checksum-sha1", &binary.sha1);
    put("x-checksum-sha256", &binary.sha256);
    put("x-checksum-md5", &binary.md5);
    put("accept-ranges", "bytes");
    put("x-artifactory-filename", &format::url_path(&item.name));
    let mime = format::mime_type(&item.name);
    put("content-type", &mime);
    // Stored content never runs on the API's origin: no sniffing, a sandboxed document (no
    // script, no same-origin access), and active types downloaded rather than rendered unless
    // the repository says otherwise (docs/security.md).
    put("content-security-policy", ARTIFACT_CSP);
    if !repo.content_inline && format::is_active_content(&mime) {
        put("content-disposition", &format::attachment(&item.name));
    }

    // Conditional GET: If-None-Match wins over If-Modified-Since.
    let not_modified = match req.header("if-none-match") {
        Some(v) => etag_matches(v, &binary.sha1),
        None => req
            .header("if-modified-since")
            .is_some_and(|v| not_modified_since(v, item.modified)),
    };
    if not_modified {
        let mut resp = empty_response(StatusCode::NOT_MODIFIED);
        for name in [
            "etag",
            "last-modified",
            "x-checksum-sha1",
            "x-checksum-sha256",
            "x-checksum-md5",
        ] {
            if let Some(v) = headers.get(name) {
                resp.headers_mut().insert(name, v.clone());
            }
        }
        return Ok(resp);
    }

    let mut ask = match req.header("range") {
        Some(r) => parse_range(r, size),
        None => RangeAsk::Full,
    };
    // If-Range: serve the range only if the representation is unchanged.
    if let (Some(if_range), RangeAsk::Part(..) | RangeAsk::Unsatisfiable) =
        (req.header("if-range"), &ask)
        && !(etag_matches(if_range, &binary.sha1) || if_range.trim() == last_modified)
    {
        ask = RangeAsk::Full;
    }
    let (status, start, len) = match ask {
        RangeAsk::Full => (StatusCode::OK, 0, size),
        RangeAsk::Part(s, e) => {
            put("content-range", &format!("bytes {s}-{e}/{size}"));
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        RangeAsk::Unsatisfiable => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("Range not satisfiable for a {size}-byte file"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    put("content-length", &len.to_string());

    let mut resp = if req.method == Method::HEAD {
        Response::default()
    } else if size <= SMALL_FILE {
        let content = read_small_verified(req, item, binary).await?;
        let (from, to) = (start as usize, (start + len) as usize);
        let slice = content.get(from..to).ok_or_else(|| {
            ApiError::internal(
                "reading binary",
                format!("binary {} is shorter than recorded", binary.sha256),
            )
        })?;
        Response::new(bytes::Bytes::copy_from_slice(slice).into())
    } else {
        let storage = &req.app.storage;
        let located = storage
            .locate(&binary.sha256, size)
            .await
            .map_err(|e| read_error(item, binary, e))?;
        // Opened here rather than on a blocking thread: opening a local file takes
        // microseconds, not worth a thread hand-off.
        let file = std::fs::File::open(&located.path).map_err(|e| read_error(item, binary, e))?;
        let opened = file
            .metadata()
            .map_err(|e| ApiError::internal("reading binary", e))?;
        if opened.len() != size {
            // truncated or grown on disk: never sent as this binary
            let _ = storage.quarantine(&located, &binary.sha256);
            return Err(ApiError::internal(
                "reading binary",
                format!(
                    "the stored copy of {} has {} bytes, {size} are recorded; it was moved to \
                     quarantine (retry: the next copy is used)",
                    binary.sha256,
                    opened.len()
                ),
            ));
        }
        let trusted = storage.needs_no_check(&located, &binary.sha256, &opened);
        // A copy that needs no check goes from the page cache to the socket (plain HTTP).
        if trusted && let Some(spans) = &req.zero_copy {
            // `located` may hold a one-off download: the open file keeps it readable
            let body = crate::zero_copy::file_body(spans.clone(), file, start, len)
                .map_err(|e| ApiError::internal("sending binary", e))?;
            let mut resp = warp::reply::stream(body).into_response();
            finish_download(req, item, &mut resp, status, headers).await;
            return Ok(resp);
        }
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| ApiError::internal("seeking binary", e))?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), DOWNLOAD_CHUNK);
        // A whole unchecked copy (one another node wrote into a shared store, or a cache set to
        // validate) is hashed while it streams; a mismatch aborts the response (the client sees
        // a broken transfer, never wrong bytes reported as complete) and moves the copy to
        // quarantine, so the next request uses another tier. Ranges of such copies are left to
        // the scrubber: verifying them would read the whole file.
        if !trusted && len == size {
            let verify = crate::http::verify::VerifyingStream::new(
                stream,
                size,
                binary.sha256.clone(),
                storage.clone(),
                located,
                opened,
            );
            warp::reply::stream(verify).into_response()
        } else {
            warp::reply::stream(stream).into_response()
        }
    };
    finish_download(req, item, &mut resp, status, headers).await;
    Ok(resp)
}

/// The status and headers of a download's answer, and the download counted.
async fn finish_download(
    req: &Request,
    item: &Item,
    resp: &mut Response,
    status: StatusCode,
    headers: warp::http::HeaderMap,
) {
    *resp.status_mut() = status;
    resp.headers_mut().extend(headers);
    if req.method == Method::GET && status == StatusCode::OK {
        let by = match req.principal().await {
            Ok(p) => p.name().to_string(),
            Err(_) => "anonymous".to_string(),
        };
        req.app.downloads.record(item.id, req.app.now_ms(), &by);
    }
}

/// Read a small binary whole and check it against its SHA-256; a corrupt copy is quarantined
/// and the next tier tried (a few times at most: each attempt removes one bad copy).
async fn read_small_verified(req: &Request, item: &Item, binary: &Binary) -> ApiResult<Vec<u8>> {
    let storage = &req.app.storage;
    let mut attempts = 0;
    loop {
        attempts += 1;
        // Local copies are read on this thread: from the page cache that takes
        // microseconds, while tokio's file reads would cost a thread hand-off per
        // open and per read.
        let located = match storage.locate_local(&binary.sha256) {
            Ok(Some(found)) => found,
            Ok(None) => storage
                .locate(&binary.sha256, binary.size)
                .await
                .map_err(|e| read_error(item, binary, e))?,
            Err(e) => return Err(read_error(item, binary, e)),
        };
        let content = std::fs::read(&located.path).map_err(|e| read_error(item, binary, e))?;
        // Small copies are hashed on every read: a microsecond or two.
        if located.verified || arca_crypto::sha256_hex(&content) == binary.sha256 {
            return Ok(content);
        }
        storage
            .quarantine(&located, &binary.sha256)
            .map_err(|e| read_error(item, binary, e))?;
        if attempts >= 3 {
            return Err(ApiError::internal(
                "reading binary",
                format!("every stored copy of {} is corrupt", binary.sha256),
            ));
        }
    }
}

/// Why a stored binary could not be read.
enum ReadFailure {
    Storage(arca_storage::StorageError),
    Io(std::io::Error),
}

impl From<arca_storage::StorageError> for ReadFailure {
    fn from(e: arca_storage::StorageError) -> Self {
        ReadFailure::Storage(e)
    }
}

impl From<std::io::Error> for ReadFailure {
    fn from(e: std::io::Error) -> Self {
        ReadFailure::Io(e)
    }
}

/// A binary that no tier of the chain has (its item is recorded) is its own error, logged with
/// the item: the usual cause is a storage chain changed without moving the binaries.
fn read_error(item: &Item, binary: &Binary, e: impl Into<ReadFailure>) -> ApiError {
    let what = format!(
        "reading binary {} of {}/{}",
        binary.sha256, item.repo, item.path
    );
    match e.into() {
        ReadFailure::Storage(arca_storage::StorageError::NotFound(_)) => {
            missing_binary(item, binary)
        }
        ReadFailure::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing_binary(item, binary)
        }
        ReadFailure::Storage(e) => ApiError::from(e),
        ReadFailure::Io(e) => ApiError::internal(&what, e),
    }
}

fn missing_binary(item: &Item, binary: &Binary) -> ApiError {
    tracing::error!(
        missing_binary = %binary.sha256,
        repo = %item.repo,
        path = %item.path,
        "MISSING BINARY: {}/{} is recorded, but its binary {} is in no tier of the storage \
         chain (was binarystore.xml changed without `arcactl storage migrate`? `arcactl storage \
         verify` lists every missing binary)",
        item.repo,
        item.path,
        binary.sha256
    );
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "The binary of {}/{} (sha256 {}) is missing from this node's storage chain: the \
             item is recorded but its content cannot be read",
            item.repo, item.path, binary.sha256
        ),
    )
}

/// The policy of every artifact download: a sandboxed document without script or plug-ins.
pub const ARTIFACT_CSP: &str =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:";

/// Files up to this size are sent from one read.
const SMALL_FILE: u64 = 64 * 1024;

/// Read size of download chunks: big enough for throughput, small enough that
/// memory stays flat with many concurrent downloads.
const DOWNLOAD_CHUNK: usize = 256 * 1024;
