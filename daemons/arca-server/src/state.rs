//! Shared state of a running server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arca_config::Home;
use arca_crypto::CacheKeyer;
use arca_db::{Clock, Db};
use arca_storage::FileStore;
use warp::http::HeaderValue;

/// Limits and switches read from `system.properties`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `""` for the root, else `/artifactory`-style.
    pub context_path: String,
    pub max_upload_bytes: u64,
    pub max_path_length: usize,
    pub gc_interval: Duration,
    pub gc_grace: Duration,
    pub auth_cache_ttl: Duration,
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User { name: String, admin: bool },
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User { name, .. } => name,
        }
    }
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User { admin: true, .. })
    }
}

/// Successful credential checks, keyed by a salted digest of the
/// `Authorization` header so the cache never holds a secret in clear.
/// Keeps argon2 (deliberately slow) off the hot path of build tools, which
/// send Basic credentials on every request.
#[derive(Debug)]
pub struct AuthCache {
    keyer: CacheKeyer,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        AuthCache {
            keyer: CacheKeyer::new(),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, header: &[u8]) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = self.keyer.key(header);
        let entries = self.entries.lock().ok()?;
        match entries.get(&key) {
            Some((p, at)) if at.elapsed() < self.ttl => Some(p.clone()),
            _ => None,
        }
    }

    pub fn put(&self, header: &[u8], principal: Principal) {
        if self.ttl.is_zero() {
            return;
        }
        let key = self.keyer.key(header);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= AUTH_CACHE_MAX {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
                if entries.len() >= AUTH_CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(key, (principal, Instant::now()));
        }
    }

    /// Forget everything (after a password change or token revocation).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    pub home: Home,
    pub node_id: String,
    pub node_id_header: HeaderValue,
    pub settings: Settings,
    pub db: Db,
    pub store: FileStore,
    pub clock: Arc<dyn Clock>,
    pub auth_cache: AuthCache,
    draining: AtomicBool,
}

impl AppState {
    pub fn new(
        home: Home,
        node_id: String,
        settings: Settings,
        db: Db,
        store: FileStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let node_id_header =
            HeaderValue::from_str(&node_id).unwrap_or_else(|_| HeaderValue::from_static("arca"));
        let auth_cache = AuthCache::new(settings.auth_cache_ttl);
        AppState {
            home,
            node_id,
            node_id_header,
            settings,
            db,
            store,
            clock,
            auth_cache,
            draining: AtomicBool::new(false),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}

pub type App = Arc<AppState>;
