//! Object-store backend: content-addressed binaries in an S3 bucket (`s3-storage-v3`, and
//! `google-storage-v2` through GCS's S3-compatible XML API), via rust-s3.
//!
//! Objects live at `<path>/<sha256[..n]>/<sha256>` (n = `rootFoldersNameLength`). Uploads come
//! from a finished, hashed local file; below `multiPartLimit` it goes up in one PUT (read into
//! memory: rust-s3 only sends bodies from a slice), at or above it in parts of
//! `multipartElementSize` read one at a time, so memory stays bounded whatever the file size.
//! Every upload is verified (single PUT: ETag = MD5; multipart: size by HEAD). Downloads stream
//! into a new local file, hashed on the way.
//!
//! Failures become [`StorageError::ObjectStore`] with `transient` set for what a retry may fix;
//! retrying is the caller's job ([`crate::with_retry`], the `retry` provider), so rust-s3's own
//! retries are switched off.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arca_config::storage_plan::S3Spec;
use futures_util::StreamExt;
use s3::Bucket;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::region::Region;
use s3::serde_types::Part;
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, SemaphorePermit};

use arca_ipc::error_chain;

use crate::download::HashingWriter;
use crate::{Checksums, StorageError, validate_sha256};

/// Content type of every object: binaries are opaque to the store.
const CONTENT_TYPE: &str = "application/octet-stream";
/// Metadata header holding the SHA-256 of the content (keys are already named by it; the header
/// lets an operator or a tool verify an object without knowing the layout).
const SHA256_META: &str = "x-amz-meta-sha256";
/// S3 refuses more parts than this in one multipart upload; larger files get larger parts.
const MAX_PARTS: u64 = 10_000;
/// Slowest transfer rate a request body may have before it counts as stuck: a request carrying
/// `n` bytes gets `connectionTimeout + socketTimeout + n / MIN_RATE` (rust-s3 only has a
/// whole-request timeout, which must not cut off a large part on a merely slow link).
const MIN_RATE: u64 = 1024 * 1024;
/// Tries to abort an unfinished multipart upload.
const ABORT_TRIES: u64 = 3;

/// An S3 bucket holding binaries named by SHA-256. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Request timeout = connectionTimeout + socketTimeout; request-specific copies adjust it.
    bucket: Bucket,
    /// `path` without slashes at the ends; may be empty (objects at the bucket root).
    prefix: String,
    folder_len: usize,
    multi_part_limit: u64,
    part_size: u64,
    connection_timeout: Duration,
    socket_timeout: Duration,
    /// `maxConnections`: requests in flight at once (rust-s3 does not expose the HTTP client's
    /// pool size, so the limit is enforced here).
    connections: Semaphore,
    description: String,
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore")
            .field("store", &self.inner.description)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// Build the client for `spec`. `identity` / `credential` are the plaintext access and
    /// secret keys (the caller unseals them); they are ignored with `use_instance_credentials`,
    /// where the AWS default chain (environment, profile, web identity, container, instance
    /// metadata) is used instead. No request is made here except what that chain needs.
    pub fn new(
        spec: &S3Spec,
        identity: Option<&str>,
        credential: Option<&str>,
    ) -> Result<ObjectStore, StorageError> {
        let config = |msg: String| StorageError::ObjectStoreConfig(format!("{}: {msg}", spec.id));
        if spec.bucket_name.trim().is_empty() {
            return Err(config("bucketName is empty".into()));
        }
        if spec.root_folders_name_length > 64 {
            return Err(config(format!(
                "rootFoldersNameLength {} is longer than a SHA-256",
                spec.root_folders_name_length
            )));
        }
        if spec.multipart_element_size == 0 {
            return Err(config("multipartElementSize is 0".into()));
        }
        let endpoint = endpoint_url(spec).map_err(config)?;

        let credentials = if spec.use_instance_credentials {
            Credentials::default().map_err(|e| {
                config(format!(
                    "useInstanceCredentials: no credentials found in the environment: {e}"
                ))
            })?
        } else {
            match (identity, credential) {
                (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                    Credentials::new(Some(id), Some(secret), None, None, None)
                        .map_err(|e| config(format!("credentials: {e}")))?
                }
                _ => {
                    return Err(config(
                        "identity and credential are required unless useInstanceCredentials=true"
                            .into(),
                    ));
                }
            }
        };

        let region = Region::Custom {
            region: spec.region.clone(),
            endpoint: endpoint.clone(),
        };
        let mut bucket = *Bucket::new(&spec.bucket_name, region, credentials)
            .map_err(|e| config(format!("client: {e}")))?;
        if spec.path_style {
            bucket.set_path_style();
        }
        bucket.set_request_timeout(Some(spec.connection_timeout + spec.socket_timeout));
        // Retries belong to the `retry` provider (with its interval and logging); rust-s3's own
        // (one more try of reads after 1 s) would multiply them and hide outages. Process-wide,
        // but arca is the only user of rust-s3 in the process.
        s3::set_retries(0);

        let prefix = spec.path.trim_matches('/').to_owned();
        let description = if prefix.is_empty() {
            format!("s3://{} at {endpoint}", spec.bucket_name)
        } else {
            format!("s3://{}/{prefix} at {endpoint}", spec.bucket_name)
        };
        Ok(ObjectStore {
            inner: Arc::new(Inner {
                bucket,
                prefix,
                folder_len: spec.root_folders_name_length,
                multi_part_limit: spec.multi_part_limit,
                part_size: spec.multipart_element_size,
                connection_timeout: spec.connection_timeout,
                socket_timeout: spec.socket_timeout,
                connections: Semaphore::new(spec.max_connections.max(1)),
                description,
            }),
        })
    }

    /// `s3://bucket/prefix at http://host:port` (no credentials), for logs and messages.
    pub fn describe(&self) -> String {
        self.inner.description.clone()
    }

    /// `<path>/<sha256[..n]>/<sha256>`; without the folder when n = 0, without the leading
    /// `<path>/` when the path is empty.
    pub fn object_key(&self, sha256: &str) -> String {
        let n = self.inner.folder_len.min(sha256.len());
        let mut key = String::with_capacity(self.inner.prefix.len() + n + sha256.len() + 2);
        if !self.inner.prefix.is_empty() {
            key.push_str(&self.inner.prefix);
            key.push('/');
        }
        // `get`: no panic on a string that is not a digest (callers validate first).
        if let Some(folder) = sha256.get(..n).filter(|f| !f.is_empty()) {
            key.push_str(folder);
            key.push('/');
        }
        key.push_str(sha256);
        key
    }

    /// The SHA-256 named by `key` if it has the layout of [`object_key`](Self::object_key).
    fn parse_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        let rest = if self.inner.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(self.inner.prefix.as_str())?
                .strip_prefix('/')?
        };
        let n = self.inner.folder_len;
        let sha = if n == 0 {
            rest
        } else {
            let (folder, sha) = rest.split_once('/')?;
            if folder.len() != n || !sha.starts_with(folder) {
                return None;
            }
            sha
        };
        validate_sha256(sha).ok().map(|()| sha)
    }

    /// Write, read back and delete a probe object `<path>/.arca-probe-<random>`, so that bad
    /// credentials, a missing bucket or a read-only policy show at start-up. The error names
    /// the step that failed.
    pub async fn test_connection(&self) -> Result<(), StorageError> {
        let key = format!(
            "{}.arca-probe-{:016x}",
            self.key_prefix(),
            rand::random::<u64>()
        );
        let body = format!("arca connection test {}", self.describe()).into_bytes();

        let bucket = self.bucket_for(Some(body.len() as u64));
        self.request("probe put", &key, bucket.put_object(&key, &body))
            .await?;

        let bucket = self.bucket_for(None);
        let read = self
            .request("probe get", &key, bucket.get_object(&key))
            .await
            .and_then(|data| {
                if data.as_slice() == body.as_slice() {
                    Ok(())
                } else {
                    Err(self.error(
                        "probe get",
                        &key,
                        None,
                        format!(
                            "read back {} bytes that differ from the {} written",
                            data.as_slice().len(),
                            body.len()
                        ),
                        false,
                    ))
                }
            });
        // Delete even when the read failed: the probe must not stay behind.
        let deleted = self
            .request("probe delete", &key, bucket.delete_object(&key))
            .await;
        read?;
        deleted.map(drop)
    }

    /// Upload `file` as the object for `checksums.sha256`. The file must be complete and hashed
    /// (its size must be `checksums.size`). Verified after the upload: a single PUT's ETag must
    /// equal the MD5, a multipart upload's size (HEAD) must equal `checksums.size`.
    pub async fn put_file(&self, file: &Path, checksums: &Checksums) -> Result<(), StorageError> {
        validate_sha256(&checksums.sha256)?;
        let key = self.object_key(&checksums.sha256);
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| StorageError::io("open", file, e))?;
        let len = f
            .metadata()
            .await
            .map_err(|e| StorageError::io("stat", file, e))?
            .len();
        if len != checksums.size {
            return Err(StorageError::SizeMismatch {
                path: file.to_path_buf(),
                expected: checksums.size,
                actual: len,
            });
        }
        let mut upload = Upload {
            reader: f,
            path: file,
            key,
            checksums,
        };
        if len >= self.inner.multi_part_limit {
            self.put_multipart(&mut upload).await
        } else {
            self.put_single(&mut upload).await
        }
    }

    async fn put_single(&self, up: &mut Upload<'_>) -> Result<(), StorageError> {
        let (f, file, key, checksums) = (&mut up.reader, up.path, up.key.as_str(), up.checksums);
        let len = checksums.size;
        let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        f.read_to_end(&mut body)
            .await
            .map_err(|e| StorageError::io("read", file, e))?;
        if body.len() as u64 != len {
            return Err(StorageError::SizeMismatch {
                path: file.to_path_buf(),
                expected: len,
                actual: body.len() as u64,
            });
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::HeaderName::from_static(SHA256_META),
            http::HeaderValue::from_str(&checksums.sha256)
                .map_err(|e| self.error("put", key, None, e.to_string(), false))?,
        );
        let bucket = self.bucket_for(Some(len));
        // rust-s3 hands back the ETag header as the body of a PUT's response.
        let response = self
            .request(
                "put",
                key,
                bucket.put_object_with_headers(key, &body, Some(headers)),
            )
            .await?;
        drop(body);
        let etag = response
            .as_str()
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        if etag.is_empty() {
            // Some S3-compatible stores omit the ETag: fall back to the size check.
            return self.verify_size("put", key, checksums.size).await;
        }
        if !etag.eq_ignore_ascii_case(&checksums.md5) {
            return Err(self.error(
                "put",
                key,
                None,
                format!(
                    "the stored object's ETag {etag} is not the MD5 {} of the file",
                    checksums.md5
                ),
                false,
            ));
        }
        Ok(())
    }

    async fn put_multipart(&self, up: &mut Upload<'_>) -> Result<(), StorageError> {
        let (f, file, key, checksums) = (&mut up.reader, up.path, up.key.as_str(), up.checksums);
        let len = checksums.size;
        let part_size = self.inner.part_size.max(len.div_ceil(MAX_PARTS));
        // Metadata goes on the initiate request only; rust-s3 leaves x-amz-meta-* headers of the
        // bucket off part, complete and abort requests.
        let mut meta_bucket = self.bucket_for(None);
        meta_bucket.extra_headers_mut().insert(
            http::HeaderName::from_static(SHA256_META),
            http::HeaderValue::from_str(&checksums.sha256)
                .map_err(|e| self.error("put", key, None, e.to_string(), false))?,
        );
        let init = self
            .request(
                "initiate multipart upload",
                key,
                meta_bucket.initiate_multipart_upload(key, CONTENT_TYPE),
            )
            .await?;
        // From here on an error or a cancelled future aborts the upload (the guard's drop), so
        // the bucket does not keep invisible parts around.
        let mut guard = AbortGuard(Some((
            self.bucket_for(None),
            key.to_owned(),
            init.upload_id.clone(),
        )));

        let mut parts = Vec::new();
        let mut remaining = len;
        let mut number = 0u32;
        while remaining > 0 {
            let n = remaining.min(part_size);
            number += 1;
            // One part in memory at a time (plus rust-s3's copy while it is sent).
            let mut chunk = vec![0u8; usize::try_from(n).unwrap_or(usize::MAX)];
            f.read_exact(&mut chunk)
                .await
                .map_err(|e| StorageError::io("read", file, e))?;
            let bucket = self.bucket_for(Some(n));
            let part: Part = self
                .request(
                    "upload part",
                    key,
                    bucket.put_multipart_chunk(chunk, key, number, &init.upload_id, CONTENT_TYPE),
                )
                .await?;
            parts.push(part);
            remaining -= n;
        }
        let bucket = self.bucket_for(None);
        self.request(
            "complete multipart upload",
            key,
            bucket.complete_multipart_upload(key, &init.upload_id, parts),
        )
        .await?;
        guard.disarm();
        self.verify_size("put", key, checksums.size).await
    }

    async fn verify_size(
        &self,
        op: &'static str,
        key: &str,
        size: u64,
    ) -> Result<(), StorageError> {
        match self.head_key(key).await? {
            Some(stored) if stored == size => Ok(()),
            Some(stored) => Err(self.error(
                op,
                key,
                None,
                format!("the stored object has {stored} bytes, the file {size}"),
                false,
            )),
            None => Err(self.error(
                op,
                key,
                None,
                "the object is missing right after its upload".into(),
                false,
            )),
        }
    }

    /// Size of the object for `sha256`, `None` when there is none.
    pub async fn head(&self, sha256: &str) -> Result<Option<u64>, StorageError> {
        validate_sha256(sha256)?;
        self.head_key(&self.object_key(sha256)).await
    }

    async fn head_key(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let bucket = self.bucket_for(None);
        let _permit = self.permit("head", key).await?;
        match bucket.head_object(key).await {
            Ok((head, _)) => match head.content_length.and_then(|l| u64::try_from(l).ok()) {
                Some(len) => Ok(Some(len)),
                None => Err(self.error(
                    "head",
                    key,
                    None,
                    "the answer has no Content-Length".into(),
                    false,
                )),
            },
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(None),
            Err(e) => Err(self.s3_error("head", key, &e)),
        }
    }

    /// Stream the object for `sha256` into a new file `dest` (which must not exist), fsync it
    /// and return its checksums, computed while writing; the caller compares them with what it
    /// expects. On any error the partial file is removed. A missing object is
    /// [`StorageError::NotFound`].
    pub async fn download_to(&self, sha256: &str, dest: &Path) -> Result<Checksums, StorageError> {
        validate_sha256(sha256)?;
        let key = self.object_key(sha256);
        let _permit = self.permit("get", &key).await?;
        // No whole-request timeout for a body of any size: the wait for the answer and every
        // read get their own timeouts below instead.
        let bucket = self.bucket_for_stream();
        let first = self.inner.connection_timeout + self.inner.socket_timeout;
        let mut response = match tokio::time::timeout(first, bucket.get_object_stream(&key)).await {
            Err(_) => return Err(self.timeout("get", &key, first)),
            Ok(Err(S3Error::HttpFailWithBody(404, _))) => {
                return Err(StorageError::NotFound(sha256.to_owned()));
            }
            Ok(Err(e)) => return Err(self.s3_error("get", &key, &e)),
            Ok(Ok(r)) => r,
        };

        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| StorageError::io("create", dest, e))?;
        let mut partial = RemoveOnDrop(Some(dest.to_path_buf()));
        let mut writer = HashingWriter::spawn(file, dest.to_path_buf());
        loop {
            let chunk = match tokio::time::timeout(self.inner.socket_timeout, response.bytes.next())
                .await
            {
                Err(_) => return Err(self.timeout("get", &key, self.inner.socket_timeout)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(self.s3_error("get", &key, &e)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            writer.push(&chunk).await?;
        }
        let checksums = writer.finish().await?;
        partial.disarm();
        Ok(checksums)
    }

    /// Delete the object for `sha256`. Returns whether it existed.
    pub async fn delete(&self, sha256: &str) -> Result<bool, StorageError> {
        validate_sha256(sha256)?;
        let key = self.object_key(sha256);
        // S3 answers a DELETE with 204 whether or not the key existed; the HEAD tells.
        if self.head_key(&key).await?.is_none() {
            return Ok(false);
        }
        let bucket = self.bucket_for(None);
        let _permit = self.permit("delete", &key).await?;
        match bucket.delete_object(&key).await {
            Ok(_) => Ok(true),
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(false),
            Err(e) => Err(self.s3_error("delete", &key, &e)),
        }
    }

    /// Every object under the prefix whose key has the layout of
    /// [`object_key`](Self::object_key), as `(sha256, last modified)`; other keys (probes,
    /// foreign files) are skipped. For the orphan sweep. A LastModified that cannot be parsed
    /// counts as "now", so such an object looks young rather than abandoned.
    pub async fn list(&self) -> Result<Vec<(String, SystemTime)>, StorageError> {
        let prefix = self.key_prefix();
        let bucket = self.bucket_for(None);
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let (page, _) = self
                .request(
                    "list",
                    &prefix,
                    bucket.list_page(prefix.clone(), None, token, None, None),
                )
                .await?;
            for object in &page.contents {
                let Some(sha256) = self.parse_key(&object.key) else {
                    continue;
                };
                let modified = parse_last_modified(&object.last_modified).unwrap_or_else(|| {
                    tracing::warn!(
                        key = %object.key,
                        last_modified = %object.last_modified,
                        "object store listing: unreadable LastModified, taking it as now"
                    );
                    SystemTime::now()
                });
                found.push((sha256.to_owned(), modified));
            }
            token = page.next_continuation_token;
            if token.is_none() || !page.is_truncated {
                break;
            }
        }
        Ok(found)
    }

    // --- helpers -------------------------------------------------------------------------

    /// `<path>/`, or empty for objects at the bucket root.
    fn key_prefix(&self) -> String {
        if self.inner.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.inner.prefix)
        }
    }

    /// A copy of the bucket whose request timeout fits a body of `body_len` bytes.
    fn bucket_for(&self, body_len: Option<u64>) -> Bucket {
        let mut bucket = self.inner.bucket.clone();
        if let Some(len) = body_len {
            let transfer = Duration::from_secs(len / MIN_RATE);
            bucket.set_request_timeout(Some(
                self.inner.connection_timeout + self.inner.socket_timeout + transfer,
            ));
        }
        bucket
    }

    fn bucket_for_stream(&self) -> Bucket {
        let mut bucket = self.inner.bucket.clone();
        bucket.set_request_timeout(None);
        bucket
    }

    async fn permit(
        &self,
        op: &'static str,
        key: &str,
    ) -> Result<SemaphorePermit<'_>, StorageError> {
        self.inner
            .connections
            .acquire()
            .await
            .map_err(|e| self.error(op, key, None, e.to_string(), false))
    }

    /// Run one request within the connection limit, mapping its error.
    async fn request<T>(
        &self,
        op: &'static str,
        key: &str,
        fut: impl Future<Output = Result<T, S3Error>>,
    ) -> Result<T, StorageError> {
        let _permit = self.permit(op, key).await?;
        fut.await.map_err(|e| self.s3_error(op, key, &e))
    }

    fn error(
        &self,
        op: &'static str,
        key: &str,
        status: Option<u16>,
        message: String,
        transient: bool,
    ) -> StorageError {
        StorageError::ObjectStore {
            op,
            key: key.to_owned(),
            store: self.inner.description.clone(),
            status,
            message,
            transient,
        }
    }

    fn timeout(&self, op: &'static str, key: &str, after: Duration) -> StorageError {
        self.error(
            op,
            key,
            None,
            format!("no answer within {} ms", after.as_millis()),
            true,
        )
    }

    fn s3_error(&self, op: &'static str, key: &str, e: &S3Error) -> StorageError {
        let (status, message, transient) = classify(e);
        self.error(op, key, status, message, transient)
    }
}

/// `(HTTP status, message, transient)` of a rust-s3 error.
fn classify(e: &S3Error) -> (Option<u16>, String, bool) {
    match e {
        S3Error::HttpFailWithBody(status, body) => (
            Some(*status),
            format!("HTTP {status}{}", summarize_error_body(body)),
            transient_status(*status),
        ),
        S3Error::Reqwest(err) => {
            let status = err.status().map(|s| s.as_u16());
            // Builder and redirect errors are ours or the endpoint's and will not change; every
            // other transport failure (connect, timeout, reset, truncated body) may.
            let transient = match status {
                Some(s) => transient_status(s),
                None => !(err.is_builder() || err.is_redirect()),
            };
            (status, error_chain(err), transient)
        }
        S3Error::Io(err) => (None, err.to_string(), transient_io(err.kind())),
        other => (None, other.to_string(), false),
    }
}

/// 5xx (server trouble), 408 (request timeout) and 429 (slow down) may pass; other statuses
/// (403 bad credentials, 404 no such bucket, 400 bad request) will not.
fn transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
            | AddrNotAvailable
    )
}

/// `": Code: Message"` from an S3 error document, or the start of whatever the body is.
fn summarize_error_body(body: &str) -> String {
    fn element<'b>(body: &'b str, name: &str) -> Option<&'b str> {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + body[start..].find(&format!("</{name}>"))?;
        Some(body[start..end].trim())
    }
    match (element(body, "Code"), element(body, "Message")) {
        (Some(code), Some(message)) => format!(": {code}: {message}"),
        (Some(code), None) => format!(": {code}"),
        _ => {
            let text: String = body.trim().chars().take(200).collect();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        }
    }
}

/// ListObjects' `LastModified` (ISO 8601, e.g. `2024-05-01T12:00:00.000Z`).
fn parse_last_modified(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// The endpoint as a URL `scheme://host[:port]`: `endpoint` as written (host or URL), else
/// AWS's regional endpoint or GCS's; `port` added when given and the endpoint names none.
fn endpoint_url(spec: &S3Spec) -> Result<String, String> {
    let default_scheme = if spec.use_http { "http" } else { "https" };
    let raw = match &spec.endpoint {
        Some(e) => e.trim().trim_end_matches('/').to_owned(),
        None if spec.provider_type == "google-storage-v2" => "storage.googleapis.com".to_owned(),
        None => format!("s3.{}.amazonaws.com", spec.region),
    };
    let (scheme, authority) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest.to_owned()),
        None => (default_scheme.to_owned(), raw.clone()),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "endpoint {raw:?}: only http and https are supported"
        ));
    }
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
        || authority.chars().any(char::is_whitespace)
    {
        return Err(format!(
            "endpoint {raw:?} is not a host name or a URL of a host (no path, no user)"
        ));
    }
    // A port after an IPv6 literal's closing bracket, or anywhere in a name or IPv4 address.
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    Ok(match spec.port {
        Some(port) if !has_port => format!("{scheme}://{authority}:{port}"),
        _ => format!("{scheme}://{authority}"),
    })
}

/// Aborts a multipart upload unless disarmed: on an error return or when the upload's future
/// is dropped half-way (a spawned task then does it, as drop cannot wait).
struct AbortGuard(Option<(Bucket, String, String)>);

impl AbortGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        let Some((bucket, key, upload_id)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            // A few quick tries, so that a hiccup (often the one that failed the upload) does
            // not leave the parts behind; detached from the caller, so its retry policy does
            // not apply.
            let mut tries = 0;
            loop {
                tries += 1;
                match bucket.abort_upload(&key, &upload_id).await {
                    Ok(()) => return,
                    Err(e) if tries < ABORT_TRIES && classify(&e).2 => {
                        tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                    }
                    Err(e) => {
                        // The parts stay until a bucket lifecycle rule removes them.
                        tracing::warn!(
                            %key,
                            error = %error_chain(&e),
                            "could not abort an unfinished multipart upload"
                        );
                        return;
                    }
                }
            }
        });
    }
}

/// Removes a partly written download unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A file on its way to the object store ([`ObjectStore::put_file`]).
struct Upload<'a> {
    /// The open file, at its start.
    reader: tokio::fs::File,
    path: &'a Path,
    key: String,
    /// Checked against the file before the upload: `size` is its length.
    checksums: &'a Checksums,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use arca_config::storage_plan::SecretValue;

    use super::*;

    fn spec() -> S3Spec {
        S3Spec {
            id: "s3".into(),
            provider_type: "s3-storage-v3".into(),
            bucket_name: "bucket".into(),
            region: "eu-west-1".into(),
            endpoint: None,
            port: None,
            use_http: false,
            path_style: false,
            path: "filestore".into(),
            root_folders_name_length: 2,
            identity: Some(SecretValue::Plain("AK".into())),
            credential: Some(SecretValue::Plain("SK".into())),
            use_instance_credentials: false,
            test_connection: true,
            multi_part_limit: 100_000_000,
            multipart_element_size: 16 * 1024 * 1024,
            max_connections: 50,
            connection_timeout: Duration::from_secs(10),
            socket_timeout: Duration::from_secs(50),
        }
    }

    fn endpoint(
        endpoint: Option<&str>,
        port: Option<u16>,
        use_http: bool,
    ) -> Result<String, String> {
        endpoint_url(&S3Spec {
            endpoint: endpoint.map(str::to_owned),
            port,
            use_http,
            ..spec()
        })
    }

    const SHA: &str = "8c335149a8e3b2a1f1fcd7c3b0bf7be7a8d4c0e5f6a7b8c9d0e1f2a3b4c5d6e7";

    #[test]
    fn endpoints() {
        // (endpoint, port, useHttp) → URL; the URL's scheme wins over useHttp.
        for (host, port, use_http, url) in [
            (None, None, false, "https://s3.eu-west-1.amazonaws.com"),
            (None, None, true, "http://s3.eu-west-1.amazonaws.com"),
            (Some("minio"), Some(9000), true, "http://minio:9000"),
            (Some("minio:9000"), Some(1), true, "http://minio:9000"),
            (
                Some("HTTPS://s3.example/"),
                None,
                true,
                "https://s3.example",
            ),
            (Some("http://[::1]"), Some(9000), false, "http://[::1]:9000"),
            (
                Some("http://[::1]:9001"),
                Some(9000),
                false,
                "http://[::1]:9001",
            ),
        ] {
            assert_eq!(
                endpoint(host, port, use_http).unwrap(),
                url,
                "{host:?} {port:?} {use_http}"
            );
        }
        assert_eq!(
            endpoint_url(&S3Spec {
                provider_type: "google-storage-v2".into(),
                ..spec()
            })
            .unwrap(),
            "https://storage.googleapis.com"
        );
        for bad in [
            "ftp://host",
            "host/path",
            "https://host/path",
            "user@host",
            "",
            "a b",
        ] {
            assert!(endpoint(Some(bad), None, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_checks_the_spec() {
        let store = ObjectStore::new(&spec(), Some("AK"), Some("SK")).unwrap();
        assert_eq!(
            store.describe(),
            "s3://bucket/filestore at https://s3.eu-west-1.amazonaws.com"
        );
        assert!(!format!("{store:?}").contains("SK"));
        let root = ObjectStore::new(
            &S3Spec {
                path: "/".into(),
                ..spec()
            },
            Some("AK"),
            Some("SK"),
        )
        .unwrap();
        assert_eq!(
            root.describe(),
            "s3://bucket at https://s3.eu-west-1.amazonaws.com"
        );

        for (s, id, secret) in [
            (spec(), None, Some("SK")),
            (spec(), Some("AK"), None),
            (spec(), Some(""), Some("SK")),
            (
                S3Spec {
                    bucket_name: " ".into(),
                    ..spec()
                },
                Some("AK"),
                Some("SK"),
            ),
            (
                S3Spec {
                    multipart_element_size: 0,
                    ..spec()
                },
                Some("AK"),
                Some("SK"),
            ),
            (
                S3Spec {
                    root_folders_name_length: 65,
                    ..spec()
                },
                Some("AK"),
                Some("SK"),
            ),
            (
                S3Spec {
                    endpoint: Some("host/x".into()),
                    ..spec()
                },
                Some("AK"),
                Some("SK"),
            ),
        ] {
            let err = ObjectStore::new(&s, id, secret).unwrap_err();
            assert!(matches!(err, StorageError::ObjectStoreConfig(_)), "{err}");
            assert!(!err.to_string().contains("SK"), "{err}");
        }
    }

    #[test]
    fn keys_parse_back() {
        let cases = [
            ("filestore", 2, format!("filestore/8c/{SHA}")),
            ("filestore", 4, format!("filestore/8c33/{SHA}")),
            ("filestore", 0, format!("filestore/{SHA}")),
            ("", 2, format!("8c/{SHA}")),
            ("", 0, SHA.to_owned()),
            ("a/b", 1, format!("a/b/8/{SHA}")),
        ];
        for (path, n, key) in cases {
            let s = S3Spec {
                path: path.into(),
                root_folders_name_length: n,
                ..spec()
            };
            let store = ObjectStore::new(&s, Some("AK"), Some("SK")).unwrap();
            assert_eq!(store.object_key(SHA), key);
            assert_eq!(store.parse_key(&key), Some(SHA), "{key}");
        }
        let store = ObjectStore::new(&spec(), Some("AK"), Some("SK")).unwrap();
        for foreign in [
            format!("filestore/8d/{SHA}"),
            format!("filestore/8c3/{SHA}"),
            format!("filestore/{SHA}"),
            format!("other/8c/{SHA}"),
            format!("filestorex/8c/{SHA}"),
            format!("filestore/8c/{SHA}/x"),
            format!("filestore/8C/{}", SHA.to_uppercase()),
            "filestore/.arca-probe-0123".to_owned(),
            "filestore/8c/8c".to_owned(),
        ] {
            assert_eq!(store.parse_key(&foreign), None, "{foreign}");
        }
    }

    #[test]
    fn errors_are_classified() {
        let status = |s: u16| classify(&S3Error::HttpFailWithBody(s, String::new()));
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(status(s).2, "{s}");
            assert_eq!(status(s).0, Some(s));
        }
        for s in [400, 401, 403, 404, 409, 412] {
            assert!(!status(s).2, "{s}");
        }
        let io = |kind| classify(&S3Error::Io(std::io::Error::from(kind))).2;
        assert!(io(std::io::ErrorKind::ConnectionReset));
        assert!(io(std::io::ErrorKind::ConnectionRefused));
        assert!(io(std::io::ErrorKind::TimedOut));
        assert!(!io(std::io::ErrorKind::PermissionDenied));
        assert!(!classify(&S3Error::HttpFail).2);

        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                   <Message>Access Denied</Message><RequestId>1</RequestId></Error>";
        let (_, message, _) = classify(&S3Error::HttpFailWithBody(403, xml.into()));
        assert_eq!(message, "HTTP 403: AccessDenied: Access Denied");
        assert_eq!(summarize_error_body(""), "");
        assert_eq!(summarize_error_body(" busy \n"), ": busy");
        assert_eq!(summarize_error_body(&"x".repeat(500)).len(), 202);
    }

    #[test]
    fn last_modified() {
        let t = parse_last_modified("2024-05-01T12:00:00.000Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(1_714_564_800)
        );
        assert!(parse_last_modified("2024-05-01T12:00:00Z").is_some());
        assert!(parse_last_modified("yesterday").is_none());
    }
}
