//! Shared state of a running server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arca_cluster::node_license::HeldLicense;
use arca_cluster::{Membership, Timing};
use arca_config::MapProviderType;
use arca_config::{Home, MasterKey};
use arca_crypto::CacheKeyer;
use arca_crypto::master_key::{ReplayGuard, RequestSigner};
use arca_db::permissions::{Grants, Subject};
use arca_db::security::LoginPolicy;
use arca_db::{Clock, Db};
use arca_storage::Storage;
use warp::http::HeaderValue;

/// Limits and switches read from `system.properties`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `""` for the root, else `/artifactory`-style.
    pub context_path: String,
    /// `arca.url.base`: the load balancer's URL, used in `uri`/`downloadUri` fields; applied
    /// without a restart ([`LiveUrlBase`]).
    pub url_base: LiveUrlBase,
    /// Heartbeat, stale period, lock lease.
    pub timing: Timing,
    pub max_upload_bytes: u64,
    /// Free space uploads must leave on local storage (`arca.storage.reserve.bytes`).
    pub storage_reserve_bytes: u64,
    pub max_path_length: usize,
    pub gc_interval: Duration,
    pub gc_grace: Duration,
    /// Idle OCI upload sessions end, unreferenced OCI blobs go (`arca.oci.upload.expiry.secs`).
    pub oci_upload_expiry: Duration,
    /// Untagged OCI manifests go after this; zero: kept (`arca.oci.untagged.retention.secs`).
    pub oci_untagged_retention: Duration,
    pub auth_cache_ttl: Duration,
    /// After SIGTERM: how long to keep accepting while health checks answer 503.
    pub drain_delay: Duration,
    /// Failed logins before a lockout, and the first lockout.
    pub login_policy: LoginPolicy,
    /// Proxies whose `X-Forwarded-For` names the client (`arca.security.login.trusted.proxies`).
    pub login_trusted_proxies: Vec<std::net::IpAddr>,
    /// The longest lifetime a non-admin may give an access token, in seconds
    /// (`arca.security.token.max.expires.secs`).
    pub token_max_expires_secs: i64,
    /// Password checks that may wait for a hashing thread (`arca.security.password.check.queue`).
    pub password_check_queue: usize,
    /// Where UI sessions live (`arca.map.provider.type`).
    pub session_provider: MapProviderType,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    /// `arca.node.signature.v1`: also send and accept v1 node signatures (rolling upgrade).
    pub node_signature_v1: bool,
}

/// `arca.url.base` as this server applies it now. Read per request (`format::base_url`);
/// replaced without a restart when an administrator sets it through this node
/// (`PUT /api/system/configuration/baseUrl`) or when the config sync brings the config owner's
/// new `system.properties` ([`AppState::reload_live_settings`]).
#[derive(Debug, Clone, Default)]
pub struct LiveUrlBase(Arc<std::sync::RwLock<Option<Arc<str>>>>);

impl LiveUrlBase {
    pub fn new(value: Option<String>) -> Self {
        LiveUrlBase(Arc::new(std::sync::RwLock::new(value.map(Arc::from))))
    }

    /// The value in effect (`None`: unset, built from each request's headers).
    pub fn get(&self) -> Option<Arc<str>> {
        // A poisoned lock only means a writer panicked between two plain assignments.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Apply `value`; returns whether it differs from the value in effect.
    pub fn set(&self, value: Option<String>) -> bool {
        let mut current = self.0.write().unwrap_or_else(|p| p.into_inner());
        if current.as_deref() == value.as_deref() {
            return false;
        }
        *current = value.map(Arc::from);
        true
    }
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        name: String,
        /// The user's flag or an admin group's (not through a group-scoped token).
        admin: bool,
        /// Groups whose grants apply (all the user's, or a scoped token's subset).
        groups: Vec<String>,
        /// Whether grants to the user itself apply (`false` for group-scoped tokens).
        user_grants: bool,
    },
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => arca_db::security::ANONYMOUS,
            Principal::User { name, .. } => name,
        }
    }
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User { admin: true, .. })
    }
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }
    /// Who the permission decisions are about.
    pub fn subject(&self) -> Subject {
        match self {
            Principal::Anonymous => Subject::anonymous(),
            Principal::User {
                name,
                admin,
                groups,
                user_grants,
            } => Subject {
                user: name.clone(),
                groups: groups.clone(),
                user_grants: *user_grants,
                admin: *admin,
            },
        }
    }
}

/// The cluster's permission targets, compiled, and the security version they were read at.
/// A background task polls the version ([`AppState::refresh_security`]); a change anywhere in
/// the cluster reloads the grants and empties the authentication cache.
#[derive(Debug, Default)]
pub struct GrantsCache {
    grants: std::sync::RwLock<Arc<Grants>>,
    version: AtomicI64,
    loaded: AtomicBool,
}

impl GrantsCache {
    pub fn current(&self) -> Arc<Grants> {
        self.grants
            .read()
            .map(|g| Arc::clone(&g))
            .unwrap_or_default()
    }

    /// The current grants and the security version they were read at.
    pub fn snapshot(&self) -> (Arc<Grants>, i64) {
        (self.current(), self.version.load(Ordering::SeqCst))
    }
}

/// Successful credential checks, keyed by a salted digest of the
/// `Authorization` header so the cache never holds a secret in clear.
/// Keeps argon2 (deliberately slow) and token lookups off the hot path of
/// build tools, which send credentials on every request. Times come from the
/// app's clock; an entry also ends when the token it stands for expires.
#[derive(Debug)]
pub struct AuthCache {
    keyer: CacheKeyer,
    ttl_ms: i64,
    entries: Mutex<HashMap<[u8; 32], CachedAuth>>,
    /// Moves at every [`AuthCache::clear`]: a check that began before a clear (it may have
    /// read a user or token since changed) is not remembered after it.
    generation: AtomicU64,
    /// Credentials being checked right now: the same header sent again meanwhile waits for
    /// that check (and then finds the cache) instead of checking — and counting — it again.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to check one credential header: see [`AuthCache::check_alone`].
pub struct InFlight<'a> {
    cache: &'a AuthCache,
    key: [u8; 32],
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.guard.take();
        if let Ok(mut map) = self.cache.in_flight.lock()
            && Arc::strong_count(&self.lock) <= 2
        {
            // only the map and this guard hold it: nobody waits
            map.remove(&self.key);
        }
    }
}

#[derive(Debug, Clone)]
struct CachedAuth {
    principal: Principal,
    valid_until_ms: i64,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        AuthCache {
            keyer: CacheKeyer::new(),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Wait until no other request is checking `header`, and hold it until the returned
    /// guard is dropped. A build tool's parallel first requests carry the same header: one
    /// checks the password, the others then find it cached (they neither hash nor count
    /// towards the login back-off).
    pub async fn check_alone(&self, header: &[u8]) -> InFlight<'_> {
        let key = self.keyer.key(header);
        let lock = match self.in_flight.lock() {
            Ok(mut map) => Arc::clone(map.entry(key).or_default()),
            Err(_) => Arc::default(),
        };
        let guard = Arc::clone(&lock).lock_owned().await;
        InFlight {
            cache: self,
            key,
            lock,
            guard: Some(guard),
        }
    }

    pub fn get(&self, header: &[u8], now_ms: i64) -> Option<Principal> {
        if self.ttl_ms == 0 {
            return None;
        }
        let key = self.keyer.key(header);
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key)
            .filter(|e| now_ms < e.valid_until_ms)
            .map(|e| e.principal.clone())
    }

    /// Note this before checking credentials, for [`AuthCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Remember a successful check until `now + ttl`, or until `expires_ms` if sooner; not
    /// when the cache was cleared since `generation` ([`AuthCache::generation`]) was noted.
    pub fn put(
        &self,
        generation: u64,
        header: &[u8],
        principal: Principal,
        now_ms: i64,
        expires_ms: Option<i64>,
    ) {
        if self.ttl_ms == 0 {
            return;
        }
        let mut valid_until_ms = now_ms.saturating_add(self.ttl_ms);
        if let Some(expires) = expires_ms {
            valid_until_ms = valid_until_ms.min(expires);
        }
        let key = self.keyer.key(header);
        if let Ok(mut entries) = self.entries.lock() {
            // Checked under the lock `clear` takes after moving the generation.
            if self.generation() != generation {
                return;
            }
            if entries.len() >= AUTH_CACHE_MAX {
                entries.retain(|_, e| now_ms < e.valid_until_ms);
                if entries.len() >= AUTH_CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(
                key,
                CachedAuth {
                    principal,
                    valid_until_ms,
                },
            );
        }
    }

    /// Forget everything (after a password change or token revocation).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Whether this node may serve: an HA node needs a license from the cluster pool, which
/// `arca-license-agent` claims and reports over `<run>/arca-server.sock`; the server also reads
/// the registry every heartbeat ([`arca_cluster::node_license`]). A single node needs none.
#[derive(Debug)]
pub struct LicenseGate {
    required: bool,
    held: Mutex<Option<HeldLicense>>,
    /// The agent is stopping and returns the license soon: readiness answers 503 meanwhile.
    releasing: AtomicBool,
    /// When the agent last reported (`None`: never since this server started).
    last_agent_report: Mutex<Option<std::time::Instant>>,
}

impl LicenseGate {
    pub fn new(required: bool) -> Self {
        LicenseGate {
            required,
            held: Mutex::new(None),
            releasing: AtomicBool::new(false),
            last_agent_report: Mutex::new(None),
        }
    }

    /// Does this node need a license (HA)?
    pub fn required(&self) -> bool {
        self.required
    }

    /// The license this node holds, as last reported or read.
    pub fn held(&self) -> Option<HeldLicense> {
        self.held.lock().ok().and_then(|h| h.clone())
    }

    /// May the node serve repository and REST requests?
    pub fn allows_serving(&self) -> bool {
        !self.required || self.held.lock().is_ok_and(|h| h.is_some())
    }

    /// The agent returns the license in `seconds`: readiness answers 503 from now on (the
    /// node still serves) so the load balancer takes the node out before it turns unlicensed.
    pub fn releasing(&self, seconds: u64, node_id: &str) {
        if self.required && self.allows_serving() {
            self.releasing.store(true, Ordering::SeqCst);
            tracing::info!(
                arca_node_id = %node_id,
                "arca-license-agent returns this node's license in {seconds} s: readiness \
                 answers 503 meanwhile"
            );
        }
    }

    /// Is the license about to be returned (readiness 503)?
    pub fn is_releasing(&self) -> bool {
        self.releasing.load(Ordering::SeqCst)
    }

    /// Record the license the node holds now (`source`: who said so, for the journal); a
    /// change is logged.
    pub fn set(&self, license: Option<HeldLicense>, source: &str, node_id: &str) {
        if source == "arca-license-agent"
            && let Ok(mut at) = self.last_agent_report.lock()
        {
            *at = Some(std::time::Instant::now());
        }
        if !self.required {
            return;
        }
        if source == "arca-license-agent" {
            // a report from a (re)started agent, or the release itself, ends the notice
            self.releasing.store(false, Ordering::SeqCst);
        }
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        if *held == license {
            return;
        }
        match &license {
            Some(l) => tracing::info!(
                arca_node_id = %node_id,
                license = %l.hash,
                "licensed ({source}): license {} ({}, valid through {}); serving",
                l.hash,
                l.licensed_to,
                l.valid_through
            ),
            None => tracing::warn!(
                arca_node_id = %node_id,
                "UNLICENSED ({source}): {}; repository and REST requests answer 503 and \
                 readiness is 503 until arca-license-agent claims one",
                arca_cluster::node_license::UNLICENSED_MESSAGE
            ),
        }
        *held = license;
    }

    /// Seconds since the agent last reported (`None`: not since this server started).
    pub fn agent_report_age_secs(&self) -> Option<u64> {
        self.last_agent_report
            .lock()
            .ok()
            .and_then(|at| at.map(|t| t.elapsed().as_secs()))
    }
}

/// How far a signed node request's clock may be off.
pub const NODE_SIGNATURE_MAX_SKEW_MS: i64 = 60_000;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    pub home: Home,
    pub node_id: String,
    pub node_id_header: HeaderValue,
    pub membership: Arc<Membership>,
    /// Verifies node-to-node requests (HMAC keyed by the master key).
    pub signer: RequestSigner,
    pub replay_guard: ReplayGuard,
    /// Key-check value of this node's master key (reported to `arcactl ha check`).
    pub master_key_check: String,
    pub settings: Settings,
    pub db: Db,
    /// Repository and item metadata read without a database round trip (`docs/cache.md`).
    pub meta: crate::meta_cache::MetaCache,
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub auth_cache: AuthCache,
    /// Where every password hash and check runs (`crate::http::hash_pool::HashPool`).
    pub hash_pool: crate::http::hash_pool::HashPool,
    pub grants: GrantsCache,
    pub license: LicenseGate,
    /// UI sessions of the `local` provider (`arca.map.provider.type=local`).
    pub local_sessions: crate::sessions::LocalSessions,
    /// Seals and opens secrets stored in the database (remote repositories' passwords).
    pub secrets: arca_crypto::master_key::SecretBox,
    /// Remote and virtual repositories: upstream clients, downloads in flight on this node,
    /// merged metadata.
    pub remotes: crate::remote::remotes::Remotes,
    /// Downloads counted on this node, written in batches.
    pub downloads: Arc<crate::http::download_stats::DownloadCounter>,
    /// The background scrubber of this node's stored copies (started by `app.rs`).
    pub scrub: crate::scrub::Scrubber,
    /// Files `arca-config-sync` changed since this server started (read at start only).
    restart_required: Mutex<std::collections::BTreeSet<String>>,
    /// Notified when the config sync asks for an automatic restart.
    pub restart_requested: tokio::sync::Notify,
    draining: AtomicBool,
}

impl AppState {
    /// Tell `arca-storage-mover` that the eventual queue has a new entry (best effort, in the
    /// background: a deploy never waits for the mover, which also scans on its own).
    pub fn wake_mover(&self) {
        if self.storage.eventual().is_none() {
            return;
        }
        let socket = self.home.mover_socket();
        tokio::spawn(async move {
            if let Err(e) = arca_storage::mover_proto::wake(&socket).await {
                tracing::debug!(error = %e, "could not wake arca-storage-mover (it polls anyway)");
            }
        });
    }

    pub fn new(
        home: Home,
        membership: Arc<Membership>,
        settings: Settings,
        db: Db,
        storage: Storage,
        clock: Arc<dyn Clock>,
        master_key: &MasterKey,
    ) -> Self {
        let node_id = membership.node_id().to_string();
        let node_id_header =
            HeaderValue::from_str(&node_id).unwrap_or_else(|_| HeaderValue::from_static("arca"));
        let auth_cache = AuthCache::new(settings.auth_cache_ttl);
        let hash_pool =
            crate::http::hash_pool::HashPool::for_this_machine(settings.password_check_queue);
        let required_license = membership.identity().is_ha();
        if settings.node_signature_v1 {
            tracing::warn!(
                "arca.node.signature.v1=true: node-to-node calls also carry, and this node also \
                 accepts, v1 signatures, which bind neither the body nor the receiving node; \
                 remove the setting once every node runs this version"
            );
        }
        let remotes_owner = node_id.clone();
        AppState {
            home,
            node_id,
            node_id_header,
            membership,
            signer: RequestSigner::new(master_key.bytes())
                .with_v1_compat(settings.node_signature_v1),
            replay_guard: ReplayGuard::new(2 * NODE_SIGNATURE_MAX_SKEW_MS, 100_000),
            master_key_check: arca_crypto::master_key::key_check_value(master_key.bytes()),
            settings,
            meta: crate::meta_cache::MetaCache::new(db.clone()),
            db,
            storage,
            clock,
            auth_cache,
            hash_pool,
            grants: GrantsCache::default(),
            license: LicenseGate::new(required_license),
            local_sessions: crate::sessions::LocalSessions::new(),
            secrets: arca_crypto::master_key::SecretBox::new(master_key.bytes()),
            remotes: crate::remote::remotes::Remotes::new(&remotes_owner),
            downloads: Arc::default(),
            scrub: crate::scrub::Scrubber::default(),
            restart_required: Mutex::new(std::collections::BTreeSet::new()),
            restart_requested: tokio::sync::Notify::new(),
            draining: AtomicBool::new(false),
        }
    }

    /// Read the license this node holds from the registry (the agent's reports arrive sooner;
    /// this makes a restarted server or agent converge).
    pub async fn refresh_license(&self) -> Result<(), arca_db::DbError> {
        if !self.license.required() {
            return Ok(());
        }
        let id = self.node_id.clone();
        let row = self
            .db
            .read(move |c| arca_db::licenses::license_of(c, &id))
            .await?;
        self.license.set(
            row.as_ref().map(HeldLicense::from),
            "registry",
            &self.node_id,
        );
        Ok(())
    }

    /// `arca-config-sync` changed `files` of this node, which the server reads at start only:
    /// remember (journal, `/api/system/ha/self`), and restart when `restart`.
    pub fn config_changed(&self, files: &[String], restart: bool) {
        if files.is_empty() {
            return;
        }
        if let Ok(mut pending) = self.restart_required.lock() {
            pending.extend(files.iter().cloned());
        }
        let list = files.join(", ");
        if restart {
            tracing::warn!(
                arca_node_id = %self.node_id,
                "configuration changed by arca-config-sync ({list}): restarting to apply it \
                 (arca.config.sync.restart=true)"
            );
            self.restart_requested.notify_one();
        } else {
            tracing::warn!(
                arca_node_id = %self.node_id,
                "RESTART REQUIRED: arca-config-sync changed {list}, read at start only; restart \
                 arca-server on this node to apply it (systemctl restart arca-server)"
            );
        }
    }

    /// Read `system.properties` again for the settings applied without a restart
    /// (`arca.url.base`) when `files` names it: the config sync wrote the config owner's new
    /// copy here. An invalid value is logged and the one in effect kept.
    pub fn reload_live_settings(&self, files: &[String]) {
        if !files.iter().any(|f| f == "system.properties") {
            return;
        }
        let value = arca_config::SystemProperties::load(&self.home).and_then(|p| p.url_base());
        match value {
            Ok(value) => self.apply_url_base(value, "arca-config-sync"),
            Err(e) => tracing::warn!(
                arca_node_id = %self.node_id,
                "system.properties changed but its arca.url.base is not applied: {e}"
            ),
        }
    }

    /// Apply a new `arca.url.base` (`source`: who changed it, for the journal).
    pub fn apply_url_base(&self, value: Option<String>, source: &str) {
        let shown = value.clone().unwrap_or_else(|| "(unset)".to_string());
        if self.settings.url_base.set(value) {
            tracing::info!(
                arca_node_id = %self.node_id,
                "arca.url.base is now {shown} ({source}); applied without a restart"
            );
        }
    }

    /// The files changed since start (empty: nothing waits for a restart).
    pub fn restart_required_for(&self) -> Vec<String> {
        self.restart_required
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Reload the grants when the cluster's security version moved (or on first use); a change
    /// also empties the authentication cache (groups, admin flags, disabled users, tokens).
    pub async fn refresh_security(&self) -> Result<(), arca_db::DbError> {
        let version = self.db.read(arca_db::permissions::security_version).await?;
        if self.grants.loaded.load(Ordering::SeqCst)
            && self.grants.version.load(Ordering::SeqCst) == version
        {
            return Ok(());
        }
        let grants = self.db.read(arca_db::permissions::load_grants).await?;
        if let Ok(mut g) = self.grants.grants.write() {
            *g = Arc::new(grants);
        }
        self.grants.version.store(version, Ordering::SeqCst);
        self.grants.loaded.store(true, Ordering::SeqCst);
        self.auth_cache.clear();
        Ok(())
    }

    /// The current grants (loaded at start, refreshed by the security poller).
    pub fn grants(&self) -> Arc<Grants> {
        self.grants.current()
    }

    /// The current grants with the security version they were read at.
    pub fn grants_snapshot(&self) -> (Arc<Grants>, i64) {
        self.grants.snapshot()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Has an operator drained this node (`arcactl node drain`)?
    pub fn drain_requested(&self) -> bool {
        self.home.drain_flag().exists()
    }
}

pub type App = Arc<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_cache_honours_ttl_and_token_expiry() {
        let cache = AuthCache::new(Duration::from_secs(300));
        let user = Principal::User {
            name: "u".into(),
            admin: false,
            groups: vec![],
            user_grants: true,
        };
        cache.put(0, b"Basic a", user.clone(), 1_000, None);
        assert_eq!(cache.get(b"Basic a", 1_000 + 299_999), Some(user.clone()));
        assert_eq!(cache.get(b"Basic a", 1_000 + 300_000), None);
        assert_eq!(cache.get(b"Basic b", 1_000), None);
        cache.put(0, b"Bearer t", user.clone(), 1_000, Some(5_000));
        assert_eq!(cache.get(b"Bearer t", 4_999), Some(user.clone()));
        assert_eq!(cache.get(b"Bearer t", 5_000), None, "token expired");
        cache.clear();
        assert_eq!(cache.get(b"Basic a", 1_001), None);
        // a check that began before a clear is not remembered after it
        let before = cache.generation();
        cache.clear();
        cache.put(before, b"Basic a", user.clone(), 1_000, None);
        assert_eq!(cache.get(b"Basic a", 1_001), None);
        cache.put(cache.generation(), b"Basic a", user, 1_000, None);
        assert!(cache.get(b"Basic a", 1_001).is_some());
        let off = AuthCache::new(Duration::ZERO);
        off.put(0, b"x", Principal::Anonymous, 0, None);
        assert_eq!(off.get(b"x", 0), None);
    }
}
