//! The local control protocol of `arca-storage-mover`.
//!
//! A unix stream socket at `Home::mover_socket()`, `<home>/run/arca-storage-mover.sock` (mode 0660; only root and the
//! mover's own user are served, checked with `SO_PEERCRED`). Newline-delimited JSON, one
//! response line per request line:
//!
//! ```text
//! {"op":"wake"}    -> {"ok":true}
//! {"op":"status"}  -> {"ok":true,"chain":"cache-fs -> eventual -> retry -> s3-storage-v3",
//!                      "eventual":true,"backlog":{"adds":3,"addBytes":1024,"deletes":0,
//!                      "oldestAgeSecs":12},"uploaded":10,"deleted":1,"failures":0,
//!                      "lastError":null,"objectStoreReachable":true}
//! anything else    -> {"ok":false,"error":"…"}
//! ```
//!
//! The server sends `wake` after it committed an upload into the eventual queue, so the mover
//! starts at once instead of at its next scan; the client half lives here so the server can
//! use it without depending on the mover.

use std::io;
use std::path::Path;
use std::time::Duration;

use arca_ipc::local_socket;
use serde::{Deserialize, Serialize};

use crate::StorageError;
use crate::eventual::Backlog;

/// How long [`wake`] may take: a deploy must never wait for the mover.
pub const WAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long [`status`] may take.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// A request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Scan the queue now.
    Wake,
    /// Report [`MoverStatus`].
    Status,
}

/// The queue's backlog as reported over the socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BacklogStatus {
    pub adds: u64,
    pub add_bytes: u64,
    pub deletes: u64,
    /// Age of the oldest entry in whole seconds; `null` when the queue is empty.
    pub oldest_age_secs: Option<u64>,
}

impl From<&Backlog> for BacklogStatus {
    fn from(b: &Backlog) -> Self {
        BacklogStatus {
            adds: b.adds,
            add_bytes: b.add_bytes,
            deletes: b.deletes,
            oldest_age_secs: b.oldest_age.map(|a| a.as_secs()),
        }
    }
}

/// What the mover reports for `{"op":"status"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoverStatus {
    /// The storage chain, e.g. `cache-fs -> eventual -> retry -> s3-storage-v3`.
    pub chain: String,
    /// Whether the chain has an eventual queue (else the mover idles).
    pub eventual: bool,
    pub backlog: BacklogStatus,
    /// Objects uploaded since the mover started.
    pub uploaded: u64,
    /// `eventual-cluster` copies dropped without an upload since the mover started: another
    /// holder's mover had stored the object already.
    #[serde(default)]
    pub already_stored: u64,
    /// Objects deleted since the mover started.
    pub deleted: u64,
    /// Failed attempts (an entry retried three times counts three) since the mover started.
    pub failures: u64,
    /// The most recent failure, cleared by nothing (read it with `failures`).
    pub last_error: Option<String>,
    /// Result of the last object-store request; `null` before the first one or without an
    /// object store.
    pub object_store_reachable: Option<bool>,
    /// A sharding-cluster's `redundancy` (absent for other chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redundancy: Option<u32>,
    /// What the last redundancy restore did (sharding-cluster; `null` before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restore: Option<crate::RestoreReport>,
}

pub use arca_ipc::local_socket::{MAX_LINE, error_line, ok_line};

/// Parse a request line.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Ask the mover to scan its queue now. Best effort and quick ([`WAKE_TIMEOUT`]): callers
/// ignore the error (the mover scans on its own every `dispatcherInterval` anyway).
pub async fn wake(socket: &Path) -> Result<(), StorageError> {
    request(socket, Request::Wake, WAKE_TIMEOUT).await.map(drop)
}

/// The mover's status.
pub async fn status(socket: &Path) -> Result<MoverStatus, StorageError> {
    let body = request(socket, Request::Status, STATUS_TIMEOUT).await?;
    serde_json::from_value(body).map_err(|e| StorageError::Io {
        op: "ask the storage mover",
        path: socket.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    })
}

/// Send one request and read its response; `Err` unless the response says `"ok":true`.
async fn request(
    socket: &Path,
    req: Request,
    timeout: Duration,
) -> Result<serde_json::Value, StorageError> {
    use arca_ipc::local_socket::RequestError;
    local_socket::request(socket, &req, timeout)
        .await
        .map_err(|e| {
            let source = match e {
                RequestError::Io { source, .. } => source,
                RequestError::Timeout { timeout, .. } => io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} ms", timeout.as_millis()),
                ),
                RequestError::BadResponse { detail, .. } => {
                    io::Error::new(io::ErrorKind::InvalidData, detail)
                }
                RequestError::Refused { message, .. } => {
                    io::Error::new(io::ErrorKind::PermissionDenied, message)
                }
            };
            StorageError::Io {
                op: "ask the storage mover",
                path: socket.to_path_buf(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixListener;

    #[test]
    fn wire_format() {
        assert_eq!(parse_request(r#"{"op":"wake"}"#), Ok(Request::Wake));
        assert_eq!(parse_request(" {\"op\":\"status\"}\n"), Ok(Request::Status));
        assert!(parse_request(r#"{"op":"explode"}"#).is_err());
        assert!(parse_request("wake").is_err());
        assert_eq!(ok_line::<()>(None), r#"{"ok":true}"#);
        let status = MoverStatus {
            chain: "eventual -> s3-storage-v3".into(),
            eventual: true,
            backlog: BacklogStatus::from(&Backlog {
                adds: 2,
                add_bytes: 10,
                deletes: 1,
                oldest_age: Some(Duration::from_millis(2500)),
            }),
            uploaded: 5,
            ..MoverStatus::default()
        };
        let line = ok_line(Some(&status));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["backlog"]["addBytes"], 10);
        assert_eq!(v["backlog"]["oldestAgeSecs"], 2);
        assert_eq!(v["objectStoreReachable"], serde_json::Value::Null);
        assert_eq!(v["lastError"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<MoverStatus>(v).unwrap(), status);
        let e: serde_json::Value = serde_json::from_str(&error_line("no")).unwrap();
        assert_eq!(e, serde_json::json!({"ok": false, "error": "no"}));
    }

    /// A one-connection server answering with `answer` (or never, when `None`).
    fn serve_once(dir: &Path, answer: Option<String>) -> std::path::PathBuf {
        let path = dir.join("mover.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await.unwrap();
            match answer {
                Some(a) => write.write_all(format!("{a}\n").as_bytes()).await.unwrap(),
                None => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        });
        path
    }

    #[tokio::test]
    async fn client_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let status = MoverStatus {
            chain: "c".into(),
            failures: 3,
            last_error: Some("boom".into()),
            object_store_reachable: Some(false),
            ..MoverStatus::default()
        };
        let path = serve_once(dir.path(), Some(ok_line(Some(&status))));
        assert_eq!(super::status(&path).await.unwrap(), status);

        let dir = tempfile::tempdir().unwrap();
        let path = serve_once(dir.path(), Some(ok_line::<()>(None)));
        wake(&path).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = serve_once(dir.path(), Some(error_line("not allowed")));
        let err = super::status(&path).await.unwrap_err().to_string();
        assert!(err.contains("not allowed"), "{err}");
    }

    #[tokio::test]
    async fn client_fails_fast_without_a_mover() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("mover.sock");
        let err = wake(&missing).await.unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{err}");

        let silent = serve_once(dir.path(), None);
        let started = std::time::Instant::now();
        let err = wake(&silent).await.unwrap_err().to_string();
        assert!(err.contains("no answer within 500 ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
