//! What a repository accepts: include/exclude patterns (Ant-style, comma
//! separated, like the reference), then its format's own rules
//! ([`crate::formats::Format::check_deploy`]).

use globset::{Glob, GlobSet, GlobSetBuilder};

use arca_db::Repo;

use crate::formats::Format;
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

/// Does `repo` accept a file at `path`? 409 naming the rule otherwise ([`ApiError::policy`]).
pub fn check_deploy(repo: &Repo, path: &str) -> Result<(), ApiError> {
    check_patterns(repo, path)?;
    // the format's own rules (Maven: handleReleases / handleSnapshots)
    Format::of(repo).check_deploy(repo, path)
}

/// `repo`'s include/exclude patterns: 409 naming the pattern that refuses `path`.
pub fn check_patterns(repo: &Repo, path: &str) -> Result<(), ApiError> {
    if let Some(includes) = compile_patterns("includesPattern", &repo.includes_pattern)?
        && !includes.is_match(path)
    {
        return Err(ApiError::policy(format!(
            "Repository '{}' does not accept '{path}': not matched by includesPattern '{}'",
            repo.key, repo.includes_pattern
        )));
    }
    if let Some(excludes) = compile_patterns("excludesPattern", &repo.excludes_pattern)?
        && excludes.is_match(path)
    {
        return Err(ApiError::policy(format!(
            "Repository '{}' does not accept '{path}': matched by excludesPattern '{}'",
            repo.key, repo.excludes_pattern
        )));
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
