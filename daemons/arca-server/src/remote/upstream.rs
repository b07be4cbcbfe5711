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
    /// Bearer tokens the upstream's token service issued (an OCI registry's challenge), by
    /// the challenge's realm, service and scope, with their expiry.
    tokens: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
    >,
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
            tokens: Default::default(),
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
        self.get_accepting(url, None).await
    }

    /// [`Upstream::get`] with an `Accept` header. A 401 with a `Bearer` challenge (an OCI
    /// registry's) is answered the way registry clients do: a token from the challenge's
    /// realm (with the repository's credentials, if any), kept until it expires, and the
    /// request again with it.
    pub async fn get_accepting(&self, url: &str, accept: Option<&str>) -> Answer {
        let url = url.to_string();
        let send = |bearer: Option<String>| {
            let mut request = self.client.get(&url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            match bearer {
                Some(token) => request = request.bearer_auth(token),
                None => {
                    if let Some((user, password)) = &self.credentials
                        && self.same_origin(&url)
                    {
                        request = request.basic_auth(user, Some(password));
                    }
                }
            }
            request.send()
        };
        let cached =
            bearer_challenge_key_for(&url).and_then(|prefix| self.cached_token_for(&prefix));
        let mut response = match send(cached).await {
            Ok(r) => r,
            Err(e) => return self.unreachable(&url, &e),
        };
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some(challenge) = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(BearerChallenge::parse)
        {
            match self.token(&challenge, &url).await {
                Ok(token) => {
                    response = match send(Some(token)).await {
                        Ok(r) => r,
                        Err(e) => return self.unreachable(&url, &e),
                    };
                }
                Err(error) => {
                    return Answer::Failed {
                        error,
                        offline: false,
                    };
                }
            }
        }
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

    /// A token kept for requests to the upstream origin of `prefix`, still valid.
    fn cached_token_for(&self, prefix: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .iter()
            .find(|(k, (_, until))| k.starts_with(prefix) && *until > std::time::Instant::now())
            .map(|(_, (token, _))| token.clone())
    }

    /// A token for `challenge` (from the cache, or asked of its realm).
    async fn token(&self, challenge: &BearerChallenge, url: &str) -> Result<String, ApiError> {
        let origin = bearer_challenge_key_for(url).unwrap_or_default();
        let key = format!(
            "{origin} {} {} {}",
            challenge.realm, challenge.service, challenge.scope
        );
        if let Ok(tokens) = self.tokens.lock()
            && let Some((token, until)) = tokens.get(&key)
            && *until > std::time::Instant::now()
        {
            return Ok(token.clone());
        }
        let failed = |what: String| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the token service {} of remote repository '{}''s upstream {what}",
                    challenge.realm, self.repo
                ),
            )
        };
        let mut request = self.client.get(&challenge.realm);
        let mut query = Vec::new();
        if !challenge.service.is_empty() {
            query.push(("service", challenge.service.as_str()));
        }
        if !challenge.scope.is_empty() {
            query.push(("scope", challenge.scope.as_str()));
        }
        request = request.query(&query);
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| failed(format!("could not be reached: {}", error_chain(&e))))?;
        if !response.status().is_success() {
            return Err(failed(format!(
                "answered {}: check the repository's username and password",
                status_text(response.status().as_u16())
            )));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| failed(format!("answered no token: {}", error_chain(&e))))?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("answered no token".into()))?
            .to_string();
        // the spec's default lifetime is 60 s; keep a margin for the requests in flight
        let lifetime = body["expires_in"].as_u64().unwrap_or(60).clamp(10, 3600);
        let until = std::time::Instant::now() + Duration::from_secs(lifetime.saturating_sub(5));
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, (_, u)| *u > std::time::Instant::now());
            tokens.insert(key, (token.clone(), until));
        }
        Ok(token)
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

/// The scheme, host and port of `url` (what cached upstream tokens are found by).
fn bearer_challenge_key_for(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// A `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: String,
    pub service: String,
    pub scope: String,
}

impl BearerChallenge {
    /// The challenge in `value`, if it is a Bearer one with an http(s) realm.
    pub fn parse(value: &str) -> Option<BearerChallenge> {
        let (scheme, params) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut challenge = BearerChallenge {
            realm: String::new(),
            service: String::new(),
            scope: String::new(),
        };
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (name, after) = rest.split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim(), &after[end..])
            };
            match name.as_str() {
                "realm" => challenge.realm = value.to_string(),
                "service" => challenge.service = value.to_string(),
                "scope" => challenge.scope = value.to_string(),
                _ => {}
            }
            rest = next.trim_start().trim_start_matches(',').trim_start();
        }
        (challenge.realm.starts_with("http://") || challenge.realm.starts_with("https://"))
            .then_some(challenge)
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

    #[test]
    fn bearer_challenges_parse_as_registries_send_them() {
        let c = BearerChallenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service, "registry.example");
        assert_eq!(c.scope, "repository:library/alpine:pull");
        let c = BearerChallenge::parse("bearer realm=http://h/t, service=s").unwrap();
        assert_eq!(
            (c.realm.as_str(), c.service.as_str(), c.scope.as_str()),
            ("http://h/t", "s", "")
        );
        for not_bearer in [
            "Basic realm=\"x\"",
            "Bearer",
            "Bearer realm=\"unterminated",
            "Bearer realm=\"file:///etc/passwd\"",
            "Bearer service=\"s\"",
            "",
        ] {
            assert!(BearerChallenge::parse(not_bearer).is_none(), "{not_bearer}");
        }
    }
}
