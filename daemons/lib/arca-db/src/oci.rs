//! OCI images: what the items of a `docker` repository are, and the upload sessions.
//!
//! An image's parts are ordinary items: `{image}/_blobs/{digest}` (layers, configs),
//! `{image}/_manifests/{digest}` and `{image}/_tags/{tag}` (the tagged manifest's binary
//! again, so a tag is listed, copied and deleted like any file). Beside a blob's item is an
//! `oci_blobs` row, beside a manifest's an `oci_manifests` row (media type, artifact type,
//! subject) and its `oci_references` (every digest it names): the rows go with their items
//! (`ON DELETE CASCADE`), whichever API deletes them.
//!
//! An upload session (`oci_uploads`) is continued by any node: each chunk is a binary in the
//! storage chain, named by an `oci_upload_chunks` row, which keeps GC away from it until the
//! session is finished or expires.

use crate::{Conn, DbError, args};

/// A manifest's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub item_id: i64,
    pub repo: String,
    pub image: String,
    /// `sha256:…`
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// The digest of the manifest it refers to (`subject`).
    pub subject: Option<String>,
    /// The manifest's annotations, JSON (the referrers API repeats them).
    pub annotations: Option<String>,
    pub size: i64,
    /// Epoch ms.
    pub pushed: i64,
}

const MANIFEST: &str = "SELECT m.item_id, m.repo, m.image, m.digest, m.media_type, \
     m.artifact_type, m.subject, m.annotations, m.size, m.pushed FROM oci_manifests m";

fn manifest_row(r: &crate::sql::Row<'_>) -> Result<Manifest, DbError> {
    Ok(Manifest {
        item_id: r.get(0)?,
        repo: r.get(1)?,
        image: r.get(2)?,
        digest: r.get(3)?,
        media_type: r.get(4)?,
        artifact_type: r.get(5)?,
        subject: r.get(6)?,
        annotations: r.get(7)?,
        size: r.get(8)?,
        pushed: r.get(9)?,
    })
}

/// Record the manifest stored as item `manifest.item_id`, and the digests it references
/// (blobs, child manifests). Pushing the same manifest again changes nothing.
pub fn insert_manifest(
    conn: &Conn<'_>,
    manifest: &Manifest,
    references: &[String],
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO oci_manifests (item_id, repo, image, digest, media_type, artifact_type, \
         subject, annotations, size, pushed) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) \
         ON CONFLICT(item_id) DO NOTHING",
        args![
            manifest.item_id,
            manifest.repo,
            manifest.image,
            manifest.digest,
            manifest.media_type,
            manifest.artifact_type,
            manifest.subject,
            manifest.annotations,
            manifest.size,
            manifest.pushed
        ],
    )?;
    for digest in references {
        conn.execute(
            "INSERT INTO oci_references (manifest_id, repo, image, digest) VALUES (?1,?2,?3,?4) \
             ON CONFLICT(manifest_id, digest) DO NOTHING",
            args![manifest.item_id, manifest.repo, manifest.image, digest],
        )?;
    }
    Ok(())
}

/// The manifest `digest` of `image` in `repo`.
pub fn manifest(
    conn: &Conn<'_>,
    repo: &str,
    image: &str,
    digest: &str,
) -> Result<Option<Manifest>, DbError> {
    conn.query_opt(
        &format!("{MANIFEST} WHERE m.repo = ?1 AND m.image = ?2 AND m.digest = ?3"),
        args![repo, image, digest],
        manifest_row,
    )
}

/// The manifests of `image` in `repo` whose subject is `subject`, with `artifact_type` when
/// given, oldest first.
pub fn referrers(
    conn: &Conn<'_>,
    repo: &str,
    image: &str,
    subject: &str,
    artifact_type: Option<&str>,
) -> Result<Vec<Manifest>, DbError> {
    match artifact_type {
        Some(t) => conn.query_map(
            &format!(
                "{MANIFEST} WHERE m.repo = ?1 AND m.image = ?2 AND m.subject = ?3 \
                 AND m.artifact_type = ?4 ORDER BY m.pushed, m.digest"
            ),
            args![repo, image, subject, t],
            manifest_row,
        ),
        None => conn.query_map(
            &format!(
                "{MANIFEST} WHERE m.repo = ?1 AND m.image = ?2 AND m.subject = ?3 \
                 ORDER BY m.pushed, m.digest"
            ),
            args![repo, image, subject],
            manifest_row,
        ),
    }
}

/// The images of `repo` that hold a manifest, by name.
pub fn images(conn: &Conn<'_>, repo: &str) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT DISTINCT image FROM oci_manifests WHERE repo = ?1 ORDER BY image",
        args![repo],
        |r| r.get(0),
    )
}

/// Whether `repo` holds a manifest of `image`.
pub fn has_image(conn: &Conn<'_>, repo: &str, image: &str) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM oci_manifests WHERE repo = ?1 AND image = ?2 LIMIT 1",
            args![repo, image],
            |_| Ok(()),
        )?
        .is_some())
}

/// Record the blob stored as item `item_id`.
pub fn insert_blob(
    conn: &Conn<'_>,
    item_id: i64,
    repo: &str,
    image: &str,
    digest: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO oci_blobs (item_id, repo, image, digest) VALUES (?1,?2,?3,?4) \
         ON CONFLICT(item_id) DO NOTHING",
        args![item_id, repo, image, digest],
    )?;
    Ok(())
}

/// Blobs (`repo`, item path) recorded before `created_before` that no manifest of their image
/// references, at most `limit`: what image garbage collection deletes.
pub fn unreferenced_blobs(
    conn: &Conn<'_>,
    created_before: i64,
    limit: usize,
) -> Result<Vec<(String, String)>, DbError> {
    conn.query_map(
        "SELECT i.repo, i.path FROM oci_blobs b JOIN items i ON i.id = b.item_id \
         WHERE i.created < ?1 AND NOT EXISTS (SELECT 1 FROM oci_references x \
         WHERE x.repo = b.repo AND x.image = b.image AND x.digest = b.digest) \
         ORDER BY i.id LIMIT ?2",
        args![created_before, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Whether a manifest of `image` in `repo` references `digest`.
pub fn is_referenced(
    conn: &Conn<'_>,
    repo: &str,
    image: &str,
    digest: &str,
) -> Result<bool, DbError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM oci_references WHERE repo = ?1 AND image = ?2 AND digest = ?3 LIMIT 1",
            args![repo, image, digest],
            |_| Ok(()),
        )?
        .is_some())
}

/// Manifests recorded before `pushed_before` that no tag points at (no item under the
/// image's `_tags/` holds their binary), no other manifest of the image references (an
/// index's children) and that are no referrer of a manifest still there, at most `limit`:
/// `(repo, item path)`. What the untagged-manifest policy deletes.
pub fn untagged_manifests(
    conn: &Conn<'_>,
    repo: &str,
    pushed_before: i64,
    limit: usize,
) -> Result<Vec<(String, String)>, DbError> {
    conn.query_map(
        "SELECT i.repo, i.path FROM oci_manifests m JOIN items i ON i.id = m.item_id \
         WHERE m.repo = ?1 AND m.pushed < ?2 \
         AND NOT EXISTS (SELECT 1 FROM items t WHERE t.repo = m.repo \
             AND t.parent = m.image || '/_tags' AND t.sha256 = i.sha256) \
         AND NOT EXISTS (SELECT 1 FROM oci_references x WHERE x.repo = m.repo \
             AND x.image = m.image AND x.digest = m.digest) \
         AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM oci_manifests s \
             WHERE s.repo = m.repo AND s.image = m.image AND s.digest = m.subject)) \
         ORDER BY m.pushed LIMIT ?3",
        args![repo, pushed_before, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The tags of `image` in `repo` after `last` (exclusive), by name, at most `limit`.
pub fn tags(
    conn: &Conn<'_>,
    repo: &str,
    tags_dir: &str,
    last: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT name FROM items WHERE repo = ?1 AND parent = ?2 AND folder = 0 AND name > ?3 \
         ORDER BY name LIMIT ?4",
        args![repo, tags_dir, last.unwrap_or(""), limit as i64],
        |r| r.get(0),
    )
}

/// The item paths of the tags under `tags_dir` of `repo` beyond the `keep` most recently
/// pushed: what `maxUniqueTags` removes.
pub fn tags_beyond(
    conn: &Conn<'_>,
    repo: &str,
    tags_dir: &str,
    keep: usize,
) -> Result<Vec<String>, DbError> {
    let mut all: Vec<String> = conn.query_map(
        "SELECT path FROM items WHERE repo = ?1 AND parent = ?2 AND folder = 0 \
         ORDER BY modified DESC, id DESC",
        args![repo, tags_dir],
        |r| r.get(0),
    )?;
    Ok(if all.len() > keep {
        all.split_off(keep)
    } else {
        Vec::new()
    })
}

/// The item paths under `tags_dir` of `repo` whose binary is `sha256` (hex): the tags of a
/// manifest.
pub fn tags_of(
    conn: &Conn<'_>,
    repo: &str,
    tags_dir: &str,
    sha256: &str,
) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT path FROM items WHERE repo = ?1 AND parent = ?2 AND folder = 0 AND sha256 = ?3 \
         ORDER BY name",
        args![repo, tags_dir, sha256],
        |r| r.get(0),
    )
}

/// An upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub repo: String,
    pub image: String,
    /// Bytes received so far.
    pub size: i64,
    pub started: i64,
    pub updated: i64,
    pub user: String,
}

/// One received chunk: bytes `start..start + size` of the blob, stored as binary `sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: i64,
    pub start: i64,
    pub size: i64,
    pub sha256: String,
}

pub fn create_upload(conn: &Conn<'_>, upload: &Upload) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO oci_uploads (id, repo, image, size, started, updated, user_name) \
         VALUES (?1,?2,?3,?4,?5,?6,?7)",
        args![
            upload.id,
            upload.repo,
            upload.image,
            upload.size,
            upload.started,
            upload.updated,
            upload.user
        ],
    )?;
    Ok(())
}

pub fn upload(conn: &Conn<'_>, id: &str) -> Result<Option<Upload>, DbError> {
    conn.query_opt(
        "SELECT id, repo, image, size, started, updated, user_name FROM oci_uploads WHERE id = ?1",
        args![id],
        |r| {
            Ok(Upload {
                id: r.get(0)?,
                repo: r.get(1)?,
                image: r.get(2)?,
                size: r.get(3)?,
                started: r.get(4)?,
                updated: r.get(5)?,
                user: r.get(6)?,
            })
        },
    )
}

/// Why a chunk was not appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendRefused {
    /// The session is gone (finished, cancelled, expired).
    Unknown,
    /// The chunk does not start where the upload stands (`size`): another chunk came first.
    NotAtEnd { size: i64 },
}

/// Append the chunk stored as binary `sha256` (`size` bytes, meant to start at `start`) to
/// upload `id`. The check and the append are one statement each inside the caller's
/// transaction, so two nodes appending at once cannot both land at the same offset.
pub fn append_chunk(
    conn: &Conn<'_>,
    id: &str,
    start: i64,
    size: i64,
    sha256: &str,
    now: i64,
) -> Result<Result<i64, AppendRefused>, DbError> {
    let moved = conn.execute(
        "UPDATE oci_uploads SET size = size + ?1, updated = ?2 WHERE id = ?3 AND size = ?4",
        args![size, now, id, start],
    )?;
    if moved == 0 {
        return Ok(Err(match upload(conn, id)? {
            None => AppendRefused::Unknown,
            Some(u) => AppendRefused::NotAtEnd { size: u.size },
        }));
    }
    let seq: i64 = conn.query_one(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM oci_upload_chunks WHERE upload_id = ?1",
        args![id],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO oci_upload_chunks (upload_id, seq, start, size, sha256) \
         VALUES (?1,?2,?3,?4,?5)",
        args![id, seq, start, size, sha256],
    )?;
    Ok(Ok(start + size))
}

/// The chunks of upload `id` in order.
pub fn chunks(conn: &Conn<'_>, id: &str) -> Result<Vec<Chunk>, DbError> {
    conn.query_map(
        "SELECT seq, start, size, sha256 FROM oci_upload_chunks WHERE upload_id = ?1 ORDER BY seq",
        args![id],
        |r| {
            Ok(Chunk {
                seq: r.get(0)?,
                start: r.get(1)?,
                size: r.get(2)?,
                sha256: r.get(3)?,
            })
        },
    )
}

/// End upload `id` (its chunks' binaries are left to GC). Returns whether it existed.
pub fn delete_upload(conn: &Conn<'_>, id: &str) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM oci_uploads WHERE id = ?1", args![id])? > 0)
}

/// End every upload idle since before `updated_before`; returns how many.
pub fn expire_uploads(conn: &Conn<'_>, updated_before: i64) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM oci_uploads WHERE updated < ?1",
        args![updated_before],
    )
}
