//! The `local` session provider (`arca.map.provider.type=local`, the reference's `jvm`): UI
//! sessions in this node's memory. Another node does not know them (the load balancer must
//! keep a client on one node), and a restart ends them all. The rules are those of the `db`
//! provider (`arca_db::sessions`): keyed by the SHA-256 of the id, an idle expiry pushed
//! forward by use (never past the absolute expiry) and an absolute expiry fixed at login.
//! Ended sessions are swept on access, at most once a minute. Each session also keeps a stamp
//! of its user's credentials at login (a digest of the password hash), so that a password
//! change ends it as it ends the `db` provider's sessions (`arca_db::security::update_user`).

use std::collections::HashMap;
use std::sync::Mutex;

use arca_db::sessions::Session;

/// How often (at most) an access sweeps the ended sessions out.
const SWEEP_EVERY_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub struct LocalSessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// id hash → (session, credential stamp)
    by_hash: HashMap<String, (Session, String)>,
    last_sweep_ms: i64,
}

impl Inner {
    fn sweep(&mut self, now_ms: i64) {
        if now_ms - self.last_sweep_ms >= SWEEP_EVERY_MS {
            self.by_hash.retain(|_, (s, _)| !s.is_expired(now_ms));
            self.last_sweep_ms = now_ms;
        }
    }
}

impl LocalSessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `session`; `stamp`: its user's credential stamp at login.
    pub fn insert(&self, session: Session, stamp: String) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.sweep(session.created);
            inner
                .by_hash
                .insert(session.id_hash.clone(), (session, stamp));
        }
    }

    /// The live session `id_hash` at `now_ms`, after recording the use (`last_access = now`,
    /// idle expiry `now + idle_ms`, never past the absolute expiry). An ended session is
    /// removed and `None` returned. Also returns the credential stamp.
    pub fn use_session(
        &self,
        id_hash: &str,
        now_ms: i64,
        idle_ms: i64,
    ) -> Option<(Session, String)> {
        let mut inner = self.inner.lock().ok()?;
        inner.sweep(now_ms);
        let (s, stamp) = inner.by_hash.get_mut(id_hash)?;
        if s.is_expired(now_ms) {
            inner.by_hash.remove(id_hash);
            return None;
        }
        s.last_access = now_ms;
        s.idle_expires = now_ms.saturating_add(idle_ms).min(s.absolute_expires);
        Some((s.clone(), stamp.clone()))
    }

    /// Give session `id_hash` a new credential stamp (its own user changed the password
    /// through it: it stays valid, the user's other sessions end).
    pub fn restamp(&self, id_hash: &str, stamp: String) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some((_, old)) = inner.by_hash.get_mut(id_hash)
        {
            *old = stamp;
        }
    }

    pub fn remove(&self, id_hash: &str) -> bool {
        self.inner
            .lock()
            .is_ok_and(|mut inner| inner.by_hash.remove(id_hash).is_some())
    }

    /// Sessions held (ended but not yet swept ones included).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.by_hash.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(hash: &str, now: i64, idle: i64, absolute: i64) -> Session {
        Session {
            id_hash: hash.into(),
            user_name: "u".into(),
            node_id: "n".into(),
            created: now,
            last_access: now,
            idle_expires: now + idle,
            absolute_expires: now + absolute,
        }
    }

    #[test]
    fn use_pushes_the_idle_expiry_but_never_past_the_absolute_one() {
        let store = LocalSessions::new();
        store.insert(session("h", 1_000, 100, 350), "st".into());
        assert!(store.use_session("h", 1_090, 100).is_some());
        let (s, stamp) = store.use_session("h", 1_180, 100).unwrap();
        assert_eq!(s.idle_expires, 1_280);
        assert_eq!(stamp, "st");
        let (s, _) = store.use_session("h", 1_270, 100).unwrap();
        assert_eq!(s.idle_expires, 1_350, "capped at the absolute expiry");
        assert!(store.use_session("h", 1_350, 100).is_none(), "absolute");
        assert!(store.is_empty(), "an ended session is removed");
        store.insert(session("i", 2_000, 100, 1_000), String::new());
        assert!(store.use_session("i", 2_100, 100).is_none(), "idle");
        assert!(store.use_session("unknown", 2_100, 100).is_none());
    }

    #[test]
    fn remove_ends_and_sweep_drops_ended_sessions() {
        let store = LocalSessions::new();
        store.insert(session("a", 1_000, 100, 1_000), String::new());
        store.insert(session("b", 1_000, 100_000, 1_000_000), String::new());
        assert!(store.remove("a"));
        assert!(!store.remove("a"));
        store.insert(session("c", 1_000, 100, 1_000), String::new());
        assert_eq!(store.len(), 2);
        // a minute later any access sweeps "c" (idle) out
        assert!(
            store
                .use_session("b", 1_000 + SWEEP_EVERY_MS, 100_000)
                .is_some()
        );
        assert_eq!(store.len(), 1);
    }
}
