//! The authorization model: actions, permission targets, the compiled decision ([`Grants`])
//! and access token scopes. Pure logic: no database, no I/O (arca-db stores the targets and
//! loads them into [`Grants`]).
//!
//! A permission target names repositories (keys, `*`/`?` patterns, or `ANY`, `ANY LOCAL`,
//! `ANY REMOTE`, `ANY VIRTUAL`) and Ant-style path patterns (include, exclude), and grants
//! actions to users and groups. `anonymous` is a user name like any other. Actions imply the
//! ones below them: manage ⊃ delete ⊃ deploy ⊃ annotate ⊃ read (the reference's UI ticks them
//! the same way). Administrators (the user's flag, or a group with `admin`) may do everything.

mod action;
mod grants;
mod names;
mod scope;
mod target;

pub use action::{Action, Actions};
pub use grants::{Grants, RepoRef, Subject};
pub use names::{ANONYMOUS, MAX_NAME_LEN, validate_name};
pub use scope::TokenScope;
pub use target::PermissionTarget;

use target::ANY_SELECTORS;

/// Input that breaks a rule of the model; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    #[error(
        "{kind} name '{name}' is invalid: 1 to {MAX_NAME_LEN} characters of letters, digits \
         and . _ - @ + (not starting with '.')"
    )]
    InvalidName { kind: String, name: String },
    #[error("unknown action '{0}'; known: read, annotate, deploy (or write), delete, manage")]
    UnknownAction(String),
    #[error(
        "permission target '{target}': 'repositories' is empty; give repository keys, patterns \
         like libs-*, or ANY / ANY LOCAL / ANY REMOTE"
    )]
    NoRepositories { target: String },
    #[error(
        "permission target '{target}': repository selector '{selector}' is unknown; use one of \
         {}",
        ANY_SELECTORS.join(", ")
    )]
    UnknownSelector { target: String, selector: String },
    #[error("{field}: pattern '{pattern}' is invalid: {reason}")]
    InvalidPattern {
        field: &'static str,
        pattern: String,
        reason: globset::Error,
    },
    #[error("{field}: {reason}")]
    Patterns {
        field: &'static str,
        reason: globset::Error,
    },
    #[error(
        "unknown scope '{0}'; use applied-permissions/user, applied-permissions/admin, \
         applied-permissions/groups:g1,g2 or member-of-groups:g1,g2"
    )]
    UnknownScope(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, repos: &[&str], include: &[&str], exclude: &[&str]) -> PermissionTarget {
        PermissionTarget::new(name, repos, include, exclude)
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
        assert!(
            Actions::parse_list(["fly"])
                .unwrap_err()
                .to_string()
                .contains("'fly'")
        );
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
    fn everything_below_a_folder_only_when_no_path_can_be_refused() {
        let grant = |include: &[&str], exclude: &[&str]| {
            let mut t = target("t", &["libs-*"], include, exclude);
            t.users
                .insert("u".into(), Actions::parse_list(["read"]).unwrap());
            Grants::compile(vec![t.validate().unwrap()]).unwrap()
        };
        let u = user("u", &[]);
        let below =
            |g: &Grants, path: &str| g.allows_everything_below(&u, LIBS, path, Action::Read);
        let all = grant(&[], &[]);
        assert!(below(&all, "") && below(&all, "org/acme"));
        assert!(!all.allows_everything_below(&u, LIBS, "", Action::Deploy));
        assert!(!all.allows_everything_below(&u, REMOTE, "", Action::Read));
        assert!(!all.allows_everything_below(&user("v", &[]), LIBS, "", Action::Read));
        let acme = grant(&["org/acme/**"], &[]);
        assert!(below(&acme, "org/acme") && below(&acme, "org/acme/a/1.0"));
        assert!(!below(&acme, "org") && !below(&acme, "") && !below(&acme, "org/acme-x"));
        // an exclude pattern, or a pattern with wildcards before `/**`: asked per path
        assert!(!below(&grant(&["**"], &["**/*.secret"]), "org"));
        assert!(!below(&grant(&["org/*/**"], &[]), "org/acme"));
        assert!(!below(&grant(&["org/acme/*.jar"], &[]), "org/acme"));
        // whatever it says, the per-path decision agrees where it says yes
        for (g, folder) in [(&all, "org"), (&acme, "org/acme")] {
            for child in ["x", "x.secret", "a/b/c.jar", ".hidden"] {
                let path = format!("{folder}/{child}");
                assert!(g.allows(&u, LIBS, &path, Action::Read), "{path}");
            }
        }
        let admin = Subject {
            admin: true,
            ..user("root", &[])
        };
        assert!(grant(&["org/acme/**"], &[]).allows_everything_below(
            &admin,
            REMOTE,
            "",
            Action::Delete
        ));
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
}
