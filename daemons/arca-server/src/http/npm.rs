//! `/api/npm/{repo}/…`: the npm registry API of a local npm repository, as the npm CLI uses it
//! (`docs/formats/npm.md`). Packuments are assembled from `arca_db::npm` rows on every read;
//! tarballs are items at `{package}/-/{name}-{version}.tgz`. Errors carry npm's `error` field
//! (the CLI prints it) beside arca's usual `errors` list.

use bytes::Bytes;
use serde_json::{Map, Value, json};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::permissions::Action;
use arca_db::{Repo, items, npm as db};

use crate::formats::Format;
use crate::formats::npm::{self, Package, PackageName, PackumentPut, PublishedVersion};
use crate::http::artifacts::{fetch_item, load_format_repo, require_tree};
use crate::http::authz::{self, Authz};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::{Request, read_small_body, stored, upload};
use crate::paths::RepoPath;
use crate::remote::{self, Obtained};
use crate::virtual_repo;

/// The largest publish accepted (the JSON document with the base64 tarball).
const MAX_PUBLISH_BODY: usize = 256 * 1024 * 1024;
/// The largest other request body (dist-tag values, logins, audit reports).
const MAX_SMALL_BODY: usize = 1024 * 1024;
/// Most search results in one answer.
const MAX_SEARCH_SIZE: i64 = 250;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    match route(req, tail).await {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(npm_error(e)),
    }
}

/// `e` with npm's `{"error": …}` beside arca's `errors` (same status and headers).
fn npm_error(e: ApiError) -> Response {
    let (status, message) = (e.status, e.message.clone());
    let mut resp = e.into_response();
    let body = json!({
        "error": message,
        "errors": [{ "status": status.as_u16(), "message": message }],
    });
    *resp.body_mut() = serde_json::to_vec(&body).unwrap_or_default().into();
    resp
}

/// What a request under a repository's registry URL names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Root,
    Ping,
    Whoami,
    /// `/-/user/org.couchdb.user:{name}`
    Login(String),
    Search,
    Audit(String),
    DistTags(PackageName, Option<String>),
    Packument(PackageName),
    /// `/{package}/-rev/{rev}`
    PackumentRev(PackageName, String),
    Tarball(PackageName, String),
    /// `/{package}/-/{file}/-rev/{rev}`
    TarballRev(PackageName, String),
    /// `/{package}/{version or tag}`
    Version(PackageName, String),
}

/// `rest`: the path after `/api/npm/{repo}/`, still percent-encoded (npm sends `@scope%2fname`).
pub fn parse_target(rest: &str) -> ApiResult<Target> {
    let decoded = crate::paths::decode_api_path(rest)?;
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    let unknown = || ApiError::not_found(format!("Unknown npm endpoint '/{decoded}'"));
    if let Some(("-", special)) = segments.split_first().map(|(h, t)| (*h, t)) {
        return match special {
            ["ping"] => Ok(Target::Ping),
            ["whoami"] => Ok(Target::Whoami),
            ["user", couch] => match couch.strip_prefix("org.couchdb.user:") {
                Some(user) if !user.is_empty() => Ok(Target::Login(user.to_string())),
                _ => Err(unknown()),
            },
            ["v1", "search"] => Ok(Target::Search),
            ["npm", "v1", "security", what @ ..] => Ok(Target::Audit(what.join("/"))),
            ["package", rest @ ..] => {
                let (name, rest) = split_name(rest)?;
                match rest {
                    ["dist-tags"] => Ok(Target::DistTags(name, None)),
                    ["dist-tags", tag] => Ok(Target::DistTags(name, Some((*tag).to_string()))),
                    _ => Err(unknown()),
                }
            }
            _ => Err(unknown()),
        };
    }
    if segments.is_empty() {
        return Ok(Target::Root);
    }
    let (name, rest) = split_name(&segments)?;
    match rest {
        [] => Ok(Target::Packument(name)),
        ["-rev", rev] => Ok(Target::PackumentRev(name, (*rev).to_string())),
        ["-", file] => Ok(Target::Tarball(name, (*file).to_string())),
        ["-", file, "-rev", _] => Ok(Target::TarballRev(name, (*file).to_string())),
        [version] => Ok(Target::Version(name, (*version).to_string())),
        _ => Err(unknown()),
    }
}

/// The package name at the start of `segments` (`@scope`, `name` or `name`) and the rest.
fn split_name<'a, 'b>(segments: &'a [&'b str]) -> ApiResult<(PackageName, &'a [&'b str])> {
    let (name, rest) = match segments {
        [scope, base, rest @ ..] if scope.starts_with('@') => (format!("{scope}/{base}"), rest),
        [name, rest @ ..] => ((*name).to_string(), rest),
        [] => return Err(ApiError::not_found("No package name")),
    };
    let name = PackageName::parse(&name).map_err(|e| ApiError::bad_request(e.0))?;
    Ok((name, rest))
}

async fn route(req: &mut Request, tail: &str) -> ApiResult<Response> {
    let (repo, rest) = load_format_repo(req, tail, Format::Npm, "an npm").await?;
    let target = parse_target(rest)?;
    // writes through a virtual repository go to its default deployment repository
    let repo = if changes_package(&req.method, &target) {
        virtual_repo::writable_repo(req, repo, Format::Npm, "publish").await?
    } else {
        repo
    };
    let method = req.method.clone();
    match (&method, target) {
        // like every read: a repository the caller may not read answers as one that does not
        // exist, so that names cannot be probed
        (&Method::GET | &Method::HEAD, Target::Root | Target::Ping) => {
            authz::require_reads_somewhere(req, &repo).await?;
            ok_json(StatusCode::OK, json!({}))
        }
        (&Method::GET | &Method::HEAD, Target::Whoami) => {
            authz::require_reads_somewhere(req, &repo).await?;
            whoami(req).await
        }
        (&Method::PUT, Target::Login(user)) => login(req, &user).await,
        (&Method::GET | &Method::HEAD, Target::Search) => search(req, &repo).await,
        (&Method::POST, Target::Audit(what)) => audit(req, &repo, &what).await,
        (&Method::GET | &Method::HEAD, Target::DistTags(name, None)) => {
            dist_tags(req, &repo, &name).await
        }
        (&Method::PUT, Target::DistTags(name, Some(tag))) => {
            set_dist_tag(req, &repo, &name, &tag).await
        }
        (&Method::DELETE, Target::DistTags(name, Some(tag))) => {
            delete_dist_tag(req, &repo, &name, &tag).await
        }
        (&Method::GET | &Method::HEAD, Target::Packument(name)) => {
            packument(req, &repo, &name).await
        }
        (&Method::GET | &Method::HEAD, Target::Version(name, spec)) => {
            version(req, &repo, &name, &spec).await
        }
        (&Method::PUT, Target::Packument(name) | Target::PackumentRev(name, _)) => {
            put_packument(req, &repo, &name).await
        }
        (&Method::DELETE, Target::PackumentRev(name, rev)) => {
            unpublish_package(req, &repo, &name, Some(rev)).await
        }
        (&Method::DELETE, Target::Packument(name)) => {
            unpublish_package(req, &repo, &name, None).await
        }
        (&Method::GET | &Method::HEAD, Target::Tarball(name, file)) => {
            tarball(req, &repo, &name, &file).await
        }
        (&Method::DELETE, Target::TarballRev(name, file) | Target::Tarball(name, file)) => {
            delete_tarball(req, &repo, &name, &file).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Whether a request changes a package (publish, unpublish, deprecate, dist-tags).
fn changes_package(method: &Method, target: &Target) -> bool {
    matches!(*method, Method::PUT | Method::DELETE)
        && matches!(
            target,
            Target::DistTags(..)
                | Target::Packument(_)
                | Target::PackumentRev(..)
                | Target::Tarball(..)
                | Target::TarballRev(..)
        )
}

fn ok_json(status: StatusCode, value: Value) -> ApiResult<Response> {
    Ok(json_response(status, &value))
}

/// The repository's registry URL as clients reach it (`…/api/npm/{repo}`, no trailing slash).
fn registry_url(req: &Request, repo: &Repo) -> String {
    format!("{}/api/npm/{}", req.base_url, repo.key)
}

async fn whoami(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    if principal.is_anonymous() {
        return Err(ApiError::unauthorized(
            "Authentication is required: anonymous is nobody",
        ));
    }
    ok_json(StatusCode::OK, json!({ "username": principal.name() }))
}

/// `PUT /-/user/org.couchdb.user:{name}` (`npm login --auth-type=legacy`, `npm adduser`): the
/// user's password is checked like every login (back-off included) and the answer carries a new
/// access token for `.npmrc`. arca does not create users here: an unknown name is refused like
/// a wrong password.
async fn login(req: &Request, user: &str) -> ApiResult<Response> {
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, MAX_SMALL_BODY).await?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("The login document is not valid JSON: {e}")))?;
    let field = |f: &str| doc.get(f).and_then(Value::as_str).unwrap_or_default();
    if field("name") != user {
        return Err(ApiError::bad_request(format!(
            "The login document's 'name' is not '{user}' from the URL"
        )));
    }
    let password = field("password");
    if password.is_empty() {
        return Err(ApiError::bad_request(
            "The login document has no 'password'",
        ));
    }
    let source = crate::http::auth::client_source(
        &req.app.settings.login_trusted_proxies,
        &req.headers,
        req.peer,
    );
    let checked = crate::http::auth::check_password(&req.app, user, password, &source).await?;
    let (token, _, stored) = crate::http::security_api::issue_token(
        &req.app,
        &checked.name,
        "member-of-groups:*",
        req.app.settings.token_max_expires_secs,
        false,
        None,
    )
    .await?;
    tracing::info!(user = %checked.name, token_id = %stored.id, "npm login: access token issued");
    ok_json(
        StatusCode::CREATED,
        json!({
            "ok": true,
            "id": format!("org.couchdb.user:{}", checked.name),
            "rev": "1",
            "token": token,
        }),
    )
}

/// The versions and dist-tags of `name` as `repo` serves them: a local repository's rows, a
/// remote one's upstream packument (cached for `retrievalCachePeriodSecs`), a virtual one's
/// members merged in resolution order (each member the caller may read). Nothing: empty lists.
async fn read_package(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    name: &PackageName,
) -> ApiResult<Package> {
    if !repo.is_virtual() {
        return member_package(req, authz, repo, name).await;
    }
    let mut parts = Vec::new();
    let mut upstream_error: Option<ApiError> = None;
    for member in virtual_repo::members(req, repo).await? {
        if Format::of(&member) != Format::Npm
            || member.settings.blacked_out
            || !authz.allows(&member, name.folder(), Action::Read)
        {
            continue;
        }
        match member_package(req, authz, &member, name).await {
            Ok(part) => parts.push(part),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            // one member's failing upstream does not hide the others' versions
            Err(e) if e.is_upstream_failure() => {
                tracing::warn!(arca_repo = %repo.key, member = %member.key, package = %name, error = %e.message, "npm: a member's packument is missing from the merge");
                upstream_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    let merged = npm::merge_packages(parts);
    match upstream_error {
        // a 404 (not a 502) while an upstream is away: `npm publish` of a new package asks for
        // its packument first and goes on only after a 404
        Some(e) if merged.0.is_empty() => Err(ApiError::not_found(format!(
            "Package '{name}' is not in this registry (no member has it; one member's upstream \
             could not be asked: {})",
            e.message
        ))),
        _ => Ok(merged),
    }
}

/// [`read_package`] of a local or remote repository.
async fn member_package(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    name: &PackageName,
) -> ApiResult<Package> {
    if !repo.is_remote() {
        return local_package(req, repo, name).await;
    }
    let path = npm::packument_cache_path(name);
    let cached = fetch_item(req, &repo.key, &path).await?;
    let item = match remote::obtain_as(req, authz, repo, &path, cached, true).await {
        Ok(Obtained::Stored(item)) => item,
        Ok(Obtained::Streaming(_)) => {
            return Err(ApiError::internal(
                "npm packument",
                "the remote answered with a stream when asked for the whole file",
            ));
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let bytes = stored::read_item(req, &item).await?;
    npm::parse_upstream_packument(name, &bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Remote repository '{}': {}", repo.key, e.0),
        )
    })
}

/// The published versions of `name` in local `repo` and its dist-tags.
async fn local_package(req: &Request, repo: &Repo, name: &PackageName) -> ApiResult<Package> {
    let (key, package) = (repo.key.clone(), name.to_string());
    Ok(req
        .app
        .db
        .read(move |conn| local_rows(conn, &key, &package))
        .await?)
}

/// The published versions and dist-tags of `package` in local repository `key`, as of `conn`.
fn local_rows(
    conn: &arca_db::Conn<'_>,
    key: &str,
    package: &str,
) -> Result<Package, arca_db::DbError> {
    let versions = db::versions(conn, key, package)?
        .into_iter()
        .map(|row| {
            let manifest = match serde_json::from_str(&row.manifest) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            PublishedVersion {
                version: row.version,
                manifest,
                published: row.published,
            }
        })
        .collect();
    Ok((versions, db::tags(conn, key, package)?))
}

/// A change made on a packument read at `sent` (its `_rev`) is applied only to that packument:
/// 409 when a publish, deprecation or tag change came in between (the client reads it again).
fn check_revision(name: &PackageName, current: &Package, sent: Option<&str>) -> ApiResult<()> {
    let now = npm::packument_rev(&current.0, &current.1);
    match sent {
        Some(sent) if sent == now => Ok(()),
        Some(sent) => Err(ApiError::conflict(format!(
            "The packument of '{name}' changed since it was read (the change was made on _rev \
             {sent}, it is now at {now}): read it again and retry"
        ))),
        None => Err(ApiError::conflict(format!(
            "A change of the packument of '{name}' must carry the _rev it was read at"
        ))),
    }
}

fn no_such_package(name: &PackageName) -> ApiError {
    ApiError::not_found(format!("Package '{name}' is not in this registry"))
}

async fn packument(req: &Request, repo: &Repo, name: &PackageName) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, name.folder(), Action::Read).await?;
    let (versions, tags) = read_package(req, &authz, repo, name).await?;
    if versions.is_empty() {
        return Err(no_such_package(name));
    }
    let registry = registry_url(req, repo);
    let abbreviated = req
        .header("accept")
        .is_some_and(|a| a.contains(npm::ABBREVIATED_MEDIA_TYPE));
    let (doc, media_type) = if abbreviated {
        (
            npm::abbreviated_packument(name, &versions, &tags, &registry),
            npm::ABBREVIATED_MEDIA_TYPE,
        )
    } else {
        (
            npm::full_packument(name, &versions, &tags, &registry),
            "application/json",
        )
    };
    // compact (a packument with many versions is large)
    let body = serde_json::to_vec(&doc).map_err(|e| ApiError::internal("npm packument", e))?;
    Ok(crate::http::conditional::negotiated_document(
        req, body, media_type,
    ))
}

/// `GET /{package}/{version or tag}`: one version's manifest.
async fn version(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    spec: &str,
) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, name.folder(), Action::Read).await?;
    let (versions, tags) = read_package(req, &authz, repo, name).await?;
    let tags = npm::effective_tags(&versions, &tags);
    let wanted = tags.get(spec).map(String::as_str).unwrap_or(spec);
    let found = versions
        .iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Version '{spec}' of '{name}' is not in this registry"
            ))
        })?;
    ok_json(
        StatusCode::OK,
        npm::version_manifest(name, found, &registry_url(req, repo)),
    )
}

async fn tarball(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    file: &str,
) -> ApiResult<Response> {
    let path = name.file_path(file);
    let (_, authz) = authz::require(req, repo, &path, Action::Read).await?;
    let target = RepoPath {
        repo: repo.key.clone(),
        path: path.clone(),
        trailing_slash: false,
    };
    let missing = || ApiError::not_found(format!("No tarball '{file}' of '{name}'"));
    let answer = if repo.is_virtual() {
        virtual_repo::download(req, &authz, repo, &target).await
    } else {
        let cached = fetch_item(req, &repo.key, &path).await?;
        match cached {
            Some(item) if item.folder => return Err(missing()),
            Some(item) if repo.is_local() => stored::serve_file(req, repo, &item).await,
            None if repo.is_local() => return Err(missing()),
            cached => remote::serve(req, &authz, repo, &target, cached).await,
        }
    };
    answer.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            missing()
        } else {
            e
        }
    })
}

/// `PUT /{package}`: a publish (a version with its tarball) or a changed packument
/// (deprecations, the removal of versions by `npm unpublish pkg@version`).
async fn put_packument(req: &mut Request, repo: &Repo, name: &PackageName) -> ApiResult<Response> {
    let (principal, authz) = authz::caller(req).await?;
    // before reading a large body: the caller may publish or change packages here at all
    // (annotate is enough to deprecate; publishing needs deploy, checked below)
    if !authz.allows(repo, name.folder(), Action::Annotate) {
        authz.require(repo, name.folder(), Action::Read)?;
        return Err(authz.denied(&format!(
            "publish or change '{name}' in {} (publishing needs deploy, deprecating annotate)",
            repo.key
        )));
    }
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, MAX_PUBLISH_BODY).await?;
    // decoding and unpacking the tarball is CPU work: off the async workers
    let (named, publisher) = (name.clone(), principal.name().to_string());
    let put = tokio::task::spawn_blocking(move || npm::parse_put(&named, &bytes, &publisher))
        .await
        .map_err(|e| ApiError::internal("npm publish", e))?
        .map_err(|e| ApiError::bad_request(e.0))?;
    match put {
        PackumentPut::Publish(publish) => {
            let path = name.tarball_path(&publish.version);
            authz.require(repo, &path, Action::Deploy)?;
            let manifest = serde_json::to_string(&publish.manifest)
                .map_err(|e| ApiError::internal("npm publish", e))?;
            let (key, package, version, tags) = (
                repo.key.clone(),
                name.to_string(),
                publish.version.clone(),
                publish.tags.clone(),
            );
            let (key2, package2, version2) = (key.clone(), package.clone(), version.clone());
            let now = req.app.now_ms();
            upload::store_bytes_with(
                &req.app,
                &repo.key,
                &path,
                Bytes::from(publish.tarball),
                principal.name(),
                move |tx| {
                    if db::version_exists(tx, &key2, &package2, &version2)? {
                        return Err(ApiError::forbidden(format!(
                            "You cannot publish over the previously published versions: {version2}."
                        )));
                    }
                    Ok(true)
                },
                move |tx, item| {
                    db::insert_version(
                        tx,
                        &key,
                        &package,
                        &db::Version {
                            version: version.clone(),
                            manifest,
                            published: now,
                            item_id: item.id,
                        },
                    )?;
                    for tag in &tags {
                        db::set_tag(tx, &key, &package, tag, &version)?;
                    }
                    Ok(())
                },
            )
            .await?;
            tracing::info!(arca_repo = %repo.key, package = %name, version = %publish.version, user = %principal.name(), "npm publish");
            ok_json(
                StatusCode::CREATED,
                json!({ "ok": true, "id": name.as_str(), "success": true }),
            )
        }
        PackumentPut::Update(update) => {
            update_packument(req, repo, name, &authz, principal.name(), update).await
        }
    }
}

/// A changed packument: versions left out are unpublished (delete permission), changed
/// `deprecated` messages and dist-tags are applied (annotate). Nothing else of a stored manifest
/// changes: a version's contents are immutable. The change applies only to the packument it was
/// made on (`_rev`, checked in the transaction that applies it), never removes every version
/// (that is `DELETE /{package}/-rev/{rev}`), and names only published versions.
async fn update_packument(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    authz: &Authz,
    user: &str,
    update: npm::Update,
) -> ApiResult<Response> {
    let (key, checked, named, authz) =
        (repo.key.clone(), repo.clone(), name.clone(), authz.clone());
    let (removed, deprecated, tags_changed) = req
        .app
        .db
        .write(move |tx| {
            let package = named.to_string();
            let current = local_rows(tx, &key, &package)?;
            if current.0.is_empty() {
                return Err(no_such_package(&named));
            }
            check_revision(&named, &current, update.rev.as_deref())?;
            let change = plan_change(&named, &current, &update)?;
            for v in &change.removed {
                authz.require(&checked, &named.tarball_path(v), Action::Delete)?;
            }
            if !change.deprecations.is_empty() || change.tags.is_some() {
                authz.require(&checked, named.folder(), Action::Annotate)?;
            }
            for v in &change.removed {
                items::delete_tree(tx, &key, &named.tarball_path(v))?;
            }
            for (version, manifest) in &change.deprecations {
                db::update_manifest(tx, &key, &package, version, manifest)?;
            }
            if let Some(tags) = &change.tags {
                db::delete_tags(tx, &key, &package)?;
                for (tag, version) in tags {
                    db::set_tag(tx, &key, &package, tag, version)?;
                }
            }
            Ok::<_, ApiError>((
                change.removed.len(),
                change.deprecations.len(),
                change.tags.is_some(),
            ))
        })
        .await?;
    tracing::info!(arca_repo = %repo.key, package = %name, removed, deprecated, tags_changed, user, "npm packument update");
    ok_json(StatusCode::OK, json!({ "ok": true, "id": name.as_str() }))
}

/// What a changed packument changes.
struct Change {
    /// versions unpublished
    removed: Vec<String>,
    /// (version, its new manifest text) whose `deprecated` message changed
    deprecations: Vec<(String, String)>,
    /// the new dist-tags, when they changed
    tags: Option<Vec<(String, String)>>,
}

fn plan_change(name: &PackageName, current: &Package, update: &npm::Update) -> ApiResult<Change> {
    let (versions, tags) = current;
    if let Some(unknown) = update
        .versions
        .keys()
        .find(|v| !versions.iter().any(|p| p.version == **v))
    {
        return Err(ApiError::bad_request(format!(
            "Version '{unknown}' of '{name}' is not published: a publish carries its tarball in \
             '_attachments'"
        )));
    }
    let removed: Vec<String> = versions
        .iter()
        .filter(|v| !update.versions.contains_key(&v.version))
        .map(|v| v.version.clone())
        .collect();
    if removed.len() == versions.len() {
        return Err(ApiError::bad_request(format!(
            "A change of the packument may not remove every version of '{name}': unpublish the \
             package (npm unpublish --force, DELETE /{{package}}/-rev/{{rev}})"
        )));
    }
    let mut deprecations = Vec::new();
    for v in versions {
        let Some(sent) = update.versions.get(&v.version) else {
            continue;
        };
        let sent_message = sent
            .get("deprecated")
            .filter(|m| !matches!(m, Value::String(s) if s.is_empty()));
        if sent_message == v.manifest.get("deprecated") {
            continue;
        }
        let mut manifest = v.manifest.clone();
        match sent_message {
            Some(Value::String(m)) => {
                manifest.insert("deprecated".into(), Value::String(m.clone()));
            }
            None => {
                manifest.remove("deprecated");
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "Version '{}': 'deprecated' is not a string",
                    v.version
                )));
            }
        }
        let text =
            serde_json::to_string(&manifest).map_err(|e| ApiError::internal("npm deprecate", e))?;
        deprecations.push((v.version.clone(), text));
    }
    let remaining: Vec<&str> = versions
        .iter()
        .map(|v| v.version.as_str())
        .filter(|v| !removed.iter().any(|r| r == v))
        .collect();
    let mut new_tags: Vec<(String, String)> = update
        .tags
        .iter()
        .filter(|(_, v)| remaining.contains(&v.as_str()))
        .map(|(t, v)| (t.clone(), v.clone()))
        .collect();
    if !new_tags.iter().any(|(t, _)| t == "latest")
        && let Some(best) = npm::highest_version(remaining.iter().copied())
    {
        new_tags.push(("latest".into(), best));
    }
    new_tags.sort();
    let mut old_tags = tags.clone();
    old_tags.sort();
    Ok(Change {
        removed,
        deprecations,
        tags: (old_tags != new_tags).then_some(new_tags),
    })
}

/// `DELETE /{package}/-rev/{rev}`: unpublish the whole package (`rev`: the `_rev` the client read,
/// checked like a change's; a plain `DELETE /{package}` without one deletes whatever is there).
async fn unpublish_package(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    rev: Option<String>,
) -> ApiResult<Response> {
    let (principal, authz) = authz::require(req, repo, name.folder(), Action::Delete).await?;
    let (key, checked, named) = (repo.key.clone(), repo.clone(), name.clone());
    let removed = req
        .app
        .db
        .write(move |tx| {
            let package = named.to_string();
            if rev.is_some() {
                let current = local_rows(tx, &key, &package)?;
                if current.0.is_empty() {
                    return Err(no_such_package(&named));
                }
                check_revision(&named, &current, rev.as_deref())?;
            }
            require_tree(tx, &authz, &checked, &package, Action::Delete)?;
            let removed = items::delete_tree(tx, &key, &package)?;
            db::delete_tags(tx, &key, &package)?;
            Ok::<_, ApiError>(removed)
        })
        .await?;
    if removed == 0 {
        return Err(no_such_package(name));
    }
    tracing::info!(arca_repo = %repo.key, package = %name, user = %principal.name(), "npm unpublish (whole package)");
    ok_json(StatusCode::OK, json!({ "ok": true }))
}

/// `DELETE /{package}/-/{file}/-rev/{rev}`: the tarball of an unpublished version.
async fn delete_tarball(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    file: &str,
) -> ApiResult<Response> {
    let path = name.file_path(file);
    let (principal, _) = authz::require(req, repo, &path, Action::Delete).await?;
    let key = repo.key.clone();
    let target = path.clone();
    let removed = req
        .app
        .db
        .write(move |tx| Ok::<_, ApiError>(items::delete_tree(tx, &key, &target)?))
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found(format!(
            "No tarball '{file}' of '{name}'"
        )));
    }
    tracing::info!(arca_repo = %repo.key, arca_path = %path, user = %principal.name(), "npm tarball deleted");
    ok_json(StatusCode::OK, json!({ "ok": true }))
}

async fn dist_tags(req: &Request, repo: &Repo, name: &PackageName) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, name.folder(), Action::Read).await?;
    let (versions, tags) = read_package(req, &authz, repo, name).await?;
    if versions.is_empty() {
        return Err(no_such_package(name));
    }
    ok_json(StatusCode::OK, json!(npm::effective_tags(&versions, &tags)))
}

/// `PUT /-/package/{package}/dist-tags/{tag}` with the version as a JSON string.
async fn set_dist_tag(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    tag: &str,
) -> ApiResult<Response> {
    let (principal, _) = authz::require(req, repo, name.folder(), Action::Annotate).await?;
    npm::check_tag(tag).map_err(|e| ApiError::bad_request(e.0))?;
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, MAX_SMALL_BODY).await?;
    let version = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::String(v)) => v,
        _ => {
            return Err(ApiError::bad_request(
                "The body must be the version as a JSON string, e.g. \"1.0.0\"",
            ));
        }
    };
    npm::parse_version(&version).map_err(|e| ApiError::bad_request(e.0))?;
    let (key, package, tag_owned, v) = (
        repo.key.clone(),
        name.to_string(),
        tag.to_string(),
        version.clone(),
    );
    let exists = req
        .app
        .db
        .write(move |tx| {
            if !db::version_exists(tx, &key, &package, &v)? {
                return Ok::<_, ApiError>(false);
            }
            db::set_tag(tx, &key, &package, &tag_owned, &v)?;
            Ok(true)
        })
        .await?;
    if !exists {
        return Err(ApiError::not_found(format!(
            "Version '{version}' of '{name}' is not in this registry"
        )));
    }
    tracing::info!(arca_repo = %repo.key, package = %name, tag, version = %version, user = %principal.name(), "npm dist-tag set");
    ok_json(StatusCode::CREATED, json!({ "ok": true }))
}

async fn delete_dist_tag(
    req: &Request,
    repo: &Repo,
    name: &PackageName,
    tag: &str,
) -> ApiResult<Response> {
    let (principal, _) = authz::require(req, repo, name.folder(), Action::Annotate).await?;
    if tag == "latest" {
        return Err(ApiError::bad_request(
            "The 'latest' dist-tag cannot be removed (point it at another version)",
        ));
    }
    let (key, package, tag_owned) = (repo.key.clone(), name.to_string(), tag.to_string());
    let removed = req
        .app
        .db
        .write(move |tx| Ok::<_, ApiError>(db::delete_tag(tx, &key, &package, &tag_owned)?))
        .await?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "'{name}' has no dist-tag '{tag}'"
        )));
    }
    tracing::info!(arca_repo = %repo.key, package = %name, tag, user = %principal.name(), "npm dist-tag removed");
    ok_json(StatusCode::OK, json!({ "ok": true }))
}

/// `GET /-/v1/search?text=…&size=…&from=…`: packages whose name contains the text.
async fn search(req: &Request, repo: &Repo) -> ApiResult<Response> {
    let authz = authz::require_reads_somewhere(req, repo).await?;
    let text = req.query.get("text").cloned().unwrap_or_default();
    let number = |name: &str, default: i64| -> ApiResult<i64> {
        match req.query.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad_request(format!("'{name}' must be a non-negative number"))
            }),
        }
    };
    let size = number("size", 20)?.clamp(1, MAX_SEARCH_SIZE);
    let from = number("from", 0)?;
    // the local repositories searched: the repository, or a virtual one's local members (a
    // remote's upstream is not searched)
    let searched: Vec<Repo> = if repo.is_virtual() {
        virtual_repo::members(req, repo)
            .await?
            .into_iter()
            .filter(|m| m.is_local() && Format::of(m) == Format::Npm && authz.reads_somewhere(m))
            .collect()
    } else if repo.is_local() {
        vec![repo.clone()]
    } else {
        Vec::new()
    };
    let keys: Vec<String> = searched.iter().map(|r| r.key.clone()).collect();
    let query = text.clone();
    let (found, total) = req
        .app
        .db
        .read(move |conn| {
            // each repository's first from + size, merged by name (the first repository's
            // package wins), then the page
            let mut all: Vec<(usize, db::PackageSummary)> = Vec::new();
            let mut total = 0;
            for (index, key) in keys.iter().enumerate() {
                let (found, count) = db::search(conn, key, &query, 0, from.saturating_add(size))?;
                total += count;
                all.extend(found.into_iter().map(|p| (index, p)));
            }
            all.sort_by(|a, b| (&a.1.package, a.0).cmp(&(&b.1.package, b.0)));
            all.dedup_by(|b, a| a.1.package == b.1.package);
            let page: Vec<(usize, db::PackageSummary)> = all
                .into_iter()
                .skip(usize::try_from(from).unwrap_or(usize::MAX))
                .take(usize::try_from(size).unwrap_or(0))
                .collect();
            Ok::<_, ApiError>((page, total))
        })
        .await?;
    let mut objects = Vec::with_capacity(found.len());
    for (index, p) in found {
        let Ok(name) = PackageName::parse(&p.package) else {
            continue;
        };
        if !searched
            .get(index)
            .is_some_and(|r| authz.allows(r, name.folder(), Action::Read))
        {
            continue;
        }
        let manifest: Map<String, Value> = match serde_json::from_str(&p.manifest) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let field = |f: &str| manifest.get(f).cloned().unwrap_or(Value::Null);
        let scope = name
            .as_str()
            .strip_prefix('@')
            .and_then(|s| s.split('/').next())
            .unwrap_or("unscoped");
        objects.push(json!({
            "package": {
                "name": name.as_str(),
                "scope": scope,
                "version": p.version,
                "description": field("description"),
                "keywords": field("keywords"),
                "date": crate::http::format::iso8601(p.published),
                "links": {},
                "publisher": field("_npmUser"),
                "maintainers": [],
            },
            "score": { "final": 1.0, "detail": { "quality": 1.0, "popularity": 1.0, "maintenance": 1.0 } },
            "searchScore": 1.0,
        }));
    }
    ok_json(
        StatusCode::OK,
        json!({
            "objects": objects,
            "total": total,
            "time": crate::http::format::iso8601(req.app.now_ms()),
        }),
    )
}

/// `POST /-/npm/v1/security/…`: arca has no advisory database; `npm audit` gets an empty report
/// at once (the bulk endpoint's shape, or the older "quick" audit's).
async fn audit(req: &Request, repo: &Repo, what: &str) -> ApiResult<Response> {
    authz::require_reads_somewhere(req, repo).await?;
    let mut body = req.take_body();
    // the report is not read, but the body is bounded like every other
    let _ = read_small_body(&mut body, 64 * MAX_SMALL_BODY).await?;
    match what {
        "advisories/bulk" => ok_json(StatusCode::OK, json!({})),
        "audits/quick" | "audits" => ok_json(
            StatusCode::OK,
            json!({
                "actions": [],
                "advisories": {},
                "muted": [],
                "metadata": {
                    "vulnerabilities": { "info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0 },
                    "dependencies": 0,
                    "devDependencies": 0,
                    "optionalDependencies": 0,
                    "totalDependencies": 0
                }
            }),
        ),
        _ => Err(ApiError::not_found(format!(
            "Unknown npm security endpoint '{what}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> PackageName {
        PackageName::parse(n).unwrap()
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("").unwrap(), Target::Root);
        assert_eq!(parse_target("-/ping").unwrap(), Target::Ping);
        assert_eq!(
            parse_target("-/user/org.couchdb.user:dev").unwrap(),
            Target::Login("dev".into())
        );
        assert!(parse_target("-/user/org.couchdb.user:").is_err());
        assert_eq!(
            parse_target("left-pad").unwrap(),
            Target::Packument(name("left-pad"))
        );
        assert_eq!(
            parse_target("@acme%2flib").unwrap(),
            Target::Packument(name("@acme/lib"))
        );
        assert_eq!(
            parse_target("@acme%2Flib").unwrap(),
            Target::Packument(name("@acme/lib"))
        );
        assert_eq!(
            parse_target("@acme/lib/-/lib-1.0.0.tgz").unwrap(),
            Target::Tarball(name("@acme/lib"), "lib-1.0.0.tgz".into())
        );
        assert_eq!(
            parse_target("x/-/x-1.0.0.tgz/-rev/3-abc").unwrap(),
            Target::TarballRev(name("x"), "x-1.0.0.tgz".into())
        );
        assert_eq!(
            parse_target("x/-rev/3-abc").unwrap(),
            Target::PackumentRev(name("x"), "3-abc".into())
        );
        assert_eq!(
            parse_target("-/package/@acme%2flib/dist-tags/beta").unwrap(),
            Target::DistTags(name("@acme/lib"), Some("beta".into()))
        );
        assert_eq!(
            parse_target("x/1.0.0").unwrap(),
            Target::Version(name("x"), "1.0.0".into())
        );
        assert!(parse_target("Bad").is_err());
        assert!(parse_target("x/-/a/b/c/d").is_err());
        assert!(parse_target("%ff").is_err());
        assert!(parse_target("-/nothing").is_err());
    }
}
