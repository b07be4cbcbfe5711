//! `/v2/…`: the OCI Distribution API (1.1) and Docker Registry API v2 of `docker` repositories,
//! on the node's root (registry clients cannot add a context path), the repository key as the
//! first component of the name: `/v2/{repo}/{image}/manifests/{reference}`
//! (`docs/formats/oci.md`).
//!
//! An image's parts are items ([`arca_db::oci`]): blobs at `{image}/_blobs/{digest}`,
//! manifests at `{image}/_manifests/{digest}`, tags at `{image}/_tags/{tag}` (the manifest's
//! binary again). An upload session lives in the database and its chunks are binaries of the
//! storage chain, so a chunked push continues on whichever node the load balancer picks.
//! Errors are the spec's `{"errors":[{"code":…}]}`; a 401 carries the `Bearer` challenge of
//! the token endpoint `/v2/token`, whose tokens are sealed with the cluster's master key (any
//! node opens them) and name the repositories and actions they grant.

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use arca_db::permissions::Action;
use arca_db::{Item, NewFile, Repo, items, oci as db};

use crate::formats::Format;
use crate::formats::oci::{self, Descriptor, Digest, ErrorCode, OciError, Reference, Route, Scope};
use crate::http::authz::Authz;
use crate::http::error::ApiError;
use crate::http::registry_token::{self, Claims};
use crate::http::{Request, read_small_body, stored, upload};
use crate::state::Principal;

/// The `service` of the challenge (clients send it back; arca has one).
const SERVICE: &str = "arca";
/// The most tags or repositories one page lists.
const MAX_PAGE: usize = 10_000;

mod remote;

/// Why a request failed: a spec error, or one of arca's (mapped to the spec's codes).
#[derive(Debug)]
enum Fail {
    Spec(OciError),
    Api(ApiError),
}

impl From<OciError> for Fail {
    fn from(e: OciError) -> Self {
        Fail::Spec(e)
    }
}
impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Api(e)
    }
}
impl From<arca_db::DbError> for Fail {
    fn from(e: arca_db::DbError) -> Self {
        Fail::Api(e.into())
    }
}
impl From<arca_storage::StorageError> for Fail {
    fn from(e: arca_storage::StorageError) -> Self {
        Fail::Api(e.into())
    }
}

type OciResult<T> = Result<T, Fail>;

fn spec(code: ErrorCode, message: impl Into<String>) -> Fail {
    Fail::Spec(OciError::new(code, message))
}

/// Serve a request under `/v2`; `path`: what follows `/v2`, still percent-encoded.
pub async fn handle(req: &mut Request, path: &str) -> Response {
    let mut scope = None;
    let result = route(req, path, &mut scope).await;
    match result {
        Ok(resp) => with_api_version(resp),
        Err(fail) => with_api_version(error_response(req, fail, scope.as_deref())),
    }
}

fn with_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// The spec's error document for `fail`; a 401 with the challenge (`scope`: what the request
/// needed, so the client asks the token endpoint for it).
fn error_response(req: &Request, fail: Fail, scope: Option<&str>) -> Response {
    let (status, body) = match fail {
        Fail::Spec(e) => (e.code.status(), oci::error_body(std::slice::from_ref(&e))),
        Fail::Api(e) => match api_to_spec(&e) {
            Some(code) => {
                let e = OciError::new(code, e.message);
                (code.status(), oci::error_body(std::slice::from_ref(&e)))
            }
            // what the spec has no code for keeps its status (405, 413, 503, 507, 500 …), as
            // distribution's UNSUPPORTED and UNKNOWN
            None => (
                e.status,
                serde_json::to_vec(&serde_json::json!({
                    "errors": [{
                        "code": if e.status == StatusCode::METHOD_NOT_ALLOWED { "UNSUPPORTED" } else { "UNKNOWN" },
                        "message": e.message
                    }]
                }))
                .unwrap_or_default(),
            ),
        },
    };
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        let mut challenge = format!(
            "Bearer realm=\"{}/v2/token\",service=\"{SERVICE}\"",
            root_url(req)
        );
        if let Some(scope) = scope {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

/// The spec's code for one of arca's errors, where it has one.
fn api_to_spec(e: &ApiError) -> Option<ErrorCode> {
    Some(match e.status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Denied,
        StatusCode::NOT_FOUND => ErrorCode::NameUnknown,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        _ => return None,
    })
}

/// The node's URL without the context path: where `/v2/` is.
fn root_url(req: &Request) -> String {
    let ctx = req.app.settings.context_path.trim_end_matches('/');
    req.base_url
        .strip_suffix(ctx)
        .unwrap_or(&req.base_url)
        .trim_end_matches('/')
        .to_string()
}

async fn route(req: &mut Request, path: &str, scope: &mut Option<String>) -> OciResult<Response> {
    let decoded = crate::paths::decode_api_path(path.trim_start_matches('/'))?;
    let decoded = format!("/{decoded}");
    let Some(route) = oci::parse_route(&decoded)? else {
        return Err(spec(
            ErrorCode::NameUnknown,
            format!("No registry endpoint at /v2{decoded}"),
        ));
    };
    let method = req.method.clone();
    if let Some((repo, image)) = route.name() {
        let actions: &[&str] = if matches!(method, Method::GET | Method::HEAD) {
            &["pull"]
        } else if method == Method::DELETE {
            &["delete"]
        } else {
            &["pull", "push"]
        };
        *scope = Some(oci::scope_string(
            "repository",
            &format!("{repo}/{image}"),
            actions,
        ));
    }
    let name = match route.name() {
        Some((repo, image)) => Some(Name::load(req, repo.to_string(), image.to_string()).await?),
        None => None,
    };
    let name_of = |name: Option<Name>| {
        name.ok_or_else(|| Fail::Api(ApiError::internal("registry route", "route without a name")))
    };
    let pushing = matches!(
        (&method, &route),
        (&Method::PUT, Route::Manifest { .. })
            | (_, Route::UploadStart { .. } | Route::Upload { .. })
    );
    let name = match name {
        Some(name) if pushing => Some(name.writable(req).await?),
        other => other,
    };
    match (method, route) {
        (Method::GET | Method::HEAD, Route::Base) => base(req).await,
        (Method::GET | Method::POST, Route::Token) => token(req).await,
        (Method::GET, Route::Catalog) => {
            *scope = Some(oci::scope_string("registry", "catalog", &["*"]));
            catalog(req).await
        }
        (Method::GET, Route::TagsList { .. }) => tags_list(req, &name_of(name)?).await,
        (Method::GET | Method::HEAD, Route::Manifest { reference, .. }) => {
            get_manifest(req, &name_of(name)?, &reference).await
        }
        (Method::PUT, Route::Manifest { reference, .. }) => {
            put_manifest(req, &name_of(name)?, &reference).await
        }
        (Method::DELETE, Route::Manifest { reference, .. }) => {
            delete_manifest(req, &name_of(name)?, &reference).await
        }
        (Method::GET | Method::HEAD, Route::Blob { digest, .. }) => {
            get_blob(req, &name_of(name)?, &digest).await
        }
        (Method::DELETE, Route::Blob { digest, .. }) => {
            delete_blob(req, &name_of(name)?, &digest).await
        }
        (Method::POST, Route::UploadStart { .. }) => start_upload(req, &name_of(name)?).await,
        (method, Route::Upload { id, .. }) => {
            let name = name_of(name)?;
            match method {
                Method::GET => upload_status(req, &name, &id).await,
                Method::PATCH => patch_upload(req, &name, &id).await,
                Method::PUT => finish_upload(req, &name, &id).await,
                Method::DELETE => cancel_upload(req, &name, &id).await,
                _ => Err(method_not_allowed()),
            }
        }
        (Method::GET, Route::Referrers { digest, .. }) => {
            referrers(req, &name_of(name)?, &digest).await
        }
        _ => Err(method_not_allowed()),
    }
}

fn method_not_allowed() -> Fail {
    Fail::Api(ApiError::method_not_allowed())
}

// ---------------------------------------------------------------- callers and tokens

/// The registry token a request presents as `Bearer`, opened (`None`: it presents none).
/// A token that does not open or has expired is refused (the client asks for a new one).
fn presented_token(req: &Request) -> OciResult<Option<Claims>> {
    let Some(token) = registry_token::bearer(&req.headers) else {
        return Ok(None);
    };
    registry_token::open(&req.app, token, req.app.now_ms())
        .map(Some)
        .map_err(|why| spec(ErrorCode::Unauthorized, why))
}

/// The caller, and its view of the grants.
async fn caller(req: &Request) -> OciResult<(Principal, Authz)> {
    let principal = req.principal().await?;
    let authz = Authz::new(req, &principal);
    Ok((principal, authz))
}

/// `GET /v2/`: 200 to an authenticated caller, the challenge to anyone else.
async fn base(req: &Request) -> OciResult<Response> {
    let principal = req.principal().await?;
    if principal.is_anonymous() && presented_token(req)?.is_none() {
        return Err(spec(
            ErrorCode::Unauthorized,
            "Authentication is required: ask the token endpoint in WWW-Authenticate",
        ));
    }
    Ok(json(StatusCode::OK, b"{}".to_vec()))
}

/// `GET /v2/token?service=…&scope=repository:{name}:pull,push…`: a registry token for the
/// caller (Basic credentials or an arca access token; none: anonymous) granting the requested
/// actions it is allowed, per repository.
async fn token(req: &Request) -> OciResult<Response> {
    if registry_token::bearer(&req.headers).is_some() {
        return Err(spec(
            ErrorCode::Unauthorized,
            "A registry token cannot be exchanged for another: send your credentials",
        ));
    }
    let (principal, authz) = caller(req).await?;
    let values: Vec<String> = query_values(&req.raw_query, "scope");
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let mut access = Vec::new();
    for asked in oci::parse_scopes(&refs) {
        if asked.kind == "registry" {
            // the catalog lists only what the caller may read anyway
            if asked.name == "catalog" {
                access.push(asked);
            }
            continue;
        }
        if asked.kind != "repository" {
            continue;
        }
        let Some((key, image)) = asked.name.split_once('/') else {
            continue;
        };
        let Ok(Some(repo)) = req.app.meta.repo(key) else {
            continue;
        };
        if Format::of(&repo) != Format::Oci {
            continue;
        }
        // Everything the caller holds on the name, whatever it asked for: some clients (oras)
        // ask for `pull` first and never for a new token when they push; the token stays
        // scoped to the names asked. A virtual repository's pushes go to its deployment
        // repository, and are decided there.
        let mut granted = Vec::new();
        if action_allowed(&authz, &repo, image, Action::Read) {
            granted.push("pull".to_string());
        }
        let push_target = if repo.is_virtual() {
            crate::virtual_repo::deployment_repo(req, &repo).await.ok()
        } else if repo.is_local() {
            Some(repo.clone())
        } else {
            None
        };
        if let Some(target) = &push_target {
            if action_allowed(&authz, target, image, Action::Deploy) {
                granted.push("push".to_string());
            }
            if repo.is_local() && action_allowed(&authz, target, image, Action::Delete) {
                granted.push("delete".to_string());
            }
        }
        access.push(Scope {
            kind: asked.kind,
            name: asked.name,
            actions: granted,
        });
    }
    let now = req.app.now_ms();
    let claims = Claims {
        sub: (!principal.is_anonymous()).then(|| principal.name().to_string()),
        exp: now + registry_token::LIFETIME_SECS * 1000,
        access,
    };
    let sealed = registry_token::seal(&req.app, &claims)
        .map_err(|e| ApiError::internal("registry token", e))?;
    let issued = crate::http::format::iso8601(now);
    let body = serde_json::json!({
        "token": sealed,
        "access_token": sealed,
        "expires_in": registry_token::LIFETIME_SECS,
        "issued_at": issued,
    });
    Ok(json(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// Whether the caller may do `action` on `image` of `repo` (a virtual repository: reading in a
/// member, deploying to its deployment repository — checked again there).
fn action_allowed(authz: &Authz, repo: &Repo, image: &str, action: Action) -> bool {
    authz.allows(repo, &format!("{image}/"), action) || authz.allows(repo, image, action)
}

/// Every value of query parameter `name`, percent-decoded (`scope` comes several times).
fn query_values(raw: &str, name: &str) -> Vec<String> {
    raw.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .collect()
}

// ---------------------------------------------------------------- names

/// A request's repository and image, the repository loaded.
struct Name {
    repo: Repo,
    image: String,
    /// `{repo}/{image}` as the client named it (a virtual repository's name, when a push
    /// resolved it to the deployment repository): what registry tokens grant.
    asked: String,
}

impl Name {
    async fn load(req: &Request, key: String, image: String) -> OciResult<Name> {
        let repo = match req.app.meta.repo(&key)? {
            Some(repo) => repo,
            None => {
                return Err(Fail::Api(
                    crate::http::artifacts::missing_repo(req, &key).await,
                ));
            }
        };
        if Format::of(&repo) != Format::Oci {
            return Err(spec(
                ErrorCode::NameUnknown,
                format!(
                    "Repository '{}' is a {} repository, not a docker one",
                    repo.key, repo.package_type
                ),
            ));
        }
        let asked = format!("{}/{image}", repo.key);
        Ok(Name { repo, image, asked })
    }

    /// The repository pushes go to: a virtual repository's deployment repository.
    async fn writable(self, req: &Request) -> OciResult<Name> {
        let repo =
            crate::virtual_repo::writable_repo(req, self.repo, Format::Oci, "push to").await?;
        if repo.is_remote() {
            return Err(spec(
                ErrorCode::Unsupported,
                format!(
                    "Repository '{}' is a remote repository: push to a local one",
                    repo.key
                ),
            ));
        }
        Ok(Name {
            repo,
            image: self.image,
            asked: self.asked,
        })
    }

    fn full(&self) -> String {
        format!("{}/{}", self.repo.key, self.image)
    }
}

/// Require `action` at `path` of `name`'s repository, and — for a registry token — that the
/// token grants it: a missing grant is a 401 (the client asks for a token with that scope), a
/// missing permission 401 for anonymous and 403 (`DENIED`) for a user.
async fn require(req: &Request, name: &Name, path: &str, action: Action) -> OciResult<Authz> {
    let (principal, authz) = caller(req).await?;
    if let Some(claims) = presented_token(req)? {
        let wanted = match action {
            Action::Read => "pull",
            Action::Delete => "delete",
            _ => "push",
        };
        let full = name.asked.clone();
        let granted = claims.access.iter().any(|s| {
            s.kind == "repository"
                && s.name == full
                && s.actions.iter().any(|a| a == wanted || a == "*")
        });
        if !granted {
            return Err(if authz.allows(&name.repo, path, action) {
                spec(
                    ErrorCode::Unauthorized,
                    format!("The registry token does not grant '{wanted}' on {full}"),
                )
            } else {
                denied(&principal, action, &full)
            });
        }
    }
    if !authz.allows(&name.repo, path, action) {
        return Err(denied(&principal, action, &name.full()));
    }
    Ok(authz)
}

fn denied(principal: &Principal, action: Action, name: &str) -> Fail {
    let verb = match action {
        Action::Read => "pull from",
        Action::Delete => "delete in",
        _ => "push to",
    };
    if principal.is_anonymous() {
        spec(
            ErrorCode::Unauthorized,
            format!("Authentication is required to {verb} {name}"),
        )
    } else {
        spec(
            ErrorCode::Denied,
            format!("User '{}' may not {verb} {name}", principal.name()),
        )
    }
}

// ---------------------------------------------------------------- catalog, tags

async fn catalog(req: &Request) -> OciResult<Response> {
    // anonymous lists what it may read too (anonymousRead repositories)
    let (_, authz) = caller(req).await?;
    let repos = req.app.db.read(arca_db::repos::list).await?;
    let mut names = Vec::new();
    for repo in repos {
        if Format::of(&repo) != Format::Oci || repo.is_virtual() || !authz.reads_somewhere(&repo) {
            continue;
        }
        let key = repo.key.clone();
        let images = req.app.db.read(move |c| db::images(c, &key)).await?;
        for image in images {
            if authz.allows(&repo, &format!("{image}/"), Action::Read) {
                names.push(format!("{}/{image}", repo.key));
            }
        }
    }
    names.sort();
    let (n, last) = page_params(req)?;
    let (page, more) = oci::paginate(&names, n, last.as_deref());
    let mut resp = json(
        StatusCode::OK,
        serde_json::to_vec(&serde_json::json!({ "repositories": page })).unwrap_or_default(),
    );
    if more && let Some(last) = page.last() {
        link_next(
            &mut resp,
            &format!("/v2/_catalog?n={}&last={last}", n.unwrap_or(page.len())),
        );
    }
    Ok(resp)
}

fn page_params(req: &Request) -> OciResult<(Option<usize>, Option<String>)> {
    let n = match req.query.get("n") {
        Some(v) => Some(oci::parse_page_size(v)?),
        None => None,
    };
    Ok((n, req.query.get("last").cloned()))
}

fn link_next(resp: &mut Response, target: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("<{target}>; rel=\"next\"")) {
        resp.headers_mut().insert(header::LINK, v);
    }
}

async fn tags_list(req: &Request, name: &Name) -> OciResult<Response> {
    let (n, last) = page_params(req)?;
    let mut tags = Vec::new();
    let mut known = false;
    for repo in readable_sources(req, name).await? {
        if repo.is_remote()
            && !repo.settings.offline
            && let Some(upstream_tags) = remote::tags(req, &repo, &name.image).await?
        {
            tags.extend(upstream_tags);
            known = true;
            continue;
        }
        let (key, image) = (repo.key.clone(), name.image.clone());
        known |= req
            .app
            .db
            .read(move |c| db::has_image(c, &key, &image))
            .await?;
        let (key, dir, last) = (repo.key.clone(), oci::tags_dir(&name.image), last.clone());
        let limit = n.unwrap_or(MAX_PAGE).min(MAX_PAGE) + 1;
        let found = req
            .app
            .db
            .read(move |c| db::tags(c, &key, &dir, last.as_deref(), limit))
            .await?;
        tags.extend(found);
    }
    if !known && tags.is_empty() {
        return Err(spec(
            ErrorCode::NameUnknown,
            format!("No image {} (nothing was pushed to it)", name.full()),
        ));
    }
    tags.sort();
    tags.dedup();
    let (page, more) = oci::paginate(&tags, n, last.as_deref());
    let mut resp = json(
        StatusCode::OK,
        serde_json::to_vec(&serde_json::json!({ "name": name.full(), "tags": page }))
            .unwrap_or_default(),
    );
    if more && let Some(last) = page.last() {
        link_next(
            &mut resp,
            &format!(
                "/v2/{}/tags/list?n={}&last={last}",
                name.full(),
                n.unwrap_or(page.len())
            ),
        );
    }
    Ok(resp)
}

/// The repositories a read of `name` looks in, in order, the caller allowed to read the image
/// in each: the repository itself, or a virtual repository's members.
async fn readable_sources(req: &Request, name: &Name) -> OciResult<Vec<Repo>> {
    let (principal, authz) = caller(req).await?;
    let candidates = if name.repo.is_virtual() {
        crate::virtual_repo::members(req, &name.repo)
            .await?
            .into_iter()
            .filter(|r| Format::of(r) == Format::Oci)
            .collect()
    } else {
        vec![name.repo.clone()]
    };
    let probe = format!("{}/", name.image);
    let readable: Vec<Repo> = candidates
        .into_iter()
        .filter(|r| authz.allows(r, &probe, Action::Read))
        .collect();
    let may_read_here = authz.allows(&name.repo, &probe, Action::Read);
    if readable.is_empty() || !may_read_here {
        return Err(denied(&principal, Action::Read, &name.full()));
    }
    if let Some(claims) = presented_token(req)? {
        let full = name.asked.clone();
        let granted = claims.access.iter().any(|s| {
            s.kind == "repository"
                && s.name == full
                && s.actions.iter().any(|a| a == "pull" || a == "*")
        });
        if !granted {
            return Err(spec(
                ErrorCode::Unauthorized,
                format!("The registry token does not grant 'pull' on {full}"),
            ));
        }
    }
    Ok(readable)
}

// ---------------------------------------------------------------- manifests

/// A stored manifest found for a read: its item, its row, and the repository it is in.
struct FoundManifest {
    item: Item,
    row: db::Manifest,
    repo: Repo,
}

async fn find_manifest(
    req: &Request,
    repo: &Repo,
    image: &str,
    reference: &Reference,
) -> OciResult<Option<FoundManifest>> {
    let path = match reference {
        Reference::Tag(tag) => oci::tag_path(image, tag),
        Reference::Digest(digest) => oci::manifest_path(image, digest),
    };
    let cached = req.app.meta.item(&repo.key, &path)?;
    let item = if repo.is_remote() {
        match remote::manifest(req, repo, image, reference, &path, cached).await? {
            Some(item) => item,
            None => return Ok(None),
        }
    } else {
        match cached {
            Some(item) => item,
            None => return Ok(None),
        }
    };
    let Some(sha256) = item.binary.as_ref().map(|b| b.sha256.clone()) else {
        return Ok(None);
    };
    let (key, image, digest) = (
        repo.key.clone(),
        image.to_string(),
        format!("sha256:{sha256}"),
    );
    let row = req
        .app
        .db
        .read(move |c| db::manifest(c, &key, &image, &digest))
        .await?;
    Ok(row.map(|row| FoundManifest {
        item,
        row,
        repo: repo.clone(),
    }))
}

async fn get_manifest(req: &Request, name: &Name, reference: &Reference) -> OciResult<Response> {
    let mut found = None;
    for repo in readable_sources(req, name).await? {
        if let Some(f) = find_manifest(req, &repo, &name.image, reference).await? {
            found = Some(f);
            break;
        }
    }
    let Some(mut found) = found else {
        return Err(spec(
            ErrorCode::ManifestUnknown,
            format!("Manifest '{reference}' of {} is unknown", name.full()),
        ));
    };
    // A client that names the manifest types it reads but no index type (an old Docker) gets
    // the index's linux/amd64 image, as distribution answers it
    if is_index(&found.row.media_type) && !accepts_indexes(&req.headers) {
        let bytes = stored::read_item(req, &found.item).await?;
        if let Some(child) = default_platform_child(&bytes)
            && let Some(f) =
                find_manifest(req, &found.repo, &name.image, &Reference::Digest(child)).await?
        {
            found = f;
        }
    }
    let mut resp = stored::serve_file(req, &found.repo, &found.item).await?;
    set_header(
        &mut resp,
        header::CONTENT_TYPE.as_str(),
        &found.row.media_type,
    );
    set_header(&mut resp, "docker-content-digest", &found.row.digest);
    set_header(
        &mut resp,
        header::ETAG.as_str(),
        &format!("\"{}\"", found.row.digest),
    );
    // a manifest is never an attachment: clients read it
    resp.headers_mut().remove(header::CONTENT_DISPOSITION);
    Ok(resp)
}

fn is_index(media_type: &str) -> bool {
    media_type == oci::OCI_INDEX || media_type == oci::DOCKER_MANIFEST_LIST
}

/// Whether the request's `Accept` headers (several, as clients send them) allow an index: no
/// manifest type named at all (curl), a wildcard, or an index type.
fn accepts_indexes(headers: &warp::http::HeaderMap) -> bool {
    let mut names_manifests = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for range in value.split(',') {
            let media = range.split(';').next().unwrap_or("").trim();
            if media == "*/*" || is_index(media) {
                return true;
            }
            if oci::MANIFEST_MEDIA_TYPES.contains(&media) {
                names_manifests = true;
            }
        }
    }
    !names_manifests
}

/// The digest of an index's linux/amd64 image (the first image when none is).
fn default_platform_child(index: &[u8]) -> Option<Digest> {
    let document: serde_json::Value = serde_json::from_slice(index).ok()?;
    let children = document.get("manifests")?.as_array()?;
    let digest_of = |m: &serde_json::Value| Digest::parse(m.get("digest")?.as_str()?).ok();
    children
        .iter()
        .find(|m| {
            let platform = &m["platform"];
            platform["os"] == "linux" && platform["architecture"] == "amd64"
        })
        .and_then(digest_of)
        .or_else(|| children.iter().find_map(digest_of))
}

fn set_header(resp: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        warp::http::header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        resp.headers_mut().insert(n, v);
    }
}

async fn put_manifest(req: &Request, name: &Name, reference: &Reference) -> OciResult<Response> {
    let image = name.image.clone();
    let tag_path = match reference {
        Reference::Tag(tag) => Some(oci::tag_path(&image, tag)),
        Reference::Digest(_) => None,
    };
    let authz = require(
        req,
        name,
        tag_path
            .as_deref()
            .unwrap_or(&format!("{image}/_manifests/")),
        Action::Deploy,
    )
    .await?;
    let content_type = req
        .header("content-type")
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, oci::MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| {
            if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                spec(
                    ErrorCode::SizeInvalid,
                    format!("A manifest is at most {} bytes", oci::MAX_MANIFEST_BYTES),
                )
            } else {
                Fail::Api(e)
            }
        })?;
    let manifest = oci::parse_manifest(&bytes, content_type.as_deref())?;
    let digest = Digest::of_bytes(&bytes);
    if let Reference::Digest(named) = reference
        && *named != digest
    {
        return Err(spec(
            ErrorCode::DigestInvalid,
            format!("The manifest's digest is {digest}, not {named} as its URL says"),
        ));
    }
    let manifest_path = oci::manifest_path(&image, &digest);
    // what it references must be here first
    let (key, img) = (name.repo.key.clone(), image.clone());
    let blobs: Vec<Descriptor> = manifest.required_blobs().into_iter().cloned().collect();
    let required_paths: Vec<String> = blobs
        .iter()
        .map(|d| oci::blob_path(&image, &d.digest))
        .collect();
    let children: Vec<Descriptor> = manifest.required_manifests().into_iter().cloned().collect();
    let missing = req
        .app
        .db
        .read(move |c| {
            for d in &blobs {
                if items::get(c, &key, &oci::blob_path(&img, &d.digest))?.is_none() {
                    return Ok::<_, arca_db::DbError>(Some((
                        ErrorCode::ManifestBlobUnknown,
                        d.digest.to_string(),
                    )));
                }
            }
            for d in &children {
                if db::manifest(c, &key, &img, &d.digest.to_string())?.is_none() {
                    return Ok(Some((ErrorCode::ManifestUnknown, d.digest.to_string())));
                }
            }
            Ok(None)
        })
        .await?;
    if let Some((code, digest)) = missing {
        return Err(Fail::Spec(
            OciError::new(
                code,
                format!(
                    "The manifest references {digest}, which is not in {}",
                    name.full()
                ),
            )
            .with_detail(serde_json::json!({ "digest": digest })),
        ));
    }
    let (principal, _) = caller(req).await?;
    let user = principal.name().to_string();
    let now = req.app.now_ms();
    let (row, references) = manifest_row(&name.repo, &image, &digest, &manifest, bytes.len(), now);
    let (repo_for_check, tag_for_check) = (name.repo.clone(), tag_path.clone());
    let sha256 = digest.hex().to_string();
    let check_authz = authz.clone();
    let key = name.repo.key.clone();
    let image_for_tags = image.clone();
    let max_unique_tags = name
        .repo
        .settings
        .reference
        .get("maxUniqueTags")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    upload::store_bytes_with(
        &req.app,
        &name.repo.key,
        &manifest_path,
        Bytes::from(bytes.to_vec()),
        &user,
        move |tx| {
            // GC may have taken a blob no manifest referenced since the check above
            for path in &required_paths {
                if items::get(tx, &repo_for_check.key, path)?.is_none() {
                    return Err(ApiError::conflict(format!(
                        "{path} was removed while the manifest was pushed: push it again"
                    )));
                }
            }
            // moving a tag to another manifest replaces it: the reference's "Delete/Overwrite"
            if let Some(tag) = &tag_for_check
                && let Some(existing) = items::get(tx, &repo_for_check.key, tag)?
                && existing.binary.as_ref().is_some_and(|b| b.sha256 != sha256)
            {
                check_authz
                    .at_commit(tx)?
                    .require_deploy(&repo_for_check, tag, true)?;
            }
            Ok(true)
        },
        move |tx, item| {
            let row = db::Manifest {
                item_id: item.id,
                ..row
            };
            db::insert_manifest(tx, &row, &references)?;
            if let Some(tag) = &tag_path
                && let Some(binary) = item.binary.clone()
            {
                items::put_file(
                    tx,
                    &key,
                    tag,
                    &NewFile::new(binary, &item.modified_by, item.modified),
                )?;
                // the reference's retention: the image keeps its `maxUniqueTags` newest tags
                if max_unique_tags > 0 {
                    for old in
                        db::tags_beyond(tx, &key, &oci::tags_dir(&image_for_tags), max_unique_tags)?
                    {
                        items::delete_tree(tx, &key, &old)?;
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    tracing::info!(arca_repo = %name.repo.key, image = %image, reference = %reference, %digest, user = %principal.name(), "manifest pushed");
    let mut resp = created(&format!("/v2/{}/manifests/{digest}", name.asked));
    set_header(&mut resp, "docker-content-digest", &digest.to_string());
    if let Some(subject) = &manifest.subject {
        set_header(&mut resp, "oci-subject", &subject.digest.to_string());
    }
    Ok(resp)
}

/// The row of manifest `digest` of `image` in `repo` (its item's id still to fill in), and the
/// digests it references.
fn manifest_row(
    repo: &Repo,
    image: &str,
    digest: &Digest,
    manifest: &oci::Manifest,
    size: usize,
    now: i64,
) -> (db::Manifest, Vec<String>) {
    let row = db::Manifest {
        item_id: 0,
        repo: repo.key.clone(),
        image: image.to_string(),
        digest: digest.to_string(),
        media_type: manifest.media_type.clone(),
        artifact_type: manifest.artifact_type.clone(),
        subject: manifest.subject.as_ref().map(|s| s.digest.to_string()),
        annotations: (!manifest.annotations.is_empty())
            .then(|| serde_json::to_string(&manifest.annotations).unwrap_or_default()),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        pushed: now,
    };
    let references = manifest
        .referenced_digests()
        .iter()
        .map(ToString::to_string)
        .collect();
    (row, references)
}

async fn delete_manifest(req: &Request, name: &Name, reference: &Reference) -> OciResult<Response> {
    if name.repo.is_virtual() {
        return Err(spec(
            ErrorCode::Unsupported,
            format!(
                "Repository '{}' is virtual: delete in the member that holds the image",
                name.repo.key
            ),
        ));
    }
    let image = name.image.clone();
    let key = name.repo.key.clone();
    match reference {
        Reference::Tag(tag) => {
            let path = oci::tag_path(&image, tag);
            require(req, name, &path, Action::Delete).await?;
            let removed = req
                .app
                .db
                .write(move |tx| items::delete_tree(tx, &key, &path))
                .await?;
            if removed == 0 {
                return Err(spec(
                    ErrorCode::ManifestUnknown,
                    format!("Tag '{tag}' of {} is unknown", name.full()),
                ));
            }
        }
        Reference::Digest(digest) => {
            let path = oci::manifest_path(&image, digest);
            require(req, name, &path, Action::Delete).await?;
            let (tags_dir, hex) = (oci::tags_dir(&image), digest.hex().to_string());
            let authz = caller(req).await?.1;
            let repo = name.repo.clone();
            let removed = req
                .app
                .db
                .write(move |tx| {
                    let removed = items::delete_tree(tx, &key, &path)?;
                    if removed > 0 {
                        // its tags go with it (they would name a manifest that is gone)
                        let authz = authz.at_commit(tx)?;
                        for tag in db::tags_of(tx, &key, &tags_dir, &hex)? {
                            authz.require(&repo, &tag, Action::Delete)?;
                            items::delete_tree(tx, &key, &tag)?;
                        }
                    }
                    Ok::<_, ApiError>(removed)
                })
                .await?;
            if removed == 0 {
                return Err(spec(
                    ErrorCode::ManifestUnknown,
                    format!("Manifest {digest} of {} is unknown", name.full()),
                ));
            }
        }
    }
    tracing::info!(arca_repo = %name.repo.key, image = %name.image, reference = %reference, "manifest deleted");
    Ok(empty(StatusCode::ACCEPTED))
}

// ---------------------------------------------------------------- blobs

async fn get_blob(req: &Request, name: &Name, digest: &Digest) -> OciResult<Response> {
    for repo in readable_sources(req, name).await? {
        for path in [
            oci::blob_path(&name.image, digest),
            oci::manifest_path(&name.image, digest),
        ] {
            if let Some(item) = req.app.meta.item(&repo.key, &path)? {
                let resp = stored::serve_file(req, &repo, &item).await?;
                return Ok(blob_headers(resp, digest));
            }
        }
        if repo.is_remote()
            && let Some(resp) = remote::blob(req, &repo, &name.image, digest).await?
        {
            return Ok(blob_headers(resp, digest));
        }
    }
    Err(Fail::Spec(
        OciError::new(
            ErrorCode::BlobUnknown,
            format!("Blob {digest} of {} is unknown", name.full()),
        )
        .with_detail(serde_json::json!({ "digest": digest.to_string() })),
    ))
}

fn blob_headers(mut resp: Response, digest: &Digest) -> Response {
    set_header(
        &mut resp,
        header::CONTENT_TYPE.as_str(),
        "application/octet-stream",
    );
    set_header(&mut resp, "docker-content-digest", &digest.to_string());
    set_header(&mut resp, header::ETAG.as_str(), &format!("\"{digest}\""));
    resp.headers_mut().remove(header::CONTENT_DISPOSITION);
    resp
}

async fn delete_blob(req: &Request, name: &Name, digest: &Digest) -> OciResult<Response> {
    let path = oci::blob_path(&name.image, digest);
    require(req, name, &path, Action::Delete).await?;
    let key = name.repo.key.clone();
    let removed = req
        .app
        .db
        .write(move |tx| items::delete_tree(tx, &key, &path))
        .await?;
    if removed == 0 {
        return Err(spec(
            ErrorCode::BlobUnknown,
            format!("Blob {digest} of {} is unknown", name.full()),
        ));
    }
    Ok(empty(StatusCode::ACCEPTED))
}

// ---------------------------------------------------------------- uploads

fn upload_auth_path(image: &str, id: &str) -> String {
    format!("{image}/_uploads/{id}")
}

async fn start_upload(req: &Request, name: &Name) -> OciResult<Response> {
    let id = arca_crypto::random_hex(16);
    let authz = require(
        req,
        name,
        &upload_auth_path(&name.image, &id),
        Action::Deploy,
    )
    .await?;
    // cross-repository mount: the blob of another image the caller may read, by reference
    if let (Some(mount), Some(from)) = (req.query.get("mount"), req.query.get("from"))
        && let Some(resp) = mount_blob(req, &authz, name, mount, from).await?
    {
        return Ok(resp);
    }
    // a monolithic upload in one request: the body and its digest
    if let Some(digest) = req.query.get("digest") {
        let digest = Digest::parse(digest)?;
        let staged = receive(req).await?;
        return store_blob(req, name, &digest, Received::Staged(staged)).await;
    }
    let (principal, _) = caller(req).await?;
    let now = req.app.now_ms();
    let session = db::Upload {
        id: id.clone(),
        repo: name.repo.key.clone(),
        image: name.image.clone(),
        size: 0,
        started: now,
        updated: now,
        user: principal.name().to_string(),
    };
    req.app
        .db
        .write(move |tx| db::create_upload(tx, &session))
        .await?;
    Ok(upload_answer(StatusCode::ACCEPTED, name, &id, 0))
}

/// `202` (or `204`) with where the upload goes on and how much it holds.
fn upload_answer(status: StatusCode, name: &Name, id: &str, size: i64) -> Response {
    let mut resp = empty(status);
    set_header(
        &mut resp,
        header::LOCATION.as_str(),
        &format!("/v2/{}/blobs/uploads/{id}", name.asked),
    );
    set_header(&mut resp, "docker-upload-uuid", id);
    set_header(
        &mut resp,
        header::RANGE.as_str(),
        &oci::upload_range(size.max(0) as u64),
    );
    resp
}

async fn mount_blob(
    req: &Request,
    authz: &Authz,
    name: &Name,
    mount: &str,
    from: &str,
) -> OciResult<Option<Response>> {
    let Ok(digest) = Digest::parse(mount) else {
        return Ok(None);
    };
    let Some((from_key, from_image)) = from.split_once('/') else {
        return Ok(None);
    };
    let Some(from_repo) = req.app.meta.repo(from_key)? else {
        return Ok(None);
    };
    if Format::of(&from_repo) != Format::Oci
        || from_repo.is_virtual()
        || !authz.allows(&from_repo, &format!("{from_image}/"), Action::Read)
    {
        return Ok(None);
    }
    let Some(source) = req
        .app
        .meta
        .item(&from_repo.key, &oci::blob_path(from_image, &digest))?
    else {
        return Ok(None);
    };
    let Some(binary) = source.binary.clone() else {
        return Ok(None);
    };
    let (principal, _) = caller(req).await?;
    let (key, image, path) = (
        name.repo.key.clone(),
        name.image.clone(),
        oci::blob_path(&name.image, &digest),
    );
    let (user, now, d) = (
        principal.name().to_string(),
        req.app.now_ms(),
        digest.to_string(),
    );
    req.app
        .db
        .write(move |tx| {
            if !items::binary_known(tx, &binary.sha256)? {
                return Ok::<_, ApiError>(false);
            }
            let item = items::put_file(tx, &key, &path, &NewFile::new(binary, &user, now))?;
            db::insert_blob(tx, item.id, &key, &image, &d)?;
            Ok(true)
        })
        .await?
        .then(|| blob_created(name, &digest))
        .map_or(Ok(None), |r| Ok(Some(r)))
}

fn blob_created(name: &Name, digest: &Digest) -> Response {
    let mut resp = created(&format!("/v2/{}/blobs/{digest}", name.asked));
    set_header(&mut resp, "docker-content-digest", &digest.to_string());
    resp
}

/// The session `id` of `name`, started by the caller.
async fn session(req: &Request, name: &Name, id: &str) -> OciResult<db::Upload> {
    require(
        req,
        name,
        &upload_auth_path(&name.image, id),
        Action::Deploy,
    )
    .await?;
    let (principal, _) = caller(req).await?;
    let owned = id.to_string();
    let found = req.app.db.read(move |c| db::upload(c, &owned)).await?;
    match found {
        Some(u)
            if u.repo == name.repo.key && u.image == name.image && u.user == principal.name() =>
        {
            Ok(u)
        }
        _ => Err(spec(
            ErrorCode::BlobUploadUnknown,
            format!(
                "Upload '{id}' of {} is unknown (finished, cancelled or expired)",
                name.full()
            ),
        )),
    }
}

async fn upload_status(req: &Request, name: &Name, id: &str) -> OciResult<Response> {
    let upload = session(req, name, id).await?;
    Ok(upload_answer(StatusCode::NO_CONTENT, name, id, upload.size))
}

async fn cancel_upload(req: &Request, name: &Name, id: &str) -> OciResult<Response> {
    session(req, name, id).await?;
    let owned = id.to_string();
    req.app
        .db
        .write(move |tx| db::delete_upload(tx, &owned))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Stream the body into the staging area (the upload size limit applies per request).
async fn receive(req: &Request) -> OciResult<arca_storage::StagedBlob> {
    Ok(upload::receive_upload(req).await?)
}

/// Append the request's body to upload `upload` as a chunk; returns the new size.
async fn append(req: &Request, name: &Name, upload: &db::Upload) -> OciResult<i64> {
    let start = match req.header("content-range") {
        Some(range) => {
            let (start, _end) = oci::parse_content_range(range)?;
            let start = i64::try_from(start).unwrap_or(i64::MAX);
            if start != upload.size {
                return Err(range_invalid(name, &upload.id, upload.size));
            }
            start
        }
        None => upload.size,
    };
    let staged = receive(req).await?;
    let size = i64::try_from(staged.checksums().size).unwrap_or(i64::MAX);
    if size == 0 {
        return Ok(upload.size);
    }
    let (id, sha256, now) = (
        upload.id.clone(),
        staged.checksums().sha256.clone(),
        req.app.now_ms(),
    );
    let user = upload.user.clone();
    let appended = upload::store_staged_binary(
        &req.app,
        staged,
        &user,
        |_| Ok(true),
        move |tx, _| Ok(db::append_chunk(tx, &id, start, size, &sha256, now)?),
    )
    .await?;
    match appended {
        Some(Ok(new_size)) => Ok(new_size),
        Some(Err(db::AppendRefused::NotAtEnd { size })) => {
            Err(range_invalid(name, &upload.id, size))
        }
        Some(Err(db::AppendRefused::Unknown)) | None => Err(spec(
            ErrorCode::BlobUploadUnknown,
            format!("Upload '{}' of {} ended meanwhile", upload.id, name.full()),
        )),
    }
}

fn range_invalid(name: &Name, id: &str, size: i64) -> Fail {
    Fail::Spec(
        OciError::new(
            ErrorCode::RangeInvalid,
            format!(
                "Upload '{id}' of {} holds {size} bytes: a chunk must start at byte {size}",
                name.full()
            ),
        )
        .with_detail(serde_json::json!({ "size": size })),
    )
}

async fn patch_upload(req: &Request, name: &Name, id: &str) -> OciResult<Response> {
    let upload = session(req, name, id).await?;
    let size = append(req, name, &upload).await?;
    Ok(upload_answer(StatusCode::ACCEPTED, name, id, size))
}

/// What a finished upload's bytes are.
enum Received {
    /// One staged file holding them all.
    Staged(arca_storage::StagedBlob),
    /// The chunks of a session.
    Chunks(Vec<db::Chunk>),
}

async fn finish_upload(req: &Request, name: &Name, id: &str) -> OciResult<Response> {
    let upload = session(req, name, id).await?;
    let Some(digest) = req.query.get("digest") else {
        return Err(spec(
            ErrorCode::DigestInvalid,
            "Finishing an upload needs ?digest= (the blob's digest)",
        ));
    };
    let digest = Digest::parse(digest)?;
    // a body on the final PUT is the last chunk
    let received = if upload.size == 0 {
        Received::Staged(receive(req).await?)
    } else {
        append(req, name, &upload).await?;
        let owned = id.to_string();
        Received::Chunks(req.app.db.read(move |c| db::chunks(c, &owned)).await?)
    };
    let resp = store_blob(req, name, &digest, received).await;
    // the session ends whatever the outcome: a wrong digest is not retried on the same session
    let owned = id.to_string();
    req.app
        .db
        .write(move |tx| db::delete_upload(tx, &owned))
        .await?;
    resp
}

/// Store the blob `digest` of `name` from what was received, verified against the digest
/// first: a mismatch stores nothing.
async fn store_blob(
    req: &Request,
    name: &Name,
    digest: &Digest,
    received: Received,
) -> OciResult<Response> {
    let staged = match received {
        Received::Staged(staged) => staged,
        // one chunk holding the whole blob is already the blob's binary
        Received::Chunks(chunks) if chunks.len() == 1 && chunks[0].sha256 == digest.hex() => {
            return record_existing_blob(req, name, digest).await;
        }
        Received::Chunks(chunks) => concatenate(req, &chunks).await?,
    };
    if staged.checksums().sha256 != digest.hex() {
        return Err(Fail::Spec(
            OciError::new(
                ErrorCode::DigestInvalid,
                format!(
                    "The uploaded bytes' digest is sha256:{}, not {digest}: nothing was stored",
                    staged.checksums().sha256
                ),
            )
            .with_detail(serde_json::json!({ "digest": digest.to_string() })),
        ));
    }
    let (principal, _) = caller(req).await?;
    let (key, image, d) = (
        name.repo.key.clone(),
        name.image.clone(),
        digest.to_string(),
    );
    upload::store_staged_with(
        &req.app,
        &name.repo.key,
        &oci::blob_path(&name.image, digest),
        staged,
        principal.name(),
        |_| Ok(true),
        move |tx, item| Ok(db::insert_blob(tx, item.id, &key, &image, &d)?),
    )
    .await?;
    Ok(blob_created(name, digest))
}

/// The blob whose binary a single chunk already stored: an item for it.
async fn record_existing_blob(req: &Request, name: &Name, digest: &Digest) -> OciResult<Response> {
    let (principal, _) = caller(req).await?;
    let (key, image, path, d, hex) = (
        name.repo.key.clone(),
        name.image.clone(),
        oci::blob_path(&name.image, digest),
        digest.to_string(),
        digest.hex().to_string(),
    );
    let (user, now) = (principal.name().to_string(), req.app.now_ms());
    req.app
        .db
        .write(move |tx| {
            let binary = items::binary_by(tx, items::ChecksumKind::Sha256, &hex)?
                .ok_or_else(|| ApiError::internal("blob upload", "chunk binary vanished"))?;
            let item = items::put_file(tx, &key, &path, &NewFile::new(binary, &user, now))?;
            db::insert_blob(tx, item.id, &key, &image, &d)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    req.app.wake_mover();
    Ok(blob_created(name, digest))
}

/// The chunks' bytes, in order, as one staged file (hashed on the way).
async fn concatenate(req: &Request, chunks: &[db::Chunk]) -> OciResult<arca_storage::StagedBlob> {
    let mut out = req.app.storage.begin_upload().await?;
    let mut buf = vec![0u8; 1 << 20];
    for chunk in chunks {
        let size = u64::try_from(chunk.size).unwrap_or(0);
        let located = req.app.storage.locate(&chunk.sha256, size).await?;
        let mut file = tokio::fs::File::open(&located.path)
            .await
            .map_err(|e| ApiError::internal("reading an upload's chunk", e))?;
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| ApiError::internal("reading an upload's chunk", e))?;
            if n == 0 {
                break;
            }
            out.write(Bytes::copy_from_slice(&buf[..n]))
                .await
                .map_err(|e| upload::storage_full_or(req, e))?;
        }
    }
    Ok(out
        .finish()
        .await
        .map_err(|e| upload::storage_full_or(req, e))?)
}

// ---------------------------------------------------------------- referrers

async fn referrers(req: &Request, name: &Name, digest: &Digest) -> OciResult<Response> {
    let artifact_type = req.query.get("artifactType").cloned();
    let mut descriptors = Vec::new();
    for repo in readable_sources(req, name).await? {
        let (key, image, subject, t) = (
            repo.key.clone(),
            name.image.clone(),
            digest.to_string(),
            artifact_type.clone(),
        );
        let rows = req
            .app
            .db
            .read(move |c| db::referrers(c, &key, &image, &subject, t.as_deref()))
            .await?;
        for row in rows {
            let Ok(d) = Digest::parse(&row.digest) else {
                continue;
            };
            if descriptors.iter().any(|x: &Descriptor| x.digest == d) {
                continue;
            }
            descriptors.push(Descriptor {
                media_type: row.media_type,
                digest: d,
                size: u64::try_from(row.size).unwrap_or(0),
                artifact_type: row.artifact_type,
                annotations: row
                    .annotations
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok()),
                platform: None,
                urls: None,
            });
        }
    }
    let mut resp = Response::new(oci::referrers_index(&descriptors).into());
    set_header(&mut resp, header::CONTENT_TYPE.as_str(), oci::OCI_INDEX);
    if artifact_type.is_some() {
        set_header(&mut resp, "oci-filters-applied", "artifactType");
    }
    Ok(resp)
}

// ---------------------------------------------------------------- answers

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn empty(status: StatusCode) -> Response {
    let mut resp = Response::default();
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

fn created(location: &str) -> Response {
    let mut resp = empty(StatusCode::CREATED);
    set_header(&mut resp, header::LOCATION.as_str(), location);
    resp
}
