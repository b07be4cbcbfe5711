//! The decision: what a subject may do at a path of a repository.

use std::collections::BTreeMap;

use globset::GlobSet;

use crate::target::compile_globs;
use crate::{ANONYMOUS, Action, Actions, AuthzError, PermissionTarget};

/// Who asks, as far as grants are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// User name (`anonymous` for requests without credentials).
    pub user: String,
    /// Groups whose grants apply (a token scoped to some groups carries only those).
    pub groups: Vec<String>,
    /// Whether grants to the user itself apply (not for group-scoped tokens).
    pub user_grants: bool,
    pub admin: bool,
}

impl Subject {
    pub fn anonymous() -> Subject {
        Subject {
            user: ANONYMOUS.to_string(),
            groups: Vec::new(),
            user_grants: true,
            admin: false,
        }
    }
}

/// What the decision needs to know about a repository.
#[derive(Debug, Clone, Copy)]
pub struct RepoRef<'a> {
    pub key: &'a str,
    /// `local`, `remote` or `virtual`.
    pub rclass: &'a str,
}

#[derive(Debug)]
struct CompiledTarget {
    any: bool,
    any_class: Vec<String>,
    repos: GlobSet,
    include: GlobSet,
    /// The include patterns as written (for [`CompiledTarget::covers_everything_below`]).
    include_patterns: Vec<String>,
    /// The literal start of each include pattern (`org/acme/` of `org/acme/**`).
    include_prefixes: Vec<String>,
    exclude: GlobSet,
    users: BTreeMap<String, Actions>,
    groups: BTreeMap<String, Actions>,
}

impl CompiledTarget {
    fn covers_repo(&self, repo: RepoRef<'_>) -> bool {
        self.any || self.any_class.iter().any(|c| c == repo.rclass) || self.repos.is_match(repo.key)
    }

    fn covers_path(&self, path: &str) -> bool {
        let path = path.trim_matches('/');
        // The repository root (and folders on the way to an included path) count as covered,
        // so a user who may read `org/acme/**` can browse down to it.
        if path.is_empty() {
            return true;
        }
        if self.exclude.is_match(path) {
            return false;
        }
        let folder = format!("{path}/");
        self.include.is_match(path) || self.include_prefixes.iter().any(|p| p.starts_with(&folder))
    }

    /// Whether every path below folder `path` is covered, whatever its name: an include
    /// pattern `**`, or `P/**` with a literal `P` that is `path` or above it, and no exclude
    /// pattern. Conservative: `false` says only that some path below might not be covered.
    fn covers_everything_below(&self, path: &str) -> bool {
        if !self.exclude.is_empty() {
            return false;
        }
        let path = path.trim_matches('/');
        self.include_patterns.iter().any(|p| {
            if p == "**" {
                return true;
            }
            match p.strip_suffix("/**") {
                Some(prefix) if !prefix.contains(['*', '?', '[', ']', '{', '}', '\\']) => {
                    path == prefix || path.starts_with(&format!("{prefix}/"))
                }
                _ => false,
            }
        })
    }

    fn actions_for(&self, s: &Subject) -> Actions {
        let mut a = Actions::NONE;
        if s.user_grants
            && let Some(u) = self.users.get(&s.user)
        {
            a = a.union(*u);
        }
        for g in &s.groups {
            if let Some(ga) = self.groups.get(g) {
                a = a.union(*ga);
            }
        }
        a
    }
}

/// Every permission target, compiled for fast decisions (load once, share, reload when the
/// security version changes).
#[derive(Debug, Default)]
pub struct Grants {
    targets: Vec<CompiledTarget>,
}

impl Grants {
    pub fn compile(targets: Vec<PermissionTarget>) -> Result<Grants, AuthzError> {
        let mut out = Vec::new();
        for t in targets {
            let mut any = false;
            let mut any_class = Vec::new();
            let mut names = Vec::new();
            for r in &t.repositories {
                match r.to_ascii_uppercase().as_str() {
                    "ANY" => any = true,
                    "ANY LOCAL" => any_class.push("local".to_string()),
                    "ANY REMOTE" => any_class.push("remote".to_string()),
                    "ANY VIRTUAL" => any_class.push("virtual".to_string()),
                    _ => names.push(r.clone()),
                }
            }
            let include = if t.include_patterns.is_empty() {
                vec!["**".to_string()]
            } else {
                t.include_patterns.clone()
            };
            let include_prefixes = include
                .iter()
                .map(|p| {
                    let end = p.find(['*', '?', '[', '{']).unwrap_or(p.len());
                    p[..end].to_string()
                })
                .collect();
            out.push(CompiledTarget {
                any,
                any_class,
                repos: compile_globs("repositories", &names, '\0')?,
                include: compile_globs("include-patterns", &include, '/')?,
                include_patterns: include.clone(),
                include_prefixes,
                exclude: compile_globs("exclude-patterns", &t.exclude_patterns, '/')?,
                users: t.users,
                groups: t.groups,
            });
        }
        Ok(Grants { targets: out })
    }

    /// What `subject` may do at `path` of `repo` (`""`: the repository itself).
    pub fn actions(&self, subject: &Subject, repo: RepoRef<'_>, path: &str) -> Actions {
        if subject.admin {
            return Actions::ALL;
        }
        self.targets
            .iter()
            .filter(|t| t.covers_repo(repo) && t.covers_path(path))
            .fold(Actions::NONE, |acc, t| acc.union(t.actions_for(subject)))
    }

    pub fn allows(&self, subject: &Subject, repo: RepoRef<'_>, path: &str, action: Action) -> bool {
        self.actions(subject, repo, path).contains(action)
    }

    /// Whether `subject` may do `action` at every path below folder `path` of `repo`, whatever
    /// its name (e.g. through a target including `**`). `true` lets a listing page in the
    /// database without asking about each child; `false` may be conservative (ask
    /// [`Grants::allows`] per path then).
    pub fn allows_everything_below(
        &self,
        subject: &Subject,
        repo: RepoRef<'_>,
        path: &str,
        action: Action,
    ) -> bool {
        subject.admin
            || self.targets.iter().any(|t| {
                t.covers_repo(repo)
                    && t.actions_for(subject).contains(action)
                    && t.covers_everything_below(path)
            })
    }

    /// Whether `subject` may do `action` somewhere in `repo` (any path): listing repositories,
    /// searching.
    pub fn allows_somewhere(&self, subject: &Subject, repo: RepoRef<'_>, action: Action) -> bool {
        subject.admin
            || self
                .targets
                .iter()
                .filter(|t| t.covers_repo(repo))
                .any(|t| t.actions_for(subject).contains(action))
    }

    /// Whether `subject` holds `manage` on some target (may see and manage its permissions).
    pub fn manages_any(&self, subject: &Subject) -> bool {
        subject.admin
            || self
                .targets
                .iter()
                .any(|t| t.actions_for(subject).contains(Action::Manage))
    }
}
