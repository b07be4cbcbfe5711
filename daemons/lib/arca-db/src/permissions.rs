//! Groups, permission targets as stored, and loading them into the authorization model
//! ([`arca_authz`]: actions, targets, the decision, token scopes; re-exported here).
//!
//! Every change here bumps the cluster's security version (`cluster_settings`), which each
//! server polls to drop its cached grants and authentications on every node within seconds.
//! REST (`/api/security/*`, `/api/v2/security/permissions`) and `arcactl user|group|permission`
//! both go through these functions: one validation, one set of rules.

use std::collections::{BTreeMap, BTreeSet};

pub use arca_authz::{
    Action, Actions, Grants, MAX_NAME_LEN, PermissionTarget, RepoRef, Subject, TokenScope,
};

pub use crate::security_version::{bump_security_version, security_version};
use crate::{Conn, DbError, args};

/// Names: 1–64 characters, letters, digits and `. _ - @ +` ([`arca_authz::validate_name`]).
pub fn validate_name(kind: &str, name: &str) -> Result<(), DbError> {
    Ok(arca_authz::validate_name(kind, name)?)
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

// ---------------------------------------------------------------------------------------------
// storage

crate::sql::row_mapping!(const GROUP_COLUMNS, fn group_from_row -> Group {
    name, description, auto_join, admin, created
});

pub fn get_group(conn: &Conn<'_>, name: &str) -> Result<Option<Group>, DbError> {
    conn.query_opt(
        &format!("SELECT {GROUP_COLUMNS} FROM groups WHERE name = ?1"),
        args![name],
        group_from_row,
    )
}

pub fn list_groups(conn: &Conn<'_>) -> Result<Vec<Group>, DbError> {
    conn.query_map(
        &format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY name"),
        args![],
        group_from_row,
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
    replace_memberships(conn, Memberships::OfUser, user, groups)
}

/// Make exactly `users` the members of `group` (each must exist).
pub fn set_group_members(conn: &Conn<'_>, group: &str, users: &[String]) -> Result<(), DbError> {
    replace_memberships(conn, Memberships::OfGroup, group, users)
}

/// Which side of the `user_groups` table a membership change replaces.
#[derive(Clone, Copy)]
enum Memberships {
    /// The groups of one user.
    OfUser,
    /// The members of one group.
    OfGroup,
}

/// Replace the memberships of `owner` (a user or a group, per `side`) by one per entry of
/// `others` (duplicates once; each must exist).
fn replace_memberships(
    conn: &Conn<'_>,
    side: Memberships,
    owner: &str,
    others: &[String],
) -> Result<(), DbError> {
    for other in others {
        let (exists, kind) = match side {
            Memberships::OfUser => (get_group(conn, other)?.is_some(), "group"),
            Memberships::OfGroup => (user_exists(conn, other)?, "user"),
        };
        if !exists {
            return Err(DbError::Invalid(format!("{kind} '{other}' does not exist")));
        }
    }
    let owner_column = match side {
        Memberships::OfUser => "user_name",
        Memberships::OfGroup => "group_name",
    };
    conn.execute(
        &format!("DELETE FROM user_groups WHERE {owner_column} = ?1"),
        args![owner],
    )?;
    let unique: BTreeSet<&String> = others.iter().collect();
    for other in unique {
        let (user, group) = match side {
            Memberships::OfUser => (owner, other.as_str()),
            Memberships::OfGroup => (other.as_str(), owner),
        };
        conn.execute(
            "INSERT INTO user_groups (user_name, group_name) VALUES (?1, ?2)",
            args![user, group],
        )?;
    }
    bump_security_version(conn)
}

/// Whether user `name` exists (users themselves live in the security module, which depends on
/// this module, not the other way round).
fn user_exists(conn: &Conn<'_>, name: &str) -> Result<bool, DbError> {
    Ok(conn
        .query_opt("SELECT name FROM users WHERE name = ?1", args![name], |r| {
            r.get::<String>(0)
        })?
        .is_some())
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
    for (name, include, exclude) in conn.query_map::<(String, String, String)>(
        "SELECT name, include_patterns, exclude_patterns FROM permission_targets ORDER BY name",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
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
    for (target, kind, principal, actions) in conn.query_map::<(String, String, String, String)>(
        "SELECT target, principal_kind, principal, actions FROM permission_grants \
         ORDER BY target, principal_kind, principal",
        args![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
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

/// Every stored permission target, compiled for fast decisions (load once, share, reload when
/// the security version changes).
pub fn load_grants(conn: &Conn<'_>) -> Result<Grants, DbError> {
    compile_grants(list_targets(conn)?)
}

/// [`Grants::compile`] with its error as a [`DbError`].
pub fn compile_grants(targets: Vec<PermissionTarget>) -> Result<Grants, DbError> {
    Ok(Grants::compile(targets)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, repos: &[&str], include: &[&str], exclude: &[&str]) -> PermissionTarget {
        PermissionTarget::new(name, repos, include, exclude)
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
