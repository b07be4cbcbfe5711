//! Repository configurations.

use crate::sql::ToValue;
use crate::{Conn, DbError, Repo, args};

crate::sql::row_mapping!(pub(crate) const COLUMNS, fn from_row, pub(crate) fn from_row_at -> Repo {
    key, rclass, package_type, description, notes, includes_pattern, excludes_pattern,
    handle_releases, handle_snapshots, anonymous_read, created, content_inline, quota_bytes, settings
});

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

/// The columns a repository's settings change (all but `key` and `created`).
const SETTINGS: [&str; 12] = [
    "rclass",
    "package_type",
    "description",
    "notes",
    "includes_pattern",
    "excludes_pattern",
    "handle_releases",
    "handle_snapshots",
    "anonymous_read",
    "content_inline",
    "quota_bytes",
    "settings",
];

/// `head` followed by the values of [`SETTINGS`] for `repo`.
fn params_with_settings<'a>(
    head: &[&'a dyn ToValue],
    repo: &'a Repo,
    quota: &'a i64,
    extra: &'a dyn ToValue,
) -> Vec<&'a dyn ToValue> {
    let settings: [&dyn ToValue; 12] = [
        &repo.rclass,
        &repo.package_type,
        &repo.description,
        &repo.notes,
        &repo.includes_pattern,
        &repo.excludes_pattern,
        &repo.handle_releases,
        &repo.handle_snapshots,
        &repo.anonymous_read,
        &repo.content_inline,
        quota,
        extra,
    ];
    head.iter().copied().chain(settings).collect()
}

/// The placeholders of [`SETTINGS`] when they follow `head` values.
fn settings_placeholders(head: usize) -> impl Iterator<Item = String> {
    (0..SETTINGS.len()).map(move |i| format!("?{}", head + i + 1))
}

/// Create a repository; `Conflict` if the key is taken.
pub fn insert(conn: &Conn<'_>, repo: &Repo) -> Result<(), DbError> {
    if get(conn, &repo.key)?.is_some() {
        return Err(DbError::Conflict(format!(
            "Repository {} already exists",
            repo.key
        )));
    }
    let sql = format!(
        "INSERT INTO repos (key, created, {}) VALUES (?1, ?2, {})",
        SETTINGS.join(", "),
        settings_placeholders(2).collect::<Vec<_>>().join(", ")
    );
    let (quota, extra) = (quota_param(repo), repo.settings.to_json());
    conn.execute(
        &sql,
        &params_with_settings(&[&repo.key, &repo.created], repo, &quota, &extra),
    )?;
    Ok(())
}

/// Replace a repository's settings (the key and creation time stay).
pub fn update(conn: &Conn<'_>, repo: &Repo) -> Result<(), DbError> {
    let assignments: Vec<String> = SETTINGS
        .iter()
        .zip(settings_placeholders(1))
        .map(|(column, placeholder)| format!("{column}={placeholder}"))
        .collect();
    let sql = format!("UPDATE repos SET {} WHERE key=?1", assignments.join(", "));
    let (quota, extra) = (quota_param(repo), repo.settings.to_json());
    let n = conn.execute(
        &sql,
        &params_with_settings(&[&repo.key], repo, &quota, &extra),
    )?;
    if n == 0 {
        return Err(DbError::NotFound(format!(
            "Repository {} does not exist",
            repo.key
        )));
    }
    Ok(())
}

/// Delete a repository and every item in it, and take it out of the virtual repositories
/// that aggregate it (their default deployment repository too). Returns false if it did not
/// exist. The binaries stay until garbage collection finds them unreferenced.
pub fn delete(conn: &Conn<'_>, key: &str) -> Result<bool, DbError> {
    conn.execute("DELETE FROM items WHERE repo = ?1", args![key])?;
    crate::remote::forget_repo(conn, key)?;
    let existed = conn.execute("DELETE FROM repos WHERE key = ?1", args![key])? > 0;
    for mut aggregate in list(conn)?
        .into_iter()
        .filter(|r| r.is_virtual() && r.settings.repositories.iter().any(|member| member == key))
    {
        aggregate
            .settings
            .repositories
            .retain(|member| member != key);
        if aggregate.settings.default_deployment_repo == key {
            aggregate.settings.default_deployment_repo.clear();
        }
        update(conn, &aggregate)?;
    }
    Ok(existed)
}
