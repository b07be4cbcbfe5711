//! The server's local control socket `<run>/arca-server.sock`
//! ([`arca_cluster::server_socket`]'s protocol over [`arca_runtime::local_socket`]):
//! `arca-license-agent` reports the license this node holds, `arca-config-sync` the config
//! files it changed; `{"op":"status"}` shows the server's view; `arcactl storage scrub` starts
//! and follows a scrub pass (`scrub-start`, `scrub-status`).

use arca_cluster::server_socket::{self, ServerRequest, ServerStatus};
use arca_runtime::local_socket::{self, LocalSocket};

use crate::state::App;

/// Bind the socket (a second server of this home is refused here).
pub fn bind(app: &App) -> anyhow::Result<LocalSocket> {
    LocalSocket::bind(&app.home.server_socket(), "arca-server")
}

/// Serve until the task is dropped (which removes the socket file).
pub async fn serve(socket: LocalSocket, app: App) {
    socket
        .serve(move |line: String| {
            let app = app.clone();
            async move { answer(&app, &line) }
        })
        .await;
}

fn answer(app: &App, line: &str) -> String {
    match server_socket::parse_request(line) {
        Ok(ServerRequest::License { license }) => {
            app.license.set(license, "arca-license-agent", &app.node_id);
            local_socket::ok_line::<()>(None)
        }
        Ok(ServerRequest::Releasing { seconds }) => {
            app.license.releasing(seconds, &app.node_id);
            local_socket::ok_line::<()>(None)
        }
        Ok(ServerRequest::Config {
            changed,
            restart,
            live,
        }) => {
            app.reload_live_settings(&live);
            app.config_changed(&changed, restart);
            local_socket::ok_line::<()>(None)
        }
        Ok(ServerRequest::ScrubStart { bytes_per_sec }) => match app.scrub.start(bytes_per_sec) {
            Ok(report) => local_socket::ok_line(Some(&report)),
            Err(e) => local_socket::error_line(&e),
        },
        Ok(ServerRequest::ScrubStatus) => local_socket::ok_line(Some(&app.scrub.report())),
        Ok(ServerRequest::Status) => local_socket::ok_line(Some(&ServerStatus {
            node_id: app.node_id.clone(),
            license_required: app.license.required(),
            license: app.license.held(),
            restart_required_for: app.restart_required_for(),
        })),
        Err(e) => local_socket::error_line(&e),
    }
}
