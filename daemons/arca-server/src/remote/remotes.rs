//! This node's remote-repository state, held by the server's `AppState`: one upstream client
//! per repository, the downloads in flight (their waiters), merged metadata of virtual
//! repositories.

use std::collections::HashMap;
use std::sync::Mutex;

use arca_crypto::master_key::SecretBox;
use bytes::Bytes;
use tokio::sync::watch;

use arca_db::Repo;

use super::upstream::{Upstream, password_context};
use crate::http::error::{ApiError, ApiResult};

/// How a download in flight ended, for the requests waiting on it.
#[derive(Debug, Clone)]
pub(super) enum Done {
    Stored,
    Failed(ApiError),
}

pub(super) type PathKey = (String, String);

/// This node's remote-repository state: one upstream client per repository, the downloads in
/// flight, and merged metadata of virtual repositories.
pub struct Remotes {
    /// Names this process in the shared fetch claims (node id and a per-process nonce).
    pub(super) owner: String,
    clients: Mutex<HashMap<String, Upstream>>,
    pub(super) in_flight: Mutex<HashMap<PathKey, watch::Receiver<Option<Done>>>>,
    /// (virtual repository, path) → (expiry in ms, merged bytes).
    merged: Mutex<HashMap<PathKey, (i64, Bytes)>>,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remotes")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Remotes {
    pub fn new(node_id: &str) -> Remotes {
        Remotes {
            owner: format!("{node_id}/{}", arca_crypto::random_hex(6)),
            clients: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            merged: Mutex::new(HashMap::new()),
        }
    }

    /// Drop what is kept for repository `key` (its configuration changed).
    pub fn forget(&self, key: &str) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(key);
        }
        if let Ok(mut merged) = self.merged.lock() {
            merged.clear();
        }
    }

    /// The upstream client of `repo` (built once per configuration; its password opened with
    /// `secrets`).
    pub fn upstream(&self, secrets: &SecretBox, repo: &Repo) -> ApiResult<Upstream> {
        if let Ok(clients) = self.clients.lock()
            && let Some(up) = clients.get(&repo.key)
            && up.is_for(repo)
        {
            return Ok(up.clone());
        }
        let sealed = &repo.settings.password_sealed;
        let password = if sealed.is_empty() {
            None
        } else {
            let context = password_context(&repo.key);
            let plain = secrets.open(sealed, &context).map_err(|e| {
                ApiError::internal(
                    &format!(
                        "opening the upstream password of remote repository '{}'",
                        repo.key
                    ),
                    e,
                )
            })?;
            Some(String::from_utf8_lossy(&plain).into_owned())
        };
        let up = Upstream::build(repo, password)?;
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(repo.key.clone(), up.clone());
        }
        Ok(up)
    }

    /// Merged metadata of a virtual repository, while fresh.
    pub fn merged(&self, repo: &str, path: &str, now: i64) -> Option<Bytes> {
        let merged = self.merged.lock().ok()?;
        merged
            .get(&(repo.to_string(), path.to_string()))
            .filter(|(expires, _)| *expires > now)
            .map(|(_, bytes)| bytes.clone())
    }

    /// Keep merged metadata until `expires`.
    pub fn keep_merged(&self, repo: &str, path: &str, expires: i64, bytes: Bytes) {
        if let Ok(mut merged) = self.merged.lock() {
            merged.retain(|_, (e, _)| *e > expires - 86_400_000);
            merged.insert((repo.to_string(), path.to_string()), (expires, bytes));
        }
    }
}
