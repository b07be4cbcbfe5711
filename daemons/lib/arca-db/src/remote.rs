//! The shared state of remote repositories: who is fetching a path from the upstream right
//! now (one download per path for the whole cluster), the paths the upstream did not have
//! (the negative cache), and upstreams assumed offline after a failure. Every node reads and
//! writes the same rows, so a miss or an outage seen by one node is honoured by all.

use crate::{Conn, DbError, args};

/// The answer to "may I fetch this path from the upstream?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchClaim {
    /// The caller holds the claim: it fetches, then releases (or stores and releases).
    Won,
    /// Someone else is fetching it (its claim is fresh): wait for the item to appear.
    HeldBy { owner: String },
}

/// Claim the fetch of `repo/path` for `owner` (a node and process), unless another owner
/// holds a claim whose heartbeat is not older than `stale_before`. Run inside a write
/// transaction (writers are serialised cluster-wide, so two owners can't both win).
pub fn claim_fetch(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    owner: &str,
    now: i64,
    stale_before: i64,
) -> Result<FetchClaim, DbError> {
    if let Some((holder, heartbeat)) = fetch_holder(conn, repo, path)?
        && holder != owner
        && heartbeat >= stale_before
    {
        return Ok(FetchClaim::HeldBy { owner: holder });
    }
    conn.execute(
        "INSERT INTO remote_fetches (repo, path, owner, started, heartbeat) \
         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(repo, path) DO UPDATE SET \
         owner = excluded.owner, started = excluded.started, heartbeat = excluded.heartbeat",
        args![repo, path, owner, now],
    )?;
    Ok(FetchClaim::Won)
}

/// Who holds the fetch claim of `repo/path`, and its last heartbeat.
pub fn fetch_holder(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
) -> Result<Option<(String, i64)>, DbError> {
    conn.query_opt(
        "SELECT owner, heartbeat FROM remote_fetches WHERE repo = ?1 AND path = ?2",
        args![repo, path],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Keep `owner`'s claim fresh while its download runs. False when the claim is no longer
/// `owner`'s (it went stale and was taken over).
pub fn heartbeat_fetch(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    owner: &str,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE remote_fetches SET heartbeat = ?4 WHERE repo = ?1 AND path = ?2 AND owner = ?3",
        args![repo, path, owner, now],
    )? > 0)
}

/// Drop `owner`'s claim (done, or failed).
pub fn release_fetch(conn: &Conn<'_>, repo: &str, path: &str, owner: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM remote_fetches WHERE repo = ?1 AND path = ?2 AND owner = ?3",
        args![repo, path, owner],
    )?;
    Ok(())
}

/// Remember that the upstream does not have `repo/path`, until `until` (ms). The repository's
/// misses that ended by `now` are dropped on the way, so the table holds live misses only.
pub fn record_miss(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    until: i64,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM remote_misses WHERE repo = ?1 AND until <= ?2",
        args![repo, now],
    )?;
    conn.execute(
        "INSERT INTO remote_misses (repo, path, until) VALUES (?1, ?2, ?3) \
         ON CONFLICT(repo, path) DO UPDATE SET until = excluded.until",
        args![repo, path, until],
    )?;
    Ok(())
}

/// Until when `repo/path` is a known miss, if it is one at `now`.
pub fn miss_until(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    conn.query_opt(
        "SELECT until FROM remote_misses WHERE repo = ?1 AND path = ?2 AND until > ?3",
        args![repo, path, now],
        |r| r.get(0),
    )
}

/// Forget the misses of `repo` (all of them: its upstream or settings changed).
pub fn clear_misses(conn: &Conn<'_>, repo: &str) -> Result<usize, DbError> {
    conn.execute("DELETE FROM remote_misses WHERE repo = ?1", args![repo])
}

/// What is known about an upstream that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFailure {
    /// Not asked again before this (ms).
    pub offline_until: i64,
    /// What went wrong, as the clients are told.
    pub last_error: String,
}

/// The upstream of `repo` failed: assume it offline until `until`.
pub fn record_upstream_failure(
    conn: &Conn<'_>,
    repo: &str,
    until: i64,
    error: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO remote_upstreams (repo, offline_until, last_error, updated) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(repo) DO UPDATE SET \
         offline_until = excluded.offline_until, last_error = excluded.last_error, \
         updated = excluded.updated",
        args![repo, until, error, now],
    )?;
    Ok(())
}

/// The failure that makes `repo`'s upstream assumed offline at `now`, if any.
pub fn upstream_failure(
    conn: &Conn<'_>,
    repo: &str,
    now: i64,
) -> Result<Option<UpstreamFailure>, DbError> {
    conn.query_opt(
        "SELECT offline_until, last_error FROM remote_upstreams \
         WHERE repo = ?1 AND offline_until > ?2",
        args![repo, now],
        |r| {
            Ok(UpstreamFailure {
                offline_until: r.get(0)?,
                last_error: r.get(1)?,
            })
        },
    )
}

/// The upstream of `repo` answered: it is online.
pub fn clear_upstream_failure(conn: &Conn<'_>, repo: &str) -> Result<(), DbError> {
    conn.execute("DELETE FROM remote_upstreams WHERE repo = ?1", args![repo])?;
    Ok(())
}

/// Remove every remote-repository row of `repo` (the repository is deleted).
pub fn forget_repo(conn: &Conn<'_>, key: &str) -> Result<(), DbError> {
    for table in ["remote_fetches", "remote_misses", "remote_upstreams"] {
        conn.execute(&format!("DELETE FROM {table} WHERE repo = ?1"), args![key])?;
    }
    Ok(())
}
