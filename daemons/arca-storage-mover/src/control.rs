//! The control socket: [`arca_storage::mover_proto`] served on
//! `<home>/run/arca-storage-mover.sock` with [`arca_runtime::local_socket`].

use std::path::Path;
use std::sync::Arc;

use arca_runtime::local_socket::LocalSocket;
use arca_storage::mover_proto::{self, Request};
use tokio::sync::Notify;

use crate::mover::StatusView;

/// Bind the mover's socket. A socket left by a mover that died is removed first; one a running
/// mover still answers on is an error (two movers of one home would fight over the queue).
pub fn bind(path: &Path) -> anyhow::Result<LocalSocket> {
    LocalSocket::bind(path, "arca-storage-mover")
}

/// Serve the socket until the task is dropped. `wake` is notified for `{"op":"wake"}`.
pub async fn serve(socket: LocalSocket, status: StatusView, wake: Arc<Notify>) {
    socket
        .serve(move |line: String| {
            let (status, wake) = (status.clone(), wake.clone());
            async move {
                match mover_proto::parse_request(&line) {
                    Ok(Request::Wake) => {
                        wake.notify_one();
                        mover_proto::ok_line::<()>(None)
                    }
                    Ok(Request::Status) => mover_proto::ok_line(Some(&status.status().await)),
                    Err(e) => mover_proto::error_line(&e),
                }
            }
        })
        .await;
}
