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
/// neither. 409 naming the switch otherwise.
pub fn check_deploy(repo: &Repo, path: &str) -> ApiResult<()> {
    if is_maven_metadata(path) {
        return Ok(());
    }
    if is_snapshot(path) && !repo.handle_snapshots {
        return Err(ApiError::policy(format!(
            "Repository '{}' does not handle snapshots (handleSnapshots=false): '{path}'",
            repo.key
        )));
    }
    if !is_snapshot(path) && !repo.handle_releases {
        return Err(ApiError::policy(format!(
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

// ------------------------------------------------------------------ server-side behaviour

use arca_db::items;
use warp::http::StatusCode;

use super::maven_layout::{self as layout, Coordinates};
use crate::http::Request;
use crate::http::error::empty_response;
use crate::state::App;

/// `snapshotVersionBehavior`: where a deploy of a snapshot file lands. `unique`: a
/// non-unique name (`a-1.0-SNAPSHOT.jar`) becomes timestamped (the newest build's timestamp
/// and number, or the next build when that build has this file already); `non-unique`: a
/// timestamped name becomes `a-1.0-SNAPSHOT.jar`; `deployer`: as sent. `None`: unchanged.
pub async fn deploy_path(req: &Request, repo: &Repo, path: &str) -> ApiResult<Option<String>> {
    let Some(c) = layout::coordinates(path).filter(Coordinates::is_snapshot) else {
        return Ok(None);
    };
    let version_folder = c.version_folder();
    match repo.settings.snapshot_version_behavior.as_str() {
        "non-unique" => Ok(
            layout::snapshot_file(c.artifact_id, c.version, c.file).map(|f| {
                let name = layout::file_name(
                    c.artifact_id,
                    c.version,
                    f.classifier.as_deref(),
                    &f.extension,
                );
                format!("{version_folder}/{name}")
            }),
        ),
        "unique" => {
            let Some((classifier, extension)) =
                layout::non_unique_file(c.artifact_id, c.version, c.file)
            else {
                return Ok(None);
            };
            let names = file_names(req.app.clone(), &repo.key, &version_folder).await?;
            let files: Vec<layout::SnapshotFile> = names
                .iter()
                .filter_map(|n| layout::snapshot_file(c.artifact_id, c.version, n))
                .collect();
            let newest = files.iter().max_by_key(|f| f.build);
            let (timestamp, build) = match newest {
                Some(n)
                    if !files.iter().any(|f| {
                        f.build == n.build && f.classifier == classifier && f.extension == extension
                    }) =>
                {
                    (n.timestamp.clone(), n.build)
                }
                Some(n) => (layout::snapshot_timestamp(req.app.now_ms()), n.build + 1),
                None => (layout::snapshot_timestamp(req.app.now_ms()), 1),
            };
            let base = c.version.trim_end_matches("-SNAPSHOT");
            let value = format!("{base}-{timestamp}-{build}");
            let name = layout::file_name(c.artifact_id, &value, classifier.as_deref(), &extension);
            Ok(Some(format!("{version_folder}/{name}")))
        }
        _ => Ok(None),
    }
}

/// The names of the files (not folders, not metadata) in `folder` of `repo`.
async fn file_names(app: App, repo: &str, folder: &str) -> ApiResult<Vec<String>> {
    let (r, f) = (repo.to_string(), folder.to_string());
    let children = app.db.read(move |c| items::children(c, &r, &f)).await?;
    Ok(children
        .into_iter()
        .filter(|i| !i.folder && !is_maven_metadata(&i.path))
        .map(|i| i.name)
        .collect())
}

/// A POM must say what its path says (unless `suppressPomConsistencyChecks`): 409 otherwise.
pub fn check_pom(repo: &Repo, path: &str, content: &std::path::Path) -> ApiResult<()> {
    if repo.settings.suppress_pom_consistency_checks || !path.ends_with(".pom") {
        return Ok(());
    }
    let Some(c) = layout::coordinates(path) else {
        return Ok(());
    };
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        let file = std::fs::File::open(content)
            .map_err(|e| ApiError::internal("reading a deployed POM", e))?;
        file.take(MAX_POM_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::internal("reading a deployed POM", e))?;
    }
    let (group, artifact, version) = layout::pom_coordinates(&bytes).map_err(|e| {
        ApiError::policy(format!(
            "The POM '{path}' is not a valid POM ({e}); deploy a valid one, or set \
             suppressPomConsistencyChecks on repository '{}'",
            repo.key
        ))
    })?;
    let expected = (
        c.group_id(),
        c.artifact_id.to_string(),
        c.version.to_string(),
    );
    if (group.as_str(), artifact.as_str(), version.as_str())
        != (
            expected.0.as_str(),
            expected.1.as_str(),
            expected.2.as_str(),
        )
    {
        return Err(ApiError::policy(format!(
            "The POM's coordinates {group}:{artifact}:{version} do not match its path \
             '{path}' ({}:{}:{}) in repository '{}' (suppressPomConsistencyChecks=false)",
            expected.0, expected.1, expected.2, repo.key
        )));
    }
    Ok(())
}

/// POMs larger than this are read only this far for the consistency check.
const MAX_POM_BYTES: u64 = 4 * 1024 * 1024;

/// Client uploads of `maven-metadata.xml` and its checksum files to a local repository are
/// accepted and dropped: the server calculates the metadata itself ([`after_change`]), so
/// clients racing on read-modify-write cannot lose each other's versions.
pub async fn accept_metadata_upload(
    req: &Request,
    repo: &Repo,
    path: &str,
) -> ApiResult<Option<warp::reply::Response>> {
    if !repo.is_local() || !is_metadata_or_its_checksum(path) {
        return Ok(None);
    }
    let mut body = req.take_body();
    crate::http::read_small_body(&mut body, 16 * 1024 * 1024).await?;
    Ok(Some(empty_response(StatusCode::CREATED)))
}

/// After a deploy or delete at `path` of a local Maven repository: remove timestamped
/// snapshots beyond `maxUniqueSnapshots`, and calculate `maven-metadata.xml` of the snapshot
/// version and of the artifact again. Failures are logged: the deploy itself succeeded.
pub async fn after_change(app: &App, repo: &Repo, path: &str, user: &str) {
    if !repo.is_local() {
        return;
    }
    if let Err(e) = recalculate(app, repo, path, user).await {
        tracing::warn!(arca_repo = %repo.key, arca_path = %path, error = %e.message,
            "maven-metadata.xml could not be calculated");
    }
}

async fn recalculate(app: &App, repo: &Repo, path: &str, user: &str) -> ApiResult<()> {
    let (artifact_folder, version_folder) = match layout::coordinates(path) {
        Some(c) => (c.artifact_folder(), c.version_folder()),
        None => {
            // a deleted version folder (or anything else): its parent, when that holds
            // metadata, is an artifact folder
            let (parent, _) = items::split_path(path);
            let metadata = format!("{parent}/maven-metadata.xml");
            let (r, m) = (repo.key.clone(), metadata);
            if parent.is_empty() || app.db.read(move |c| items::get(c, &r, &m)).await?.is_none() {
                return Ok(());
            }
            (parent.to_string(), path.to_string())
        }
    };
    if version_folder.ends_with("-SNAPSHOT") {
        prune_snapshots(app, repo, &version_folder).await?;
        for _ in 0..RETRIES {
            if snapshot_metadata(app, repo, &version_folder, user).await? {
                break;
            }
        }
    }
    for _ in 0..RETRIES {
        if artifact_metadata(app, repo, &artifact_folder, user).await? {
            break;
        }
    }
    Ok(())
}

/// Calculations retried when a concurrent change made them stale before they were stored.
const RETRIES: usize = 5;

/// The version folders of `artifact_folder` that hold files.
fn versions_in(
    conn: &arca_db::Conn<'_>,
    repo: &str,
    artifact_folder: &str,
) -> Result<Vec<String>, arca_db::DbError> {
    let mut versions = Vec::new();
    for child in items::children(conn, repo, artifact_folder)? {
        if child.folder
            && items::children(conn, repo, &child.path)?
                .iter()
                .any(|i| !i.folder && !is_maven_metadata(&i.path))
        {
            versions.push(child.name);
        }
    }
    Ok(versions)
}

/// Store (or remove) `folder/maven-metadata.xml` of an artifact; false when a concurrent
/// change made the calculation stale.
async fn artifact_metadata(app: &App, repo: &Repo, folder: &str, user: &str) -> ApiResult<bool> {
    let (r, f) = (repo.key.clone(), folder.to_string());
    let versions = app.db.read(move |c| versions_in(c, &r, &f)).await?;
    let target = format!("{folder}/maven-metadata.xml");
    if versions.is_empty() {
        let (r, t) = (repo.key.clone(), target);
        app.db
            .write(move |tx| items::delete_tree(tx, &r, &t))
            .await?;
        return Ok(true);
    }
    let (group_path, artifact_id) = items::split_path(folder);
    let metadata = layout::artifact_metadata(
        &group_path.replace('/', "."),
        artifact_id,
        versions.clone(),
        &layout::last_updated(app.now_ms()),
    );
    let xml = metadata
        .to_xml()
        .map_err(|e| ApiError::internal("writing maven-metadata.xml", e))?;
    let (r, f) = (repo.key.clone(), folder.to_string());
    let stored =
        crate::http::upload::store_bytes(app, &repo.key, &target, xml.into(), user, move |tx| {
            Ok(versions_in(tx, &r, &f)? == versions)
        })
        .await?;
    Ok(stored.is_some())
}

/// Store (or remove) the `maven-metadata.xml` of a snapshot version folder.
async fn snapshot_metadata(app: &App, repo: &Repo, folder: &str, user: &str) -> ApiResult<bool> {
    let names = file_names(app.clone(), &repo.key, folder).await?;
    let target = format!("{folder}/maven-metadata.xml");
    let (rest, version) = items::split_path(folder);
    let (group_path, artifact_id) = items::split_path(rest);
    if names.is_empty() || group_path.is_empty() {
        let (r, t) = (repo.key.clone(), target);
        app.db
            .write(move |tx| items::delete_tree(tx, &r, &t))
            .await?;
        return Ok(true);
    }
    let metadata = layout::snapshot_metadata(
        &group_path.replace('/', "."),
        artifact_id,
        version,
        &names,
        &layout::last_updated(app.now_ms()),
    );
    let xml = metadata
        .to_xml()
        .map_err(|e| ApiError::internal("writing maven-metadata.xml", e))?;
    let (r, f, expected) = (repo.key.clone(), folder.to_string(), names);
    let stored =
        crate::http::upload::store_bytes(app, &repo.key, &target, xml.into(), user, move |tx| {
            let now: Vec<String> = items::children(tx, &r, &f)?
                .into_iter()
                .filter(|i| !i.folder && !is_maven_metadata(&i.path))
                .map(|i| i.name)
                .collect();
            Ok(now == expected)
        })
        .await?;
    Ok(stored.is_some())
}

/// `maxUniqueSnapshots`: delete the files of timestamped builds older than the newest N.
async fn prune_snapshots(app: &App, repo: &Repo, folder: &str) -> ApiResult<()> {
    let keep = repo.settings.max_unique_snapshots as usize;
    if keep == 0 {
        return Ok(());
    }
    let (rest, version) = items::split_path(folder);
    let (_, artifact_id) = items::split_path(rest);
    let names = file_names(app.clone(), &repo.key, folder).await?;
    let mut builds: Vec<u32> = names
        .iter()
        .filter_map(|n| layout::snapshot_file(artifact_id, version, n))
        .map(|f| f.build)
        .collect();
    builds.sort_unstable_by(|a, b| b.cmp(a));
    builds.dedup();
    let Some(&oldest_kept) = builds.get(keep.saturating_sub(1)) else {
        return Ok(());
    };
    let doomed: Vec<String> = names
        .iter()
        .filter(|n| {
            layout::snapshot_file(artifact_id, version, n).is_some_and(|f| f.build < oldest_kept)
        })
        .map(|n| format!("{folder}/{n}"))
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let (r, paths) = (repo.key.clone(), doomed.clone());
    app.db
        .write(move |tx| {
            for p in &paths {
                items::delete_tree(tx, &r, p)?;
            }
            Ok::<_, arca_db::DbError>(())
        })
        .await?;
    tracing::info!(arca_repo = %repo.key, folder = %folder, removed = doomed.len(), keep,
        "old snapshots removed (maxUniqueSnapshots)");
    Ok(())
}
