//! The HTTP client of one remote repository's upstream: its URL, credentials (unsealed with
//! the master key when the client is built) and timeouts, and what an answer means.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use warp::http::StatusCode;

use arca_db::Repo;
use arca_runtime::error_chain;

use crate::http::error::ApiError;

/// Characters escaped in one path segment of an upstream URL (and of a link arca writes).
pub const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+')
    .remove(b'@')
    .remove(b':');

/// The context a remote repository's sealed password is bound to (a sealed value copied to
/// another repository does not open).
pub fn password_context(key: &str) -> Vec<u8> {
    format!("db:repos/{key}/password").into_bytes()
}

/// The upstream of one remote repository, ready to ask.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    /// Without a trailing `/`.
    base: String,
    credentials: Option<(String, String)>,
    repo: String,
    /// The settings it was built from (a change builds a new client).
    built_from: arca_db::RepoSettings,
}

/// What the upstream said about a path.
pub enum Answer {
    /// 200: the body follows.
    Found(reqwest::Response),
    /// 404/410 (or another 4xx that means "not here"): a miss.
    Missing(String),
    /// Unreachable, timed out, or a 5xx: the clients get `error`; `offline`: the upstream is
    /// assumed offline for `assumedOfflinePeriodSecs`.
    Failed { error: ApiError, offline: bool },
}

impl Upstream {
    /// The client of `repo`'s upstream (`password`: unsealed already).
    pub fn build(repo: &Repo, password: Option<String>) -> Result<Upstream, ApiError> {
        let timeout = Duration::from_millis(repo.settings.socket_timeout_millis.max(1));
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static(concat!("arca/", env!("CARGO_PKG_VERSION"))),
        );
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            // between two reads of the body, not the whole download (a 1 GiB file takes long)
            .read_timeout(timeout)
            .default_headers(headers)
            // no transparent decompression: the bytes cached are the upstream's bytes
            .no_gzip()
            .build()
            .map_err(|e| ApiError::internal("building the upstream client", error_chain(&e)))?;
        let username = &repo.settings.username;
        let credentials = (!username.is_empty() || password.is_some())
            .then(|| (username.clone(), password.unwrap_or_default()));
        Ok(Upstream {
            client,
            base: repo.settings.url.trim_end_matches('/').to_string(),
            credentials,
            repo: repo.key.clone(),
            built_from: repo.settings.clone(),
        })
    }

    /// Whether this client was built from `repo`'s current settings.
    pub fn is_for(&self, repo: &Repo) -> bool {
        self.repo == repo.key && self.built_from == repo.settings
    }

    /// The upstream URL of `path` (a repository path, `/`-separated), or of `encoded`, an upstream
    /// path already URL-encoded (a format's own name for it: npm packuments, see
    /// `Format::upstream_path`).
    pub fn url_of(&self, path: &str, encoded: Option<&str>) -> String {
        if let Some(encoded) = encoded {
            return format!("{}/{encoded}", self.base);
        }
        let mut url = self.base.clone();
        for segment in path.split('/') {
            url.push('/');
            url.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
        }
        url
    }

    /// Whether `url` is on the upstream's origin (scheme, host and port of its URL): only
    /// there are the repository's credentials sent (a PyPI page may link files on another host).
    fn same_origin(&self, url: &str) -> bool {
        match (url::Url::parse(url), url::Url::parse(&self.base)) {
            (Ok(a), Ok(b)) => a.origin() == b.origin(),
            _ => false,
        }
    }

    /// `GET` `url` (one of [`Upstream::url_of`], or a URL the upstream named, e.g. a PyPI
    /// page's link).
    pub async fn get(&self, url: &str) -> Answer {
        let url = url.to_string();
        let mut request = self.client.get(&url);
        if let Some((user, password)) = &self.credentials
            && self.same_origin(&url)
        {
            request = request.basic_auth(user, Some(password));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return self.unreachable(&url, &e),
        };
        let status = response.status();
        if status == reqwest::StatusCode::OK {
            return Answer::Found(response);
        }
        let said = format!(
            "upstream {url} of remote repository '{}' answered {}",
            self.repo,
            status_text(status.as_u16())
        );
        match status.as_u16() {
            500..=599 => Answer::Failed {
                error: ApiError::new(StatusCode::BAD_GATEWAY, said),
                offline: true,
            },
            401 | 403 | 407 => Answer::Failed {
                error: ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("{said}: check the repository's username and password"),
                ),
                offline: false,
            },
            // 404, 410, other client errors and odd answers (a 3xx after the redirect limit,
            // 204…): the upstream does not serve it
            _ => Answer::Missing(said),
        }
    }

    /// A request that got no answer: a timeout is a 504, anything else a 502.
    fn unreachable(&self, url: &str, e: &reqwest::Error) -> Answer {
        let status = if e.is_timeout() {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        Answer::Failed {
            error: ApiError::new(
                status,
                format!(
                    "upstream {url} of remote repository '{}' could not be reached: {}",
                    self.repo,
                    error_chain(e)
                ),
            ),
            offline: true,
        }
    }

    /// A small upstream file (a checksum file), or `None` when the upstream has none.
    pub async fn small_text(&self, path: &str, limit: usize) -> Result<Option<String>, ApiError> {
        let mut response = match self.get(&self.url_of(path, None)).await {
            Answer::Found(r) => r,
            Answer::Missing(_) => return Ok(None),
            Answer::Failed { error, .. } => return Err(error),
        };
        let mut text = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if text.len() + chunk.len() > limit {
                        return Ok(None);
                    }
                    text.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.body_error(&self.url_of(path, None), &e)),
            }
        }
        Ok(Some(String::from_utf8_lossy(&text).into_owned()))
    }

    /// The body of `url` broke off.
    pub fn body_error(&self, url: &str, e: &reqwest::Error) -> ApiError {
        let status = if e.is_timeout() {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        ApiError::new(
            status,
            format!(
                "download of {} from the upstream of remote repository '{}' broke off: {}; \
                 nothing was cached",
                url,
                self.repo,
                error_chain(e)
            ),
        )
    }
}

fn status_text(code: u16) -> String {
    match StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{code} {reason}"),
        None => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_escape_each_segment() {
        let repo = Repo {
            rclass: "remote".into(),
            settings: arca_db::RepoSettings {
                url: "http://127.0.0.1:9/maven2/".into(),
                ..Default::default()
            },
            ..Repo::local("r", 0)
        };
        let up = Upstream::build(&repo, None).expect("client");
        assert_eq!(
            up.url_of("org/a b/x#1.jar", None),
            "http://127.0.0.1:9/maven2/org/a%20b/x%231.jar"
        );
        assert_eq!(
            up.url_of("a/1.0+build", None),
            "http://127.0.0.1:9/maven2/a/1.0+build"
        );
    }
}
