//! The small HTTP client the node and HA commands use to talk to running nodes.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::blocking::{Client, Response};

/// Every request gives up after this long: a node that needs longer counts as unreachable.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// A blocking client with short timeouts, no proxy and no redirects.
pub fn client() -> anyhow::Result<Client> {
    Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        // Nodes are addressed by their context.url on the cluster network; a proxy from the
        // environment would test the proxy instead, and a redirect another node.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("creating the HTTP client")
}

/// `base` (a node URL with its context path) joined with `path` (starting with `/`).
pub fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// Why a request failed, with the causes reqwest keeps in its source chain (its own message
/// alone is "error sending request").
pub fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    arca_runtime::error_chain(err)
}

/// The human-readable part of an error answer: `message` of arca's JSON envelopes
/// (`{"errors":[{"message":…}]}` or `{"message":…}`), else the start of the body.
pub fn body_message(resp: Response) -> String {
    let text = resp.text().unwrap_or_default();
    message_of(&text)
}

fn message_of(text: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let message = json
            .pointer("/errors/0/message")
            .or_else(|| json.get("message"))
            .and_then(|m| m.as_str());
        if let Some(m) = message {
            return m.to_string();
        }
    }
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_trims_one_side() {
        assert_eq!(
            join("http://h:1/artifactory/", "/api/system/ping"),
            "http://h:1/artifactory/api/system/ping"
        );
        assert_eq!(join("http://h:1", "/api"), "http://h:1/api");
    }

    #[test]
    fn messages_from_envelopes_and_text() {
        assert_eq!(
            message_of(r#"{"errors":[{"status":503,"message":"drained"}]}"#),
            "drained"
        );
        assert_eq!(
            message_of(r#"{"code":"UNAVAILABLE","message":"db down"}"#),
            "db down"
        );
        assert_eq!(message_of(" OK\n"), "OK");
        assert_eq!(message_of(&"x".repeat(300)).chars().count(), 201);
    }
}
