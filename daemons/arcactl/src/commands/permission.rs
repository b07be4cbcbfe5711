//! `arcactl permission …`: permission targets straight in the database of this node's home,
//! through `arca_db::permissions` (validation, the security version servers poll), and
//! `check`, the server's decision (`Grants`) for one user, repository and path.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context as _, anyhow, bail};
use arca_db::permissions::{self, Action, Actions, PermissionTarget, RepoRef, Subject, TokenScope};
use arca_db::security::{self, ANONYMOUS};
use arca_db::{Conn, DbError};
use serde_json::{Value, json};

use crate::cli::{
    ListArgs, NameArgs, PermissionAddArgs, PermissionCheckArgs, PermissionCommand, ShowArgs,
};
use crate::commands::now_ms;
use crate::commands::security::{line, list_or_dash, open, write_json, write_table};
use crate::exit;

pub fn run(cmd: PermissionCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        PermissionCommand::Add(args) => add(&args, now_ms(), out, err),
        PermissionCommand::List(args) => list(&args, out, err),
        PermissionCommand::Show(args) => show(&args, out),
        PermissionCommand::Delete(args) => delete(&args, out),
        PermissionCommand::Check(args) => check(&args, out),
    }
}

fn not_found(name: &str) -> anyhow::Error {
    anyhow!("permission target '{name}' does not exist")
}

/// `NAME=read,deploy` of `--user`/`--group` (`option`), merged into `grants`. Errors name the
/// option and its value.
fn parse_grants(option: &str, values: &[String]) -> anyhow::Result<BTreeMap<String, Actions>> {
    let mut grants: BTreeMap<String, Actions> = BTreeMap::new();
    for value in values {
        let what = option.trim_start_matches('-').to_ascii_uppercase();
        let Some((name, list)) = value.split_once('=') else {
            bail!("{option} '{value}': expected {what}=ACTIONS, e.g. {option} devs=read,deploy");
        };
        let name = name.trim();
        if name.is_empty() {
            bail!("{option} '{value}': the {} name is empty", &option[2..]);
        }
        let actions =
            Actions::parse_list(list.split(',')).map_err(|e| anyhow!("{option} '{value}': {e}"))?;
        if actions.is_empty() {
            bail!(
                "{option} '{value}': no action given; use read, annotate, deploy (or write), \
                 delete or manage"
            );
        }
        let slot = grants.entry(name.to_string()).or_default();
        *slot = slot.union(actions);
    }
    Ok(grants)
}

/// Patterns from repeated and comma-separated values.
fn split_patterns(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// `read, annotate, deploy` (or `nothing`).
fn actions_text(a: Actions) -> String {
    if a.is_empty() {
        "nothing".to_string()
    } else {
        a.iter().map(Action::name).collect::<Vec<_>>().join(", ")
    }
}

/// The highest action (it implies the others): `deploy`.
fn highest(a: Actions) -> &'static str {
    a.iter().last().map_or("-", Action::name)
}

/// `--repo` values that are plain keys (no pattern, no ANY selector).
fn literal_repos(t: &PermissionTarget) -> impl Iterator<Item = &String> {
    t.repositories
        .iter()
        .filter(|r| !r.contains(['*', '?', '[', '{']) && !r.to_ascii_uppercase().starts_with("ANY"))
}

/// What the target names that does not exist (yet): warnings, not errors.
fn missing_references(conn: &Conn<'_>, t: &PermissionTarget) -> Result<Vec<String>, DbError> {
    let mut missing = Vec::new();
    for user in t.users.keys() {
        if security::get_user(conn, user)?.is_none() {
            missing.push(format!(
                "user '{user}' does not exist (yet): the grant applies once it is created"
            ));
        }
    }
    for group in t.groups.keys() {
        if permissions::get_group(conn, group)?.is_none() {
            missing.push(format!(
                "group '{group}' does not exist (yet): the grant applies once it is created"
            ));
        }
    }
    for repo in literal_repos(t) {
        if arca_db::repos::get(conn, repo)?.is_none() {
            missing.push(format!(
                "repository '{repo}' does not exist (yet): the target covers it once it is \
                 created"
            ));
        }
    }
    Ok(missing)
}

/// `arcactl permission add`: create or replace.
pub fn add(
    args: &PermissionAddArgs,
    now: i64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let target = PermissionTarget {
        name: name.to_string(),
        repositories: args.repos.clone(),
        include_patterns: split_patterns(&args.include),
        exclude_patterns: split_patterns(&args.exclude),
        users: parse_grants("--user", &args.users)?,
        groups: parse_grants("--group", &args.groups)?,
    };
    // Refuse a bad target before opening the database (put_target validates it again).
    let target = target
        .validate()
        .with_context(|| format!("cannot add permission target '{name}'"))?;
    let db = open(&args.home)?;
    let (created, missing) = db
        .write_blocking(|conn| {
            let missing = missing_references(conn, &target)?;
            let created = permissions::put_target(conn, target.clone(), now)?;
            Ok::<_, DbError>((created, missing))
        })
        .with_context(|| format!("cannot add permission target '{name}'"))?;
    for m in &missing {
        writeln!(err, "warning: {m}").context("writing to stderr")?;
    }
    line(
        out,
        format!(
            "permission target '{name}' {}",
            if created { "created" } else { "replaced" }
        ),
    )?;
    Ok(exit::OK)
}

/// `bob=deploy, carol=read` (highest action per principal).
fn grants_cell(grants: &BTreeMap<String, Actions>) -> String {
    if grants.is_empty() {
        return "-".to_string();
    }
    grants
        .iter()
        .map(|(who, a)| format!("{who}={}", highest(*a)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `arcactl permission list`.
pub fn list(args: &ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let db = open(&args.home)?;
    let targets = db
        .read_blocking(permissions::list_targets)
        .context("reading the permission targets")?;
    if args.json {
        let body: Vec<_> = targets.iter().map(PermissionTarget::to_v2_json).collect();
        write_json(out, &Value::Array(body))?;
        return Ok(exit::OK);
    }
    if targets.is_empty() {
        writeln!(err, "there is no permission target").context("writing to stderr")?;
        return Ok(exit::OK);
    }
    let mut table = vec![
        [
            "NAME",
            "REPOSITORIES",
            "INCLUDE",
            "EXCLUDE",
            "USERS",
            "GROUPS",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for t in &targets {
        table.push(vec![
            t.name.clone(),
            list_or_dash(&t.repositories),
            list_or_dash(&t.include_patterns),
            list_or_dash(&t.exclude_patterns),
            grants_cell(&t.users),
            grants_cell(&t.groups),
        ]);
    }
    write_table(out, &table)?;
    Ok(exit::OK)
}

/// `arcactl permission show`.
pub fn show(args: &ShowArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let db = open(&args.home)?;
    let t = db
        .read_blocking(|conn| permissions::get_target(conn, name))
        .with_context(|| format!("reading permission target '{name}'"))?
        .ok_or_else(|| not_found(name))?;
    if args.json {
        write_json(out, &t.to_v2_json())?;
        return Ok(exit::OK);
    }
    let mut text = format!(
        "name:             {}\nrepositories:     {}\ninclude patterns: {}\n\
         exclude patterns: {}",
        t.name,
        list_or_dash(&t.repositories),
        list_or_dash(&t.include_patterns),
        list_or_dash(&t.exclude_patterns),
    );
    for (kind, grants) in [("users", &t.users), ("groups", &t.groups)] {
        text.push_str(&format!("\n{kind}:"));
        if grants.is_empty() {
            text.push_str(&format!("{}-", " ".repeat(17 - kind.len())));
        }
        for (who, a) in grants {
            text.push_str(&format!("\n  {who}: {}", actions_text(*a)));
        }
    }
    line(out, text)?;
    Ok(exit::OK)
}

/// `arcactl permission delete`.
pub fn delete(args: &NameArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    crate::commands::security::delete_named(
        args,
        "permission target",
        permissions::delete_target,
        "",
        out,
    )
}

/// What `check` found in the database.
struct CheckInput {
    disabled: bool,
    /// The user's own flag (`its flag`) and its admin groups (`group ops`).
    admin_reasons: Vec<String>,
    groups: Vec<String>,
    rclass: String,
    targets: Vec<PermissionTarget>,
}

fn load_check(conn: &Conn<'_>, user: &str, repo: &str) -> anyhow::Result<CheckInput> {
    let found = security::get_user(conn, user)?;
    // The anonymous user may not exist before a server started; it is who it is anyway.
    if found.is_none() && user != ANONYMOUS {
        bail!("user '{user}' does not exist");
    }
    let Some(repo) = arca_db::repos::get(conn, repo)? else {
        bail!("repository '{repo}' does not exist");
    };
    let groups = permissions::user_groups(conn, user)?;
    let mut admin_reasons = Vec::new();
    if found.as_ref().is_some_and(|u| u.admin) {
        admin_reasons.push("its flag".to_string());
    }
    for g in permissions::admin_groups(conn)? {
        if groups.contains(&g) {
            admin_reasons.push(format!("group {g}"));
        }
    }
    Ok(CheckInput {
        disabled: found.is_some_and(|u| u.disabled),
        admin_reasons,
        groups,
        rclass: repo.rclass,
        targets: permissions::list_targets(conn)?,
    })
}

/// `arcactl permission check USER REPO PATH`.
pub fn check(args: &PermissionCheckArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let (user, key) = (args.user.as_str(), args.repo.as_str());
    let path = args.path.trim_matches('/');
    let db = open(&args.home)?;
    let input = db.read_blocking(|conn| load_check(conn, user, key))?;
    let admin = !input.admin_reasons.is_empty();
    let subject: Subject = TokenScope::User.subject(user, admin, &input.groups);
    let repo = RepoRef {
        key,
        rclass: &input.rclass,
    };
    let actions = permissions::compile_grants(input.targets.clone())
        .context("compiling the permission targets")?
        .actions(&subject, repo, path);
    // Which targets contribute (as if the user were no administrator).
    let plain = Subject {
        admin: false,
        ..subject.clone()
    };
    let mut via = Vec::new();
    for t in &input.targets {
        let a = permissions::compile_grants(vec![t.clone()])
            .with_context(|| format!("compiling permission target '{}'", t.name))?
            .actions(&plain, repo, path);
        if a.is_empty() {
            continue;
        }
        let mut principals = Vec::new();
        if t.users.contains_key(user) {
            principals.push(format!("user {user}"));
        }
        for g in &input.groups {
            if t.groups.contains_key(g) {
                principals.push(format!("group {g}"));
            }
        }
        via.push((t.name.clone(), a, principals));
    }
    let location = if path.is_empty() {
        format!("{key} ({}, the repository itself)", input.rclass)
    } else {
        format!("{key}/{path} ({})", input.rclass)
    };
    if args.json {
        let names = |a: Actions| -> Vec<&str> { a.iter().map(Action::name).collect() };
        let body = json!({
            "user": user,
            "repo": key,
            "rclass": input.rclass,
            "path": path,
            "groups": input.groups,
            "admin": admin,
            "adminThrough": input.admin_reasons,
            "disabled": input.disabled,
            "actions": names(actions),
            "targets": via.iter().map(|(name, a, principals)| json!({
                "name": name,
                "actions": names(*a),
                "via": principals,
            })).collect::<Vec<_>>(),
        });
        write_json(out, &body)?;
        return Ok(exit::OK);
    }
    let mut text = format!("user '{user}' at {location}: {}", actions_text(actions));
    if admin {
        text.push_str(&format!(
            " (administrator: {})",
            input.admin_reasons.join(", ")
        ));
    }
    for (name, a, principals) in &via {
        text.push_str(&format!(
            "\n  {name}: {} ({})",
            actions_text(*a),
            principals.join(", ")
        ));
    }
    if input.disabled {
        text.push_str(&format!(
            "\nnote: user '{user}' is disabled: the server refuses its requests (arcactl user \
             enable {user})"
        ));
    }
    line(out, text)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_merge_and_name_the_bad_argument() {
        let g = parse_grants(
            "--user",
            &["bob=read".into(), "bob=deploy".into(), "carol=r,m".into()],
        )
        .unwrap();
        assert_eq!(g["bob"].to_stored(), "read,annotate,deploy");
        assert_eq!(g["carol"], Actions::ALL);
        let e = |v: &str| {
            parse_grants("--group", &[v.into()])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("devs"),
            "--group 'devs': expected GROUP=ACTIONS, e.g. --group devs=read,deploy"
        );
        assert!(
            e("devs=read,fly").starts_with("--group 'devs=read,fly': unknown action 'fly'"),
            "{}",
            e("devs=read,fly")
        );
        assert!(e("devs=").contains("no action given"));
        assert_eq!(e("=read"), "--group '=read': the group name is empty");
    }

    #[test]
    fn patterns_split_on_commas() {
        assert_eq!(
            split_patterns(&["a/**, b/**".into(), "c".into(), "".into()]),
            ["a/**", "b/**", "c"]
        );
    }

    #[test]
    fn actions_print_by_name() {
        let a = Actions::parse_list(["deploy"]).unwrap();
        assert_eq!(actions_text(a), "read, annotate, deploy");
        assert_eq!(highest(a), "deploy");
        assert_eq!(actions_text(Actions::NONE), "nothing");
    }
}
