//! Package formats: what one kind of repository (its `packageType`) does differently. The core
//! (authentication, authorization, storage, the database, HA, `http/artifacts.rs`) treats
//! every repository alike and asks the repository's [`Format`] wherever formats differ:
//!
//! - its URL space under the repository: the paths it answers without a stored item
//!   ([`Format::serve_generated`], e.g. checksum side files) and the deploys it takes itself
//!   instead of storing them ([`Format::accept_deploy`]);
//! - its deploy validation beyond the include/exclude patterns ([`Format::check_deploy`], e.g.
//!   Maven's release/snapshot switches);
//! - its metadata that clients rewrite on every deploy ([`Format::overwrite_exempt`]);
//! - what the repository API says about its layout ([`Format::layout_ref`]).
//!
//! A new format is a variant here, a module beside [`generic`] and [`maven`], an arm in each
//! `match` below, and its package type in [`PACKAGE_TYPES`]; a format with URLs of its own
//! outside `/{repo}/…` (npm's `/api/npm/{repo}/…`) adds an arm to `http/mod.rs::route_api`
//! (the registry API of `docker` repositories, `/v2/…` on the node's root, is routed before
//! the context path: `http/router.rs`).

pub mod checksums;
pub mod generic;
pub mod maven;
pub mod maven_layout;
pub mod maven_metadata;
pub mod npm;
pub mod oci;
pub mod pypi;

use warp::reply::Response;

use arca_db::Repo;
use arca_db::items::ChecksumKind;

use crate::http::Request;
use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult};
use crate::paths::RepoPath;

/// The package types a repository can be created with.
pub const PACKAGE_TYPES: &[&str] = &[
    generic::PACKAGE_TYPE,
    maven::PACKAGE_TYPE,
    npm::PACKAGE_TYPE,
    pypi::PACKAGE_TYPE,
    oci::PACKAGE_TYPE,
];

/// The format of a repository, chosen by its package type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `generic`: files at any path (also any package type without a module of its own).
    Generic,
    /// `maven`: Maven 2 layout, release/snapshot switches.
    Maven,
    /// `gradle`, `ivy`, `sbt` (not created by arca, kept from imported configurations):
    /// Maven's metadata files, none of its deploy rules.
    MavenLayout,
    /// `npm`: the registry API under `/api/npm/{repo}/` (`http/npm.rs`); packages arrive by
    /// `npm publish`, not by plain deploys.
    Npm,
    /// `pypi`: the simple index and the upload API under `/api/pypi/{repo}/` (`http/pypi.rs`);
    /// files arrive by `twine upload`, not by plain deploys.
    Pypi,
    /// `docker`: the OCI Distribution API under `/v2/{repo}/` (`http/oci.rs`); images arrive by
    /// registry pushes, not by plain deploys.
    Oci,
}

impl Format {
    /// The format of `repo`.
    pub fn of(repo: &Repo) -> Format {
        Format::for_package_type(&repo.package_type)
    }

    /// The format serving repositories of `package_type`.
    pub fn for_package_type(package_type: &str) -> Format {
        match package_type {
            maven::PACKAGE_TYPE => Format::Maven,
            npm::PACKAGE_TYPE => Format::Npm,
            pypi::PACKAGE_TYPE => Format::Pypi,
            oci::PACKAGE_TYPE => Format::Oci,
            t if maven::LAYOUT_PACKAGE_TYPES.contains(&t) => Format::MavenLayout,
            _ => Format::Generic,
        }
    }

    /// The repository API's `repoLayoutRef`.
    pub fn layout_ref(self) -> &'static str {
        match self {
            Format::Maven => maven::LAYOUT_REF,
            Format::Npm => npm::LAYOUT_REF,
            Format::Pypi => pypi::LAYOUT_REF,
            Format::Oci => oci::LAYOUT_REF,
            Format::Generic | Format::MavenLayout => generic::LAYOUT_REF,
        }
    }

    /// The format's own rules for a file deployed at `path` of `repo` (after the repository's
    /// include/exclude patterns): 409 naming the rule.
    pub fn check_deploy(self, repo: &Repo, path: &str) -> ApiResult<()> {
        match self {
            Format::Maven => maven::check_deploy(repo, path),
            // a tarball stored without its manifest would be invisible to npm
            Format::Npm => Err(ApiError::conflict(format!(
                "Repository '{}' is an npm repository: publish packages with npm to its registry \
                 URL (…/api/npm/{}/), not by deploying '{}'",
                repo.key, repo.key, path
            ))),
            // a file stored without its row would be missing from the index
            Format::Pypi => Err(ApiError::conflict(format!(
                "Repository '{}' is a PyPI repository: upload distributions with twine or uv \
                 publish to …/api/pypi/{}, not by deploying '{}'",
                repo.key, repo.key, path
            ))),
            // a manifest or blob stored without its row would be unknown to the registry API
            Format::Oci => Err(ApiError::conflict(format!(
                "Repository '{}' is a Docker/OCI repository: push images with a registry client \
                 (podman, skopeo, docker, oras) to /v2/{}/…, not by deploying '{}'",
                repo.key, repo.key, path
            ))),
            Format::Generic | Format::MavenLayout => Ok(()),
        }
    }

    /// Whether `path` is metadata the format's clients rewrite on every deploy, so deploying
    /// over it needs no `delete` permission.
    pub fn overwrite_exempt(self, path: &str) -> bool {
        match self {
            Format::Maven | Format::MavenLayout => maven::is_metadata_or_its_checksum(path),
            Format::Generic | Format::Npm | Format::Pypi | Format::Oci => false,
        }
    }

    /// Whether `path` is metadata, which a remote repository asks its upstream for again after
    /// `retrievalCachePeriodSecs` (everything else is cached for good).
    pub fn is_metadata(self, path: &str) -> bool {
        match self {
            Format::Maven | Format::MavenLayout => maven::is_changing(path),
            Format::Npm => npm::packument_of_cache_path(path).is_some(),
            Format::Pypi => pypi_cached_page_project(path).is_some(),
            // a tag moves; manifests by digest and blobs never change
            Format::Oci => matches!(oci::stored_part(path), Some(oci::StoredPart::Tag { .. })),
            Format::Generic => false,
        }
    }

    /// The upstream's path (already URL-encoded) of a remote repository's `path`, where the
    /// format caches something under another name than the upstream's (npm: the packument of
    /// `@s/n` is cached at `.npm/@s/n/package.json` and asked for as `@s%2fn`); `None`: the same.
    pub fn upstream_path(self, repo: &Repo, path: &str) -> Option<String> {
        match self {
            Format::Npm => npm::packument_of_cache_path(path).map(|name| name.escaped()),
            Format::Pypi => pypi_upstream_page(repo, path),
            Format::Generic | Format::Maven | Format::MavenLayout | Format::Oci => None,
        }
    }

    /// The upstream file that states the checksum of a file fetched from `path` (Maven's
    /// `.sha1`), if the format has one.
    pub fn upstream_checksum(self, path: &str) -> Option<(String, ChecksumKind)> {
        match self {
            Format::Maven | Format::MavenLayout
                if checksums::side_file(path).is_none() && !maven::is_changing(path) =>
            {
                Some((format!("{path}.sha1"), ChecksumKind::Sha1))
            }
            _ => None,
        }
    }

    /// Whether a virtual repository merges `path` from its members (instead of serving the
    /// first member's): the metadata its clients read versions from, without checksum files.
    pub fn merges(self, path: &str) -> bool {
        match self {
            Format::Maven | Format::MavenLayout => maven::is_metadata(path),
            Format::Generic | Format::Npm | Format::Pypi | Format::Oci => false,
        }
    }

    /// The merge of members' copies of `path` (see [`Format::merges`]), in resolution order.
    pub fn merge(self, parts: &[bytes::Bytes]) -> Result<bytes::Bytes, String> {
        match self {
            Format::Maven | Format::MavenLayout => {
                let mut parsed = Vec::with_capacity(parts.len());
                for part in parts {
                    match maven_metadata::Metadata::parse(part) {
                        Ok(m) => parsed.push(m),
                        // one member's garbage does not hide the others' versions
                        Err(e) => tracing::warn!(error = %e, "skipping a member's metadata"),
                    }
                }
                maven_metadata::Metadata::merge(&parsed)
                    .to_xml()
                    .map(bytes::Bytes::from)
                    .map_err(|e| e.to_string())
            }
            Format::Generic | Format::Npm | Format::Pypi | Format::Oci => parts
                .first()
                .cloned()
                .ok_or_else(|| "nothing to merge".into()),
        }
    }

    /// Answer a `GET`/`HEAD` of `target`, where no item is stored (the caller may read the
    /// repository at `target`): a file the format generates, or 404.
    pub async fn serve_generated(
        self,
        req: &Request,
        authz: &Authz,
        repo: &Repo,
        target: &RepoPath,
    ) -> ApiResult<Response> {
        match self {
            // every format so far generates the reference's checksum side files
            Format::Generic
            | Format::Maven
            | Format::MavenLayout
            | Format::Npm
            | Format::Pypi
            | Format::Oci => checksums::serve_side_file(req, authz, repo, target).await,
        }
    }

    /// Where a deploy to `path` of `repo` lands, when the format moves it (Maven's
    /// `snapshotVersionBehavior`); `None`: at `path`.
    pub async fn deploy_path(
        self,
        req: &Request,
        repo: &Repo,
        path: &str,
    ) -> ApiResult<Option<String>> {
        match self {
            Format::Maven => maven::deploy_path(req, repo, path).await,
            Format::Generic | Format::MavenLayout | Format::Npm | Format::Pypi | Format::Oci => {
                Ok(None)
            }
        }
    }

    /// The format's checks of a deployed file's content, staged at `content` before it is
    /// stored (Maven: a POM's coordinates against its path).
    pub fn check_content(
        self,
        repo: &Repo,
        path: &str,
        content: &std::path::Path,
    ) -> ApiResult<()> {
        match self {
            Format::Maven => maven::check_pom(repo, path, content),
            Format::Generic | Format::MavenLayout | Format::Npm | Format::Pypi | Format::Oci => {
                Ok(())
            }
        }
    }

    /// What the format derives from a repository's content, after a deploy or delete at
    /// `path` (Maven: `maven-metadata.xml`, old snapshots).
    pub async fn after_change(self, app: &crate::state::App, repo: &Repo, path: &str, user: &str) {
        match self {
            Format::Maven => maven::after_change(app, repo, path, user).await,
            Format::Generic | Format::MavenLayout | Format::Npm | Format::Pypi | Format::Oci => {}
        }
    }

    /// Take a deploy to `target` that the format handles itself instead of storing it
    /// (`None`: store it as a file). Called once the deploy is authorised and validated.
    pub async fn accept_deploy(
        self,
        req: &mut Request,
        authz: &Authz,
        repo: &Repo,
        target: &RepoPath,
    ) -> ApiResult<Option<Response>> {
        if self == Format::Maven
            && let Some(resp) = maven::accept_metadata_upload(req, repo, &target.path).await?
        {
            return Ok(Some(resp));
        }
        checksums::accept_side_file(req, authz, repo, target).await
    }
}

/// The project of a remote PyPI repository's cached upstream page (`.pypi/{project}/simple.html`).
pub fn pypi_cached_page_project(path: &str) -> Option<&str> {
    path.strip_prefix(pypi::CACHE_DIR)?
        .strip_prefix('/')?
        .strip_suffix("/simple.html")
        .filter(|p| !p.is_empty() && !p.contains('/'))
}

/// Where a remote PyPI repository's cached page of a project is upstream:
/// `{pyPIRepositorySuffix}/{project}/` under its URL (the suffix defaults to `simple`; devpi's is
/// `+simple`). The cached path's project is PEP 503-normalised: nothing to escape.
fn pypi_upstream_page(repo: &Repo, path: &str) -> Option<String> {
    let project = pypi_cached_page_project(path)?;
    let suffix = repo
        .settings
        .reference
        .get("pyPIRepositorySuffix")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("simple")
        .trim_matches('/');
    Some(if suffix.is_empty() {
        format!("{project}/")
    } else {
        format!("{suffix}/{project}/")
    })
}

/// Whether deploying at `path` of `repo` replaces a file, so needs the `delete` permission as
/// well (`exists`: a file is stored there): not for what the format exempts
/// ([`Format::overwrite_exempt`]).
pub fn replaces_protected_file(repo: &Repo, path: &str, exists: bool) -> bool {
    exists && !Format::of(repo).overwrite_exempt(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overwrite_exempt(repo: &Repo, path: &str) -> bool {
        !replaces_protected_file(repo, path, true)
    }

    #[test]
    fn overwrite_exemptions_are_exactly_maven_metadata() {
        let maven = Repo {
            package_type: "maven".into(),
            ..Repo::local("m", 0)
        };
        let generic = Repo::local("g", 0);
        assert!(overwrite_exempt(&maven, "org/a/maven-metadata.xml"));
        assert!(overwrite_exempt(&maven, "org/a/maven-metadata.xml.sha1"));
        assert!(overwrite_exempt(&maven, "org/a/maven-metadata.xml.sha512"));
        for not_exempt in [
            "org/a/maven-metadata.xml.asc",
            "org/a/maven-metadata.xml.bak",
            "org/a/maven-metadata.xmlx",
            "org/a/maven-metadata.xml.",
            "org/a/a-1.jar.sha512",
            "org/a/a-1.jar.md5",
            "tool.bin.sha512",
            "org/a/a-1.jar",
            "org/a/x-maven-metadata.xml",
        ] {
            assert!(!overwrite_exempt(&maven, not_exempt), "{not_exempt}");
        }
        assert!(!overwrite_exempt(&generic, "org/a/maven-metadata.xml"));
    }
}
