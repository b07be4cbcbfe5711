//! `arcactl user …`: users straight in the database of this node's home, through
//! `arca_db::security` (validation, group joins, the security version servers poll). Password
//! hashes are never printed; a generated password is printed once.

use std::io::{self, Read, Write};

use anyhow::{Context as _, bail};
use arca_db::security::{self, ANONYMOUS, User};
use arca_db::{Conn, DbError, permissions};
use serde_json::json;

use crate::cli::{ListArgs, NameArgs, ShowArgs, UserAddArgs, UserCommand, UserPasswdArgs};
use crate::commands::security::{
    hash_password, line, list_or_dash, open, read_password, write_json, write_table, yes_no,
};
use crate::commands::{iso8601, now_ms};
use crate::exit;

/// The user the first start creates with a generated password.
const INITIAL_ADMIN: &str = "admin";

pub fn run(cmd: UserCommand, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let now = now_ms();
    match cmd {
        UserCommand::Add(args) => add(&args, &mut io::stdin().lock(), now, out, err),
        UserCommand::List(args) => list(&args, now, out, err),
        UserCommand::Show(args) => show(&args, now, out),
        UserCommand::Passwd(args) => passwd(&args, &mut io::stdin().lock(), out, err),
        UserCommand::Disable(args) => disable(&args, out),
        UserCommand::Enable(args) => enable(&args, now, out),
        UserCommand::Unlock(args) => unlock(&args, now, out),
        UserCommand::Delete(args) => delete(&args, out),
    }
}

/// A user with what `show` and `list` print about it.
struct UserView {
    user: User,
    groups: Vec<String>,
    /// The user's admin groups (members are administrators).
    admin_groups: Vec<String>,
}

impl UserView {
    fn load(conn: &Conn<'_>, user: User, admin_groups: &[String]) -> Result<UserView, DbError> {
        let groups = permissions::user_groups(conn, &user.name)?;
        let admin_groups = groups
            .iter()
            .filter(|g| admin_groups.contains(g))
            .cloned()
            .collect();
        Ok(UserView {
            user,
            groups,
            admin_groups,
        })
    }

    fn is_admin(&self) -> bool {
        self.user.admin || !self.admin_groups.is_empty()
    }

    /// `yes (its flag)`, `yes (group ops)`, `no`.
    fn admin_text(&self) -> String {
        let mut why = Vec::new();
        if self.user.admin {
            why.push("its flag".to_string());
        }
        for g in &self.admin_groups {
            why.push(format!("group {g}"));
        }
        if why.is_empty() {
            "no".to_string()
        } else {
            format!("yes ({})", why.join(", "))
        }
    }

    fn locked_text(&self, now: i64) -> String {
        match self.user.locked_until {
            Some(until) if self.user.is_locked(now) => format!(
                "until {} ({} failed logins; arcactl user unlock clears it)",
                iso8601(until),
                self.user.failed_logins
            ),
            _ => "no".to_string(),
        }
    }

    fn json(&self, now: i64) -> serde_json::Value {
        let u = &self.user;
        let locked = u.is_locked(now);
        json!({
            "name": u.name,
            "email": u.email.clone().unwrap_or_default(),
            "admin": u.admin,
            "adminThroughGroups": self.admin_groups,
            "disabled": u.disabled,
            "locked": locked,
            "lockedUntil": u.locked_until.filter(|_| locked).map(iso8601),
            "failedLogins": u.failed_logins,
            "created": iso8601(u.created),
            "lastLoggedIn": u.last_login.map(iso8601),
            "lastLoggedInMillis": u.last_login,
            "groups": self.groups,
        })
    }
}

fn not_found(name: &str) -> anyhow::Error {
    anyhow::anyhow!("user '{name}' does not exist")
}

/// The `anonymous` user acts for requests without credentials: it has no password, so it is
/// neither added nor given one: for it, an error saying `refusal` and why.
fn refuse_anonymous(name: &str, refusal: &str) -> anyhow::Result<()> {
    if name == ANONYMOUS {
        bail!(
            "{refusal} (it acts for requests without credentials and has no password; give it \
             permissions instead)"
        );
    }
    Ok(())
}

/// `arcactl user add`.
pub fn add(
    args: &UserAddArgs,
    stdin: &mut dyn Read,
    now: i64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    refuse_anonymous(name, "cannot add user 'anonymous': the server creates it")?;
    // Refuse a bad name before asking for a password or opening the database.
    permissions::validate_name("user", name).context("cannot add the user")?;
    let given = read_password(
        args.password.password_stdin,
        args.password.password_file.as_deref(),
        stdin,
        err,
    )?;
    let generated = given.is_none().then(arca_crypto::random_password);
    let password = given
        .as_deref()
        .or(generated.as_deref())
        .unwrap_or_default();
    let user = User {
        name: name.to_string(),
        password_hash: hash_password(password)?,
        email: args.email.clone().filter(|e| !e.is_empty()),
        admin: args.admin,
        created: now,
        ..User::default()
    };
    let groups = (!args.groups.is_empty()).then_some(args.groups.as_slice());
    let db = open(&args.home)?;
    let joined = db
        .write_blocking(|conn| {
            security::create_user(conn, &user, groups)?;
            permissions::user_groups(conn, &user.name)
        })
        .with_context(|| format!("cannot add user '{name}'"))?;
    line(
        out,
        format!(
            "user '{name}' created{}; groups: {}",
            if args.admin { " (administrator)" } else { "" },
            list_or_dash(&joined)
        ),
    )?;
    if let Some(password) = &generated {
        line(out, format!("password: {password}"))?;
        writeln!(
            err,
            "note: the generated password is shown only this once; change it with arcactl user \
             passwd {name} --password-stdin"
        )
        .context("writing to stderr")?;
    }
    Ok(exit::OK)
}

/// `arcactl user list`.
pub fn list(
    args: &ListArgs,
    now: i64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let db = open(&args.home)?;
    let views = db
        .read_blocking(|conn| {
            let admin_groups = permissions::admin_groups(conn)?;
            security::list_users(conn)?
                .into_iter()
                .map(|u| UserView::load(conn, u, &admin_groups))
                .collect::<Result<Vec<_>, DbError>>()
        })
        .context("reading the users")?;
    if args.json {
        let body: Vec<_> = views.iter().map(|v| v.json(now)).collect();
        write_json(out, &serde_json::Value::Array(body))?;
        return Ok(exit::OK);
    }
    if views.is_empty() {
        writeln!(err, "there is no user").context("writing to stderr")?;
        return Ok(exit::OK);
    }
    let mut table = vec![
        [
            "NAME",
            "ADMIN",
            "DISABLED",
            "LOCKED",
            "LAST LOGIN",
            "EMAIL",
            "GROUPS",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for v in &views {
        let u = &v.user;
        table.push(vec![
            u.name.clone(),
            yes_no(v.is_admin()).to_string(),
            yes_no(u.disabled).to_string(),
            if u.is_locked(now) {
                format!("until {}", iso8601(u.locked_until.unwrap_or(now)))
            } else {
                "no".to_string()
            },
            u.last_login.map_or_else(|| "never".to_string(), iso8601),
            u.email
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or("-".into()),
            list_or_dash(&v.groups),
        ]);
    }
    write_table(out, &table)?;
    Ok(exit::OK)
}

/// `arcactl user show`.
pub fn show(args: &ShowArgs, now: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let db = open(&args.home)?;
    let name = args.name.as_str();
    let view = db
        .read_blocking(|conn| {
            let Some(user) = security::get_user(conn, name)? else {
                return Ok(None);
            };
            UserView::load(conn, user, &permissions::admin_groups(conn)?).map(Some)
        })
        .with_context(|| format!("reading user '{name}'"))?
        .ok_or_else(|| not_found(name))?;
    if args.json {
        write_json(out, &view.json(now))?;
        return Ok(exit::OK);
    }
    let u = &view.user;
    let text = format!(
        "name:          {}\nemail:         {}\nadmin:         {}\ndisabled:      {}\n\
         locked:        {}\nfailed logins: {}\ncreated:       {}\nlast login:    {}\n\
         groups:        {}",
        u.name,
        u.email.as_deref().filter(|e| !e.is_empty()).unwrap_or("-"),
        view.admin_text(),
        yes_no(u.disabled),
        view.locked_text(now),
        u.failed_logins,
        iso8601(u.created),
        u.last_login.map_or_else(|| "never".to_string(), iso8601),
        list_or_dash(&view.groups),
    );
    line(out, text)?;
    Ok(exit::OK)
}

/// `arcactl user passwd`.
pub fn passwd(
    args: &UserPasswdArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    refuse_anonymous(name, "the anonymous user cannot have a password")?;
    let password = read_password(
        args.password.password_stdin,
        args.password.password_file.as_deref(),
        stdin,
        err,
    )?
    .context("give --password-stdin or --password-file")?;
    let hash = hash_password(&password)?;
    let db = open(&args.home)?;
    let changed = db
        .write_blocking(|conn| {
            let Some(u) = security::get_user(conn, name)? else {
                return Ok::<_, DbError>(false);
            };
            // a tool, not a request: no credential to spare
            security::update_user(
                conn,
                name,
                u.email.as_deref(),
                u.admin,
                u.disabled,
                Some(&hash),
                None,
            )
        })
        .with_context(|| format!("cannot change the password of user '{name}'"))?;
    if !changed {
        return Err(not_found(name));
    }
    line(
        out,
        format!(
            "password of user '{name}' changed (failed logins and lockout cleared, web sessions \
             ended)"
        ),
    )?;
    // The first change of the initial admin's password makes its file obsolete.
    if name == INITIAL_ADMIN {
        let file = arca_config::Home::new(&args.home.home).initial_admin_password();
        match std::fs::remove_file(&file) {
            Ok(()) => line(
                out,
                format!("removed {} (it held the initial password)", file.display()),
            )?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => line(
                err,
                format!("warning: could not remove {}: {e}", file.display()),
            )?,
        }
    }
    Ok(exit::OK)
}

/// Change user `args.name` in one write transaction: `change` gets the user as it was, which is
/// returned (an error naming the user when there is none; `what` names the command).
fn change_user(
    args: &NameArgs,
    what: &str,
    change: impl FnOnce(&Conn<'_>, &User) -> Result<(), DbError> + Send,
) -> anyhow::Result<User> {
    let name = args.name.as_str();
    let db = open(&args.home)?;
    db.write_blocking(|conn| {
        let Some(u) = security::get_user(conn, name)? else {
            return Ok::<_, DbError>(None);
        };
        change(conn, &u)?;
        Ok(Some(u))
    })
    .with_context(|| format!("cannot {what} user '{name}'"))?
    .ok_or_else(|| not_found(name))
}

/// `arcactl user disable`.
pub fn disable(args: &NameArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let before = change_user(args, "disable", |conn, u| {
        if !u.disabled {
            security::update_user(conn, name, u.email.as_deref(), u.admin, true, None, None)?;
        }
        Ok(())
    })?;
    line(
        out,
        if before.disabled {
            format!("user '{name}' is disabled already")
        } else {
            format!("user '{name}' disabled (it cannot log in or use its tokens)")
        },
    )?;
    Ok(exit::OK)
}

/// `arcactl user enable`: enabled and unlocked.
pub fn enable(args: &NameArgs, now: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let before = change_user(args, "enable", |conn, u| {
        if u.disabled {
            security::update_user(conn, name, u.email.as_deref(), u.admin, false, None, None)?;
        }
        if u.failed_logins > 0 || u.locked_until.is_some() {
            security::clear_lockout(conn, name)?;
        }
        Ok(())
    })?;
    let mut text = if before.disabled {
        format!("user '{name}' enabled")
    } else {
        format!("user '{name}' is enabled already")
    };
    if before.is_locked(now) {
        text.push_str("; its lockout is cleared");
    }
    line(out, text)?;
    Ok(exit::OK)
}

/// `arcactl user unlock`.
pub fn unlock(args: &NameArgs, now: i64, out: &mut dyn Write) -> anyhow::Result<u8> {
    let name = args.name.as_str();
    let before = change_user(args, "unlock", |conn, u| {
        if u.failed_logins > 0 || u.locked_until.is_some() {
            security::clear_lockout(conn, name)?;
        }
        Ok(())
    })?;
    line(
        out,
        if before.is_locked(now) {
            format!(
                "user '{name}' unlocked ({} failed logins cleared)",
                before.failed_logins
            )
        } else if before.failed_logins > 0 {
            format!(
                "user '{name}' is not locked out ({} failed logins cleared)",
                before.failed_logins
            )
        } else {
            format!("user '{name}' is not locked out")
        },
    )?;
    if before.disabled {
        line(
            out,
            format!("note: user '{name}' is disabled (arcactl user enable {name})"),
        )?;
    }
    Ok(exit::OK)
}

/// `arcactl user delete`.
pub fn delete(args: &NameArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    crate::commands::security::delete_named(
        args,
        "user",
        security::delete_user,
        " (with its memberships, grants, tokens and sessions)",
        out,
    )
}
