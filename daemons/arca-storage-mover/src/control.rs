//! The control socket: [`arca_storage::mover_proto`] served on `<home>/run/arca-storage-mover.sock`.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arca_storage::mover_proto::{self, MAX_LINE, Request};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::mover::StatusView;

/// An idle client is disconnected after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The bound socket; the file is removed when this is dropped.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Bind `path` (mode 0660). A socket file left by a mover that died is removed first; one a
    /// running mover still answers on is an error (two movers of one home would fight over it).
    pub fn bind(path: &Path) -> anyhow::Result<ControlSocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    bail!(
                        "{} is in use: another arca-storage-mover runs with this home",
                        path.display()
                    );
                }
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale socket {}", path.display()))?;
                tracing::info!("removed the stale socket {}", path.display());
            }
            Ok(_) => bail!("{} exists and is not a socket; remove it", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accept connections until the task is dropped. `wake` is notified for `{"op":"wake"}`.
    pub async fn serve(self, status: StatusView, wake: Arc<Notify>) {
        // Root, and the user the mover runs as (the server runs as the same user).
        let own_uid = nix::unistd::geteuid().as_raw();
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (status, wake) = (status.clone(), wake.clone());
            tokio::spawn(async move {
                if let Err(e) = handle(stream, own_uid, status, wake).await {
                    tracing::debug!(error = %e, "control connection ended");
                }
            });
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn handle(
    stream: UnixStream,
    own_uid: u32,
    status: StatusView,
    wake: Arc<Notify>,
) -> std::io::Result<()> {
    let peer = getsockopt(&stream, PeerCredentials).map_err(std::io::Error::from)?;
    let (read, mut write) = stream.into_split();
    if peer.uid() != 0 && peer.uid() != own_uid {
        tracing::warn!(
            uid = peer.uid(),
            pid = peer.pid(),
            "control socket: refused a client that is neither root nor uid {own_uid}"
        );
        let line = mover_proto::error_line("permission denied") + "\n";
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
            let line = mover_proto::error_line("request too long") + "\n";
            return write.write_all(line.as_bytes()).await;
        }
        let answer = match mover_proto::parse_request(&line) {
            Ok(Request::Wake) => {
                wake.notify_one();
                mover_proto::ok_line::<()>(None)
            }
            Ok(Request::Status) => mover_proto::ok_line(Some(&status.status().await)),
            Err(e) => mover_proto::error_line(&e),
        };
        write.write_all((answer + "\n").as_bytes()).await?;
    }
}
