//! Authorization: every handler asks here whether the caller may do an action at a path of a
//! repository (`docs/security.md`). The decisions are [`arca_db::permissions::Grants`]'s
//! (compiled permission targets, reloaded when the cluster's security version moves); this
//! module adds the repository's `anonymousRead` flag, the reference's overwrite rule and the
//! answers: anonymous callers get 401 with the challenge (they may log in), authenticated ones
//! 403 naming the action, repository and path.

use std::sync::Arc;

use arca_db::permissions::{self, Action, Grants, RepoRef, Subject};
use arca_db::{Conn, Repo, security};

use crate::http::Request;
use crate::http::error::{ApiError, ApiResult};
use crate::state::Principal;

/// One caller's view of the grants: cheap to clone, `Send`, usable inside a DB closure.
#[derive(Debug, Clone)]
pub struct Authz {
    grants: Arc<Grants>,
    /// The cluster's security version `grants` were read at.
    version: i64,
    subject: Subject,
    anonymous: bool,
}

fn repo_ref(repo: &Repo) -> RepoRef<'_> {
    RepoRef {
        key: &repo.key,
        rclass: &repo.rclass,
    }
}

/// What a user is told about a repository it may not read, and about one that does not exist.
pub const HIDDEN_MESSAGE: &str = "Could not find resource";

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
        let (grants, version) = req.app.grants_snapshot();
        Authz {
            grants,
            version,
            subject: principal.subject(),
            anonymous: principal.is_anonymous(),
        }
    }

    /// This caller's view as of `conn`'s transaction: when the cluster's security version moved
    /// since the grants were read (a permission, group or user changed while the request ran,
    /// e.g. during a long upload), the grants are read again in the transaction, the caller's
    /// groups can only shrink to its current ones, and a deleted or disabled user is refused.
    /// A decision taken with the result holds at the transaction's commit.
    pub fn at_commit(&self, conn: &Conn<'_>) -> ApiResult<Authz> {
        let version = permissions::security_version(conn)?;
        if version == self.version || self.anonymous {
            return Ok(self.clone());
        }
        let user = security::get_user(conn, &self.subject.user)?
            .filter(|u| !u.disabled)
            .ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "User '{}' was disabled or deleted during the request",
                    self.subject.user
                ))
            })?;
        let current_groups = permissions::user_groups(conn, &user.name)?;
        let admin_groups = permissions::admin_groups(conn)?;
        let groups: Vec<String> = self
            .subject
            .groups
            .iter()
            .filter(|g| current_groups.contains(g))
            .cloned()
            .collect();
        let admin =
            self.subject.admin && (user.admin || groups.iter().any(|g| admin_groups.contains(g)));
        Ok(Authz {
            grants: Arc::new(permissions::load_grants(conn)?),
            version,
            subject: Subject {
                user: user.name,
                groups,
                user_grants: self.subject.user_grants,
                admin,
            },
            anonymous: false,
        })
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

    /// Whether the caller may do `action` at every path below folder `path` of `repo` (so a
    /// listing can be paged in the database without a decision per child). `false` may be
    /// conservative: then ask [`Authz::allows`] per path.
    pub fn allows_everything_below(&self, repo: &Repo, path: &str, action: Action) -> bool {
        (action == Action::Read && repo.anonymous_read)
            || self
                .grants
                .allows_everything_below(&self.subject, repo_ref(repo), path, action)
    }

    /// Whether the caller may read something in `repo` (repository lists, search).
    pub fn reads_somewhere(&self, repo: &Repo) -> bool {
        repo.anonymous_read
            || self
                .grants
                .allows_somewhere(&self.subject, repo_ref(repo), Action::Read)
    }

    /// Whether the caller may deploy somewhere in `repo`.
    pub fn deploys_somewhere(&self, repo: &Repo) -> bool {
        self.grants
            .allows_somewhere(&self.subject, repo_ref(repo), Action::Deploy)
    }

    /// `Ok` when allowed; otherwise 401 (anonymous), 403 naming the action, repo and path, or
    /// — for a user who may read nothing in the repository — the 404 of a repository that does
    /// not exist, so that names cannot be probed.
    pub fn require(&self, repo: &Repo, path: &str, action: Action) -> ApiResult<()> {
        if self.allows(repo, path, action) {
            Ok(())
        } else if !self.anonymous && !self.reads_somewhere(repo) {
            Err(ApiError::not_found(HIDDEN_MESSAGE))
        } else {
            Err(self.denied(&format!("{} {}", verb(action), location(repo, path))))
        }
    }

    /// Deploying a file: `deploy`, and `delete` too when it `replaces` an existing file (the
    /// reference's "Delete/Overwrite"; the caller leaves out the files its format exempts,
    /// [`crate::formats::replaces_protected_file`]).
    pub fn require_deploy(&self, repo: &Repo, path: &str, replaces: bool) -> ApiResult<()> {
        self.require(repo, path, Action::Deploy)?;
        if replaces && !self.allows(repo, path, Action::Delete) {
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

/// The caller, who may read something in `repo` (else the refusal of a read of the repository):
/// the endpoints of a format API that are not about one path.
pub async fn require_reads_somewhere(req: &Request, repo: &Repo) -> ApiResult<Authz> {
    let (_, authz) = caller(req).await?;
    if !authz.reads_somewhere(repo) {
        authz.require(repo, "", Action::Read)?;
    }
    Ok(authz)
}

/// Authenticate the caller and return it with its view of the grants.
pub async fn caller(req: &Request) -> ApiResult<(Principal, Authz)> {
    let principal = req.principal().await?;
    let authz = Authz::new(req, &principal);
    Ok((principal, authz))
}
