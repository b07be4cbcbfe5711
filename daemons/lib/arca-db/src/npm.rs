//! npm packages: each published version's manifest (the `package.json` of the version as the
//! registry serves it) in a row beside its tarball item, and the packages' dist-tags.
//!
//! A packument is assembled from these rows when it is read; a publish inserts one row in the
//! transaction that stores its tarball, so concurrent publishes of different versions on
//! different nodes never lose one, and a second publish of a version finds the first's row. A
//! version's row goes with its tarball item (`ON DELETE CASCADE`): deleting the tarball through
//! any API unpublishes the version.

use crate::{Conn, DbError, args};

/// One published version of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    /// The version's manifest as JSON text (as the registry serves it, without `dist.tarball`).
    pub manifest: String,
    /// Publish time, epoch ms.
    pub published: i64,
    /// The tarball item.
    pub item_id: i64,
}

/// A package of a repository, for searches: its name and the manifest of its `latest` version
/// (else of its newest publish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    pub package: String,
    pub version: String,
    pub manifest: String,
    pub published: i64,
}

/// The versions of `package` in `repo` whose tarball is still there, oldest publish first.
pub fn versions(conn: &Conn<'_>, repo: &str, package: &str) -> Result<Vec<Version>, DbError> {
    conn.query_map(
        "SELECT v.version, v.manifest, v.published, v.item_id FROM npm_versions v \
         JOIN items i ON i.id = v.item_id AND i.repo = v.repo \
         WHERE v.repo = ?1 AND v.package = ?2 ORDER BY v.published, v.version",
        args![repo, package],
        |r| {
            Ok(Version {
                version: r.get(0)?,
                manifest: r.get(1)?,
                published: r.get(2)?,
                item_id: r.get(3)?,
            })
        },
    )
}

/// Whether `version` of `package` is published in `repo`.
pub fn version_exists(
    conn: &Conn<'_>,
    repo: &str,
    package: &str,
    version: &str,
) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM npm_versions WHERE repo = ?1 AND package = ?2 AND version = ?3",
            args![repo, package, version],
            |r| r.get::<i64>(0),
        )?
        .is_some())
}

/// Record `version` of `package`, whose tarball is the item `item_id`. Fails with a unique
/// violation when the version exists (callers check [`version_exists`] in the same transaction).
pub fn insert_version(
    conn: &Conn<'_>,
    repo: &str,
    package: &str,
    version: &Version,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO npm_versions (item_id, repo, package, version, manifest, published) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            version.item_id,
            repo,
            package,
            version.version,
            version.manifest,
            version.published
        ],
    )?;
    Ok(())
}

/// Replace the manifest of a published version (deprecation); false if there is no such version.
pub fn update_manifest(
    conn: &Conn<'_>,
    repo: &str,
    package: &str,
    version: &str,
    manifest: &str,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE npm_versions SET manifest = ?4 WHERE repo = ?1 AND package = ?2 AND version = ?3",
        args![repo, package, version, manifest],
    )? > 0)
}

/// The dist-tags of `package` (tag → version), by tag.
pub fn tags(conn: &Conn<'_>, repo: &str, package: &str) -> Result<Vec<(String, String)>, DbError> {
    conn.query_map(
        "SELECT tag, version FROM npm_tags WHERE repo = ?1 AND package = ?2 ORDER BY tag",
        args![repo, package],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Point `tag` of `package` at `version`.
pub fn set_tag(
    conn: &Conn<'_>,
    repo: &str,
    package: &str,
    tag: &str,
    version: &str,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM npm_tags WHERE repo = ?1 AND package = ?2 AND tag = ?3",
        args![repo, package, tag],
    )?;
    conn.execute(
        "INSERT INTO npm_tags (repo, package, tag, version) VALUES (?1, ?2, ?3, ?4)",
        args![repo, package, tag, version],
    )?;
    Ok(())
}

/// Remove `tag` of `package`; false if it was not set.
pub fn delete_tag(conn: &Conn<'_>, repo: &str, package: &str, tag: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM npm_tags WHERE repo = ?1 AND package = ?2 AND tag = ?3",
        args![repo, package, tag],
    )? > 0)
}

/// Remove every dist-tag of `package` (the package is gone).
pub fn delete_tags(conn: &Conn<'_>, repo: &str, package: &str) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM npm_tags WHERE repo = ?1 AND package = ?2",
        args![repo, package],
    )
}

/// Packages of `repo` whose name contains `text` (lower-case match; every package when empty),
/// and how many there are in all,
/// by name, `size` from `from`: each with the manifest of its `latest` tag's version, else of
/// its newest publish.
pub fn search(
    conn: &Conn<'_>,
    repo: &str,
    text: &str,
    from: i64,
    size: i64,
) -> Result<(Vec<PackageSummary>, i64), DbError> {
    // `*` and `?` in the text are wildcards, like in the other searches
    let pattern = format!("%{}%", crate::sql::like_pattern(&text.to_lowercase()));
    let total: i64 = conn.query_one(
        "SELECT COUNT(DISTINCT v.package) FROM npm_versions v \
         JOIN items i ON i.id = v.item_id AND i.repo = v.repo \
         WHERE v.repo = ?1 AND LOWER(v.package) LIKE ?2 ESCAPE '\\'",
        args![repo, pattern],
        |r| r.get(0),
    )?;
    let names: Vec<String> = conn.query_map(
        "SELECT DISTINCT v.package FROM npm_versions v \
         JOIN items i ON i.id = v.item_id AND i.repo = v.repo \
         WHERE v.repo = ?1 AND LOWER(v.package) LIKE ?2 ESCAPE '\\' \
         ORDER BY v.package LIMIT ?3 OFFSET ?4",
        args![repo, pattern, size, from],
        |r| r.get(0),
    )?;
    let mut found = Vec::with_capacity(names.len());
    for package in names {
        let latest: Option<String> = conn.query_opt(
            "SELECT version FROM npm_tags WHERE repo = ?1 AND package = ?2 AND tag = 'latest'",
            args![repo, package],
            |r| r.get(0),
        )?;
        let versions = versions(conn, repo, &package)?;
        let chosen = latest
            .and_then(|l| versions.iter().find(|v| v.version == l))
            .or_else(|| versions.iter().max_by_key(|v| v.published));
        if let Some(v) = chosen {
            found.push(PackageSummary {
                package: package.clone(),
                version: v.version.clone(),
                manifest: v.manifest.clone(),
                published: v.published,
            });
        }
    }
    Ok((found, total))
}
