//! The daemons' local control sockets: newline-delimited JSON over a unix stream socket in the
//! run directory, one response line per request line, served only to root and the daemon's
//! own user (checked with `SO_PEERCRED`; the arca services all run as the same user).
//!
//! Responses are objects with `"ok"`: `{"ok":true,…}` or `{"ok":false,"error":"…"}`.
//! `arca-storage-mover.sock` (wake-ups and status for the server) and `arca-server.sock`
//! (license state from `arca-license-agent`) are served with [`LocalSocket`]; clients use
//! [`request`].

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request or response line accepted.
pub const MAX_LINE: usize = 64 * 1024;

/// An idle client is disconnected after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound socket; the file is removed when this is dropped.
#[derive(Debug)]
pub struct LocalSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl LocalSocket {
    /// Bind `path` (mode 0660), creating its directory. A socket file left by a process that
    /// died is removed first; one that a running process still answers on is an error naming
    /// `owner` (two daemons of one home would fight over it).
    pub fn bind(path: &Path, owner: &str) -> anyhow::Result<LocalSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    bail!(
                        "{} is in use: another {owner} runs with this home",
                        path.display()
                    );
                }
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale socket {}", path.display()))?;
                tracing::info!("removed the stale socket {}", path.display());
            }
            Ok(_) => bail!("{} exists and is not a socket; remove it", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(LocalSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept connections until the task is dropped; `handle` answers each request line
    /// (without its newline) with one response line (without its newline).
    pub async fn serve<H, F>(self, handle: H)
    where
        H: Fn(String) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = String> + Send,
    {
        // Root, and the user this daemon runs as (all arca services share it).
        let own_uid = nix::unistd::geteuid().as_raw();
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, socket = %self.path.display(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(stream, own_uid, handle).await {
                    tracing::debug!(error = %e, "control connection ended");
                }
            });
        }
    }
}

impl Drop for LocalSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn connection<H, F>(stream: UnixStream, own_uid: u32, handle: H) -> io::Result<()>
where
    H: Fn(String) -> F,
    F: Future<Output = String>,
{
    let peer = getsockopt(&stream, PeerCredentials).map_err(io::Error::from)?;
    let (read, mut write) = stream.into_split();
    if peer.uid() != 0 && peer.uid() != own_uid {
        tracing::warn!(
            uid = peer.uid(),
            pid = peer.pid(),
            "control socket: refused a client that is neither root nor uid {own_uid}"
        );
        let line = error_line("permission denied") + "\n";
        return write.write_all(line.as_bytes()).await;
    }
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        let n = match tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut reader).take(MAX_LINE as u64).read_line(&mut line),
        )
        .await
        {
            Ok(read) => read?,
            Err(_) => return Ok(()), // idle
        };
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') && n >= MAX_LINE {
            // The rest of the line is still unread: answer and hang up.
            let line = error_line("request too long") + "\n";
            return write.write_all(line.as_bytes()).await;
        }
        let answer = handle(line.trim().to_string()).await;
        write.write_all((answer + "\n").as_bytes()).await?;
    }
}

/// `{"ok":true}` plus the fields of `body` (an object), as one line without the newline.
pub fn ok_line<T: serde::Serialize>(body: Option<&T>) -> String {
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

/// Why a [`request`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Connecting, writing or reading failed (the daemon is not running, or hung up).
    #[error("{}: {source}", socket.display())]
    Io {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: no answer within {} ms", socket.display(), timeout.as_millis())]
    Timeout { socket: PathBuf, timeout: Duration },
    /// The answer is not a JSON object with `"ok"`.
    #[error("{}: unexpected answer: {detail}", socket.display())]
    BadResponse { socket: PathBuf, detail: String },
    /// `{"ok":false,"error":…}`.
    #[error("{}: {message}", socket.display())]
    Refused { socket: PathBuf, message: String },
}

/// Send one request line (`request` serialised as JSON) and read the answer; `Ok` with the
/// answer object when it says `"ok":true`.
pub async fn request<T: serde::Serialize>(
    socket: &Path,
    request: &T,
    timeout: Duration,
) -> Result<serde_json::Value, RequestError> {
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await?;
        let mut line = serde_json::to_string(request).map_err(io::Error::other)?;
        line.push('\n');
        stream.write_all(line.as_bytes()).await?;
        let mut reader = BufReader::new(stream).take(MAX_LINE as u64);
        let mut answer = String::new();
        reader.read_line(&mut answer).await?;
        Ok::<_, io::Error>(answer)
    };
    let answer = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(source)) => {
            return Err(RequestError::Io {
                socket: socket.to_path_buf(),
                source,
            });
        }
        Err(_) => {
            return Err(RequestError::Timeout {
                socket: socket.to_path_buf(),
                timeout,
            });
        }
    };
    let bad = |detail: String| RequestError::BadResponse {
        socket: socket.to_path_buf(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(answer.trim()).map_err(|e| bad(format!("{e}")))?;
    match value.get("ok").and_then(serde_json::Value::as_bool) {
        Some(true) => Ok(value),
        Some(false) => Err(RequestError::Refused {
            socket: socket.to_path_buf(),
            message: value
                .get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("refused")
                .to_string(),
        }),
        None => Err(bad(format!("no \"ok\" field in {}", answer.trim()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_requests_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/x.sock");
        let socket = LocalSocket::bind(&path, "test daemon").unwrap();
        let err = LocalSocket::bind(&path, "test daemon").unwrap_err();
        assert!(err.to_string().contains("another test daemon"), "{err}");
        let server = tokio::spawn(socket.serve(|line: String| async move {
            match line.as_str() {
                r#"{"op":"hi"}"# => ok_line(Some(&serde_json::json!({"answer": 42}))),
                _ => error_line("unknown op"),
            }
        }));
        let ok = request(
            &path,
            &serde_json::json!({"op":"hi"}),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        assert_eq!(ok["answer"], 42);
        let refused = request(
            &path,
            &serde_json::json!({"op":"no"}),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(refused, RequestError::Refused { .. }), "{refused}");
        server.abort();
        let _ = server.await;
        assert!(!path.exists(), "socket file removed with the listener");
        let gone = request(
            &path,
            &serde_json::json!({"op":"hi"}),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(gone, RequestError::Io { .. }), "{gone}");
    }
}
