//! The reference's security REST API for users, groups and permission targets (admin only;
//! `docs/security.md`):
//!
//! - `/api/security/users[/{name}]`: `GET` (list, one), `PUT` (create or replace), `POST`
//!   (partial update), `DELETE`.
//! - `/api/security/groups[/{name}]`: the same verbs.
//! - `/api/v2/security/permissions[/{name}]`: `GET`, `PUT` (create or replace), `POST` (create
//!   only, 409 if it exists), `DELETE`, with the v2 body (`repo.repositories`,
//!   `include-patterns`, `exclude-patterns`, `actions.users|groups`).
//!
//! The rules (names, groups that must exist, patterns) are `arca_db::permissions` and
//! `arca_db::security`'s, shared with `arcactl`. Every change bumps the cluster's security
//! version; this node reloads at once, the others within a second.

use serde_json::{Map, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::permissions::{self, Actions, Group, PermissionTarget};
use arca_db::security::{self, ANONYMOUS, User};

use crate::http::auth::{self, require_admin};
use crate::http::error::{ApiError, ApiResult, json_response, text_response};
use crate::http::{Request, format, read_small_body};

/// Largest JSON body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// The name after the collection (`""` for the collection itself), percent-decoded.
fn name_of(rest: &str) -> ApiResult<Option<String>> {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.contains('/') {
        return Err(ApiError::not_found(format!("Not found: '{rest}'")));
    }
    Ok(Some(
        percent_encoding::percent_decode_str(rest)
            .decode_utf8_lossy()
            .into_owned(),
    ))
}

async fn admin_only(req: &Request) -> ApiResult<()> {
    let principal = req.principal().await?;
    require_admin(&principal)
}

async fn read_object(req: &Request) -> ApiResult<Map<String, Value>> {
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, MAX_BODY).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("Body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON body: {e}"))),
    }
}

fn opt_str(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Field '{field}' must be a string, got {other}"
        ))),
    }
}

fn opt_bool(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Field '{field}' must be true or false, got {other}"
        ))),
    }
}

fn opt_list(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<Vec<String>>> {
    list_at(obj, field, field)
}

/// `obj[field]` as a list of strings; errors call it `label`.
fn list_at(obj: &Map<String, Value>, field: &str, label: &str) -> ApiResult<Option<Vec<String>>> {
    let bad = |v: &Value| {
        ApiError::bad_request(format!(
            "Field '{label}' must be a list of strings, got {v}"
        ))
    };
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad(i)))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(other) => Err(bad(other)),
    }
}

/// The body's `name`, if given, must be the one of the URL.
fn check_body_name(obj: &Map<String, Value>, name: &str) -> ApiResult<()> {
    match opt_str(obj, "name")? {
        Some(n) if n != name => Err(ApiError::bad_request(format!(
            "Field 'name' ('{n}') differs from the name in the URL ('{name}')"
        ))),
        _ => Ok(()),
    }
}

fn entry_uri(req: &Request, collection: &str, name: &str) -> String {
    format!(
        "{}/api/{collection}/{}",
        req.base_url,
        format::url_path(name)
    )
}

/// Make this node's grants and authentication cache follow a change at once.
async fn apply_now(req: &Request) {
    if let Err(e) = req.app.refresh_security().await {
        tracing::warn!("reloading the grants after a security change: {e}");
    }
}

async fn hash(req: &Request, password: String) -> ApiResult<String> {
    req.app
        .hash_pool
        .run(move || arca_crypto::hash_password(&password))
        .await?
        .map_err(|e| ApiError::internal("password hashing", e))
}

// ------------------------------------------------------------------------------------ users

/// `/api/security/users` + `rest`.
pub async fn users(req: &mut Request, rest: &str) -> ApiResult<Response> {
    admin_only(req).await?;
    let name = name_of(rest)?;
    match (req.method.clone(), name) {
        (Method::GET | Method::HEAD, None) => list_users(req).await,
        (Method::GET | Method::HEAD, Some(n)) => get_user(req, &n).await,
        (Method::PUT, Some(n)) => put_user(req, &n, true).await,
        (Method::POST, Some(n)) => put_user(req, &n, false).await,
        (Method::DELETE, Some(n)) => delete_user(req, &n).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn list_users(req: &Request) -> ApiResult<Response> {
    let all = req.app.db.read(security::list_users).await?;
    let out: Vec<Value> = all
        .iter()
        .map(|u| {
            serde_json::json!({
                "name": u.name,
                "uri": entry_uri(req, "security/users", &u.name),
                "realm": "internal",
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

async fn get_user(req: &Request, name: &str) -> ApiResult<Response> {
    let n = name.to_string();
    let found = req
        .app
        .db
        .read(move |c| {
            let Some(user) = security::get_user(c, &n)? else {
                return Ok::<_, ApiError>(None);
            };
            let groups = permissions::user_groups(c, &n)?;
            Ok(Some((user, groups)))
        })
        .await?;
    let (user, groups) =
        found.ok_or_else(|| ApiError::not_found(format!("User '{name}' does not exist")))?;
    let mut body = serde_json::json!({
        "name": user.name,
        "email": user.email.clone().unwrap_or_default(),
        "admin": user.admin,
        "disabled": user.disabled,
        "groups": groups,
        "realm": "internal",
        "profileUpdatable": true,
        "internalPasswordDisabled": false,
    });
    if let (Some(ms), Some(obj)) = (user.last_login, body.as_object_mut()) {
        obj.insert("lastLoggedIn".into(), format::iso8601(ms).into());
        obj.insert("lastLoggedInMillis".into(), ms.into());
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `PUT` (`replace`: create, or replace an existing user's fields — an absent `groups` keeps
/// its memberships) and `POST` (`!replace`: change the given fields of an existing user).
async fn put_user(req: &Request, name: &str, replace: bool) -> ApiResult<Response> {
    let obj = read_object(req).await?;
    check_body_name(&obj, name)?;
    let email = opt_str(&obj, "email")?.filter(|e| !e.is_empty());
    let password = opt_str(&obj, "password")?;
    let admin = opt_bool(&obj, "admin")?;
    let disabled = opt_bool(&obj, "disabled")?;
    let groups = opt_list(&obj, "groups")?;
    if password.as_deref() == Some("") {
        return Err(ApiError::bad_request("Field 'password' must not be empty"));
    }
    if name == ANONYMOUS && (password.is_some() || admin == Some(true)) {
        return Err(ApiError::bad_request(
            "The anonymous user cannot have a password ('password') or be an administrator \
             ('admin'); give it permissions instead",
        ));
    }
    permissions::validate_name("user", name)?;
    let password_hash = match password {
        Some(p) => Some(hash(req, p).await?),
        None => None,
    };
    let (n, now) = (name.to_string(), req.app.now_ms());
    // A new password revokes the user's tokens and sessions, except the one this request
    // was made with when the user changes its own password (docs/security.md).
    let keep = caller_credential(req, name).await?;
    let new_hash = password_hash.clone();
    let created = req
        .app
        .db
        .write(move |tx| {
            let existing = security::get_user(tx, &n)?;
            match existing {
                None if !replace => Err(ApiError::not_found(format!(
                    "User '{n}' does not exist (PUT creates users)"
                ))),
                None => {
                    let hash = password_hash.ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Field 'password' is required to create user '{n}'"
                        ))
                    })?;
                    let user = User {
                        name: n.clone(),
                        password_hash: hash,
                        email,
                        admin: admin.unwrap_or(false),
                        created: now,
                        disabled: disabled.unwrap_or(false),
                        ..User::default()
                    };
                    security::create_user(tx, &user, groups.as_deref())?;
                    Ok(true)
                }
                Some(before) => {
                    let email = if replace {
                        email
                    } else {
                        opt_or(email, before.email)
                    };
                    let (admin, disabled) = if replace {
                        (admin.unwrap_or(false), disabled.unwrap_or(false))
                    } else {
                        (
                            admin.unwrap_or(before.admin),
                            disabled.unwrap_or(before.disabled),
                        )
                    };
                    let keep = keep.as_ref().map(|(kind, value)| match kind {
                        CallerKind::Session => {
                            security::CallerCredential::Session { id_hash: value }
                        }
                        CallerKind::Token => security::CallerCredential::Token { digest: value },
                    });
                    security::update_user(
                        tx,
                        &n,
                        email.as_deref(),
                        admin,
                        disabled,
                        password_hash.as_deref(),
                        keep,
                    )?;
                    if let Some(groups) = &groups {
                        permissions::set_user_groups(tx, &n, groups)?;
                    }
                    Ok(false)
                }
            }
        })
        .await?;
    if let Some(hash) = new_hash
        && !created
    {
        password_changed(req, name, &hash).await;
    }
    apply_now(req).await;
    tracing::info!(user = %name, created, "user saved");
    Ok(if created {
        text_response(StatusCode::CREATED, format!("User '{name}' created"))
    } else {
        text_response(StatusCode::OK, format!("User '{name}' updated"))
    })
}

/// How the request authenticated, when that is a credential a password change would revoke.
enum CallerKind {
    Session,
    Token,
}

/// The session (id hash) or token (digest) of a request made by `user` itself.
async fn caller_credential(req: &Request, user: &str) -> ApiResult<Option<(CallerKind, String)>> {
    let principal = req.principal().await?;
    if principal.name() != user {
        return Ok(None);
    }
    Ok(match auth::credentials(&req.headers)? {
        auth::Credentials::Cookie(id) => {
            Some((CallerKind::Session, arca_crypto::sha256_hex(id.as_bytes())))
        }
        auth::Credentials::Token { token, .. } => {
            Some((CallerKind::Token, arca_crypto::token_digest(&token)))
        }
        auth::Credentials::None | auth::Credentials::Password { .. } => None,
    })
}

/// After `user`'s password changed to `hash`: the caller's own `local` session stays valid
/// (it is stamped with the new credentials), and the first change of the initial admin's
/// password removes `etc/security/initial-admin-password`.
async fn password_changed(req: &Request, user: &str, hash: &str) {
    if let Ok(principal) = req.principal().await
        && principal.name() == user
        && let Ok(auth::Credentials::Cookie(id)) = auth::credentials(&req.headers)
    {
        req.app.local_sessions.restamp(
            &arca_crypto::sha256_hex(id.as_bytes()),
            arca_crypto::sha256_hex(hash.as_bytes()),
        );
    }
    if user == crate::admin::INITIAL_ADMIN_USER {
        let file = req
            .app
            .home
            .security()
            .join(crate::admin::INITIAL_ADMIN_PASSWORD_FILE);
        match std::fs::remove_file(&file) {
            Ok(()) => tracing::info!(
                "the admin password changed: removed {} (it held the initial one)",
                file.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {}: {e}", file.display()),
        }
    }
}

fn opt_or(new: Option<String>, old: Option<String>) -> Option<String> {
    new.or(old)
}

async fn delete_user(req: &Request, name: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    if principal.name() == name {
        return Err(ApiError::bad_request(format!(
            "User '{name}' cannot delete itself"
        )));
    }
    let n = name.to_string();
    let deleted = req
        .app
        .db
        .write(move |tx| security::delete_user(tx, &n))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("User '{name}' does not exist")));
    }
    apply_now(req).await;
    tracing::info!(user = %name, by = %principal.name(), "user deleted");
    Ok(text_response(
        StatusCode::OK,
        format!("User '{name}' has been removed successfully."),
    ))
}

// ----------------------------------------------------------------------------------- groups

/// `/api/security/groups` + `rest`.
pub async fn groups(req: &mut Request, rest: &str) -> ApiResult<Response> {
    admin_only(req).await?;
    let name = name_of(rest)?;
    match (req.method.clone(), name) {
        (Method::GET | Method::HEAD, None) => list_groups(req).await,
        (Method::GET | Method::HEAD, Some(n)) => get_group(req, &n).await,
        (Method::PUT, Some(n)) => put_group(req, &n, true).await,
        (Method::POST, Some(n)) => put_group(req, &n, false).await,
        (Method::DELETE, Some(n)) => delete_group(req, &n).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn list_groups(req: &Request) -> ApiResult<Response> {
    let all = req.app.db.read(permissions::list_groups).await?;
    let out: Vec<Value> = all
        .iter()
        .map(|g| {
            serde_json::json!({
                "name": g.name,
                "uri": entry_uri(req, "security/groups", &g.name),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

async fn get_group(req: &Request, name: &str) -> ApiResult<Response> {
    let n = name.to_string();
    let found = req
        .app
        .db
        .read(move |c| {
            let Some(group) = permissions::get_group(c, &n)? else {
                return Ok::<_, ApiError>(None);
            };
            Ok(Some((group, permissions::group_members(c, &n)?)))
        })
        .await?;
    let (g, members) =
        found.ok_or_else(|| ApiError::not_found(format!("Group '{name}' does not exist")))?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "name": g.name,
            "description": g.description,
            "autoJoin": g.auto_join,
            "adminPrivileges": g.admin,
            "realm": "internal",
            "userNames": members,
        }),
    ))
}

/// `PUT` creates or replaces (absent fields: defaults), `POST` changes the given fields of an
/// existing group. `userNames`, when present, is the exact membership.
async fn put_group(req: &Request, name: &str, replace: bool) -> ApiResult<Response> {
    let obj = read_object(req).await?;
    check_body_name(&obj, name)?;
    let description = opt_str(&obj, "description")?;
    let auto_join = opt_bool(&obj, "autoJoin")?;
    let admin = opt_bool(&obj, "adminPrivileges")?;
    let members = opt_list(&obj, "userNames")?;
    let (n, now) = (name.to_string(), req.app.now_ms());
    let created = req
        .app
        .db
        .write(move |tx| {
            let before = permissions::get_group(tx, &n)?;
            if before.is_none() && !replace {
                return Err(ApiError::not_found(format!(
                    "Group '{n}' does not exist (PUT creates groups)"
                )));
            }
            let group = match (&before, replace) {
                (Some(b), false) => Group {
                    name: n.clone(),
                    description: description.unwrap_or_else(|| b.description.clone()),
                    auto_join: auto_join.unwrap_or(b.auto_join),
                    admin: admin.unwrap_or(b.admin),
                    created: b.created,
                },
                _ => Group {
                    name: n.clone(),
                    description: description.unwrap_or_default(),
                    auto_join: auto_join.unwrap_or(false),
                    admin: admin.unwrap_or(false),
                    created: before.as_ref().map_or(now, |b| b.created),
                },
            };
            let created = permissions::put_group(tx, &group)?;
            if let Some(members) = &members {
                permissions::set_group_members(tx, &n, members)?;
            }
            Ok(created)
        })
        .await?;
    apply_now(req).await;
    tracing::info!(group = %name, created, "group saved");
    Ok(if created {
        text_response(StatusCode::CREATED, format!("Group '{name}' created"))
    } else {
        text_response(StatusCode::OK, format!("Group '{name}' updated"))
    })
}

async fn delete_group(req: &Request, name: &str) -> ApiResult<Response> {
    let n = name.to_string();
    let deleted = req
        .app
        .db
        .write(move |tx| permissions::delete_group(tx, &n))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "Group '{name}' does not exist"
        )));
    }
    apply_now(req).await;
    tracing::info!(group = %name, "group deleted");
    Ok(text_response(
        StatusCode::OK,
        format!("Group '{name}' has been removed successfully."),
    ))
}

// ------------------------------------------------------------------------------ permissions

/// `/api/v2/security/permissions` + `rest`.
pub async fn permissions(req: &mut Request, rest: &str) -> ApiResult<Response> {
    admin_only(req).await?;
    let name = name_of(rest)?;
    match (req.method.clone(), name) {
        (Method::GET | Method::HEAD, None) => list_targets(req, Shape::V2).await,
        (Method::GET | Method::HEAD, Some(n)) => get_target(req, &n, Shape::V2).await,
        (Method::PUT, Some(n)) => put_target(req, &n, true, Shape::V2).await,
        (Method::POST, Some(n)) => put_target(req, &n, false, Shape::V2).await,
        (Method::DELETE, Some(n)) => delete_target(req, &n).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/api/security/permissions[/{name}]`: the same permission targets in the reference's v1
/// shape (`includesPattern`, `principals`, one-letter actions). `PUT` creates or replaces.
pub async fn permissions_v1(req: &mut Request, rest: &str) -> ApiResult<Response> {
    admin_only(req).await?;
    let name = name_of(rest)?;
    match (req.method.clone(), name) {
        (Method::GET | Method::HEAD, None) => list_targets(req, Shape::V1).await,
        (Method::GET | Method::HEAD, Some(n)) => get_target(req, &n, Shape::V1).await,
        (Method::PUT, Some(n)) => put_target(req, &n, true, Shape::V1).await,
        (Method::DELETE, Some(n)) => delete_target(req, &n).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Which of the reference's permission APIs a request speaks.
#[derive(Clone, Copy)]
enum Shape {
    V1,
    V2,
}

impl Shape {
    fn collection(self) -> &'static str {
        match self {
            Shape::V1 => "security/permissions",
            Shape::V2 => "v2/security/permissions",
        }
    }
}

async fn list_targets(req: &Request, shape: Shape) -> ApiResult<Response> {
    let all = req.app.db.read(permissions::list_targets).await?;
    let out: Vec<Value> = all
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "uri": entry_uri(req, shape.collection(), &t.name),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

/// Parse a v1 body (`includesPattern`/`excludesPattern` comma-separated, `repositories`,
/// `principals.users|groups` of action codes) into a target named `name`.
pub fn parse_target_v1(name: &str, obj: &Map<String, Value>) -> ApiResult<PermissionTarget> {
    check_body_name(obj, name)?;
    let patterns = |field: &str| -> ApiResult<Vec<String>> {
        Ok(opt_str(obj, field)?
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    };
    let mut target = PermissionTarget {
        name: name.to_string(),
        repositories: list_at(obj, "repositories", "repositories")?.unwrap_or_default(),
        include_patterns: patterns("includesPattern")?,
        exclude_patterns: patterns("excludesPattern")?,
        ..PermissionTarget::default()
    };
    match obj.get("principals") {
        None | Some(Value::Null) => {}
        Some(Value::Object(principals)) => {
            for (kind, out) in [("users", &mut target.users), ("groups", &mut target.groups)] {
                let Some(grants) = principals.get(kind).filter(|g| !g.is_null()) else {
                    continue;
                };
                let grants = grants.as_object().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Field 'principals.{kind}' must be an object of name → [actions]"
                    ))
                })?;
                for (who, _) in grants {
                    let label = format!("principals.{kind}.{who}");
                    let codes = list_at(grants, who, &label)?.unwrap_or_default();
                    let actions = Actions::parse_list(codes.iter().map(String::as_str))
                        .map_err(|e| ApiError::bad_request(format!("Field '{label}': {e}")))?;
                    out.insert(who.clone(), actions);
                }
            }
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Field 'principals' must be an object, got {other}"
            )));
        }
    }
    Ok(target)
}

/// Parse a v2 body into a target named `name`; errors name the field.
pub fn parse_target(name: &str, obj: &Map<String, Value>) -> ApiResult<PermissionTarget> {
    check_body_name(obj, name)?;
    let repo = match obj.get("repo") {
        Some(Value::Object(r)) => r,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "Field 'repo' is required: {\"repositories\":[…],\"actions\":{…}}",
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Field 'repo' must be an object, got {other}"
            )));
        }
    };
    let list = |field: &str| -> ApiResult<Vec<String>> {
        Ok(list_at(repo, field, &format!("repo.{field}"))?.unwrap_or_default())
    };
    let mut target = PermissionTarget {
        name: name.to_string(),
        repositories: list("repositories")?,
        include_patterns: list("include-patterns")?,
        exclude_patterns: list("exclude-patterns")?,
        ..PermissionTarget::default()
    };
    match repo.get("actions") {
        None | Some(Value::Null) => {}
        Some(Value::Object(actions)) => {
            for (kind, out) in [("users", &mut target.users), ("groups", &mut target.groups)] {
                match actions.get(kind) {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(grants)) => {
                        for (who, list) in grants {
                            let field = format!("repo.actions.{kind}.{who}");
                            let names: Vec<&str> = match list {
                                Value::Array(items) => items
                                    .iter()
                                    .map(|i| {
                                        i.as_str().ok_or_else(|| {
                                            ApiError::bad_request(format!(
                                                "Field '{field}' must be a list of action \
                                                 names, got {list}"
                                            ))
                                        })
                                    })
                                    .collect::<ApiResult<_>>()?,
                                other => {
                                    return Err(ApiError::bad_request(format!(
                                        "Field '{field}' must be a list of action names, got \
                                         {other}"
                                    )));
                                }
                            };
                            let actions = Actions::parse_list(names).map_err(|e| {
                                ApiError::bad_request(format!("Field '{field}': {e}"))
                            })?;
                            out.insert(who.clone(), actions);
                        }
                    }
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "Field 'repo.actions.{kind}' must be an object of name → \
                             [actions], got {other}"
                        )));
                    }
                }
            }
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Field 'repo.actions' must be an object, got {other}"
            )));
        }
    }
    Ok(target)
}

async fn get_target(req: &Request, name: &str, shape: Shape) -> ApiResult<Response> {
    let n = name.to_string();
    let t = req
        .app
        .db
        .read(move |c| permissions::get_target(c, &n))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Permission target '{name}' does not exist")))?;
    let shown = match shape {
        Shape::V1 => t.to_v1_json(),
        Shape::V2 => t.to_v2_json(),
    };
    Ok(json_response(StatusCode::OK, &shown))
}

/// `PUT` creates or replaces; `POST` only creates (409 when the target exists).
async fn put_target(req: &Request, name: &str, replace: bool, shape: Shape) -> ApiResult<Response> {
    let obj = read_object(req).await?;
    let target = match shape {
        Shape::V1 => parse_target_v1(name, &obj)?,
        Shape::V2 => parse_target(name, &obj)?,
    };
    let (n, now) = (name.to_string(), req.app.now_ms());
    let created = req
        .app
        .db
        .write(move |tx| {
            if !replace && permissions::get_target(tx, &n)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "Permission target '{n}' already exists (PUT replaces it)"
                )));
            }
            Ok(permissions::put_target(tx, target, now)?)
        })
        .await?;
    apply_now(req).await;
    tracing::info!(permission_target = %name, created, "permission target saved");
    Ok(if created {
        text_response(
            StatusCode::CREATED,
            format!("Permission target '{name}' created"),
        )
    } else {
        text_response(
            StatusCode::OK,
            format!("Permission target '{name}' updated"),
        )
    })
}

async fn delete_target(req: &Request, name: &str) -> ApiResult<Response> {
    let n = name.to_string();
    let deleted = req
        .app
        .db
        .write(move |tx| permissions::delete_target(tx, &n))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "Permission target '{name}' does not exist"
        )));
    }
    apply_now(req).await;
    tracing::info!(permission_target = %name, "permission target deleted");
    Ok(text_response(
        StatusCode::OK,
        format!("Permission Target '{name}' has been removed successfully."),
    ))
}
