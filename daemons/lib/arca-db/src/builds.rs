//! Build-info documents (`/api/build`), stored as uploaded and found by name and number, and
//! download statistics of items.

use crate::{Conn, DbError, args};

/// A stored build: its name, number, start (epoch ms) and the document as uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub name: String,
    pub number: String,
    pub started: i64,
    pub info: String,
}

/// Store (or replace) a build. Returns whether it is new.
pub fn put(conn: &Conn<'_>, build: &Build, user: &str, now_ms: i64) -> Result<bool, DbError> {
    let removed = conn.execute(
        "DELETE FROM builds WHERE name = ?1 AND number = ?2",
        args![build.name, build.number],
    )?;
    conn.execute(
        "INSERT INTO builds (name, number, started, info, created, created_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            build.name,
            build.number,
            build.started,
            build.info,
            now_ms,
            user
        ],
    )?;
    Ok(removed == 0)
}

/// Every build name and its latest start.
pub fn names(conn: &Conn<'_>) -> Result<Vec<(String, i64)>, DbError> {
    conn.query_map(
        "SELECT name, MAX(started) FROM builds GROUP BY name ORDER BY name",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The numbers of build `name` and their starts, newest first.
pub fn numbers(conn: &Conn<'_>, name: &str) -> Result<Vec<(String, i64)>, DbError> {
    conn.query_map(
        "SELECT number, started FROM builds WHERE name = ?1 ORDER BY started DESC, number DESC",
        args![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// One build.
pub fn get(conn: &Conn<'_>, name: &str, number: &str) -> Result<Option<Build>, DbError> {
    conn.query_opt(
        "SELECT name, number, started, info FROM builds WHERE name = ?1 AND number = ?2",
        args![name, number],
        |r| {
            Ok(Build {
                name: r.get(0)?,
                number: r.get(1)?,
                started: r.get(2)?,
                info: r.get(3)?,
            })
        },
    )
}

/// Delete builds `numbers` of `name` (every one when `numbers` is empty); returns the numbers
/// deleted.
pub fn delete(conn: &Conn<'_>, name: &str, numbers: &[String]) -> Result<Vec<String>, DbError> {
    let existing: Vec<String> = crate::builds::numbers(conn, name)?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| numbers.is_empty() || numbers.contains(n))
        .collect();
    for n in &existing {
        conn.execute(
            "DELETE FROM builds WHERE name = ?1 AND number = ?2",
            args![name, n],
        )?;
    }
    Ok(existing)
}

/// Items (files) whose binary has SHA-1 `sha1` (lower-case hex): their ids, repos and paths.
pub fn files_with_sha1(conn: &Conn<'_>, sha1: &str) -> Result<Vec<(i64, String, String)>, DbError> {
    conn.query_map(
        "SELECT i.id, i.repo, i.path FROM items i JOIN binaries b ON b.sha256 = i.sha256 \
         WHERE b.sha1 = ?1 AND i.folder = 0 ORDER BY i.repo, i.path LIMIT 1000",
        args![sha1],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Download statistics of an item: count, last time (ms), last user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownloadStats {
    pub downloads: i64,
    pub last_downloaded: i64,
    pub last_by: String,
}

/// Add `count` downloads of item `item_id`, the last at `at` by `by` (a batch of one node).
/// Items deleted meanwhile are skipped.
pub fn add_downloads(
    conn: &Conn<'_>,
    item_id: i64,
    count: i64,
    at: i64,
    by: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO download_stats (item_id, downloads, last_downloaded, last_by) \
         SELECT id, ?2, ?3, ?4 FROM items WHERE id = ?1 \
         ON CONFLICT (item_id) DO UPDATE SET downloads = download_stats.downloads + ?2, \
         last_downloaded = CASE WHEN ?3 >= download_stats.last_downloaded THEN ?3 \
         ELSE download_stats.last_downloaded END, \
         last_by = CASE WHEN ?3 >= download_stats.last_downloaded THEN ?4 \
         ELSE download_stats.last_by END",
        args![item_id, count, at, by],
    )?;
    Ok(())
}

/// The download statistics of an item (zeros when never downloaded).
pub fn download_stats(conn: &Conn<'_>, item_id: i64) -> Result<DownloadStats, DbError> {
    Ok(conn
        .query_opt(
            "SELECT downloads, last_downloaded, last_by FROM download_stats WHERE item_id = ?1",
            args![item_id],
            |r| {
                Ok(DownloadStats {
                    downloads: r.get(0)?,
                    last_downloaded: r.get(1)?,
                    last_by: r.get(2)?,
                })
            },
        )?
        .unwrap_or_default())
}
