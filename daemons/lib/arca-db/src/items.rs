//! Files, folders, binaries and properties.
//!
//! Paths are relative to the repository root, `/`-separated, without a leading
//! or trailing slash; the root itself is `""` and has no row. Every folder on
//! the way to a file has a row, so folder info and listings have timestamps.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::{Binary, Conn, DbError, Item, NewFile, Row, args};

pub(crate) const ITEM_COLUMNS: &str = "i.id, i.repo, i.path, i.parent, i.name, i.folder, i.sha256, \
     b.sha1, b.md5, b.size, i.sha1_original, i.md5_original, i.sha256_original, \
     i.created, i.created_by, i.modified, i.modified_by, i.updated";
const ITEM_FROM: &str = "items i LEFT JOIN binaries b ON b.sha256 = i.sha256";

pub(crate) fn item_from_row(r: &Row<'_>) -> Result<Item, DbError> {
    item_from_row_at(r, 0)
}

/// An item from the `ITEM_COLUMNS` starting at column `base`.
fn item_from_row_at(r: &Row<'_>, b: usize) -> Result<Item, DbError> {
    let sha256: Option<String> = r.get(b + 6)?;
    let binary = match sha256 {
        Some(sha256) => Some(Binary {
            sha256,
            sha1: r.get(b + 7)?,
            md5: r.get(b + 8)?,
            size: r.get::<i64>(b + 9)?.max(0) as u64,
        }),
        None => None,
    };
    Ok(Item {
        id: r.get(b)?,
        repo: r.get(b + 1)?,
        path: r.get(b + 2)?,
        parent: r.get(b + 3)?,
        name: r.get(b + 4)?,
        folder: r.get(b + 5)?,
        binary,
        sha1_original: r.get(b + 10)?,
        md5_original: r.get(b + 11)?,
        sha256_original: r.get(b + 12)?,
        created: r.get(b + 13)?,
        created_by: r.get(b + 14)?,
        modified: r.get(b + 15)?,
        modified_by: r.get(b + 16)?,
        updated: r.get(b + 17)?,
    })
}

/// A repository and the item at `path` in it, in one query (one round trip on
/// PostgreSQL: the download hot path). `None` when the repository does not exist.
pub fn repo_and_item(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
) -> Result<Option<(crate::Repo, Option<Item>)>, DbError> {
    // The query, and the column where the item's start (after the repository's).
    static QUERY: LazyLock<(String, usize)> = LazyLock::new(|| {
        let repo_columns: Vec<String> = crate::repos::COLUMNS
            .split(',')
            .map(|c| format!("r.{}", c.trim()))
            .collect();
        let sql = format!(
            "SELECT {}, {ITEM_COLUMNS} FROM repos r \
             LEFT JOIN items i ON i.repo = r.key AND i.path = ?2 \
             LEFT JOIN binaries b ON b.sha256 = i.sha256 WHERE r.key = ?1",
            repo_columns.join(", ")
        );
        (sql, repo_columns.len())
    });
    let (sql, base) = (&QUERY.0, QUERY.1);
    conn.query_opt(sql, args![repo, path], |r| {
        let found = crate::repos::from_row_at(r, 0)?;
        let item = match r.get::<Option<i64>>(base)? {
            Some(_) => Some(item_from_row_at(r, base)?),
            None => None,
        };
        Ok((found, item))
    })
}

/// Split `a/b/c` into (`a/b`, `c`).
pub fn split_path(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Join a folder path and a relative path.
pub fn join_path(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{rest}"),
    }
}

/// Bounds `[lo, hi)` that select every descendant path of `path` by byte order
/// ('0' is the character after '/').
fn descendant_bounds(path: &str) -> (String, String) {
    if path.is_empty() {
        (String::new(), "\u{10FFFF}".to_string())
    } else {
        (format!("{path}/"), format!("{path}0"))
    }
}

pub fn get(conn: &Conn<'_>, repo: &str, path: &str) -> Result<Option<Item>, DbError> {
    conn.query_opt(
        &format!("SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.repo = ?1 AND i.path = ?2"),
        args![repo, path],
        item_from_row,
    )
}

/// Direct children of a folder (`""` = repository root), folders first, by name.
pub fn children(conn: &Conn<'_>, repo: &str, path: &str) -> Result<Vec<Item>, DbError> {
    conn.query_map(
        &format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.repo = ?1 AND i.parent = ?2 \
             ORDER BY i.folder DESC, i.name"
        ),
        args![repo, path],
        item_from_row,
    )
}

/// One page of a folder's direct children in [`children`]'s order (folders first, then by
/// name), optionally only those whose name matches `name` (as [`search_name`]: `*`/`?`
/// wildcards, else a substring; ASCII case ignored). `page` is `(offset, limit)`; `None` returns
/// every match. The `items_children` index holds the order, so a page of a folder with 100k
/// children reads only the index entries up to its end and joins only its own rows.
pub fn children_page(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    name: Option<&str>,
    page: Option<(u64, u64)>,
) -> Result<Vec<Item>, DbError> {
    let like = name.map(name_like);
    // i64: what both databases bind; a page past i64::MAX is empty anyway
    let window = page.map(|(offset, limit)| {
        (
            i64::try_from(limit).unwrap_or(i64::MAX),
            i64::try_from(offset).unwrap_or(i64::MAX),
        )
    });
    let mut params: Vec<&dyn crate::sql::ToValue> = vec![&repo, &path];
    let mut filter = String::new();
    if let Some(l) = &like {
        params.push(l);
        filter = format!(
            " AND LOWER(c.name) LIKE LOWER(?{}) ESCAPE '\\'",
            params.len()
        );
    }
    let mut paging = String::new();
    if let Some((limit, offset)) = &window {
        params.push(limit);
        params.push(offset);
        paging = format!(" LIMIT ?{} OFFSET ?{}", params.len() - 1, params.len());
    }
    // The page is chosen on the index alone (a covering scan of repo, parent, folder, name,
    // id), then only its rows are read and joined.
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.id IN (\
           SELECT c.id FROM items c WHERE c.repo = ?1 AND c.parent = ?2{filter} \
           ORDER BY c.folder DESC, c.name{paging}) \
         ORDER BY i.folder DESC, i.name"
    );
    conn.query_map(&sql, &params, item_from_row)
}

/// How many direct children a folder has (with `name`: whose name matches, as in
/// [`children_page`]).
pub fn count_children(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    name: Option<&str>,
) -> Result<u64, DbError> {
    let total: i64 = match name.map(name_like) {
        Some(like) => conn.query_one(
            "SELECT COUNT(*) FROM items c WHERE c.repo = ?1 AND c.parent = ?2 \
             AND LOWER(c.name) LIKE LOWER(?3) ESCAPE '\\'",
            args![repo, path, like],
            |r| r.get(0),
        )?,
        None => conn.query_one(
            "SELECT COUNT(*) FROM items c WHERE c.repo = ?1 AND c.parent = ?2",
            args![repo, path],
            |r| r.get(0),
        )?,
    };
    Ok(u64::try_from(total).unwrap_or(0))
}

/// A name pattern as LIKE pattern: `*`/`?` wildcards, else a substring.
pub(crate) fn name_like(pattern: &str) -> String {
    if pattern.contains(['*', '?']) {
        crate::sql::like_pattern(pattern)
    } else {
        format!("%{}%", crate::sql::like_pattern(pattern))
    }
}

/// Every item below `path` (not `path` itself), in path order.
pub fn descendants(conn: &Conn<'_>, repo: &str, path: &str) -> Result<Vec<Item>, DbError> {
    let (lo, hi) = descendant_bounds(path);
    conn.query_map(
        &format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.repo = ?1 AND i.path >= ?2 \
             AND i.path < ?3 AND i.path != '' ORDER BY i.path"
        ),
        args![repo, lo, hi],
        item_from_row,
    )
}

pub fn binary_by(
    conn: &Conn<'_>,
    column: ChecksumKind,
    value: &str,
) -> Result<Option<Binary>, DbError> {
    let sql = format!(
        "SELECT sha256, sha1, md5, size FROM binaries WHERE {} = ?1 LIMIT 1",
        column.column()
    );
    conn.query_opt(&sql, args![value.to_ascii_lowercase()], |r| {
        Ok(Binary {
            sha256: r.get(0)?,
            sha1: r.get(1)?,
            md5: r.get(2)?,
            size: r.get::<i64>(3)?.max(0) as u64,
        })
    })
}

/// Which checksum a lookup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    Sha256,
    Sha1,
    Md5,
}

impl ChecksumKind {
    fn column(self) -> &'static str {
        match self {
            ChecksumKind::Sha256 => "sha256",
            ChecksumKind::Sha1 => "sha1",
            ChecksumKind::Md5 => "md5",
        }
    }
}

/// Record a binary if it is not known yet. Returns whether it was new.
pub fn insert_binary(conn: &Conn<'_>, binary: &Binary, now: i64) -> Result<bool, DbError> {
    let inserted = conn.execute(
        "INSERT INTO binaries (sha256, sha1, md5, size, created) VALUES (?1,?2,?3,?4,?5) \
         ON CONFLICT(sha256) DO NOTHING",
        args![
            binary.sha256,
            binary.sha1,
            binary.md5,
            binary.size as i64,
            now
        ],
    )?;
    Ok(inserted > 0)
}

/// Create the folder `path` and every folder above it that is missing.
/// `Conflict` when a file is in the way.
pub fn ensure_folders(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    user: &str,
    now: i64,
) -> Result<(), DbError> {
    if path.is_empty() {
        return Ok(());
    }
    let mut end = 0;
    let mut prefixes: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
    prefixes.push(path);
    // Walk from the deepest folder up: usually it already exists and we stop at once.
    for (idx, prefix) in prefixes.iter().enumerate().rev() {
        match get(conn, repo, prefix)? {
            Some(item) if item.folder => {
                end = idx + 1;
                break;
            }
            Some(_) => {
                return Err(DbError::Conflict(format!(
                    "Cannot create folder {repo}/{path}: {repo}/{prefix} is a file"
                )));
            }
            None => {}
        }
    }
    for prefix in &prefixes[end..] {
        let (parent, name) = split_path(prefix);
        conn.execute(
            "INSERT INTO items (repo, path, parent, name, folder, size, created, created_by, \
             modified, modified_by, updated) VALUES (?1,?2,?3,?4,1,0,?5,?6,?5,?6,?5)",
            args![repo, prefix, parent, name, now, user],
        )?;
    }
    Ok(())
}

/// Create or overwrite the file at `path` (folders above it are created).
/// The binary row must exist. `Conflict` when a folder is at `path`.
pub fn put_file(conn: &Conn<'_>, repo: &str, path: &str, file: &NewFile) -> Result<Item, DbError> {
    let (parent, name) = split_path(path);
    ensure_folders(conn, repo, parent, &file.user, file.now)?;
    if get(conn, repo, path)?.is_some_and(|existing| existing.folder) {
        return Err(DbError::Conflict(format!(
            "Cannot deploy file {repo}/{path}: a folder with that path exists"
        )));
    }
    // Overwriting keeps `created`/`created_by` and the item id (so its properties stay).
    conn.execute(
        "INSERT INTO items (repo, path, parent, name, folder, sha256, size, sha1_original, \
         md5_original, sha256_original, created, created_by, modified, modified_by, updated) \
         VALUES (?1,?2,?3,?4,0,?5,?6,?7,?8,?9,?10,?11,?10,?11,?10) \
         ON CONFLICT(repo, path) DO UPDATE SET sha256=excluded.sha256, size=excluded.size, \
         sha1_original=excluded.sha1_original, md5_original=excluded.md5_original, \
         sha256_original=excluded.sha256_original, modified=excluded.modified, \
         modified_by=excluded.modified_by, updated=excluded.updated",
        args![
            repo,
            path,
            parent,
            name,
            file.binary.sha256,
            file.binary.size as i64,
            file.sha1_original,
            file.md5_original,
            file.sha256_original,
            file.now,
            file.user
        ],
    )?;
    get(conn, repo, path)?.ok_or_else(|| DbError::Corrupt(format!("{repo}/{path} vanished")))
}

/// Delete an item and, for a folder, everything below it. Returns the number of rows removed.
pub fn delete_tree(conn: &Conn<'_>, repo: &str, path: &str) -> Result<usize, DbError> {
    let (lo, hi) = descendant_bounds(path);
    let below = conn.execute(
        "DELETE FROM items WHERE repo = ?1 AND path >= ?2 AND path < ?3 AND path != ''",
        args![repo, lo, hi],
    )?;
    let itself = conn.execute(
        "DELETE FROM items WHERE repo = ?1 AND path = ?2",
        args![repo, path],
    )?;
    Ok(below + itself)
}

/// Properties of one item: key → values (sorted).
pub fn props(conn: &Conn<'_>, item_id: i64) -> Result<BTreeMap<String, Vec<String>>, DbError> {
    let rows = conn.query_map(
        "SELECT key, value FROM item_props WHERE item_id = ?1 ORDER BY key, value",
        args![item_id],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )?;
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in rows {
        map.entry(k).or_default().push(v);
    }
    Ok(map)
}

/// Set properties: each key given replaces that key's values.
pub fn set_props(
    conn: &Conn<'_>,
    item_id: i64,
    props: &BTreeMap<String, Vec<String>>,
) -> Result<(), DbError> {
    for (key, values) in props {
        conn.execute(
            "DELETE FROM item_props WHERE item_id = ?1 AND key = ?2",
            args![item_id, key],
        )?;
        for value in values {
            conn.execute(
                "INSERT INTO item_props (item_id, key, value) VALUES (?1,?2,?3) \
                 ON CONFLICT DO NOTHING",
                args![item_id, key, value],
            )?;
        }
    }
    Ok(())
}

/// Delete the given property keys.
pub fn delete_props(conn: &Conn<'_>, item_id: i64, keys: &[String]) -> Result<(), DbError> {
    for key in keys {
        conn.execute(
            "DELETE FROM item_props WHERE item_id = ?1 AND key = ?2",
            args![item_id, key],
        )?;
    }
    Ok(())
}

/// Bytes of the files in `repo` (each file counts its binary's size, shared or not): what a
/// repository quota limits.
pub fn repo_usage(conn: &Conn<'_>, repo: &str) -> Result<u64, DbError> {
    let total: i64 = conn.query_one(
        "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM items i JOIN binaries b ON b.sha256 = i.sha256 \
         WHERE i.repo = ?1 AND i.folder = 0",
        args![repo],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// Files whose binary has the given checksum, optionally limited to some repositories.
pub fn search_checksum(
    conn: &Conn<'_>,
    kind: ChecksumKind,
    value: &str,
    repos: &[String],
) -> Result<Vec<Item>, DbError> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.folder = 0 AND b.{} = ?1 ORDER BY i.repo, i.path",
        kind.column()
    );
    let items = conn.query_map(&sql, args![value.to_ascii_lowercase()], item_from_row)?;
    Ok(filter_repos(items, repos))
}

/// The most files a name search returns.
pub const MAX_NAME_RESULTS: usize = 10_000;

/// Files whose name matches a pattern with `*` and `?` wildcards (a plain word matches as a
/// substring, like the reference's quick search; ASCII case ignored), optionally limited to some
/// repositories: the first [`MAX_NAME_RESULTS`] by repository and path.
pub fn search_name(conn: &Conn<'_>, pattern: &str, repos: &[String]) -> Result<Vec<Item>, DbError> {
    let like = name_like(pattern);
    let postgres = conn.backend() == crate::Backend::Postgres;
    let marks: Vec<String> = (0..repos.len()).map(|k| format!("?{}", k + 2)).collect();
    // The condition on the items of table alias `t`. SQLite's LIKE ignores ASCII case,
    // PostgreSQL's does not: LOWER on both sides there; on SQLite the bare column lets the match
    // run on the `items_name` index alone.
    let matching = |t: &str| {
        let name = if postgres {
            format!("LOWER({t}.name) LIKE LOWER(?1) ESCAPE '\\'")
        } else {
            format!("{t}.name LIKE ?1 ESCAPE '\\'")
        };
        let in_repos = if marks.is_empty() {
            String::new()
        } else {
            format!(" AND {t}.repo IN ({})", marks.join(", "))
        };
        format!("{name} AND {t}.folder = 0{in_repos}")
    };
    let mut params: Vec<&dyn crate::sql::ToValue> = vec![&like];
    params.extend(repos.iter().map(|r| r as &dyn crate::sql::ToValue));
    let (cap, max) = (MAX_NAME_RESULTS as i64 + 1, MAX_NAME_RESULTS as i64);
    let limit_mark = params.len() + 1;
    // Which files match is decided on the name index (a scan of names, not of the table), and
    // stops past the cap. Few matches: only their rows are read, then sorted here. More than
    // the cap: the first ones in (repo, path) order, walking the unique index until enough
    // matched (a common name is found early).
    params.push(&cap);
    let ids: Vec<i64> = conn.query_map(
        &format!(
            "SELECT n.id FROM items n WHERE {} LIMIT ?{limit_mark}",
            matching("n")
        ),
        &params,
        |r| r.get(0),
    )?;
    if ids.len() > MAX_NAME_RESULTS {
        params.pop();
        params.push(&max);
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE {} ORDER BY i.repo, i.path \
             LIMIT ?{limit_mark}",
            matching("i")
        );
        return conn.query_map(&sql, &params, item_from_row);
    }
    let mut found = items_by_id(conn, &ids)?;
    found.sort_by(|a, b| (&a.repo, &a.path).cmp(&(&b.repo, &b.path)));
    Ok(found)
}

/// The items with these ids (those that still exist), in no particular order.
fn items_by_id(conn: &Conn<'_>, ids: &[i64]) -> Result<Vec<Item>, DbError> {
    // A fixed number of placeholders (the last id repeated): one prepared statement for all.
    const BATCH: usize = 200;
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let marks: Vec<String> = (1..=BATCH).map(|k| format!("?{k}")).collect();
        format!(
            "SELECT {ITEM_COLUMNS} FROM {ITEM_FROM} WHERE i.id IN ({})",
            marks.join(", ")
        )
    });
    let mut found = Vec::with_capacity(ids.len());
    for batch in ids.chunks(BATCH) {
        let Some(last) = batch.last() else { continue };
        let params: Vec<&dyn crate::sql::ToValue> = (0..BATCH)
            .map(|k| batch.get(k).unwrap_or(last) as &dyn crate::sql::ToValue)
            .collect();
        found.extend(conn.query_map(&SQL, &params, item_from_row)?);
    }
    Ok(found)
}

fn filter_repos(items: Vec<Item>, repos: &[String]) -> Vec<Item> {
    if repos.is_empty() {
        return items;
    }
    items
        .into_iter()
        .filter(|i| repos.contains(&i.repo))
        .collect()
}

/// Counts reported by copy and move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferCount {
    pub files: usize,
    pub folders: usize,
}

/// Where a copy/move of `src` to `dst` lands, with unix `cp` semantics:
/// into `dst/<name>` when `dst` is an existing folder (or the root), else at `dst`.
pub fn transfer_target(
    conn: &Conn<'_>,
    src: &Item,
    dst_repo: &str,
    dst_path: &str,
) -> Result<String, DbError> {
    if dst_path.is_empty() {
        return Ok(src.name.clone());
    }
    match get(conn, dst_repo, dst_path)? {
        Some(existing) if existing.folder => Ok(join_path(dst_path, &src.name)),
        Some(_) if src.folder => Err(DbError::Conflict(format!(
            "Cannot copy or move folder {}/{} over file {dst_repo}/{dst_path}",
            src.repo, src.path
        ))),
        _ => Ok(dst_path.to_string()),
    }
}

/// Copy `src` (a file or a whole folder) to `dst_repo/target` (see
/// [`transfer_target`]), sharing binaries and copying properties. With
/// `dry_run`, only counts. Callers check permissions and patterns per path.
pub fn copy_tree(
    conn: &Conn<'_>,
    src: &Item,
    dst_repo: &str,
    target: &str,
    user: &str,
    now: i64,
    dry_run: bool,
) -> Result<TransferCount, DbError> {
    let mut all = vec![src.clone()];
    if src.folder {
        all.extend(descendants(conn, &src.repo, &src.path)?);
    }
    if src.repo == dst_repo && (target == src.path || target.starts_with(&format!("{}/", src.path)))
    {
        return Err(DbError::Conflict(format!(
            "Cannot copy or move {}/{} into itself",
            src.repo, src.path
        )));
    }
    let mut count = TransferCount::default();
    for item in &all {
        let rel = &item.path[src.path.len()..];
        let rel = rel.strip_prefix('/').unwrap_or(rel);
        let new_path = join_path(target, rel);
        if item.folder {
            count.folders += 1;
            if !dry_run {
                ensure_folders(conn, dst_repo, &new_path, user, now)?;
            }
        } else {
            count.files += 1;
            if dry_run {
                if let Some(existing) = get(conn, dst_repo, &new_path)?
                    && existing.folder
                {
                    return Err(DbError::Conflict(format!(
                        "Cannot overwrite folder {dst_repo}/{new_path} with a file"
                    )));
                }
                continue;
            }
            let binary = item
                .binary
                .clone()
                .ok_or_else(|| DbError::Corrupt(format!("file {} has no binary", item.path)))?;
            let created = put_file(
                conn,
                dst_repo,
                &new_path,
                &NewFile {
                    binary,
                    sha1_original: item.sha1_original.clone(),
                    md5_original: item.md5_original.clone(),
                    sha256_original: item.sha256_original.clone(),
                    user: user.to_string(),
                    now,
                },
            )?;
            let props = props(conn, item.id)?;
            conn.execute(
                "DELETE FROM item_props WHERE item_id = ?1",
                args![created.id],
            )?;
            set_props(conn, created.id, &props)?;
        }
    }
    Ok(count)
}

/// Binaries no item (nor an open OCI upload's chunk) references, recorded before `created_before`
/// (the grace period protects deploys by checksum racing with a delete).
pub fn unreferenced_binaries(
    conn: &Conn<'_>,
    created_before: i64,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT b.sha256 FROM binaries b WHERE b.created < ?1 \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.sha256 = b.sha256) \
         AND NOT EXISTS (SELECT 1 FROM oci_upload_chunks c WHERE c.sha256 = b.sha256) LIMIT ?2",
        args![created_before, limit as i64],
        |r| r.get(0),
    )
}

/// Delete the binary row if it is still unreferenced. Returns true if deleted;
/// the caller then removes the file inside the same transaction.
pub fn delete_binary_if_unreferenced(conn: &Conn<'_>, sha256: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM binaries WHERE sha256 = ?1 \
         AND NOT EXISTS (SELECT 1 FROM items i WHERE i.sha256 = ?1) \
         AND NOT EXISTS (SELECT 1 FROM oci_upload_chunks c WHERE c.sha256 = ?1)",
        args![sha256],
    )? > 0)
}

/// Binaries by SHA-256 after `after` (exclusive; "" from the start), at most `limit`: `(sha256,
/// size)`. Pages through every binary in a stable order (storage migration and verification).
pub fn binaries_after(
    conn: &Conn<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, u64)>, DbError> {
    conn.query_map(
        "SELECT sha256, size FROM binaries WHERE sha256 > ?1 ORDER BY sha256 LIMIT ?2",
        args![after, limit as i64],
        |r| Ok((r.get(0)?, u64::try_from(r.get::<i64>(1)?).unwrap_or(0))),
    )
}

/// The `limit` smallest binaries `(sha256, size)`: a cheap sample to check a storage chain with.
pub fn smallest_binaries(conn: &Conn<'_>, limit: usize) -> Result<Vec<(String, u64)>, DbError> {
    conn.query_map(
        "SELECT sha256, size FROM binaries ORDER BY size, sha256 LIMIT ?1",
        args![limit as i64],
        |r| Ok((r.get(0)?, u64::try_from(r.get::<i64>(1)?).unwrap_or(0))),
    )
}

/// How many binaries, and their bytes.
pub fn binary_totals(conn: &Conn<'_>) -> Result<(u64, u64), DbError> {
    conn.query_one(
        // PostgreSQL sums BIGINTs as NUMERIC
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM binaries",
        args![],
        |r| {
            Ok((
                u64::try_from(r.get::<i64>(0)?).unwrap_or(0),
                u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
            ))
        },
    )
}

/// Up to `limit` `repo/path` of the files whose content is the binary `sha256`.
pub fn paths_of_binary(
    conn: &Conn<'_>,
    sha256: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT repo, path FROM items WHERE sha256 = ?1 AND folder = 0 ORDER BY repo, path LIMIT ?2",
        args![sha256, limit as i64],
        |r| Ok(format!("{}/{}", r.get::<String>(0)?, r.get::<String>(1)?)),
    )
}

/// Is a binary row present?
pub fn binary_known(conn: &Conn<'_>, sha256: &str) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM binaries WHERE sha256 = ?1",
            args![sha256],
            |_| Ok(()),
        )?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Repo, migrate, repos};

    fn db() -> rusqlite::Connection {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        raw.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        {
            let conn = Conn::sqlite(&raw);
            migrate::apply(&conn).unwrap();
            for key in ["a", "b"] {
                repos::insert(&conn, &Repo::local(key, 1)).unwrap();
            }
        }
        raw
    }

    fn file(conn: &Conn<'_>, repo: &str, path: &str, sha: char) -> Item {
        let binary = Binary {
            sha256: sha.to_string().repeat(64),
            sha1: sha.to_string().repeat(40),
            md5: sha.to_string().repeat(32),
            size: 3,
        };
        insert_binary(conn, &binary, 10).unwrap();
        put_file(conn, repo, path, &NewFile::new(binary, "u", 10)).unwrap()
    }

    #[test]
    fn folders_are_created_and_files_cannot_be_folders() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        file(&conn, "a", "x/y/z.txt", 'a');
        let kids: Vec<String> = children(&conn, "a", "")
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(kids, vec!["x"]);
        assert!(get(&conn, "a", "x/y").unwrap().unwrap().folder);
        assert!(matches!(
            ensure_folders(&conn, "a", "x/y/z.txt/w", "u", 1),
            Err(DbError::Conflict(_))
        ));
        assert!(matches!(
            put_file(
                &conn,
                "a",
                "x/y",
                &NewFile {
                    binary: get(&conn, "a", "x/y/z.txt")
                        .unwrap()
                        .unwrap()
                        .binary
                        .unwrap(),
                    sha1_original: None,
                    md5_original: None,
                    sha256_original: None,
                    user: "u".into(),
                    now: 1
                }
            ),
            Err(DbError::Conflict(_))
        ));
    }

    #[test]
    fn descendants_do_not_leak_into_sibling_prefixes() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        file(&conn, "a", "lib/one", 'a');
        file(&conn, "a", "lib-extra/two", 'b');
        file(&conn, "a", "lib0/three", 'c');
        let below: Vec<String> = descendants(&conn, "a", "lib")
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(below, vec!["lib/one"]);
        assert_eq!(delete_tree(&conn, "a", "lib").unwrap(), 2);
        assert!(get(&conn, "a", "lib-extra/two").unwrap().is_some());
        assert!(get(&conn, "a", "lib0/three").unwrap().is_some());
    }

    #[test]
    fn copy_shares_binaries_and_gc_only_takes_unreferenced_ones() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        let src = file(&conn, "a", "d/f", 'a');
        set_props(
            &conn,
            src.id,
            &BTreeMap::from([("k".to_string(), vec!["v".to_string()])]),
        )
        .unwrap();
        let folder = get(&conn, "a", "d").unwrap().unwrap();
        let target = transfer_target(&conn, &folder, "b", "").unwrap();
        assert_eq!(target, "d");
        let dry = copy_tree(&conn, &folder, "b", &target, "u", 20, true).unwrap();
        assert_eq!(
            dry,
            TransferCount {
                files: 1,
                folders: 1
            }
        );
        assert!(get(&conn, "b", "d/f").unwrap().is_none());
        copy_tree(&conn, &folder, "b", &target, "u", 20, false).unwrap();
        let copied = get(&conn, "b", "d/f").unwrap().unwrap();
        assert_eq!(copied.binary, src.binary);
        assert_eq!(props(&conn, copied.id).unwrap()["k"], vec!["v"]);
        assert!(matches!(
            copy_tree(&conn, &folder, "a", "d/inner", "u", 20, false),
            Err(DbError::Conflict(_))
        ));

        let sha = src.binary.unwrap().sha256;
        delete_tree(&conn, "a", "d").unwrap();
        assert!(
            unreferenced_binaries(&conn, 100, 10).unwrap().is_empty(),
            "b/d/f still uses it"
        );
        delete_tree(&conn, "b", "d").unwrap();
        assert!(
            unreferenced_binaries(&conn, 5, 10).unwrap().is_empty(),
            "inside the grace period"
        );
        assert_eq!(
            unreferenced_binaries(&conn, 100, 10).unwrap(),
            vec![sha.clone()]
        );
        assert!(delete_binary_if_unreferenced(&conn, &sha).unwrap());
        assert!(!binary_known(&conn, &sha).unwrap());
    }

    #[test]
    fn name_search_returns_the_first_matches_by_repository_and_path() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        file(&conn, "b", "z/Tool-1.JAR", 'a');
        file(&conn, "a", "z/tool-2.jar", 'a');
        file(&conn, "a", "y/tool-3.jar", 'a');
        ensure_folders(&conn, "a", "tool-folder.jar", "u", 1).unwrap();
        // more matches than the cap: the first by (repo, path), not the first found
        conn.execute(
            "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 10049) \
             INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, \
               created_by, modified, modified_by, updated) \
             SELECT 'b', 'many/lib-' || (100000 - k) || '.jar', 'many', \
               'lib-' || (100000 - k) || '.jar', 0, ?1, 3, 1, 'u', 1, 'u', 1 FROM n",
            args!["a".repeat(64)],
        )
        .unwrap();
        let paths = |pattern: &str, repos: &[&str]| -> Vec<String> {
            let repos: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
            search_name(&conn, pattern, &repos)
                .unwrap()
                .into_iter()
                .map(|i| format!("{}/{}", i.repo, i.path))
                .collect()
        };
        assert_eq!(
            paths("TOOL", &[]),
            ["a/y/tool-3.jar", "a/z/tool-2.jar", "b/z/Tool-1.JAR"]
        );
        assert_eq!(paths("tool-?.jar", &["b"]), ["b/z/Tool-1.JAR"]);
        let mut every: Vec<String> = (89_951..=100_000)
            .map(|k| format!("b/many/lib-{k}.jar"))
            .chain(["a/y/tool-3.jar", "a/z/tool-2.jar", "b/z/Tool-1.JAR"].map(String::from))
            .collect();
        every.sort();
        assert_eq!(paths("*.jar", &[]), every[..MAX_NAME_RESULTS]);
        assert_eq!(paths("*.jar", &["b"]), every[2..MAX_NAME_RESULTS + 2]);
    }

    #[test]
    fn name_search_escapes_like_wildcards() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        file(&conn, "a", "x/100%_done.txt", 'a');
        file(&conn, "a", "x/100xydone.txt", 'b');
        assert_eq!(search_name(&conn, "%_", &[]).unwrap().len(), 1);
        assert_eq!(search_name(&conn, "100*done.txt", &[]).unwrap().len(), 2);
        assert_eq!(
            search_name(&conn, "done", &["b".to_string()])
                .unwrap()
                .len(),
            0
        );
    }
}
