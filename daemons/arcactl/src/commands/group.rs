//! `arcactl group …`: groups straight in the database of this node's home, through
//! `arca_db::permissions`.

use std::io::Write;

use anyhow::Context as _;
use arca_db::permissions::{self, Group};
use arca_db::{Conn, DbError};
use serde_json::json;

use crate::cli::{GroupAddArgs, GroupCommand, GroupMembersArgs, ListArgs, NameArgs, ShowArgs};
use crate::commands::security::{line, list_or_dash, open, write_json, write_table, yes_no};
use crate::commands::{iso8601, now_ms};
use crate::exit;

pub fn run(cmd: GroupCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    match cmd {
        GroupCommand::Add(args) => add(&args, now_ms(), out),
        GroupCommand::List(args) => list(&args, out, err),
        GroupCommand::Show(args) => show(&args, out),
        GroupCommand::Members(args) => members(&args, out),
        GroupCommand::Delete(args) => delete(&args, out),
    }
}

fn not_found(name: &str) -> anyhow::Error {
    anyhow::anyhow!("group '{name}' does not exist")
}

fn group_json(g: &Group, members: &[String]) -> serde_json::Value {
    json!({
        "name": g.name,
        "description": g.description,
        "autoJoin": g.auto_join,
        "adminPrivileges": g.admin,
        "created": iso8601(g.created),
        "userNames": members,
    })
}

fn groups_with_members(conn: &Conn<'_>) -> Result<Vec<(Group, Vec<String>)>, DbError> {
    permissions::list_groups(conn)?
        .into_iter()
        .map(|g| {
            let members = permissions::group_members(conn, &g.name)?;
            Ok((g, members))
        })
        .collect()
}

/// `arcactl group add`: create, or replace description and flags (members kept).
pub fn add(args: &GroupAddArgs, now: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    permissions::validate_name("group", name).context("cannot add the group")?;
    let db = open(&args.home)?;
    let group = Group {
        name: name.to_string(),
        description: args.description.clone(),
        auto_join: args.auto_join,
        admin: args.admin,
        created: now,
    };
    let created = db
        .write_blocking(|conn| permissions::put_group(conn, &group))
        .with_context(|| format!("cannot add group '{name}'"))?;
    let flags: Vec<&str> = [
        (args.auto_join, "auto-join"),
        (args.admin, "members are administrators"),
    ]
    .into_iter()
    .filter_map(|(on, text)| on.then_some(text))
    .collect();
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" ({})", flags.join(", "))
    };
    line(
        out,
        if created {
            format!("group '{name}' created{flags}")
        } else {
            format!("group '{name}' replaced{flags}; its members are kept")
        },
    )?;
    Ok(exit::OK)
}

/// `arcactl group list`.
pub fn list(args: &ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let db = open(&args.home)?;
    let groups = db
        .read_blocking(groups_with_members)
        .context("reading the groups")?;
    if args.json {
        let body: Vec<_> = groups.iter().map(|(g, m)| group_json(g, m)).collect();
        write_json(out, &serde_json::Value::Array(body))?;
        return Ok(exit::OK);
    }
    if groups.is_empty() {
        writeln!(err, "there is no group").context("writing to stderr")?;
        return Ok(exit::OK);
    }
    let mut table = vec![
        ["NAME", "AUTO-JOIN", "ADMIN", "MEMBERS", "DESCRIPTION"]
            .map(str::to_string)
            .to_vec(),
    ];
    for (g, members) in &groups {
        table.push(vec![
            g.name.clone(),
            yes_no(g.auto_join).to_string(),
            yes_no(g.admin).to_string(),
            members.len().to_string(),
            if g.description.is_empty() {
                "-".to_string()
            } else {
                g.description.clone()
            },
        ]);
    }
    write_table(out, &table)?;
    Ok(exit::OK)
}

/// `arcactl group show`.
pub fn show(args: &ShowArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let db = open(&args.home)?;
    let (g, members) = db
        .read_blocking(|conn| {
            let Some(g) = permissions::get_group(conn, name)? else {
                return Ok::<_, DbError>(None);
            };
            let members = permissions::group_members(conn, name)?;
            Ok(Some((g, members)))
        })
        .with_context(|| format!("reading group '{name}'"))?
        .ok_or_else(|| not_found(name))?;
    if args.json {
        write_json(out, &group_json(&g, &members))?;
        return Ok(exit::OK);
    }
    line(
        out,
        format!(
            "name:        {}\ndescription: {}\nauto-join:   {}\nadmin:       {}\ncreated:     {}\n\
             members:     {}",
            g.name,
            if g.description.is_empty() {
                "-"
            } else {
                &g.description
            },
            yes_no(g.auto_join),
            yes_no(g.admin),
            iso8601(g.created),
            list_or_dash(&members)
        ),
    )?;
    Ok(exit::OK)
}

/// `arcactl group members`: exactly these members.
pub fn members(args: &GroupMembersArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let db = open(&args.home)?;
    let users: Vec<String> = if args.none {
        Vec::new()
    } else {
        args.users.clone()
    };
    let after = db
        .write_blocking(|conn| {
            if permissions::get_group(conn, name)?.is_none() {
                return Ok::<_, DbError>(None);
            }
            permissions::set_group_members(conn, name, &users)?;
            permissions::group_members(conn, name).map(Some)
        })
        .with_context(|| format!("cannot set the members of group '{name}'"))?
        .ok_or_else(|| not_found(name))?;
    line(
        out,
        format!("group '{name}' members: {}", list_or_dash(&after)),
    )?;
    Ok(exit::OK)
}

/// `arcactl group delete`.
pub fn delete(args: &NameArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    crate::commands::security::delete_named(
        args,
        "group",
        permissions::delete_group,
        " (with its memberships and the grants to it)",
        out,
    )
}
