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

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::StorageError;
use crate::eventual::Backlog;

/// Longest request or response line accepted (a status is a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

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

/// `{"ok":true}` plus the fields of `body` (an object), as one line without the newline.
pub fn ok_line<T: Serialize>(body: Option<&T>) -> String {
    let mut map = match body.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    };
    map.insert("ok".into(), serde_json::Value::Bool(true));
    serde_json::Value::Object(map).to_string()
}

/// `{"ok":false,"error":…}` as one line without the newline.
pub fn error_line(message: &str) -> String {
    serde_json::json!({"ok": false, "error": message}).to_string()
}

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
    serde_json::from_value(body).map_err(|e| bad_response(socket, &e.to_string()))
}

/// Send one request and read its response; `Err` unless the response says `"ok":true`.
async fn request(
    socket: &Path,
    req: Request,
    timeout: Duration,
) -> Result<serde_json::Value, StorageError> {
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await?;
        let mut line = serde_json::to_string(&req).map_err(io::Error::other)?;
        line.push('\n');
        stream.write_all(line.as_bytes()).await?;
        let mut reader = BufReader::new(stream).take(MAX_LINE as u64);
        let mut answer = String::new();
        reader.read_line(&mut answer).await?;
        Ok::<_, io::Error>(answer)
    };
    let answer = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            return Err(StorageError::Io {
                op: "ask the storage mover",
                path: socket.to_path_buf(),
                source: e,
            });
        }
        Err(_) => {
            return Err(StorageError::Io {
                op: "ask the storage mover",
                path: socket.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {} ms", timeout.as_millis()),
                ),
            });
        }
    };
    let value: serde_json::Value = serde_json::from_str(answer.trim())
        .map_err(|e| bad_response(socket, &format!("{e} in {:?}", answer.trim())))?;
    if value.get("ok") == Some(&serde_json::Value::Bool(true)) {
        return Ok(value);
    }
    let message = value
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("refused without a reason");
    Err(bad_response(socket, message))
}

fn bad_response(socket: &Path, message: &str) -> StorageError {
    StorageError::Io {
        op: "ask the storage mover",
        path: socket.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, message.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
