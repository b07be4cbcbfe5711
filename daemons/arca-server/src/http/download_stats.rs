//! Download statistics (`/api/storage/{repo}/{path}?stats`): each node counts its downloads in
//! memory and adds them to the database in one transaction every [`FLUSH_EVERY`] (and when it
//! stops), so a GET never waits for a write. What a node has not flushed yet is added to the
//! stored figures when it answers `?stats` itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arca_db::Db;
use arca_db::builds::{self, DownloadStats};

/// How often counted downloads are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Downloads counted on this node and not written yet, by item id.
#[derive(Debug, Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<i64, DownloadStats>>,
}

impl DownloadCounter {
    /// One download of item `item_id` at `at` (ms) by `by`.
    pub fn record(&self, item_id: i64, at: i64, by: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            let entry = pending.entry(item_id).or_default();
            entry.downloads += 1;
            if at >= entry.last_downloaded {
                entry.last_downloaded = at;
                if entry.last_by != by {
                    entry.last_by = by.to_string();
                }
            }
        }
    }

    /// `stored` plus what this node counted since its last flush.
    pub fn with_pending(&self, item_id: i64, mut stored: DownloadStats) -> DownloadStats {
        if let Ok(pending) = self.pending.lock()
            && let Some(p) = pending.get(&item_id)
        {
            stored.downloads += p.downloads;
            if p.last_downloaded >= stored.last_downloaded {
                stored.last_downloaded = p.last_downloaded;
                stored.last_by = p.last_by.clone();
            }
        }
        stored
    }

    /// Write what was counted, in one transaction; on failure it is counted again for the
    /// next flush. Returns how many items were written.
    pub async fn flush(&self, db: &Db) -> Result<usize, arca_db::DbError> {
        let batch: HashMap<i64, DownloadStats> = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = batch.len();
        let rows: Vec<(i64, DownloadStats)> = batch.iter().map(|(k, v)| (*k, v.clone())).collect();
        let result = db
            .write(move |tx| {
                for (id, s) in &rows {
                    builds::add_downloads(tx, *id, s.downloads, s.last_downloaded, &s.last_by)?;
                }
                Ok::<_, arca_db::DbError>(())
            })
            .await;
        if let Err(e) = result {
            if let Ok(mut pending) = self.pending.lock() {
                for (id, s) in batch {
                    let entry = pending.entry(id).or_default();
                    entry.downloads += s.downloads;
                    if s.last_downloaded >= entry.last_downloaded {
                        entry.last_downloaded = s.last_downloaded;
                        entry.last_by = s.last_by;
                    }
                }
            }
            return Err(e);
        }
        Ok(written)
    }
}

/// Flush every [`FLUSH_EVERY`] until aborted.
pub fn spawn_flush(counter: Arc<DownloadCounter>, db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = counter.flush(&db).await {
                tracing::warn!("writing download statistics (kept for the next try): {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_downloads_add_to_the_stored_ones() {
        let c = DownloadCounter::default();
        c.record(7, 100, "a");
        c.record(7, 50, "b");
        c.record(8, 10, "c");
        let stored = DownloadStats {
            downloads: 3,
            last_downloaded: 90,
            last_by: "z".into(),
        };
        let s = c.with_pending(7, stored.clone());
        assert_eq!(
            (s.downloads, s.last_downloaded, s.last_by.as_str()),
            (5, 100, "a")
        );
        assert_eq!(c.with_pending(9, stored.clone()), stored);
    }
}
