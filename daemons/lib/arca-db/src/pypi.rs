//! PyPI distribution files: what a project page says about each file (name, version,
//! `Requires-Python`, yanking, the wheel's core metadata) in a row beside the file's item.
//!
//! An upload inserts the row in the transaction that stores the file; a project page is read from
//! the rows (joined with their items for the path, sha256 and size). A row goes with its item
//! (`ON DELETE CASCADE`): deleting the file through any API takes it off the index.

use crate::{Conn, DbError, args};

/// One distribution file of a local repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The file's item.
    pub item_id: i64,
    /// The PEP 503-normalised project name.
    pub project: String,
    /// The name as the uploader's metadata spells it.
    pub name: String,
    /// The PEP 440-normalised version.
    pub version: String,
    pub filename: String,
    pub requires_python: Option<String>,
    /// `Some("")`: yanked without a reason.
    pub yanked: Option<String>,
    /// The wheel's core metadata file (PEP 658), `None` for sdists.
    pub metadata: Option<String>,
    pub metadata_sha256: Option<String>,
    pub summary: Option<String>,
    /// Upload time, epoch ms.
    pub uploaded: i64,
}

/// A [`File`] with what its item says: path, sha256 and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub file: File,
    pub path: String,
    pub sha256: String,
    pub size: i64,
}

const LISTED: &str = "SELECT f.item_id, f.project, f.name, f.version, f.filename, \
     f.requires_python, f.yanked, CAST(NULL AS TEXT), f.metadata_sha256, f.summary, f.uploaded, \
     i.path, i.sha256, i.size FROM pypi_files f JOIN items i ON i.id = f.item_id AND i.repo = f.repo";

fn listed(r: &crate::sql::Row<'_>) -> Result<Listed, DbError> {
    Ok(Listed {
        file: File {
            item_id: r.get(0)?,
            project: r.get(1)?,
            name: r.get(2)?,
            version: r.get(3)?,
            filename: r.get(4)?,
            requires_python: r.get(5)?,
            yanked: r.get(6)?,
            metadata: r.get(7)?,
            metadata_sha256: r.get(8)?,
            summary: r.get(9)?,
            uploaded: r.get(10)?,
        },
        path: r.get(11)?,
        sha256: r.get::<Option<String>>(12)?.unwrap_or_default(),
        size: r.get(13)?,
    })
}

/// The files of `project` in `repo` (without their core metadata), by file name.
pub fn files(conn: &Conn<'_>, repo: &str, project: &str) -> Result<Vec<Listed>, DbError> {
    conn.query_map(
        &format!("{LISTED} WHERE f.repo = ?1 AND f.project = ?2 ORDER BY f.filename"),
        args![repo, project],
        listed,
    )
}

/// The projects of `repo` that have a file, by normalised name.
pub fn projects(conn: &Conn<'_>, repo: &str) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT DISTINCT f.project FROM pypi_files f \
         JOIN items i ON i.id = f.item_id AND i.repo = f.repo \
         WHERE f.repo = ?1 ORDER BY f.project",
        args![repo],
        |r| r.get(0),
    )
}

/// Whether a file named `filename` is in `repo`.
pub fn file_exists(conn: &Conn<'_>, repo: &str, filename: &str) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM pypi_files WHERE repo = ?1 AND filename = ?2",
            args![repo, filename],
            |r| r.get::<i64>(0),
        )?
        .is_some())
}

/// Record `file` of `repo` (its item exists). Fails with a unique violation when a file of that
/// name exists (callers check [`file_exists`] in the same transaction).
pub fn insert_file(conn: &Conn<'_>, repo: &str, file: &File) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO pypi_files (item_id, repo, project, name, version, filename, \
         requires_python, yanked, metadata, metadata_sha256, summary, uploaded) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        args![
            file.item_id,
            repo,
            file.project,
            file.name,
            file.version,
            file.filename,
            file.requires_python,
            file.yanked,
            file.metadata,
            file.metadata_sha256,
            file.summary,
            file.uploaded
        ],
    )?;
    Ok(())
}

/// Forget the file named `filename` of `repo` (its item is being replaced).
pub fn delete_file(conn: &Conn<'_>, repo: &str, filename: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM pypi_files WHERE repo = ?1 AND filename = ?2",
        args![repo, filename],
    )? > 0)
}

/// The core metadata of the wheel at `path` of `repo`, if it is a file of the index that has one.
pub fn metadata_of(conn: &Conn<'_>, repo: &str, path: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_opt(
            "SELECT f.metadata FROM pypi_files f JOIN items i ON i.id = f.item_id \
             WHERE i.repo = ?1 AND i.path = ?2",
            args![repo, path],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Yank (`reason` `Some`, `""` for none) or un-yank (`None`) the files of `version` of `project`
/// (only `filename` when given); the names of the files it applied to, by name.
pub fn set_yanked(
    conn: &Conn<'_>,
    repo: &str,
    project: &str,
    version: &str,
    filename: Option<&str>,
    reason: Option<&str>,
) -> Result<Vec<String>, DbError> {
    let names: Vec<String> = conn.query_map(
        "SELECT filename FROM pypi_files WHERE repo = ?1 AND project = ?2 AND version = ?3 \
         AND (?4 = '' OR filename = ?4) ORDER BY filename",
        args![repo, project, version, filename.unwrap_or("")],
        |r| r.get(0),
    )?;
    for name in &names {
        conn.execute(
            "UPDATE pypi_files SET yanked = ?3 WHERE repo = ?1 AND filename = ?2",
            args![repo, name, reason],
        )?;
    }
    Ok(names)
}
