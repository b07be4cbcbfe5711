//! `/api/pypi/{repo}/…`: the PyPI simple index (PEP 503/691/658/714/592/700) and the legacy
//! upload API (twine, `uv publish`) of pypi repositories (`docs/formats/pypi.md`).
//!
//! A local repository's files are items at `{project}/{version}/{filename}` with a row each in
//! `arca_db::pypi` (written in the transaction that stores the file); its pages are assembled
//! from the rows. A remote repository caches the upstream's page of a project at
//! `.pypi/{project}/simple.html` (metadata: asked again after `retrievalCachePeriodSecs`) and
//! each file, on its first download, at the same path a local repository uses, fetched from the
//! URL the upstream's page names and verified against its `#sha256=`. A virtual repository's
//! page is the union of its members' files, the first member winning a file name.

use std::collections::BTreeMap;

use blake2::digest::Digest;
use serde_json::{Value, json};
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use arca_db::permissions::Action;
use arca_db::{Repo, items, pypi as db};

use crate::formats::Format;
use crate::formats::pypi::{self, DistKind, IndexFile, MetadataHash, PageFormat};
use crate::http::artifacts::{fetch_item, load_format_repo};
use crate::http::authz::{self, Authz};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::{Request, read_small_body, stored, upload};
use crate::remote::{self, Obtained, Origin};
use crate::virtual_repo;

/// The form fields of an upload other than the file, in all (the description is the longest).
const MAX_FORM_BYTES: usize = 16 * 1024 * 1024;
/// The body of a yank.
const MAX_SMALL_BODY: usize = 64 * 1024;

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    let uploading = req.method == Method::POST;
    match route(req, tail).await {
        Ok(resp) => Ok(resp),
        // twine and uv print an upload's HTTP reason phrase: it carries the message, as PyPI's does
        Err(e) if uploading => Ok(with_reason_phrase(e)),
        Err(e) => Err(e),
    }
}

fn with_reason_phrase(e: ApiError) -> Response {
    let phrase: String = e
        .message
        .chars()
        .map(|c| {
            if c == '\t' || (' '..='~').contains(&c) {
                c
            } else {
                ' '
            }
        })
        .take(400)
        .collect();
    let mut resp = e.into_response();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        resp.extensions_mut().insert(phrase);
    }
    resp
}

/// What a request under a repository's `/api/pypi/{repo}/` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// `POST /`, `POST /legacy/`
    Upload,
    /// `/simple` without its slash
    SimpleNoSlash,
    /// `/simple/`
    Index,
    /// `/simple/{project}/` (`slash`: with the trailing slash)
    Project { name: String, slash: bool },
    /// `/packages/{project}/{version}/{filename}` (`metadata`: its `.metadata`)
    File { path: String, metadata: bool },
    /// `/yank/{project}/{version}[/{filename}]`
    Yank {
        project: String,
        version: String,
        filename: Option<String>,
    },
}

/// `rest`: the path after `/api/pypi/{repo}/`, still percent-encoded.
pub fn parse_target(rest: &str) -> ApiResult<Target> {
    let decoded = crate::paths::decode_api_path(rest)?;
    let slash = decoded.ends_with('/');
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    let unknown = || ApiError::not_found(format!("Unknown PyPI endpoint '/{decoded}'"));
    match segments.as_slice() {
        [] | ["legacy"] => Ok(Target::Upload),
        ["simple"] if !slash => Ok(Target::SimpleNoSlash),
        ["simple"] => Ok(Target::Index),
        ["simple", name] => Ok(Target::Project {
            name: (*name).to_string(),
            slash,
        }),
        ["packages", project, version, filename] => {
            let (filename, metadata) = match filename.strip_suffix(".metadata") {
                Some(base) => (base, true),
                None => (*filename, false),
            };
            let path = format!("{project}/{version}/{filename}");
            // only the path a file of that name is stored at
            match pypi::file_path(filename) {
                Ok(expected) if expected == path => Ok(Target::File { path, metadata }),
                _ => Err(ApiError::not_found(format!(
                    "No distribution file at '/{decoded}'"
                ))),
            }
        }
        ["yank", project, version] => Ok(Target::Yank {
            project: (*project).to_string(),
            version: (*version).to_string(),
            filename: None,
        }),
        ["yank", project, version, filename] => Ok(Target::Yank {
            project: (*project).to_string(),
            version: (*version).to_string(),
            filename: Some((*filename).to_string()),
        }),
        _ => Err(unknown()),
    }
}

async fn route(req: &mut Request, tail: &str) -> ApiResult<Response> {
    let (repo, rest) = load_format_repo(req, tail, Format::Pypi, "a PyPI").await?;
    let target = parse_target(rest)?;
    let method = req.method.clone();
    match (&method, target) {
        (&Method::POST, Target::Upload) => {
            let repo = virtual_repo::writable_repo(req, repo, Format::Pypi, "upload").await?;
            upload_file(req, &repo).await
        }
        // a redirect tells that the repository exists: only to who may read in it
        (&Method::GET | &Method::HEAD, Target::SimpleNoSlash) => {
            authz::require_reads_somewhere(req, &repo).await?;
            redirect(req, &format!("{}/simple/", index_url(req, &repo)))
        }
        (&Method::GET | &Method::HEAD, Target::Index) => index_page(req, &repo).await,
        (&Method::GET | &Method::HEAD, Target::Project { name, slash }) => {
            let normalized = pypi::normalize(&name);
            if normalized != name || !slash {
                authz::require_reads_somewhere(req, &repo).await?;
                return redirect(
                    req,
                    &format!("{}/simple/{normalized}/", index_url(req, &repo)),
                );
            }
            project_page(req, &repo, &normalized).await
        }
        (&Method::GET | &Method::HEAD, Target::File { path, metadata }) => {
            file(req, &repo, &path, metadata).await
        }
        (
            &Method::PUT | &Method::DELETE,
            Target::Yank {
                project,
                version,
                filename,
            },
        ) => {
            let repo = virtual_repo::writable_repo(req, repo, Format::Pypi, "yank").await?;
            yank(
                req,
                &repo,
                &project,
                &version,
                filename,
                method == Method::PUT,
            )
            .await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The repository's PyPI URL as clients reach it (`…/api/pypi/{repo}`, no trailing slash).
fn index_url(req: &Request, repo: &Repo) -> String {
    format!("{}/api/pypi/{}", req.base_url, repo.key)
}

/// 301 to `location`, the query kept (`?format=`).
fn redirect(req: &Request, location: &str) -> ApiResult<Response> {
    let query = req
        .path_and_query
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let mut resp = Response::default();
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let value = HeaderValue::from_str(&format!("{location}{query}"))
        .map_err(|e| ApiError::internal("PyPI redirect", e))?;
    resp.headers_mut().insert(header::LOCATION, value);
    Ok(resp)
}

/// The page format the request asks for: 406 when none of arca's.
fn negotiate(req: &Request) -> ApiResult<PageFormat> {
    pypi::negotiate(
        req.header("accept"),
        req.query.get("format").map(String::as_str),
    )
    .map_err(|()| {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "None of the media types asked for is served: ask for {}, {} or text/html",
                pypi::JSON_MEDIA_TYPE,
                pypi::HTML_MEDIA_TYPE
            ),
        )
    })
}

// ------------------------------------------------------------------------------- the index

/// One file of a project as `repo` serves it.
#[derive(Debug, Clone)]
struct Entry {
    /// As the page shows it (`url`: arca's link, relative to the project page).
    file: IndexFile,
    /// The member that holds it (the repository itself unless virtual).
    holder: Repo,
    path: String,
    version: String,
    /// Where a remote member's upstream has it.
    origin: Origin,
}

/// A file's link on its project page (`…/simple/{project}/`).
fn link(path: &str) -> String {
    let encoded: Vec<String> = path
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, remote::upstream::SEGMENT).to_string())
        .collect();
    format!("../../packages/{}", encoded.join("/"))
}

/// The files of `project` in `repo` (a virtual one's members merged, each member the caller may
/// read). A member's failing upstream leaves its files out while another member has some.
async fn entries(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    project: &str,
) -> ApiResult<Vec<Entry>> {
    if !repo.is_virtual() {
        return member_entries(req, authz, repo, project).await;
    }
    let mut merged: Vec<Entry> = Vec::new();
    let mut upstream_error: Option<ApiError> = None;
    for member in virtual_repo::members(req, repo).await? {
        if Format::of(&member) != Format::Pypi
            || member.settings.blacked_out
            || !authz.allows(&member, project, Action::Read)
        {
            continue;
        }
        match member_entries(req, authz, &member, project).await {
            Ok(found) => {
                for entry in found {
                    if !merged
                        .iter()
                        .any(|e| e.file.filename == entry.file.filename)
                    {
                        merged.push(entry);
                    }
                }
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) if e.is_upstream_failure() => {
                tracing::warn!(arca_repo = %repo.key, member = %member.key, project, error = %e.message, "pypi: a member's files are missing from the page");
                upstream_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match upstream_error {
        Some(e) if merged.is_empty() => Err(e),
        _ => {
            merged.sort_by(|a, b| a.file.filename.cmp(&b.file.filename));
            Ok(merged)
        }
    }
}

/// [`entries`] of a local or remote repository.
async fn member_entries(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    project: &str,
) -> ApiResult<Vec<Entry>> {
    if repo.is_remote() {
        return remote_entries(req, authz, repo, project).await;
    }
    let (key, p) = (repo.key.clone(), project.to_string());
    let rows = req.app.db.read(move |c| db::files(c, &key, &p)).await?;
    Ok(rows
        .into_iter()
        .filter(|row| authz.allows(repo, &row.path, Action::Read))
        .map(|row| Entry {
            file: IndexFile {
                url: link(&row.path),
                filename: row.file.filename,
                sha256: Some(row.sha256),
                requires_python: row.file.requires_python,
                yanked: row.file.yanked,
                core_metadata: row
                    .file
                    .metadata_sha256
                    .map(|h| MetadataHash { sha256: Some(h) }),
                size: u64::try_from(row.size).ok(),
                upload_time: Some(row.file.uploaded),
            },
            holder: repo.clone(),
            path: row.path,
            version: row.file.version,
            origin: Origin::default(),
        })
        .collect())
}

/// The files of `project` on the upstream's page, as remote `repo` caches it.
async fn remote_entries(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    project: &str,
) -> ApiResult<Vec<Entry>> {
    let page = format!("{}/{project}/simple.html", pypi::CACHE_DIR);
    let cached = fetch_item(req, &repo.key, &page).await?;
    let item = match remote::obtain_as(req, authz, repo, &page, cached, true).await {
        Ok(Obtained::Stored(item)) => item,
        Ok(Obtained::Streaming(_)) => {
            return Err(ApiError::internal(
                "PyPI page",
                "the remote answered with a stream when asked for the whole file",
            ));
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let bytes = stored::read_item(req, &item).await?;
    let page_url = format!(
        "{}/{}",
        repo.settings.url.trim_end_matches('/'),
        Format::Pypi.upstream_path(repo, &page).unwrap_or_default()
    );
    let files = tokio::task::spawn_blocking(move || pypi::parse_upstream_page(&bytes, &page_url))
        .await
        .map_err(|e| ApiError::internal("PyPI page", e))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "Remote repository '{}': the upstream's page of '{project}': {}",
                    repo.key, e.0
                ),
            )
        })?;
    let mut out = Vec::with_capacity(files.len());
    for upstream in files {
        let Ok(dist) = pypi::parse_filename(&upstream.filename) else {
            continue;
        };
        let Ok(path) = pypi::file_path(&upstream.filename) else {
            continue;
        };
        // a page may link other projects' files: they are not this project's
        if dist.project != project || !authz.allows(repo, &path, Action::Read) {
            continue;
        }
        let version = path.split('/').nth(1).unwrap_or_default().to_string();
        let origin = Origin {
            url: Some(upstream.url.clone()),
            sha256: upstream.sha256.clone(),
            accept: None,
        };
        out.push(Entry {
            file: IndexFile {
                url: link(&path),
                ..upstream
            },
            holder: repo.clone(),
            path,
            version,
            origin,
        });
    }
    Ok(out)
}

async fn project_page(req: &Request, repo: &Repo, project: &str) -> ApiResult<Response> {
    let format = negotiate(req)?;
    let (_, authz) = authz::require(req, repo, project, Action::Read).await?;
    let found = entries(req, &authz, repo, project).await?;
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "Project '{project}' is not in repository '{}'",
            repo.key
        )));
    }
    let files: Vec<IndexFile> = found.iter().map(|e| e.file.clone()).collect();
    let versions = pypi::sorted_versions(found.iter().map(|e| e.version.as_str()));
    let body = match format {
        PageFormat::Json => serde_json::to_vec(&pypi::project_json(project, &files, &versions))
            .map_err(|e| ApiError::internal("PyPI page", e))?,
        PageFormat::HtmlV1 | PageFormat::TextHtml => {
            pypi::project_html(project, &files).into_bytes()
        }
    };
    Ok(crate::http::conditional::negotiated_document(
        req,
        body,
        format.media_type(),
    ))
}

/// `/simple/`: the projects of `repo` (a remote one's: those it has cached).
async fn index_page(req: &Request, repo: &Repo) -> ApiResult<Response> {
    let format = negotiate(req)?;
    let authz = authz::require_reads_somewhere(req, repo).await?;
    let members = if repo.is_virtual() {
        virtual_repo::members(req, repo).await?
    } else {
        vec![repo.clone()]
    };
    let mut projects = std::collections::BTreeSet::new();
    for member in members {
        if Format::of(&member) != Format::Pypi
            || member.settings.blacked_out
            || !authz.reads_somewhere(&member)
        {
            continue;
        }
        let key = member.key.clone();
        let names: Vec<String> = if member.is_remote() {
            req.app
                .db
                .read(move |c| items::children(c, &key, pypi::CACHE_DIR))
                .await?
                .into_iter()
                .filter(|i| i.folder)
                .map(|i| i.name)
                .collect()
        } else {
            req.app.db.read(move |c| db::projects(c, &key)).await?
        };
        projects.extend(
            names
                .into_iter()
                .filter(|p| authz.allows(&member, p, Action::Read)),
        );
    }
    let projects: Vec<String> = projects.into_iter().collect();
    let body = match format {
        PageFormat::Json => serde_json::to_vec(&pypi::index_json(&projects))
            .map_err(|e| ApiError::internal("PyPI index", e))?,
        PageFormat::HtmlV1 | PageFormat::TextHtml => pypi::index_html(&projects).into_bytes(),
    };
    Ok(crate::http::conditional::negotiated_document(
        req,
        body,
        format.media_type(),
    ))
}

// ------------------------------------------------------------------------------- the files

/// `GET /packages/{project}/{version}/{filename}[.metadata]`.
async fn file(req: &Request, repo: &Repo, path: &str, metadata: bool) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, path, Action::Read).await?;
    let filename = path.rsplit('/').next().unwrap_or(path);
    let missing = || {
        ApiError::not_found(format!(
            "No file '{filename}{}' in repository '{}'",
            if metadata { ".metadata" } else { "" },
            repo.key
        ))
    };
    // a file the repository (or a virtual one's first member that has it) holds already
    let holders = if repo.is_virtual() {
        virtual_repo::members(req, repo)
            .await?
            .into_iter()
            .filter(|m| {
                Format::of(m) == Format::Pypi
                    && !m.settings.blacked_out
                    && authz.allows(m, path, Action::Read)
            })
            .collect()
    } else {
        vec![repo.clone()]
    };
    for holder in &holders {
        if holder.is_local() {
            if let Some(resp) = local_file(req, holder, path, metadata).await? {
                return Ok(resp);
            }
            continue;
        }
        let cached_path = if metadata {
            format!("{path}.metadata")
        } else {
            path.to_string()
        };
        if let Some(item) = fetch_item(req, &holder.key, &cached_path).await?
            && !item.folder
        {
            return stored::serve_file(req, holder, &item).await;
        }
    }
    // else from an upstream: the page says where
    let project = path.split('/').next().unwrap_or_default();
    let found = entries(req, &authz, repo, project).await?;
    let entry = found
        .into_iter()
        .find(|e| e.path == path && e.holder.is_remote())
        .ok_or_else(missing)?;
    let (cached_path, origin) = if metadata {
        let Some(MetadataHash { sha256 }) = entry.file.core_metadata.clone() else {
            return Err(missing());
        };
        let url = entry.origin.url.as_ref().map(|u| format!("{u}.metadata"));
        (
            format!("{path}.metadata"),
            Origin {
                url,
                sha256,
                accept: None,
            },
        )
    } else {
        (path.to_string(), entry.origin.clone())
    };
    let whole = req.method == Method::HEAD;
    match remote::obtain_from(
        req,
        &authz,
        &entry.holder,
        &cached_path,
        None,
        whole,
        &origin,
    )
    .await
    {
        Ok(Obtained::Streaming(resp)) => Ok(resp),
        Ok(Obtained::Stored(item)) => stored::serve_file(req, &entry.holder, &item).await,
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(missing()),
        Err(e) => Err(e),
    }
}

/// A file of local `repo` (or its core metadata), if it has it.
async fn local_file(
    req: &Request,
    repo: &Repo,
    path: &str,
    metadata: bool,
) -> ApiResult<Option<Response>> {
    if !metadata {
        return match fetch_item(req, &repo.key, path).await? {
            Some(item) if !item.folder => stored::serve_file(req, repo, &item).await.map(Some),
            _ => Ok(None),
        };
    }
    let (key, p) = (repo.key.clone(), path.to_string());
    let Some(text) = req
        .app
        .db
        .read(move |c| db::metadata_of(c, &key, &p))
        .await?
    else {
        return Ok(None);
    };
    let len = text.len();
    let mut resp = if req.method == Method::HEAD {
        Response::default()
    } else {
        Response::new(text.into())
    };
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(Some(resp))
}

// ------------------------------------------------------------------------------- uploads

/// What an upload's form says, with its file staged.
struct Form {
    fields: BTreeMap<String, String>,
    content: Option<Content>,
}

struct Content {
    filename: String,
    staged: arca_storage::StagedBlob,
    blake2_256: String,
}

impl Form {
    /// A field's value, trimmed; `None` when absent or empty.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The upload is too large: {e}"),
            )
        }
        e => ApiError::bad_request(format!("The upload is not a valid multipart form: {e}")),
    }
}

/// Read the multipart body: the fields, and the file (`content`) into the staging area. The
/// caller's deploy permission on the file's path is checked before its bytes are read when the
/// fields before it name it (twine and uv send the file last).
async fn read_form(req: &Request, repo: &Repo, authz: &Authz) -> ApiResult<Form> {
    let content_type = req.header("content-type").unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::bad_request(
            "An upload is a multipart/form-data POST (twine upload, uv publish): the \
             Content-Type names no boundary",
        )
    })?;
    let max = req.app.settings.max_upload_bytes;
    let declared = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let whole_limit = max.saturating_add(MAX_FORM_BYTES as u64);
    if declared.is_some_and(|len| len > whole_limit) {
        return Err(upload::too_large(max));
    }
    upload::check_free_space(req, declared.unwrap_or(0))?;
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(whole_limit));
    let mut multipart = multer::Multipart::with_constraints(req.take_body(), boundary, constraints);
    let mut form = Form {
        fields: BTreeMap::new(),
        content: None,
    };
    let mut form_bytes = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name != "content" {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                form_bytes += chunk.len();
                if form_bytes > MAX_FORM_BYTES {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("The upload's form fields are larger than {MAX_FORM_BYTES} bytes"),
                    ));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value).map_err(|_| {
                ApiError::bad_request(format!("The form field '{name}' is not UTF-8"))
            })?;
            // repeated fields (classifiers, requires_dist…): the first is kept, arca uses none
            form.fields.entry(name).or_insert(value);
            continue;
        }
        if form.content.is_some() {
            return Err(ApiError::bad_request(
                "The upload has two 'content' files: one file per upload",
            ));
        }
        let filename = field
            .file_name()
            .map(str::to_string)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| ApiError::bad_request("The 'content' field has no filename"))?;
        let path = pypi::file_path(&filename).map_err(|e| ApiError::bad_request(e.0))?;
        authz.require(repo, &path, Action::Deploy)?;
        let mut staging = req.app.storage.begin_upload().await?;
        let mut blake = Blake2b256::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if staging.bytes_written() + chunk.len() as u64 > max {
                return Err(upload::too_large(max));
            }
            blake.update(&chunk);
            staging
                .write(chunk)
                .await
                .map_err(|e| upload::storage_full_or(req, e))?;
        }
        let staged = staging
            .finish()
            .await
            .map_err(|e| upload::storage_full_or(req, e))?;
        form.content = Some(Content {
            filename,
            staged,
            blake2_256: hex::encode(blake.finalize()),
        });
    }
    Ok(form)
}

/// The row of an upload that passed every check, and where its file goes.
struct Checked {
    path: String,
    row: db::File,
}

/// The upload's form against its file: 400 naming the field that disagrees.
async fn check_upload(form: &Form, content: &Content, now: i64) -> ApiResult<Checked> {
    let bad = |m: String| ApiError::bad_request(m);
    match form.field(":action") {
        Some("file_upload") => {}
        Some(other) => {
            return Err(bad(format!(
                "':action' is '{other}': arca takes only 'file_upload'"
            )));
        }
        None => return Err(bad("The form has no ':action' (file_upload)".into())),
    }
    if let Some(v) = form.field("protocol_version")
        && v != "1"
    {
        return Err(bad(format!(
            "'protocol_version' is '{v}': arca speaks version 1"
        )));
    }
    let name = form
        .field("name")
        .ok_or_else(|| bad("The form has no 'name'".into()))?;
    pypi::check_name(name, "name").map_err(|e| bad(e.0))?;
    let version = form
        .field("version")
        .ok_or_else(|| bad("The form has no 'version'".into()))?;
    let version = pypi::normalize_version(version, "version").map_err(|e| bad(e.0))?;
    let filename = content.filename.as_str();
    let dist = pypi::parse_filename(filename).map_err(|e| bad(e.0))?;
    if dist.project != pypi::normalize(name) {
        return Err(bad(format!(
            "The file name '{filename}' is of project '{}', the form's 'name' is '{name}'",
            dist.project
        )));
    }
    let file_version = pypi::normalize_version(&dist.version, "file name").map_err(|e| bad(e.0))?;
    if file_version != version {
        return Err(bad(format!(
            "The file name '{filename}' says version '{file_version}', the form's 'version' is \
             '{version}'"
        )));
    }
    if let Some(filetype) = form.field("filetype") {
        let expected = match dist.kind {
            DistKind::Wheel => "bdist_wheel",
            DistKind::Sdist => "sdist",
        };
        if filetype != expected {
            return Err(bad(format!(
                "'filetype' is '{filetype}', but '{filename}' is a {}",
                if dist.kind == DistKind::Wheel {
                    "wheel (bdist_wheel)"
                } else {
                    "source distribution (sdist)"
                }
            )));
        }
    }
    let sums = content.staged.checksums();
    for (field, actual) in [
        ("md5_digest", sums.md5.as_str()),
        ("sha256_digest", sums.sha256.as_str()),
        ("blake2_256_digest", content.blake2_256.as_str()),
    ] {
        if let Some(stated) = form.field(field)
            && !stated.eq_ignore_ascii_case(actual)
        {
            return Err(bad(format!(
                "'{field}' does not match the file: the form says {stated}, '{filename}' is \
                 {actual}; nothing was stored"
            )));
        }
    }
    let mut display_name = name.to_string();
    let mut requires_python = form.field("requires_python").map(str::to_string);
    let mut summary = form.field("summary").map(str::to_string);
    let mut metadata = None;
    let mut metadata_sha256 = None;
    if dist.kind == DistKind::Wheel {
        // unzipping is CPU and disk work: off the async workers
        let (file, named) = (content.staged.path().to_path_buf(), filename.to_string());
        let bytes = tokio::task::spawn_blocking(move || pypi::wheel_metadata(&file, &named))
            .await
            .map_err(|e| ApiError::internal("PyPI upload", e))?
            .map_err(|e| bad(e.0))?;
        let core = pypi::parse_core_metadata(&bytes)
            .map_err(|e| bad(format!("The METADATA of '{filename}': {}", e.0)))?;
        pypi::check_matches(&dist, &core, "METADATA").map_err(|e| bad(e.0))?;
        display_name = core.name.clone();
        requires_python = core.requires_python.clone();
        summary = core.summary.clone();
        metadata_sha256 = Some(hex::encode(sha2::Sha256::digest(&bytes)));
        metadata = Some(
            String::from_utf8(bytes)
                .map_err(|_| bad(format!("The METADATA of '{filename}' is not UTF-8")))?,
        );
    }
    let path = pypi::file_path(filename).map_err(|e| bad(e.0))?;
    Ok(Checked {
        path,
        row: db::File {
            item_id: 0,
            project: dist.project,
            name: display_name,
            version,
            filename: filename.to_string(),
            requires_python,
            yanked: None,
            metadata,
            metadata_sha256,
            summary,
            uploaded: now,
        },
    })
}

/// The properties the reference sets on an uploaded file (searchable with AQL and the property
/// search like any property).
fn reference_properties(row: &db::File) -> BTreeMap<String, Vec<String>> {
    let mut props = BTreeMap::from([
        ("pypi.name".to_string(), vec![row.name.clone()]),
        (
            "pypi.normalized.name".to_string(),
            vec![row.project.clone()],
        ),
        ("pypi.version".to_string(), vec![row.version.clone()]),
    ]);
    if let Some(summary) = row.summary.as_ref().filter(|s| !s.is_empty()) {
        props.insert("pypi.summary".into(), vec![summary.clone()]);
    }
    if let Some(requires) = row.requires_python.as_ref().filter(|s| !s.is_empty()) {
        props.insert("pypi.requires.python".into(), vec![requires.clone()]);
    }
    props
}

/// `POST /`: `twine upload`, `uv publish` (the legacy upload API).
async fn upload_file(req: &Request, repo: &Repo) -> ApiResult<Response> {
    let (principal, authz) = authz::caller(req).await?;
    // before reading a large body: the caller may upload here at all
    if !authz.deploys_somewhere(repo) {
        authz.require(repo, "", Action::Deploy)?;
    }
    let mut form = read_form(req, repo, &authz).await?;
    let content = form
        .content
        .take()
        .ok_or_else(|| ApiError::bad_request("The upload has no file ('content')"))?;
    let checked = check_upload(&form, &content, req.app.now_ms()).await?;
    crate::policy::check_patterns(repo, &checked.path)?;
    authz.require(repo, &checked.path, Action::Deploy)?;
    let (key, key2, filename, path) = (
        repo.key.clone(),
        repo.key.clone(),
        checked.row.filename.clone(),
        checked.path.clone(),
    );
    let row = checked.row;
    // replacing a file needs the delete permission, as a deploy over any file does
    let may_replace = authz.allows(repo, &checked.path, Action::Delete);
    let stored = upload::store_staged_with(
        &req.app,
        &repo.key,
        &checked.path,
        content.staged,
        principal.name(),
        move |tx| {
            let exists =
                db::file_exists(tx, &key, &filename)? || items::get(tx, &key, &path)?.is_some();
            if exists && !may_replace {
                return Err(ApiError::conflict(format!(
                    "File already exists: '{filename}' is in repository '{key}' (replacing it \
                     needs the delete permission; upload a new version)"
                )));
            }
            if exists {
                db::delete_file(tx, &key, &filename)?;
            }
            Ok(true)
        },
        move |tx, item| {
            let row = db::File {
                item_id: item.id,
                ..row
            };
            items::set_props(tx, item.id, &reference_properties(&row))?;
            db::insert_file(tx, &key2, &row)?;
            Ok(())
        },
    )
    .await?;
    let item = stored.ok_or_else(|| ApiError::internal("PyPI upload", "nothing was stored"))?;
    tracing::info!(arca_repo = %repo.key, arca_path = %item.path, user = %principal.name(), "pypi upload");
    let mut resp = crate::http::error::text_response(StatusCode::OK, "OK\n");
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

// ------------------------------------------------------------------------------- yanking

/// `PUT|DELETE /yank/{project}/{version}[/{filename}]`: yank (PEP 592) or un-yank the files of a
/// version, or one of them.
async fn yank(
    req: &Request,
    repo: &Repo,
    project: &str,
    version: &str,
    filename: Option<String>,
    yanking: bool,
) -> ApiResult<Response> {
    let project = pypi::normalize(project);
    let version =
        pypi::normalize_version(version, "version").map_err(|e| ApiError::bad_request(e.0))?;
    let folder = format!("{project}/{version}");
    let (principal, _) = authz::require(req, repo, &folder, Action::Annotate).await?;
    let reason = if yanking {
        let mut body = req.take_body();
        let bytes = read_small_body(&mut body, MAX_SMALL_BODY).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Some(String::new())
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(doc)) => match doc.get("reason") {
                    None | Some(Value::Null) => Some(String::new()),
                    Some(Value::String(r)) => Some(r.clone()),
                    Some(_) => {
                        return Err(ApiError::bad_request("'reason' must be a string"));
                    }
                },
                _ => {
                    return Err(ApiError::bad_request(
                        "The body of a yank is empty or a JSON object {\"reason\": \"…\"}",
                    ));
                }
            }
        }
    } else {
        None
    };
    let (key, p, v, f, r) = (
        repo.key.clone(),
        project.clone(),
        version.clone(),
        filename.clone(),
        reason.clone(),
    );
    let changed = req
        .app
        .db
        .write(move |tx| {
            Ok::<_, ApiError>(db::set_yanked(
                tx,
                &key,
                &p,
                &v,
                f.as_deref(),
                r.as_deref(),
            )?)
        })
        .await?;
    if changed.is_empty() {
        return Err(ApiError::not_found(format!(
            "No file{} of '{project}' {version} in repository '{}'",
            filename.map(|f| format!(" '{f}'")).unwrap_or_default(),
            repo.key
        )));
    }
    tracing::info!(arca_repo = %repo.key, project, version, files = ?changed, yanked = yanking, user = %principal.name(), "pypi yank");
    let key = if yanking { "yanked" } else { "unyanked" };
    Ok(json_response(StatusCode::OK, &json!({ key: changed })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("").unwrap(), Target::Upload);
        assert_eq!(parse_target("legacy/").unwrap(), Target::Upload);
        assert_eq!(parse_target("simple").unwrap(), Target::SimpleNoSlash);
        assert_eq!(parse_target("simple/").unwrap(), Target::Index);
        assert_eq!(
            parse_target("simple/Foo_Bar").unwrap(),
            Target::Project {
                name: "Foo_Bar".into(),
                slash: false
            }
        );
        assert_eq!(
            parse_target("simple/foo/").unwrap(),
            Target::Project {
                name: "foo".into(),
                slash: true
            }
        );
        assert_eq!(
            parse_target("packages/foo/1.0/foo-1.0-py3-none-any.whl").unwrap(),
            Target::File {
                path: "foo/1.0/foo-1.0-py3-none-any.whl".into(),
                metadata: false
            }
        );
        assert_eq!(
            parse_target("packages/foo/1.0/foo-1.0-py3-none-any.whl.metadata").unwrap(),
            Target::File {
                path: "foo/1.0/foo-1.0-py3-none-any.whl".into(),
                metadata: true
            }
        );
        // a file is only at its own path
        assert!(parse_target("packages/bar/1.0/foo-1.0-py3-none-any.whl").is_err());
        assert!(parse_target("packages/foo/2.0/foo-1.0-py3-none-any.whl").is_err());
        assert_eq!(
            parse_target("yank/foo/1.0").unwrap(),
            Target::Yank {
                project: "foo".into(),
                version: "1.0".into(),
                filename: None
            }
        );
        assert!(parse_target("nothing/here").is_err());
        assert!(parse_target("%ff").is_err());
    }

    #[test]
    fn links_escape_segments() {
        assert_eq!(
            link("foo/1.0+local/foo-1.0+local-py3-none-any.whl"),
            "../../packages/foo/1.0+local/foo-1.0+local-py3-none-any.whl"
        );
        assert_eq!(link("a/1/a b#.whl"), "../../packages/a/1/a%20b%23.whl");
    }
}
