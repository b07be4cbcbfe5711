//! Authorization: every handler asks here whether the caller may do an action at a path of a
//! repository (`docs/security.md`). The decisions are [`arca_db::permissions::Grants`]'s
//! (compiled permission targets, reloaded when the cluster's security version moves); this
//! module adds the repository's `anonymousRead` flag, the reference's overwrite rule and the
//! answers: anonymous callers get 401 with the challenge (they may log in), authenticated ones
//! 403 naming the action, repository and path.

use std::sync::Arc;

use arca_db::Repo;
use arca_db::permissions::{Action, Grants, RepoRef, Subject};

use crate::http::Request;
use crate::http::error::{ApiError, ApiResult};
use crate::state::Principal;

/// One caller's view of the grants: cheap to clone, `Send`, usable inside a DB closure.
#[derive(Debug, Clone)]
pub struct Authz {
    grants: Arc<Grants>,
    subject: Subject,
    anonymous: bool,
}

fn repo_ref(repo: &Repo) -> RepoRef<'_> {
    RepoRef {
        key: &repo.key,
        rclass: &repo.rclass,
    }
}

/// Files a build tool rewrites on every deploy: deploying over them needs no `delete`
/// (Maven's `maven-metadata.xml` and its checksums; checksum side files of any file).
pub fn overwrite_exempt(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("maven-metadata.xml")
        || [".md5", ".sha1", ".sha256", ".sha512"]
            .iter()
            .any(|s| name.ends_with(s))
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Annotate => "annotate",
        Action::Deploy => "deploy to",
        Action::Delete => "delete",
        Action::Manage => "manage",
    }
}

impl Authz {
    pub fn new(req: &Request, principal: &Principal) -> Authz {
        Authz {
            grants: req.app.grants(),
            subject: principal.subject(),
            anonymous: principal.is_anonymous(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.subject.admin
    }

    /// Whether the caller may do `action` at `path` of `repo` (`""`: the repository itself).
    /// Reading is also allowed to everyone in a repository flagged `anonymousRead`.
    pub fn allows(&self, repo: &Repo, path: &str, action: Action) -> bool {
        (action == Action::Read && repo.anonymous_read)
            || self
                .grants
                .allows(&self.subject, repo_ref(repo), path, action)
    }

    /// Whether the caller may read something in `repo` (repository lists, search).
    pub fn reads_somewhere(&self, repo: &Repo) -> bool {
        repo.anonymous_read
            || self
                .grants
                .allows_somewhere(&self.subject, repo_ref(repo), Action::Read)
    }

    /// `Ok` when allowed; otherwise 401 (anonymous) or 403 naming the action, repo and path.
    pub fn require(&self, repo: &Repo, path: &str, action: Action) -> ApiResult<()> {
        if self.allows(repo, path, action) {
            Ok(())
        } else {
            Err(self.denied(&format!("{} {}", verb(action), location(repo, path))))
        }
    }

    /// Deploying a file: `deploy`, and `delete` too when it replaces an existing file (the
    /// reference's "Delete/Overwrite"), except for [`overwrite_exempt`] files.
    pub fn require_deploy(&self, repo: &Repo, path: &str, exists: bool) -> ApiResult<()> {
        self.require(repo, path, Action::Deploy)?;
        if exists && !overwrite_exempt(path) && !self.allows(repo, path, Action::Delete) {
            return Err(self.denied(&format!(
                "overwrite {} (overwriting needs the delete permission)",
                location(repo, path)
            )));
        }
        Ok(())
    }

    /// The answer to a refused request; `what` completes "may not …".
    pub fn denied(&self, what: &str) -> ApiError {
        if self.anonymous {
            ApiError::unauthorized(format!(
                "Authentication is required: anonymous may not {what}"
            ))
        } else {
            ApiError::forbidden(format!("User '{}' may not {what}", self.subject.user))
        }
    }
}

fn location(repo: &Repo, path: &str) -> String {
    let path = path.trim_matches('/');
    if path.is_empty() {
        repo.key.clone()
    } else {
        format!("{}/{}", repo.key, path)
    }
}

/// Authenticate the caller and require `action` at `path` of `repo`; returns the caller.
pub async fn require(
    req: &Request,
    repo: &Repo,
    path: &str,
    action: Action,
) -> ApiResult<(Principal, Authz)> {
    let principal = req.principal().await?;
    let authz = Authz::new(req, &principal);
    authz.require(repo, path, action)?;
    Ok((principal, authz))
}

/// Authenticate the caller and return it with its view of the grants.
pub async fn caller(req: &Request) -> ApiResult<(Principal, Authz)> {
    let principal = req.principal().await?;
    let authz = Authz::new(req, &principal);
    Ok((principal, authz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrite_exemptions() {
        assert!(overwrite_exempt("org/a/maven-metadata.xml"));
        assert!(overwrite_exempt("org/a/maven-metadata.xml.sha1"));
        assert!(overwrite_exempt("org/a/a-1.jar.sha512"));
        assert!(overwrite_exempt("org/a/a-1.jar.md5"));
        assert!(!overwrite_exempt("org/a/a-1.jar"));
        assert!(!overwrite_exempt("org/a/a-1.pom"));
    }
}
