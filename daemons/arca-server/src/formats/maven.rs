//! The `maven` format: the release/snapshot switches of a deploy, and `maven-metadata.xml`
//! (with its checksum files), which Maven clients rewrite on every deploy. Checksum side files
//! of artifacts (`x.jar.sha1`) are shared with every format ([`super::checksums`]).

use arca_db::Repo;

use crate::http::error::{ApiError, ApiResult};

/// Its package type.
pub const PACKAGE_TYPE: &str = "maven";

/// Its `repoLayoutRef`.
pub const LAYOUT_REF: &str = "maven-2-default";

/// Other package types laid out like Maven (their `maven-metadata.xml` is Maven's).
pub const LAYOUT_PACKAGE_TYPES: [&str; 3] = ["gradle", "ivy", "sbt"];

/// Checksum extensions of Maven's metadata files.
const METADATA_CHECKSUMS: [&str; 4] = ["md5", "sha1", "sha256", "sha512"];

fn is_maven_metadata(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("maven-metadata.xml")
}

/// Exactly a `maven-metadata.xml` (not its checksum files).
pub fn is_metadata(path: &str) -> bool {
    path.rsplit('/').next() == Some("maven-metadata.xml")
}

/// What changes upstream under the same path: metadata with its checksum files, and the files
/// of a non-unique snapshot (`x-1.0-SNAPSHOT.jar`); timestamped snapshots and releases never do.
pub fn is_changing(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    is_metadata_or_its_checksum(path) || name.contains("-SNAPSHOT.") || name.contains("-SNAPSHOT-")
}

fn is_snapshot(path: &str) -> bool {
    path.split('/').any(|seg| seg.ends_with("-SNAPSHOT"))
}

/// `handleSnapshots` / `handleReleases`: does `repo` take this kind of version? Metadata is
/// neither. 403 naming the switch otherwise.
pub fn check_deploy(repo: &Repo, path: &str) -> ApiResult<()> {
    if is_maven_metadata(path) {
        return Ok(());
    }
    if is_snapshot(path) && !repo.handle_snapshots {
        return Err(ApiError::forbidden(format!(
            "Repository '{}' does not handle snapshots (handleSnapshots=false): '{path}'",
            repo.key
        )));
    }
    if !is_snapshot(path) && !repo.handle_releases {
        return Err(ApiError::forbidden(format!(
            "Repository '{}' does not handle releases (handleReleases=false): '{path}'",
            repo.key
        )));
    }
    Ok(())
}

/// Exactly `maven-metadata.xml` and its checksum files. Nothing else: a checksum file of
/// another file is checked against the stored binary without being stored
/// ([`super::checksums`]), or is an ordinary file when its base is absent.
pub fn is_metadata_or_its_checksum(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.strip_prefix("maven-metadata.xml") {
        Some("") => true,
        Some(ext) => ext
            .strip_prefix('.')
            .is_some_and(|ext| METADATA_CHECKSUMS.contains(&ext)),
        None => false,
    }
}
