//! The metadata cache's listener on PostgreSQL: the thread that follows other processes'
//! writes on [`CHANNEL`], pings itself so the cache knows it is fresh, acknowledges
//! invalidations, and reloads the security state when a security write is announced
//! (docs/cache.md). Apart from `meta_cache.rs` because it works on the whole [`App`].

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arca_db::DbError;
use arca_db::cache_notify::{CHANNEL, Message};

use crate::meta_cache::{ClusterState, PING_EVERY, Watch};
use crate::state::App;

/// Start following other processes' writes: on PostgreSQL a thread listening to [`CHANNEL`]
/// (and the writers' wait for other nodes); on SQLite the probe needs no thread.
pub fn start(app: &App) {
    match &app.meta.watch {
        Watch::Postgres(cluster) => {
            app.db.write_events().set_after_commit(cluster.clone());
            let (app, cluster) = (app.clone(), cluster.clone());
            let handle = tokio::runtime::Handle::current();
            let spawned = std::thread::Builder::new()
                .name("arca-meta-listen".into())
                .spawn(move || listen(&app, &cluster, &handle));
            if let Err(e) = spawned {
                tracing::warn!("metadata cache off: cannot start its listener thread: {e}");
            }
        }
        Watch::Sqlite(_) => {
            tracing::info!("metadata cache on (SQLite commits watched)");
        }
        Watch::Off => {}
    }
}

/// The listening thread: reconnects after errors; while disconnected the cache is not used.
fn listen(app: &App, cluster: &ClusterState, handle: &tokio::runtime::Handle) {
    let mut failing = false;
    loop {
        match app.db.listener(CHANNEL) {
            Ok(Some(listener)) => {
                if failing {
                    tracing::info!("metadata cache: listening on {CHANNEL} again");
                    failing = false;
                }
                let ended = session(app, cluster, listener, handle);
                cluster.listening.store(false, Ordering::SeqCst);
                app.meta.invalidate();
                if let Err(e) = ended {
                    tracing::warn!(
                        "metadata cache off: its notifications were interrupted: {e}; \
                         reconnecting"
                    );
                    failing = true;
                }
            }
            Ok(None) => return,
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        "metadata cache off: cannot listen on {CHANNEL}: {e}; retrying every \
                         second"
                    );
                    failing = true;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One listening connection's life.
fn session(
    app: &App,
    cluster: &ClusterState,
    mut listener: arca_db::Listener,
    handle: &tokio::runtime::Handle,
) -> Result<(), DbError> {
    // Notifications committed before the LISTEN are lost: forget what they may have changed.
    app.meta.invalidate();
    cluster.connected();
    let me = cluster.origin.clone();
    let mut sent: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut n = 0u64;
    let mut next_ping = Instant::now();
    let mut announced = false;
    loop {
        let now = Instant::now();
        if now >= next_ping {
            n += 1;
            // Noted before it is sent: it commits after this instant.
            sent.push_back((n, now));
            if sent.len() > 64 {
                sent.pop_front();
            }
            let ping = Message::Ping {
                origin: me.clone(),
                n,
            };
            listener.notify(CHANNEL, &ping.payload())?;
            next_ping = now + PING_EVERY;
        }
        let payloads = listener.wait(next_ping.saturating_duration_since(Instant::now()))?;
        for payload in payloads {
            match Message::parse(&payload) {
                Some(Message::Write { origin, seq }) if origin != me => {
                    app.meta.invalidate();
                    let ack = Message::Ack {
                        writer: origin,
                        seq,
                        from: me.clone(),
                    };
                    listener.notify(CHANNEL, &ack.payload())?;
                }
                Some(Message::Security) => {
                    // Before the transaction's write is acknowledged (it follows in order).
                    app.auth_cache.clear();
                    if let Err(e) = handle.block_on(app.refresh_security()) {
                        tracing::warn!("reloading the grants after a security change: {e}");
                    }
                }
                Some(Message::Ping { origin, n }) if origin == me => {
                    if let Some((_, at)) = sent.iter().find(|(m, _)| *m == n) {
                        cluster.ping_returned(*at);
                    }
                }
                Some(Message::Ping { origin, .. }) => cluster.saw_peer(origin),
                Some(Message::Ack { writer, seq, from }) if writer == me => {
                    cluster.acked(seq, from);
                }
                _ => {}
            }
        }
        if !announced && cluster.serving() {
            announced = true;
            tracing::info!("metadata cache serving (listening on {CHANNEL})");
        }
    }
}
