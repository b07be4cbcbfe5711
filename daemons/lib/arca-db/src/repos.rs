//! Repository configurations.

use crate::{Conn, DbError, Repo, Row, args};

const COLUMNS: &str = "key, rclass, package_type, description, notes, includes_pattern, \
     excludes_pattern, handle_releases, handle_snapshots, anonymous_read, created, content_inline, \
     quota_bytes";

/// `COLUMNS` qualified with the alias `r` (for joins).
pub(crate) const COLUMNS_R: &str = "r.key, r.rclass, r.package_type, r.description, r.notes, \
     r.includes_pattern, r.excludes_pattern, r.handle_releases, r.handle_snapshots, \
     r.anonymous_read, r.created, r.content_inline, r.quota_bytes";
/// How many columns `COLUMNS` selects.
pub(crate) const COLUMN_COUNT: usize = 13;

fn from_row(r: &Row<'_>) -> Result<Repo, DbError> {
    from_row_at(r, 0)
}

/// A repository from the `COLUMN_COUNT` columns starting at `base`.
pub(crate) fn from_row_at(r: &Row<'_>, base: usize) -> Result<Repo, DbError> {
    Ok(Repo {
        key: r.get(base)?,
        rclass: r.get(base + 1)?,
        package_type: r.get(base + 2)?,
        description: r.get(base + 3)?,
        notes: r.get(base + 4)?,
        includes_pattern: r.get(base + 5)?,
        excludes_pattern: r.get(base + 6)?,
        handle_releases: r.get(base + 7)?,
        handle_snapshots: r.get(base + 8)?,
        anonymous_read: r.get(base + 9)?,
        created: r.get(base + 10)?,
        content_inline: r.get(base + 11)?,
        quota_bytes: r.get(base + 12)?,
    })
}

/// The quota as stored (a 64-bit signed column; larger values mean "no practical limit").
fn quota_param(repo: &Repo) -> i64 {
    i64::try_from(repo.quota_bytes).unwrap_or(i64::MAX)
}

pub fn list(conn: &Conn<'_>) -> Result<Vec<Repo>, DbError> {
    conn.query_map(
        &format!("SELECT {COLUMNS} FROM repos ORDER BY key"),
        args![],
        from_row,
    )
}

pub fn get(conn: &Conn<'_>, key: &str) -> Result<Option<Repo>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM repos WHERE key = ?1"),
        args![key],
        from_row,
    )
}

/// Create a repository; `Conflict` if the key is taken.
pub fn insert(conn: &Conn<'_>, repo: &Repo) -> Result<(), DbError> {
    if get(conn, &repo.key)?.is_some() {
        return Err(DbError::Conflict(format!(
            "Repository {} already exists",
            repo.key
        )));
    }
    conn.execute(
        &format!(
            "INSERT INTO repos ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
        ),
        args![
            repo.key,
            repo.rclass,
            repo.package_type,
            repo.description,
            repo.notes,
            repo.includes_pattern,
            repo.excludes_pattern,
            repo.handle_releases,
            repo.handle_snapshots,
            repo.anonymous_read,
            repo.created,
            repo.content_inline,
            quota_param(repo)
        ],
    )?;
    Ok(())
}

/// Replace a repository's settings (the key and creation time stay).
pub fn update(conn: &Conn<'_>, repo: &Repo) -> Result<(), DbError> {
    let n = conn.execute(
        "UPDATE repos SET rclass=?2, package_type=?3, description=?4, notes=?5, \
         includes_pattern=?6, excludes_pattern=?7, handle_releases=?8, handle_snapshots=?9, \
         anonymous_read=?10, content_inline=?11, quota_bytes=?12 WHERE key=?1",
        args![
            repo.key,
            repo.rclass,
            repo.package_type,
            repo.description,
            repo.notes,
            repo.includes_pattern,
            repo.excludes_pattern,
            repo.handle_releases,
            repo.handle_snapshots,
            repo.anonymous_read,
            repo.content_inline,
            quota_param(repo)
        ],
    )?;
    if n == 0 {
        return Err(DbError::NotFound(format!(
            "Repository {} does not exist",
            repo.key
        )));
    }
    Ok(())
}

/// Delete a repository and every item in it. Returns false if it did not exist.
/// The binaries stay until garbage collection finds them unreferenced.
pub fn delete(conn: &Conn<'_>, key: &str) -> Result<bool, DbError> {
    conn.execute("DELETE FROM items WHERE repo = ?1", args![key])?;
    Ok(conn.execute("DELETE FROM repos WHERE key = ?1", args![key])? > 0)
}
