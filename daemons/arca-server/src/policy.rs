//! What a repository accepts: include/exclude patterns (Ant-style, comma
//! separated, like the reference) and, for Maven repositories, the
//! release/snapshot switches.

use globset::{Glob, GlobSet, GlobSetBuilder};

use arca_db::Repo;

use crate::http::error::ApiError;

/// Compile a comma-separated list of Ant-style patterns; names the bad one.
pub fn compile_patterns(field: &str, patterns: &str) -> Result<Option<GlobSet>, ApiError> {
    let mut builder = GlobSetBuilder::new();
    let mut any = false;
    for pattern in patterns.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let glob = Glob::new(pattern).map_err(|e| {
            ApiError::bad_request(format!("Field '{field}': invalid pattern '{pattern}': {e}"))
        })?;
        builder.add(glob);
        any = true;
    }
    if !any {
        return Ok(None);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("Field '{field}': {e}")))
}

fn is_maven_metadata(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("maven-metadata.xml")
}

fn is_snapshot(path: &str) -> bool {
    path.split('/').any(|seg| seg.ends_with("-SNAPSHOT"))
}

/// Does `repo` accept a file at `path`? 403 naming the rule otherwise.
pub fn check_deploy(repo: &Repo, path: &str) -> Result<(), ApiError> {
    if let Some(includes) = compile_patterns("includesPattern", &repo.includes_pattern)?
        && !includes.is_match(path)
    {
        return Err(ApiError::forbidden(format!(
            "Repository '{}' does not accept '{path}': not matched by includesPattern '{}'",
            repo.key, repo.includes_pattern
        )));
    }
    if let Some(excludes) = compile_patterns("excludesPattern", &repo.excludes_pattern)?
        && excludes.is_match(path)
    {
        return Err(ApiError::forbidden(format!(
            "Repository '{}' does not accept '{path}': matched by excludesPattern '{}'",
            repo.key, repo.excludes_pattern
        )));
    }
    if repo.package_type == "maven" && !is_maven_metadata(path) {
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(includes: &str, excludes: &str, releases: bool, snapshots: bool) -> Repo {
        Repo {
            package_type: "maven".into(),
            includes_pattern: includes.into(),
            excludes_pattern: excludes.into(),
            handle_releases: releases,
            handle_snapshots: snapshots,
            ..Repo::local("r", 0)
        }
    }

    #[test]
    fn patterns_and_maven_switches() {
        let r = repo("**/*", "**/*.tmp", true, false);
        assert!(check_deploy(&r, "com/x/1.0/x-1.0.jar").is_ok());
        assert!(check_deploy(&r, "com/x/1.0/x-1.0.tmp").is_err());
        assert!(check_deploy(&r, "com/x/1.0-SNAPSHOT/x-1.0-20260101.1-1.jar").is_err());
        assert!(check_deploy(&r, "com/x/maven-metadata.xml").is_ok());
        let only_com = repo("com/**", "", true, true);
        assert!(check_deploy(&only_com, "com/a.jar").is_ok());
        assert!(check_deploy(&only_com, "org/a.jar").is_err());
        assert!(compile_patterns("includesPattern", "a[").is_err());
    }
}
