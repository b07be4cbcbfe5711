//! Groups, permission targets and the authorization decision.
//!
//! A permission target names repositories (keys, `*`/`?` patterns, or `ANY`, `ANY LOCAL`,
//! `ANY REMOTE`, `ANY VIRTUAL`) and Ant-style path patterns (include, exclude), and grants
//! actions to users and groups. `anonymous` is a user name like any other. Actions imply the
//! ones below them: manage ⊃ delete ⊃ deploy ⊃ annotate ⊃ read (the reference's UI ticks them
//! the same way). Administrators (the user's flag, or a group with `admin`) may do everything.
//!
//! Every change here bumps the cluster's security version (`cluster_settings`), which each
//! server polls to drop its cached grants and authentications on every node within seconds.
//! REST (`/api/security/*`, `/api/v2/security/permissions`) and `arcactl user|group|permission`
//! both go through these functions: one validation, one set of rules.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::{Conn, DbError, args};

/// One permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Read,
    Annotate,
    Deploy,
    Delete,
    Manage,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::Annotate,
        Action::Deploy,
        Action::Delete,
        Action::Manage,
    ];

    /// arca's name (arcactl, docs).
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Annotate => "annotate",
            Action::Deploy => "deploy",
            Action::Delete => "delete",
            Action::Manage => "manage",
        }
    }

    /// The reference's v2 permission API name (`write` for deploy).
    pub fn v2_name(self) -> &'static str {
        match self {
            Action::Deploy => "write",
            other => other.name(),
        }
    }

    /// Either name, any case; also the reference's one-letter v1 codes (r, n, w, d, m).
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" | "r" => Some(Action::Read),
            "annotate" | "n" => Some(Action::Annotate),
            "deploy" | "write" | "w" => Some(Action::Deploy),
            "delete" | "d" => Some(Action::Delete),
            "manage" | "admin" | "m" => Some(Action::Manage),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of actions, closed under implication (granting delete grants deploy, annotate, read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(0b1_1111);

    /// The granted actions plus everything they imply.
    pub fn granted(actions: impl IntoIterator<Item = Action>) -> Actions {
        let mut bits = 0u8;
        for a in actions {
            // an action implies every action below it
            for lower in Action::ALL.iter().filter(|l| **l <= a) {
                bits |= lower.bit();
            }
        }
        Actions(bits)
    }

    /// Parse a list (`read,deploy` or JSON-ish names); names the bad entry.
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Actions, String> {
        let mut list = Vec::new();
        for n in names {
            if n.trim().is_empty() {
                continue;
            }
            list.push(Action::parse(n).ok_or_else(|| {
                format!(
                    "unknown action '{n}'; known: read, annotate, deploy (or write), delete, \
                     manage"
                )
            })?);
        }
        Ok(Actions::granted(list))
    }

    pub fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Stored form: `read,annotate,deploy`.
    pub fn to_stored(self) -> String {
        self.iter().map(Action::name).collect::<Vec<_>>().join(",")
    }
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub description: String,
    /// New users join it automatically.
    pub auto_join: bool,
    /// Members are administrators.
    pub admin: bool,
    pub created: i64,
}

/// A permission target as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionTarget {
    pub name: String,
    /// Repository keys, `*`/`?` patterns, `ANY`, `ANY LOCAL`, `ANY REMOTE`, `ANY VIRTUAL`.
    pub repositories: Vec<String>,
    /// Ant-style path patterns, comma separated in the reference; `**` by default.
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub users: BTreeMap<String, Actions>,
    pub groups: BTreeMap<String, Actions>,
}

/// Longest user, group or permission target name.
pub const MAX_NAME_LEN: usize = 64;

/// Names: 1–64 characters, letters, digits and `. _ - @ +` (no `/`, spaces, or control
/// characters, so they are safe in URLs, logs and `user:name` references).
pub fn validate_name(kind: &str, name: &str) -> Result<(), DbError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "{kind} name '{name}' is invalid: 1 to {MAX_NAME_LEN} characters of letters, \
             digits and . _ - @ + (not starting with '.')"
        )))
    }
}

/// `ANY`-style repository selectors of the reference.
const ANY_SELECTORS: [&str; 4] = ["ANY", "ANY LOCAL", "ANY REMOTE", "ANY VIRTUAL"];

fn compile_globs(field: &str, patterns: &[String], separator: char) -> Result<GlobSet, DbError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(separator == '/')
            .build()
            .map_err(|e| DbError::Invalid(format!("{field}: pattern '{p}' is invalid: {e}")))?;
        b.add(glob);
    }
    b.build()
        .map_err(|e| DbError::Invalid(format!("{field}: {e}")))
}

impl PermissionTarget {
    /// Check names, selectors and patterns; normalises (trims, drops empty entries, defaults the
    /// include pattern to `**`).
    pub fn validate(mut self) -> Result<PermissionTarget, DbError> {
        validate_name("permission target", &self.name)?;
        let clean = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        self.repositories = clean(self.repositories);
        self.include_patterns = clean(self.include_patterns);
        self.exclude_patterns = clean(self.exclude_patterns);
        if self.repositories.is_empty() {
            return Err(DbError::Invalid(format!(
                "permission target '{}': 'repositories' is empty; give repository keys, \
                 patterns like libs-*, or ANY / ANY LOCAL / ANY REMOTE",
                self.name
            )));
        }
        for r in &self.repositories {
            let upper = r.to_ascii_uppercase();
            if upper.starts_with("ANY") && !ANY_SELECTORS.contains(&upper.as_str()) {
                return Err(DbError::Invalid(format!(
                    "permission target '{}': repository selector '{r}' is unknown; use one of {}",
                    self.name,
                    ANY_SELECTORS.join(", ")
                )));
            }
        }
        if self.include_patterns.is_empty() {
            self.include_patterns = vec!["**".to_string()];
        }
        compile_globs("repositories", &self.repositories, '\0')?;
        compile_globs("include-patterns", &self.include_patterns, '/')?;
        compile_globs("exclude-patterns", &self.exclude_patterns, '/')?;
        for (kind, names) in [("user", &self.users), ("group", &self.groups)] {
            for name in names.keys() {
                validate_name(kind, name)?;
            }
        }
        Ok(self)
    }
}

impl PermissionTarget {
    /// The reference's v2 JSON (`GET /api/v2/security/permissions/{name}`; also
    /// `arcactl permission show --json`): actions by their v2 names (`write` for deploy).
    pub fn to_v2_json(&self) -> serde_json::Value {
        let v2 = |grants: &BTreeMap<String, Actions>| -> serde_json::Value {
            serde_json::Value::Object(
                grants
                    .iter()
                    .map(|(who, a)| {
                        let names: Vec<serde_json::Value> =
                            a.iter().map(|x| x.v2_name().into()).collect();
                        (who.clone(), serde_json::Value::Array(names))
                    })
                    .collect(),
            )
        };
        serde_json::json!({
            "name": self.name,
            "repo": {
                "include-patterns": self.include_patterns,
                "exclude-patterns": self.exclude_patterns,
                "repositories": self.repositories,
                "actions": {
                    "users": v2(&self.users),
                    "groups": v2(&self.groups),
                },
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// storage

fn bool_col(r: &crate::Row<'_>, i: usize) -> Result<bool, DbError> {
    r.get(i)
}

pub fn get_group(conn: &Conn<'_>, name: &str) -> Result<Option<Group>, DbError> {
    conn.query_opt(
        "SELECT name, description, auto_join, admin, created FROM groups WHERE name = ?1",
        args![name],
        |r| {
            Ok(Group {
                name: r.get(0)?,
                description: r.get(1)?,
                auto_join: bool_col(r, 2)?,
                admin: bool_col(r, 3)?,
                created: r.get(4)?,
            })
        },
    )
}

pub fn list_groups(conn: &Conn<'_>) -> Result<Vec<Group>, DbError> {
    conn.query_map(
        "SELECT name, description, auto_join, admin, created FROM groups ORDER BY name",
        args![],
        |r| {
            Ok(Group {
                name: r.get(0)?,
                description: r.get(1)?,
                auto_join: bool_col(r, 2)?,
                admin: bool_col(r, 3)?,
                created: r.get(4)?,
            })
        },
    )
}

/// Create or replace a group (its members are kept).
pub fn put_group(conn: &Conn<'_>, group: &Group) -> Result<bool, DbError> {
    validate_name("group", &group.name)?;
    let existed = get_group(conn, &group.name)?.is_some();
    if existed {
        conn.execute(
            "UPDATE groups SET description = ?2, auto_join = ?3, admin = ?4 WHERE name = ?1",
            args![group.name, group.description, group.auto_join, group.admin],
        )?;
    } else {
        conn.execute(
            "INSERT INTO groups (name, description, auto_join, admin, created) \
             VALUES (?1,?2,?3,?4,?5)",
            args![
                group.name,
                group.description,
                group.auto_join,
                group.admin,
                group.created
            ],
        )?;
    }
    bump_security_version(conn)?;
    Ok(!existed)
}

/// Delete a group, its memberships and the grants to it. `false` when it did not exist.
pub fn delete_group(conn: &Conn<'_>, name: &str) -> Result<bool, DbError> {
    conn.execute(
        "DELETE FROM permission_grants WHERE principal_kind = 'group' AND principal = ?1",
        args![name],
    )?;
    let deleted = conn.execute("DELETE FROM groups WHERE name = ?1", args![name])? > 0;
    bump_security_version(conn)?;
    Ok(deleted)
}

/// The groups `user` belongs to, sorted.
pub fn user_groups(conn: &Conn<'_>, user: &str) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT group_name FROM user_groups WHERE user_name = ?1 ORDER BY group_name",
        args![user],
        |r| r.get(0),
    )
}

/// The members of `group`, sorted.
pub fn group_members(conn: &Conn<'_>, group: &str) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT user_name FROM user_groups WHERE group_name = ?1 ORDER BY user_name",
        args![group],
        |r| r.get(0),
    )
}

/// Make `user` a member of exactly `groups` (each must exist).
pub fn set_user_groups(conn: &Conn<'_>, user: &str, groups: &[String]) -> Result<(), DbError> {
    for g in groups {
        if get_group(conn, g)?.is_none() {
            return Err(DbError::Invalid(format!("group '{g}' does not exist")));
        }
    }
    conn.execute("DELETE FROM user_groups WHERE user_name = ?1", args![user])?;
    let unique: BTreeSet<&String> = groups.iter().collect();
    for g in unique {
        conn.execute(
            "INSERT INTO user_groups (user_name, group_name) VALUES (?1, ?2)",
            args![user, g],
        )?;
    }
    bump_security_version(conn)
}

/// Make exactly `users` the members of `group` (each must exist).
pub fn set_group_members(conn: &Conn<'_>, group: &str, users: &[String]) -> Result<(), DbError> {
    for u in users {
        if crate::security::get_user(conn, u)?.is_none() {
            return Err(DbError::Invalid(format!("user '{u}' does not exist")));
        }
    }
    conn.execute(
        "DELETE FROM user_groups WHERE group_name = ?1",
        args![group],
    )?;
    let unique: BTreeSet<&String> = users.iter().collect();
    for u in unique {
        conn.execute(
            "INSERT INTO user_groups (user_name, group_name) VALUES (?1, ?2)",
            args![u, group],
        )?;
    }
    bump_security_version(conn)
}

/// The admin groups (their members are administrators), sorted.
pub fn admin_groups(conn: &Conn<'_>) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT name FROM groups WHERE admin = 1 ORDER BY name",
        args![],
        |r| r.get(0),
    )
}

/// The auto-join groups (new users join them).
pub fn auto_join_groups(conn: &Conn<'_>) -> Result<Vec<String>, DbError> {
    conn.query_map(
        "SELECT name FROM groups WHERE auto_join = 1 ORDER BY name",
        args![],
        |r| r.get(0),
    )
}

pub fn list_targets(conn: &Conn<'_>) -> Result<Vec<PermissionTarget>, DbError> {
    let mut targets: BTreeMap<String, PermissionTarget> = BTreeMap::new();
    for (name, include, exclude) in conn.query_map(
        "SELECT name, include_patterns, exclude_patterns FROM permission_targets ORDER BY name",
        args![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
            ))
        },
    )? {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        targets.insert(
            name.clone(),
            PermissionTarget {
                name,
                include_patterns: split(&include),
                exclude_patterns: split(&exclude),
                ..PermissionTarget::default()
            },
        );
    }
    for (target, repo) in conn.query_map(
        "SELECT target, repo FROM permission_target_repos ORDER BY target, repo",
        args![],
        |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
    )? {
        if let Some(t) = targets.get_mut(&target) {
            t.repositories.push(repo);
        }
    }
    for (target, kind, principal, actions) in conn.query_map(
        "SELECT target, principal_kind, principal, actions FROM permission_grants \
         ORDER BY target, principal_kind, principal",
        args![],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
            ))
        },
    )? {
        let actions = Actions::parse_list(actions.split(','))
            .map_err(|e| DbError::Corrupt(format!("permission target '{target}': {e}")))?;
        if let Some(t) = targets.get_mut(&target) {
            match kind.as_str() {
                "user" => t.users.insert(principal, actions),
                _ => t.groups.insert(principal, actions),
            };
        }
    }
    Ok(targets.into_values().collect())
}

pub fn get_target(conn: &Conn<'_>, name: &str) -> Result<Option<PermissionTarget>, DbError> {
    // Few targets exist; reading all keeps one code path.
    Ok(list_targets(conn)?.into_iter().find(|t| t.name == name))
}

/// Create or replace a permission target (validated). Returns `true` when it was created.
/// Grants may name users and groups that do not exist (yet): like the reference, they apply
/// once such a user or group is created.
pub fn put_target(conn: &Conn<'_>, target: PermissionTarget, now_ms: i64) -> Result<bool, DbError> {
    let t = target.validate()?;
    let created = conn.execute(
        "DELETE FROM permission_targets WHERE name = ?1",
        args![t.name],
    )? == 0;
    conn.execute(
        "INSERT INTO permission_targets (name, include_patterns, exclude_patterns, created, \
         updated) VALUES (?1, ?2, ?3, ?4, ?4)",
        args![
            t.name,
            t.include_patterns.join(","),
            t.exclude_patterns.join(","),
            now_ms
        ],
    )?;
    for r in &t.repositories {
        conn.execute(
            "INSERT INTO permission_target_repos (target, repo) VALUES (?1, ?2) \
             ON CONFLICT DO NOTHING",
            args![t.name, r],
        )?;
    }
    for (kind, grants) in [("user", &t.users), ("group", &t.groups)] {
        for (principal, actions) in grants {
            if actions.is_empty() {
                continue;
            }
            conn.execute(
                "INSERT INTO permission_grants (target, principal_kind, principal, actions) \
                 VALUES (?1, ?2, ?3, ?4)",
                args![t.name, kind, principal, actions.to_stored()],
            )?;
        }
    }
    bump_security_version(conn)?;
    Ok(created)
}

pub fn delete_target(conn: &Conn<'_>, name: &str) -> Result<bool, DbError> {
    let deleted = conn.execute(
        "DELETE FROM permission_targets WHERE name = ?1",
        args![name],
    )? > 0;
    bump_security_version(conn)?;
    Ok(deleted)
}

/// Remove every grant to user `name` (when the user is deleted).
pub fn delete_user_grants(conn: &Conn<'_>, name: &str) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM permission_grants WHERE principal_kind = 'user' AND principal = ?1",
        args![name],
    )
}

const SECURITY_VERSION_KEY: &str = "security.version";

/// The cluster's security version: changes whenever a user, group, grant or token changes.
pub fn security_version(conn: &Conn<'_>) -> Result<i64, DbError> {
    Ok(conn
        .query_opt(
            "SELECT value FROM cluster_settings WHERE key = ?1",
            args![SECURITY_VERSION_KEY],
            |r| r.get::<String>(0),
        )?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Record a security change (inside the caller's write transaction).
pub fn bump_security_version(conn: &Conn<'_>) -> Result<(), DbError> {
    let next = security_version(conn)? + 1;
    let now = crate::clock::Clock::now_ms(&crate::SystemClock);
    conn.execute(
        "INSERT INTO cluster_settings (key, value, updated) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        args![SECURITY_VERSION_KEY, next.to_string(), now],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// decisions

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
            user: crate::security::ANONYMOUS.to_string(),
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
    pub fn load(conn: &Conn<'_>) -> Result<Grants, DbError> {
        Grants::compile(list_targets(conn)?)
    }

    pub fn compile(targets: Vec<PermissionTarget>) -> Result<Grants, DbError> {
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

// ---------------------------------------------------------------------------------------------
// token scopes

/// What an access token's scope lets it use of its user's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// The user's own rights: `member-of-groups:*`, `applied-permissions/user`,
    /// `applied-permissions/admin` (admin only if the user is one).
    User,
    /// Only the grants of these groups (those the user belongs to); never admin through the
    /// user's own flag: `member-of-groups:g1,g2`, `applied-permissions/groups:g1,g2`.
    Groups(Vec<String>),
}

impl TokenScope {
    /// Parse a stored or requested scope (space separated; `api:*` is ignored). Unknown
    /// entries are refused with their name.
    pub fn parse(scope: &str) -> Result<TokenScope, String> {
        let mut groups: Option<Vec<String>> = None;
        let mut user = false;
        for part in scope.split_whitespace() {
            let list = part
                .strip_prefix("member-of-groups:")
                .or_else(|| part.strip_prefix("applied-permissions/groups:"));
            if let Some(list) = list {
                let names: Vec<String> = list
                    .split(',')
                    .map(|g| g.trim().trim_matches('"').to_string())
                    .filter(|g| !g.is_empty())
                    .collect();
                if names.iter().any(|g| g == "*") {
                    user = true;
                } else {
                    groups.get_or_insert_with(Vec::new).extend(names);
                }
            } else if matches!(
                part,
                "api:*" | "applied-permissions/user" | "applied-permissions/admin"
            ) {
                if part != "api:*" {
                    user = true;
                }
            } else {
                return Err(format!(
                    "unknown scope '{part}'; use applied-permissions/user, \
                     applied-permissions/admin, applied-permissions/groups:g1,g2 or \
                     member-of-groups:g1,g2"
                ));
            }
        }
        Ok(match groups {
            Some(g) if !user => TokenScope::Groups(g),
            _ => TokenScope::User,
        })
    }

    /// The subject a token of `user` (member of `user_groups`, admin or not) acts as.
    pub fn subject(&self, user: &str, admin: bool, user_groups: &[String]) -> Subject {
        match self {
            TokenScope::User => Subject {
                user: user.to_string(),
                groups: user_groups.to_vec(),
                user_grants: true,
                admin,
            },
            TokenScope::Groups(only) => Subject {
                user: user.to_string(),
                groups: user_groups
                    .iter()
                    .filter(|g| only.contains(g))
                    .cloned()
                    .collect(),
                user_grants: false,
                admin: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, repos: &[&str], include: &[&str], exclude: &[&str]) -> PermissionTarget {
        PermissionTarget {
            name: name.into(),
            repositories: repos.iter().map(|s| s.to_string()).collect(),
            include_patterns: include.iter().map(|s| s.to_string()).collect(),
            exclude_patterns: exclude.iter().map(|s| s.to_string()).collect(),
            ..PermissionTarget::default()
        }
    }

    fn user(name: &str, groups: &[&str]) -> Subject {
        Subject {
            user: name.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            user_grants: true,
            admin: false,
        }
    }

    const LIBS: RepoRef<'static> = RepoRef {
        key: "libs-release",
        rclass: "local",
    };
    const REMOTE: RepoRef<'static> = RepoRef {
        key: "central",
        rclass: "remote",
    };

    #[test]
    fn actions_imply_the_ones_below() {
        let a = Actions::parse_list(["delete"]).unwrap();
        assert!(a.contains(Action::Read) && a.contains(Action::Deploy));
        assert!(!a.contains(Action::Manage));
        assert_eq!(
            Actions::parse_list(["write"]).unwrap().to_stored(),
            "read,annotate,deploy"
        );
        assert_eq!(Actions::parse_list(["m"]).unwrap(), Actions::ALL);
        assert!(Actions::parse_list(["fly"]).unwrap_err().contains("'fly'"));
    }

    #[test]
    fn decisions_follow_repositories_patterns_users_and_groups() {
        let mut deploy = target(
            "deploy-acme",
            &["libs-*"],
            &["org/acme/**"],
            &["**/*.secret"],
        );
        deploy
            .groups
            .insert("devs".into(), Actions::parse_list(["deploy"]).unwrap());
        deploy
            .users
            .insert("carol".into(), Actions::parse_list(["delete"]).unwrap());
        let mut remote = target("remotes", &["ANY REMOTE"], &[], &[]);
        remote
            .users
            .insert("anonymous".into(), Actions::parse_list(["read"]).unwrap());
        let grants =
            Grants::compile(vec![deploy.validate().unwrap(), remote.validate().unwrap()]).unwrap();

        let dev = user("dave", &["devs"]);
        assert!(grants.allows(&dev, LIBS, "org/acme/a/1.0/a.jar", Action::Deploy));
        assert!(grants.allows(&dev, LIBS, "org/acme/a/1.0/a.jar", Action::Read));
        assert!(!grants.allows(&dev, LIBS, "org/acme/a/1.0/a.jar", Action::Delete));
        assert!(!grants.allows(&dev, LIBS, "org/other/a.jar", Action::Read));
        assert!(!grants.allows(&dev, LIBS, "org/acme/x.secret", Action::Read));
        // folders on the way to the included tree, and the root, are visible
        assert!(grants.allows(&dev, LIBS, "org", Action::Read));
        assert!(grants.allows(&dev, LIBS, "", Action::Read));
        assert!(!grants.allows(&dev, REMOTE, "x", Action::Read));
        assert!(grants.allows_somewhere(&dev, LIBS, Action::Deploy));

        let carol = user("carol", &[]);
        assert!(grants.allows(&carol, LIBS, "org/acme/b.jar", Action::Delete));
        let group_only = Subject {
            user_grants: false,
            ..carol.clone()
        };
        assert!(!grants.allows(&group_only, LIBS, "org/acme/b.jar", Action::Read));

        let anon = Subject::anonymous();
        assert!(grants.allows(&anon, REMOTE, "junit/junit.pom", Action::Read));
        assert!(!grants.allows(&anon, LIBS, "org/acme/a.jar", Action::Read));
        let admin = Subject {
            admin: true,
            ..user("root", &[])
        };
        assert!(grants.allows(&admin, REMOTE, "x", Action::Manage));
        assert!(!grants.manages_any(&dev));
    }

    #[test]
    fn bad_targets_are_refused_naming_the_field() {
        let err = |t: PermissionTarget| t.validate().unwrap_err().to_string();
        assert!(err(target("x", &[], &[], &[])).contains("'repositories' is empty"));
        assert!(err(target("x", &["ANY THING"], &[], &[])).contains("'ANY THING' is unknown"));
        assert!(err(target("x", &["r"], &["a[/**"], &[])).contains("include-patterns"));
        assert!(err(target("a b", &["r"], &[], &[])).contains("name 'a b' is invalid"));
        let t = target("ok", &[" r ", ""], &[], &[]).validate().unwrap();
        assert_eq!(t.repositories, ["r"]);
        assert_eq!(t.include_patterns, ["**"]);
    }

    #[test]
    fn token_scopes() {
        assert_eq!(
            TokenScope::parse("api:* member-of-groups:*").unwrap(),
            TokenScope::User
        );
        assert_eq!(
            TokenScope::parse("applied-permissions/groups:readers,devs").unwrap(),
            TokenScope::Groups(vec!["readers".into(), "devs".into()])
        );
        assert!(TokenScope::parse("everything").is_err());
        let s = TokenScope::parse("member-of-groups:devs").unwrap().subject(
            "root",
            true,
            &["devs".into(), "ops".into()],
        );
        assert_eq!(s.groups, ["devs"]);
        assert!(!s.admin && !s.user_grants);
    }

    #[test]
    fn stored_targets_groups_and_versions() {
        let raw = crate::testing::migrated_sqlite().unwrap();
        let conn = Conn::sqlite(&raw);
        // the seed: readers read Anything
        let seeded = list_targets(&conn).unwrap();
        assert_eq!(seeded.len(), 1);
        assert_eq!(seeded[0].name, "Anything");
        assert_eq!(
            seeded[0].groups["readers"],
            Actions::parse_list(["read"]).unwrap()
        );
        assert_eq!(auto_join_groups(&conn).unwrap(), ["readers"]);

        let v0 = security_version(&conn).unwrap();
        let mut t = target("t1", &["libs-*"], &["com/**"], &[]);
        t.users
            .insert("u1".into(), Actions::parse_list(["deploy"]).unwrap());
        assert!(put_target(&conn, t.clone(), 5).unwrap());
        assert!(!put_target(&conn, t.clone(), 6).unwrap(), "replaced");
        assert!(security_version(&conn).unwrap() > v0);
        let back = get_target(&conn, "t1").unwrap().unwrap();
        assert_eq!(back.repositories, ["libs-*"]);
        assert_eq!(back.include_patterns, ["com/**"]);
        assert!(back.users["u1"].contains(Action::Read));
        assert_eq!(delete_user_grants(&conn, "u1").unwrap(), 1);
        assert!(delete_target(&conn, "t1").unwrap());
        assert!(!delete_target(&conn, "t1").unwrap());

        assert!(
            put_group(
                &conn,
                &Group {
                    name: "devs".into(),
                    description: "d".into(),
                    auto_join: false,
                    admin: false,
                    created: 1,
                },
            )
            .unwrap()
        );
        assert!(set_user_groups(&conn, "nobody", &["missing".into()]).is_err());
        assert!(delete_group(&conn, "devs").unwrap());
    }
}
