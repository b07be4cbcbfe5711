//! The PyPI API of pypi repositories (`/api/pypi/{repo}/`), driven with what twine 7 and pip
//! send (`/work/shared/notes/real-clients.md` §2): uploads of wheels and sdists built here
//! (no python), refusals that store nothing, concurrent uploads, PEP 503 / 691 / 658 / 592 /
//! 700 project pages, content negotiation, files and `.metadata`, yanking, deletes, who may do
//! what, virtual repositories, and remote repositories against a second arca and a hand-made
//! upstream.
//!
//! The module's local tests share one server (started by the first, stopped after the last that
//! runs at the same time); each test uses its own project names. Remote tests start their own.

use super::*;

use std::sync::{Arc, Mutex, Weak};

use serde_json::json;

use crate::upstream::FakeUpstream;

const PW: &str = "Corr3ct-horse-battery";
const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";
/// What pip 26 sends as Accept on a project page.
const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
/// The boundary of every multipart body (twine's is 32 hex digits too).
const BOUNDARY: &str = "9f3c1b2a7d5e4f60a1b2c3d4e5f60718";

// ------------------------------------------------------------ distributions as build makes them

/// PEP 503 normalised name.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The name as it appears in a file name (`demo-pkg` → `demo_pkg`).
fn file_stem_name(name: &str) -> String {
    normalize(name).replace('-', "_")
}

/// What twine sends as `name` (its `_safe_name`: runs of anything but letters, digits and `.`
/// become one `-`).
fn twine_safe_name(name: &str) -> String {
    let mut out = String::new();
    let mut run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
            run = false;
        } else if !run {
            out.push('-');
            run = true;
        }
    }
    out
}

/// A distribution file and what went into it.
#[derive(Clone)]
struct Dist {
    filename: String,
    bytes: Vec<u8>,
    /// The core metadata inside (a wheel's METADATA, an sdist's PKG-INFO).
    metadata: Vec<u8>,
    name: String,
    version: String,
    requires_python: Option<String>,
    wheel: bool,
}

impl Dist {
    fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }
}

/// Core metadata 2.4 of `name` `version`, as setuptools writes it (the readme is the body).
fn metadata_text(name: &str, version: &str, requires_python: Option<&str>) -> String {
    let mut m = format!(
        "Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n\
         Summary: {name}, a test project\nAuthor-email: Tester <tester@example.com>\n\
         License-Expression: MIT\n"
    );
    if let Some(rp) = requires_python {
        m.push_str(&format!("Requires-Python: {rp}\n"));
    }
    m.push_str("Requires-Dist: attrs>=22\nRequires-Dist: idna; python_version >= \"3.8\"\n");
    m.push_str("Description-Content-Type: text/markdown\n\n# The readme\n\nSome text.\n");
    m
}

/// A zip of `files` (path, content), deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (path, data) in files {
        w.start_file(*path, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A wheel whose dist-info directory is `{stem}.dist-info` holding `metadata`; `salt` goes
/// into the module (two wheels of one version that differ).
fn wheel_zip(stem: &str, metadata: &[u8], salt: &str) -> Vec<u8> {
    use base64::Engine;
    let module = stem.split('-').next().unwrap();
    let init_path = format!("{module}/__init__.py");
    let init = format!("VALUE = {salt:?}\n");
    let wheel =
        b"Wheel-Version: 1.0\nGenerator: arca-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let meta_path = format!("{stem}.dist-info/METADATA");
    let wheel_path = format!("{stem}.dist-info/WHEEL");
    let record_path = format!("{stem}.dist-info/RECORD");
    let mut record = String::new();
    for (path, data) in [
        (&init_path, init.as_bytes()),
        (&meta_path, metadata),
        (&wheel_path, wheel.as_slice()),
    ] {
        let digest =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data));
        record.push_str(&format!("{path},sha256={digest},{}\n", data.len()));
    }
    record.push_str(&format!("{record_path},,\n"));
    zip_of(&[
        (&init_path, init.as_bytes()),
        (&meta_path, metadata),
        (&wheel_path, wheel),
        (&record_path, record.as_bytes()),
    ])
}

fn wheel(name: &str, version: &str) -> Dist {
    wheel_with(name, version, None, "")
}

/// The wheel `{name}-{version}-py3-none-any.whl` (names in the file as build writes them).
fn wheel_with(name: &str, version: &str, requires_python: Option<&str>, salt: &str) -> Dist {
    let metadata = metadata_text(name, version, requires_python).into_bytes();
    let stem = format!("{}-{version}", file_stem_name(name));
    Dist {
        filename: format!("{stem}-py3-none-any.whl"),
        bytes: wheel_zip(&stem, &metadata, salt),
        metadata,
        name: name.to_string(),
        version: version.to_string(),
        requires_python: requires_python.map(str::to_string),
        wheel: true,
    }
}

/// The sdist `{name}-{version}.tar.gz` with its PKG-INFO.
fn sdist(name: &str, version: &str) -> Dist {
    let metadata = metadata_text(name, version, None).into_bytes();
    let stem = format!("{}-{version}", file_stem_name(name));
    let module = file_stem_name(name);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let pyproject = format!("[project]\nname = \"{name}\"\nversion = \"{version}\"\n");
    for (path, data) in [
        (format!("{stem}/PKG-INFO"), metadata.as_slice()),
        (format!("{stem}/pyproject.toml"), pyproject.as_bytes()),
        (
            format!("{stem}/{module}/__init__.py"),
            b"VALUE = 1\n".as_slice(),
        ),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        tar.append_data(&mut header, path, data).unwrap();
    }
    Dist {
        filename: format!("{stem}.tar.gz"),
        bytes: tar.into_inner().unwrap().finish().unwrap(),
        metadata,
        name: name.to_string(),
        version: version.to_string(),
        requires_python: None,
        wheel: false,
    }
}

fn blake2_256_hex(data: &[u8]) -> String {
    hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(data))
}

// ------------------------------------------------------------ the upload form, as twine sends it

/// A legacy-API upload: text fields in order, then the file part `content`.
#[derive(Clone)]
struct Form {
    fields: Vec<(String, String)>,
    /// File name and bytes of the `content` part (absent: no file part).
    content: Option<(String, Vec<u8>)>,
}

impl Form {
    /// What `twine upload` 7 sends for `d` (field names and order of twine's
    /// `package.py`/`repository.py`; twine 7 sends no md5_digest).
    fn twine(d: &Dist) -> Form {
        let mut fields = vec![
            ("name", twine_safe_name(&d.name)),
            ("version", d.version.clone()),
            (
                "filetype",
                if d.wheel { "bdist_wheel" } else { "sdist" }.to_string(),
            ),
            (
                "pyversion",
                if d.wheel { "py3" } else { "source" }.to_string(),
            ),
            ("metadata_version", "2.4".to_string()),
            ("summary", format!("{}, a test project", d.name)),
            ("description", "# The readme\n\nSome text.\n".to_string()),
            ("description_content_type", "text/markdown".to_string()),
            ("author_email", "Tester <tester@example.com>".to_string()),
            ("license_expression", "MIT".to_string()),
        ];
        if let Some(rp) = &d.requires_python {
            fields.push(("requires_python", rp.clone()));
        }
        fields.push(("requires_dist", "attrs>=22".to_string()));
        fields.push((
            "requires_dist",
            "idna; python_version >= \"3.8\"".to_string(),
        ));
        fields.push(("sha256_digest", d.sha256()));
        fields.push(("blake2_256_digest", blake2_256_hex(&d.bytes)));
        fields.push((":action", "file_upload".to_string()));
        fields.push(("protocol_version", "1".to_string()));
        Form {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            content: Some((d.filename.clone(), d.bytes.clone())),
        }
    }

    /// Replace the value of `field` (added before `:action` when absent).
    fn set(mut self, field: &str, value: &str) -> Form {
        if let Some(f) = self.fields.iter_mut().find(|(k, _)| k == field) {
            f.1 = value.to_string();
        } else {
            let at = self
                .fields
                .iter()
                .position(|(k, _)| k == ":action")
                .unwrap_or(self.fields.len());
            self.fields
                .insert(at, (field.to_string(), value.to_string()));
        }
        self
    }

    fn without(mut self, field: &str) -> Form {
        self.fields.retain(|(k, _)| k != field);
        if field == "content" {
            self.content = None;
        }
        self
    }

    /// The content type and body (requests_toolbelt's MultipartEncoder layout).
    fn body(&self) -> (String, Vec<u8>) {
        let mut body = Vec::new();
        for (k, v) in &self.fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((filename, bytes)) = &self.content {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; \
                     filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={BOUNDARY}"), body)
    }
}

/// twine's upload of the tests' wheel of `name` 1.0, as a content type and body (for the
/// authorization matrix).
pub(crate) fn upload_body(name: &str) -> (String, Vec<u8>) {
    Form::twine(&wheel(name, "1.0")).body()
}

// ------------------------------------------------------------ the shared server

static SHARED: SharedSlot = Mutex::new(Weak::new());

/// The module's server: local pypi repositories `py` and `py-open` (anonymousRead), user
/// `reader` (reads everywhere), `deployer` (reads, and deploys in `py`, without delete) and
/// `annotator` (reads, and annotates in `py`).
fn shared() -> Arc<SharedServer> {
    SharedServer::get(&SHARED, |s| {
        s.create_repo("py", json!({"rclass": "local", "packageType": "pypi"}));
        s.create_repo(
            "py-open",
            json!({"rclass": "local", "packageType": "pypi", "anonymousRead": true}),
        );
        add_user(s, "reader", json!({"password": PW}));
        add_user(
            s,
            "deployer",
            json!({"password": PW, "groups": ["readers"]}),
        );
        add_user(
            s,
            "annotator",
            json!({"password": PW, "groups": ["readers"]}),
        );
        add_permission(s, "py-deploy", &["py"], "deployer", &["read", "write"]);
        add_permission(
            s,
            "py-annotate",
            &["py"],
            "annotator",
            &["read", "annotate"],
        );
    })
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Anon,
    Reader,
    Deployer,
    Annotator,
    Admin,
    /// Basic authentication with this user and password (or token).
    Basic(&'a str, &'a str),
}

use Who::{Admin, Annotator, Anon, Deployer, Reader};

fn call(s: &Server, who: Who<'_>, method: Method, url: &str) -> RequestBuilder {
    let b = s.client().request(method, url);
    match who {
        Anon => b,
        Reader => b.basic_auth("reader", Some(PW)),
        Deployer => b.basic_auth("deployer", Some(PW)),
        Annotator => b.basic_auth("annotator", Some(PW)),
        Admin => b.basic_auth("admin", Some(&s.password)),
        Who::Basic(user, password) => b.basic_auth(user, Some(password)),
    }
}

/// The URL of `/api/pypi/{rest}`.
fn api(s: &Server, rest: &str) -> String {
    s.url(&format!("/api/pypi/{rest}"))
}

/// POST `form` to `/api/pypi/{target}` (`{repo}` as twine's --repository-url gives it, or
/// `{repo}/`, `{repo}/legacy/`).
fn post(s: &Server, who: Who<'_>, target: &str, form: &Form) -> Response {
    let (content_type, body) = form.body();
    call(s, who, Method::POST, &api(s, target))
        .header("content-type", content_type)
        .header("user-agent", "twine/7.0.0 CPython/3.11.7")
        .body(body)
        .send()
        .unwrap()
}

/// Upload `d` into `repo` as the admin, as twine does; the answer must be 200.
fn upload(s: &Server, repo: &str, d: &Dist) {
    let r = post(s, Admin, repo, &Form::twine(d));
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "upload {} into {repo}: {}",
        d.filename,
        r.text().unwrap()
    );
}

/// The status must be `status` and the body name `names`.
fn expect_refused(r: Response, status: u16, names: &str, what: &str) {
    let st = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(st, status, "{what}: {text}");
    assert!(
        text.contains(names),
        "{what}: '{text}' does not name '{names}'"
    );
}

/// The storage path of a file: `{project}/{normalised version}/{filename}`.
fn item_path(project: &str, version: &str, filename: &str) -> String {
    format!("{}/{version}/{filename}", normalize(project))
}

/// What arca's page links `d` to (resolved): `…/packages/{project}/{version}/{filename}`.
fn file_url(s: &Server, repo: &str, d: &Dist) -> String {
    api(
        s,
        &format!(
            "{repo}/packages/{}",
            item_path(&d.name, &d.version, &d.filename)
        ),
    )
}

fn page_url(s: &Server, repo: &str, project: &str) -> String {
    api(s, &format!("{repo}/simple/{project}/"))
}

/// GET a project page as `who` with `accept` (None: reqwest's `Accept: */*`).
fn get_page(s: &Server, who: Who<'_>, repo: &str, project: &str, accept: Option<&str>) -> Response {
    let mut b = call(s, who, Method::GET, &page_url(s, repo, project));
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    b.send().unwrap()
}

fn content_type(r: &Response) -> String {
    r.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The PEP 691 page of `project` (must exist).
fn json_page(s: &Server, repo: &str, project: &str) -> Value {
    let r = get_page(s, Admin, repo, project, Some(PIP_ACCEPT));
    assert_eq!(r.status(), StatusCode::OK, "page of {project} in {repo}");
    assert_eq!(content_type(&r), JSON_TYPE);
    r.json().unwrap()
}

/// The anchors of the PEP 503 page of `project` (must exist).
fn html_page(s: &Server, repo: &str, project: &str) -> Vec<Anchor> {
    let r = get_page(s, Admin, repo, project, Some("text/html"));
    assert_eq!(r.status(), StatusCode::OK, "page of {project} in {repo}");
    assert!(content_type(&r).starts_with("text/html"), "{r:?}");
    anchors(&r.text().unwrap())
}

/// The `files` entry of `filename` in a PEP 691 page.
fn json_file<'a>(page: &'a Value, filename: &str) -> &'a Value {
    let files = page["files"].as_array().unwrap();
    let found: Vec<&Value> = files.iter().filter(|f| f["filename"] == filename).collect();
    assert_eq!(found.len(), 1, "{filename} once in {page}");
    found[0]
}

fn json_filenames(page: &Value) -> Vec<String> {
    let mut names: Vec<String> = page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn anchor<'a>(anchors: &'a [Anchor], filename: &str) -> &'a Anchor {
    let found: Vec<&Anchor> = anchors.iter().filter(|a| a.text == filename).collect();
    assert_eq!(found.len(), 1, "{filename} once in {anchors:?}");
    found[0]
}

fn anchor_texts(anchors: &[Anchor]) -> Vec<String> {
    let mut names: Vec<String> = anchors.iter().map(|a| a.text.clone()).collect();
    names.sort();
    names
}

fn resolve(base: &str, href: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(href)
        .unwrap()
        .to_string()
}

/// `href` resolved against the page, and its `#sha256=` fragment.
fn link_and_hash(s: &Server, repo: &str, project: &str, a: &Anchor) -> (String, Option<String>) {
    let href = a.attr("href").expect("an href");
    let full = resolve(&page_url(s, repo, project), href);
    match full.split_once('#') {
        Some((link, fragment)) => (
            link.to_string(),
            fragment.strip_prefix("sha256=").map(str::to_string),
        ),
        None => (full, None),
    }
}

/// PEP 700 `upload-time`: RFC 3339 in UTC with `Z`, within the last hour.
fn assert_recent_upload_time(t: &Value) {
    let t = t.as_str().unwrap_or_else(|| panic!("upload-time {t}"));
    assert!(t.ends_with('Z'), "{t}");
    let when =
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap();
    let age = time::OffsetDateTime::now_utc() - when;
    assert!(age.whole_minutes().abs() < 60, "{t}");
}

/// The checks of one file of a PEP 691 page against what was uploaded: the URL (resolved
/// against the page), sha256, requires-python, size, upload-time, core metadata (wheels).
fn check_json_file(page: &Value, page_url: &str, link: &str, d: &Dist) {
    let f = json_file(page, &d.filename);
    assert_eq!(resolve(page_url, f["url"].as_str().unwrap()), link, "{f}");
    assert_eq!(f["hashes"], json!({"sha256": d.sha256()}), "{f}");
    match &d.requires_python {
        Some(rp) => assert_eq!(f["requires-python"], rp.as_str(), "{f}"),
        None => assert!(f["requires-python"].is_null(), "{f}"),
    }
    assert_eq!(f["size"], d.bytes.len(), "{f}");
    assert_recent_upload_time(&f["upload-time"]);
    if d.wheel {
        let meta = json!({"sha256": sha256_hex(&d.metadata)});
        assert_eq!(f["core-metadata"], meta, "{f}");
        assert_eq!(f["dist-info-metadata"], meta, "{f}");
    } else {
        for field in ["core-metadata", "dist-info-metadata"] {
            assert!(
                f[field].is_null() || f[field] == false,
                "{field} of an sdist: {f}"
            );
        }
    }
}

/// The checks of one anchor of a PEP 503 page against what was uploaded.
fn check_anchor(s: &Server, repo: &str, anchors: &[Anchor], link: &str, d: &Dist) {
    let project = normalize(&d.name);
    let a = anchor(anchors, &d.filename);
    assert_eq!(
        link_and_hash(s, repo, &project, a),
        (link.to_string(), Some(d.sha256())),
        "{a:?}"
    );
    match &d.requires_python {
        Some(rp) => {
            assert_eq!(a.attr("data-requires-python"), Some(rp.as_str()), "{a:?}");
            let raw = a.raw_attr("data-requires-python").unwrap();
            assert!(
                !raw.contains('<') && !raw.contains('>'),
                "data-requires-python must be HTML-escaped: {a:?}"
            );
        }
        None => assert_eq!(a.attr("data-requires-python"), None, "{a:?}"),
    }
    if d.wheel {
        let meta = format!("sha256={}", sha256_hex(&d.metadata));
        assert_eq!(a.attr("data-core-metadata"), Some(meta.as_str()), "{a:?}");
        assert_eq!(
            a.attr("data-dist-info-metadata"),
            Some(meta.as_str()),
            "{a:?}"
        );
    } else {
        assert_eq!(a.attr("data-core-metadata"), None, "{a:?}");
        assert_eq!(a.attr("data-dist-info-metadata"), None, "{a:?}");
    }
}

/// GET `url` as the admin: status and body.
fn fetch(s: &Server, url: &str) -> (StatusCode, Vec<u8>) {
    let r = call(s, Admin, Method::GET, url).send().unwrap();
    (r.status(), r.bytes().unwrap().to_vec())
}

/// `project` left no trace in `repo`: no page and no item under its folder.
fn assert_nothing_stored(s: &Server, repo: &str, project: &str, what: &str) {
    let r = get_page(s, Admin, repo, &normalize(project), None);
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "{what}: page of {project}"
    );
    let r = s.get(&format!("/api/storage/{repo}/{}", normalize(project)));
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "{what}: {project} in storage: {}",
        r.text().unwrap()
    );
}

/// The sha256 of the item at `path` in `repo` (must exist).
fn stored_sha256(s: &Server, repo: &str, path: &str) -> String {
    let info = s.json(&format!("/api/storage/{repo}/{path}"));
    info["checksums"]["sha256"].as_str().unwrap().to_string()
}

// ------------------------------------------------------------ a small HTML reader

/// One `<a>` of a page: attributes (entity-decoded and as written) and its text.
#[derive(Debug)]
struct Anchor {
    attrs: Vec<(String, String, String)>,
    text: String,
}

impl Anchor {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }
    fn raw_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, raw)| raw.as_str())
    }
}

fn decode_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every `<a …>text</a>` of `html` (attributes quoted or not; names lower-cased).
fn anchors(html: &str) -> Vec<Anchor> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a ") {
        let mut i = at + found + 3;
        let bytes = html.as_bytes();
        let mut attrs = Vec::new();
        loop {
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes[i] == b'>' {
                i += 1;
                break;
            }
            let start = i;
            while !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' && bytes[i] != b'>' {
                i += 1;
            }
            let name = html[start..i].to_ascii_lowercase();
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let raw = if bytes[i] == b'=' {
                i += 1;
                while bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes[i] == b'"' || bytes[i] == b'\'' {
                    let quote = bytes[i] as char;
                    let end = i + 1 + html[i + 1..].find(quote).unwrap();
                    let v = &html[i + 1..end];
                    i = end + 1;
                    v
                } else {
                    let start = i;
                    while !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    &html[start..i]
                }
            } else {
                ""
            };
            attrs.push((name, decode_entities(raw), raw.to_string()));
        }
        let end = i + lower[i..].find("</a>").expect("</a>");
        out.push(Anchor {
            attrs,
            text: decode_entities(html[i..end].trim()),
        });
        at = end + 4;
    }
    out
}

// ------------------------------------------------------------ tests

#[test]
fn uploads_of_a_wheel_and_an_sdist_are_served_in_both_page_formats() {
    let sh = shared();
    let s = &sh.s;
    let w10 = wheel("Demo.Pkg", "1.0");
    let sd10 = sdist("Demo.Pkg", "1.0");
    let w11 = wheel_with("Demo.Pkg", "1.1", Some(">=3.8,<4"), "");
    // twine posts to the URL it is given verbatim: with or without the slash, or /legacy/
    for (target, d) in [("py", &w10), ("py/", &sd10), ("py/legacy/", &w11)] {
        let r = post(s, Admin, target, &Form::twine(d));
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{target}: {}",
            r.text().unwrap()
        );
    }
    // each file is an item at {project}/{version}/{file}, with the reference's pypi.* properties
    for d in [&w10, &sd10, &w11] {
        let path = item_path(&d.name, &d.version, &d.filename);
        assert_eq!(stored_sha256(s, "py", &path), d.sha256(), "{path}");
        let props = s.json(&format!("/api/storage/py/{path}?properties"))["properties"].clone();
        assert_eq!(props["pypi.name"], json!(["Demo.Pkg"]), "{path}: {props}");
        assert_eq!(
            props["pypi.normalized.name"],
            json!(["demo-pkg"]),
            "{props}"
        );
        assert_eq!(props["pypi.version"], json!([d.version]), "{props}");
        assert_eq!(
            props["pypi.summary"],
            json!(["Demo.Pkg, a test project"]),
            "{props}"
        );
    }
    let w11_props = s.json(&format!(
        "/api/storage/py/{}?properties",
        item_path(&w11.name, &w11.version, &w11.filename)
    ))["properties"]
        .clone();
    assert_eq!(w11_props["pypi.requires.python"], json!([">=3.8,<4"]));
    let project = "demo-pkg";

    // PEP 691 JSON
    let page = json_page(s, "py", project);
    assert_eq!(page["meta"]["api-version"], "1.1", "{page}");
    assert_eq!(page["name"], project);
    assert_eq!(page["versions"], json!(["1.0", "1.1"]), "{page}");
    let mut names = vec![
        w10.filename.clone(),
        sd10.filename.clone(),
        w11.filename.clone(),
    ];
    names.sort();
    assert_eq!(json_filenames(&page), names);
    let purl = page_url(s, "py", project);
    for d in [&w10, &sd10, &w11] {
        check_json_file(&page, &purl, &file_url(s, "py", d), d);
        assert_eq!(json_file(&page, &d.filename)["yanked"], false);
    }

    // PEP 503 HTML (text/html; the v1 HTML type)
    let html = html_page(s, "py", project);
    assert_eq!(anchor_texts(&html), names);
    for d in [&w10, &sd10, &w11] {
        check_anchor(s, "py", &html, &file_url(s, "py", d), d);
        assert_eq!(anchor(&html, &d.filename).attr("data-yanked"), None);
    }
    for accept in ["text/html", HTML_TYPE] {
        let r = get_page(s, Admin, "py", project, Some(accept));
        assert_eq!(r.status(), StatusCode::OK, "{accept}");
        let ct = content_type(&r);
        if accept == HTML_TYPE {
            assert_eq!(ct, HTML_TYPE);
        } else {
            assert!(ct.starts_with("text/html"), "{ct}");
        }
        let body = r.text().unwrap();
        assert_eq!(anchor_texts(&anchors(&body)), names, "{accept}");
        // PEP 629: pip reads the API version from the HTML page too
        assert!(
            body.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"),
            "{body}"
        );
    }

    // the files and the wheels' core metadata, GET and HEAD
    for d in [&w10, &sd10, &w11] {
        let url = file_url(s, "py", d);
        assert_eq!(fetch(s, &url), (StatusCode::OK, d.bytes.clone()), "{url}");
        let head = call(s, Admin, Method::HEAD, &url).send().unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            head.headers()["content-length"],
            d.bytes.len().to_string().as_str()
        );
        let meta_url = format!("{url}.metadata");
        if d.wheel {
            assert_eq!(
                fetch(s, &meta_url),
                (StatusCode::OK, d.metadata.clone()),
                "{meta_url}"
            );
            let head = call(s, Admin, Method::HEAD, &meta_url).send().unwrap();
            assert_eq!(head.status(), StatusCode::OK);
            assert_eq!(
                head.headers()["content-length"],
                d.metadata.len().to_string().as_str()
            );
        } else {
            assert_eq!(fetch(s, &meta_url).0, StatusCode::NOT_FOUND, "{meta_url}");
        }
    }
    let missing = api(
        s,
        &format!("py/packages/{project}/1.0/demo_pkg-1.0-py2-none-any.whl"),
    );
    assert_eq!(fetch(s, &missing).0, StatusCode::NOT_FOUND);
    assert_eq!(
        get_page(s, Admin, "py", "no-such-project", None).status(),
        StatusCode::NOT_FOUND
    );

    // the project list, in both formats
    let r = call(s, Admin, Method::GET, &api(s, "py/simple/"))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(content_type(&r).starts_with("text/html"));
    let list = anchors(&r.text().unwrap());
    let demo: Vec<&Anchor> = list
        .iter()
        .filter(|a| normalize(&a.text) == project)
        .collect();
    assert_eq!(demo.len(), 1, "{list:?}");
    assert_eq!(
        resolve(&api(s, "py/simple/"), demo[0].attr("href").unwrap()),
        page_url(s, "py", project)
    );
    let r = call(s, Admin, Method::GET, &api(s, "py/simple/"))
        .header("accept", PIP_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(content_type(&r), JSON_TYPE);
    let list: Value = r.json().unwrap();
    assert_eq!(list["meta"]["api-version"], "1.1", "{list}");
    let listed = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| normalize(p["name"].as_str().unwrap()) == project)
        .count();
    assert_eq!(listed, 1, "{list}");
}

#[test]
fn project_pages_negotiate_redirect_and_revalidate() {
    let sh = shared();
    let s = &sh.s;
    upload(s, "py", &wheel("Nego_Tiate", "1.0"));
    let project = "nego-tiate";
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // non-normalised names and missing slashes: 301s that end at the canonical page
    let canonical = page_url(s, "py", project);
    for start in [
        "py/simple/Nego_Tiate/",
        "py/simple/nego-tiate",
        "py/simple/NEGO.tiate",
        "py/simple/nego--tiate/",
    ] {
        let mut url = api(s, start);
        let mut hops = 0;
        while url != canonical {
            let r = no_redirects
                .get(&url)
                .basic_auth("admin", Some(&s.password))
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY, "{url}");
            url = resolve(&url, r.headers()["location"].to_str().unwrap());
            hops += 1;
            assert!(hops <= 2, "{start}: too many redirects, at {url}");
        }
        assert!(hops >= 1, "{start}");
    }
    let r = no_redirects
        .get(api(s, "py/simple"))
        .basic_auth("admin", Some(&s.password))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        resolve(
            &api(s, "py/simple"),
            r.headers()["location"].to_str().unwrap()
        ),
        api(s, "py/simple/")
    );

    // no Accept at all (old clients): HTML (reqwest always sends one, hence by hand)
    let (code, answer) = s.raw(&format!(
        "GET {}/api/pypi/py/simple/{project}/ HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        s.context,
        s.auth_header()
    ));
    assert_eq!(code, 200, "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ncontent-type: text/html"),
        "{head}"
    );
    assert!(body.contains("nego_tiate-1.0-py3-none-any.whl"), "{body}");

    // content negotiation: (Accept, ?format=, the type chosen; None: 406; no Accept: */*)
    let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
    #[rustfmt::skip]
    let cases: [(Option<&str>, Option<&str>, Option<&str>); 10] = [
        (Some(PIP_ACCEPT), None, Some(JSON_TYPE)),
        (Some(uv), None, Some(JSON_TYPE)),
        (Some(JSON_TYPE), None, Some(JSON_TYPE)),
        (Some(HTML_TYPE), None, Some(HTML_TYPE)),
        (Some("text/html"), None, Some("text/html")),
        (Some("*/*"), None, Some("text/html")),
        (Some("application/vnd.pypi.simple.v1+json;q=0, text/html"), None, Some("text/html")),
        (Some("text/html"), Some(JSON_TYPE), Some(JSON_TYPE)),
        (Some("application/xml"), None, None),
        (None, Some("application/xml"), None),
    ];
    for (accept, format, want) in cases {
        let mut url = page_url(s, "py", project);
        if let Some(f) = format {
            url = format!("{url}?format={}", f.replace('+', "%2B"));
        }
        let mut b = call(s, Admin, Method::GET, &url);
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        let r = b.send().unwrap();
        let what = format!("Accept {accept:?}, format {format:?}");
        match want {
            Some(t) => {
                assert_eq!(r.status(), StatusCode::OK, "{what}");
                assert!(content_type(&r).starts_with(t), "{what}: {r:?}");
                let vary = r.headers()["vary"].to_str().unwrap().to_ascii_lowercase();
                assert!(vary.contains("accept"), "{what}: {vary}");
            }
            None => assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE, "{what}"),
        }
    }

    // an ETag per format; 304 for the current one; a new file changes it
    let etag = |accept: &str, if_none_match: Option<&str>| {
        let mut b =
            call(s, Admin, Method::GET, &page_url(s, "py", project)).header("accept", accept);
        if let Some(tag) = if_none_match {
            b = b.header("if-none-match", tag);
        }
        let r = b.send().unwrap();
        let tag = r.headers()["etag"].to_str().unwrap().to_string();
        (r.status(), tag, r.bytes().unwrap().len())
    };
    let (_, json_tag, _) = etag(JSON_TYPE, None);
    let (_, html_tag, _) = etag("text/html", None);
    assert_ne!(json_tag, html_tag);
    assert_eq!(
        etag(JSON_TYPE, Some(&json_tag)),
        (StatusCode::NOT_MODIFIED, json_tag.clone(), 0)
    );
    assert_eq!(
        etag("text/html", Some(&html_tag)).0,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(etag(JSON_TYPE, Some(&html_tag)).0, StatusCode::OK);
    upload(s, "py", &wheel("Nego_Tiate", "1.1"));
    let (status, changed, _) = etag(JSON_TYPE, Some(&json_tag));
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed, json_tag);
}

#[test]
fn refused_uploads_name_the_problem_and_store_nothing() {
    let sh = shared();
    let s = &sh.s;
    // (what, project, the form, status, what the answer names)
    let form = |name: &str| Form::twine(&wheel(name, "1.0"));
    let with_file = |filename: &str, bytes: Vec<u8>, name: &str| {
        let mut d = wheel(name, "1.0");
        d.filename = filename.to_string();
        d.bytes = bytes;
        Form::twine(&d)
    };
    let lying_metadata = |name: &str, meta_name: &str, meta_version: &str| {
        let mut d = wheel(name, "1.0");
        let stem = format!("{}-1.0", file_stem_name(name));
        d.bytes = wheel_zip(
            &stem,
            metadata_text(meta_name, meta_version, None).as_bytes(),
            "",
        );
        Form::twine(&d)
    };
    let cases: Vec<(&str, &str, Form, u16, &str)> = vec![
        (
            "sha256 wrong",
            "ref-sha",
            form("ref-sha").set("sha256_digest", &sha256_hex(b"x")),
            400,
            "sha256_digest",
        ),
        (
            "md5 wrong",
            "ref-md5",
            form("ref-md5").set("md5_digest", &md5_hex(b"x")),
            400,
            "md5_digest",
        ),
        (
            "blake2 wrong",
            "ref-blake",
            form("ref-blake").set("blake2_256_digest", &blake2_256_hex(b"x")),
            400,
            "blake2_256_digest",
        ),
        (
            "form name vs file name",
            "ref-name",
            form("ref-name").set("name", "other-project"),
            400,
            "name",
        ),
        (
            "form version vs file name",
            "ref-ver",
            form("ref-ver").set("version", "1.1"),
            400,
            "version",
        ),
        (
            "METADATA name",
            "ref-mname",
            lying_metadata("ref-mname", "someone-else", "1.0"),
            400,
            "METADATA",
        ),
        (
            "METADATA version",
            "ref-mver",
            lying_metadata("ref-mver", "ref-mver", "2.0"),
            400,
            "METADATA",
        ),
        (
            "invalid name",
            "ref-badname",
            form("ref-badname").set("name", "bad name!"),
            400,
            "name",
        ),
        (
            "invalid version",
            "ref-badver",
            form("ref-badver").set("version", "not a version"),
            400,
            "version",
        ),
        (
            "not a zip",
            "ref-notzip",
            with_file(
                "ref_notzip-1.0-py3-none-any.whl",
                b"just text, not a zip".to_vec(),
                "ref-notzip",
            ),
            400,
            "ref_notzip-1.0-py3-none-any.whl",
        ),
        (
            "no METADATA",
            "ref-nometa",
            with_file(
                "ref_nometa-1.0-py3-none-any.whl",
                zip_of(&[("ref_nometa/__init__.py", b"")]),
                "ref-nometa",
            ),
            400,
            "METADATA",
        ),
        (
            "no content",
            "ref-nocontent",
            form("ref-nocontent").without("content"),
            400,
            "content",
        ),
        (
            "other :action",
            "ref-action",
            form("ref-action").set(":action", "doc_upload"),
            400,
            ":action",
        ),
        (
            "no :action",
            "ref-noaction",
            form("ref-noaction").without(":action"),
            400,
            ":action",
        ),
        (
            "no name",
            "ref-noname",
            form("ref-noname").without("name"),
            400,
            "name",
        ),
        (
            "not a distribution's file name",
            "ref-exe",
            with_file(
                "ref_exe-1.0.win32.exe",
                wheel("ref-exe", "1.0").bytes,
                "ref-exe",
            ),
            400,
            "ref_exe-1.0.win32.exe",
        ),
        (
            "a path as file name",
            "ref-path",
            with_file(
                "../ref_path-1.0-py3-none-any.whl",
                wheel("ref-path", "1.0").bytes,
                "ref-path",
            ),
            400,
            "ref_path-1.0-py3-none-any.whl",
        ),
        (
            "sdist version vs form",
            "ref-sdist",
            Form::twine(&sdist("ref-sdist", "1.0")).set("version", "1.0.1"),
            400,
            "version",
        ),
    ];
    for (what, project, form, status, names) in cases {
        expect_refused(post(s, Admin, "py", &form), status, names, what);
        assert_nothing_stored(s, "py", project, what);
    }
    // twine and uv print the reason phrase of a refused upload: it carries the message
    let (content_type, body) = form("ref-phrase").set("version", "1.1").body();
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    let head = format!(
        "POST {}/api/pypi/py/ HTTP/1.1\r\nHost: x\r\n{}Content-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        s.context,
        s.auth_header(),
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body).unwrap();
    let (code, answer) = read_answer(conn);
    assert_eq!(code, 400, "{answer}");
    let status_line = answer.lines().next().unwrap();
    assert!(
        status_line.contains("'version'") && status_line.contains("1.1"),
        "{status_line}"
    );
    assert_nothing_stored(s, "py", "ref-phrase", "reason phrase");
    // not a multipart body at all
    let r = call(s, Admin, Method::POST, &api(s, "py/"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert!(
        matches!(r.status().as_u16(), 400 | 415),
        "{}",
        r.text().unwrap()
    );

    // what normalises the same is the same: a mixed-case form name, a non-normalised version
    let mut d = wheel("Mixed_Case.Pkg", "1.0rc1");
    d.metadata = metadata_text("Mixed_Case.Pkg", "1.0.RC1", None).into_bytes();
    d.bytes = wheel_zip("mixed_case_pkg-1.0rc1", &d.metadata, "");
    let r = post(s, Admin, "py", &Form::twine(&d).set("version", "1.0-rc1"));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let path = item_path("mixed-case-pkg", "1.0rc1", &d.filename);
    assert_eq!(stored_sha256(s, "py", &path), d.sha256());
    // ... and the item's folder is the normalised version even when the file name's is not
    let d = wheel("mixed-case-pkg", "1.0.RC2");
    upload(s, "py", &d);
    let path = item_path("mixed-case-pkg", "1.0rc2", &d.filename);
    assert_eq!(stored_sha256(s, "py", &path), d.sha256());
    assert_eq!(
        json_page(s, "py", "mixed-case-pkg")["versions"],
        json!(["1.0rc1", "1.0rc2"])
    );
}

#[test]
fn an_existing_file_is_a_conflict_and_stays_as_it_was() {
    let sh = shared();
    let s = &sh.s;
    let first = wheel("again", "1.0");
    upload(s, "py", &first);
    let other = wheel_with("again", "1.0", None, "other contents");
    // a deployer without delete may not replace it: 409 (twine's --skip-existing knows it)
    for d in [&first, &other] {
        let r = post(s, Deployer, "py", &Form::twine(d));
        expect_refused(r, 409, "already exists", "re-upload without delete");
    }
    let path = item_path("again", "1.0", &first.filename);
    let unchanged = |d: &Dist, what: &str| {
        assert_eq!(stored_sha256(s, "py", &path), d.sha256(), "{what}");
        assert_eq!(
            fetch(s, &file_url(s, "py", d)),
            (StatusCode::OK, d.bytes.clone()),
            "{what}"
        );
        let page = json_page(s, "py", "again");
        assert_eq!(
            json_filenames(&page),
            std::slice::from_ref(&d.filename),
            "{what}"
        );
        assert_eq!(
            json_file(&page, &d.filename)["hashes"]["sha256"],
            d.sha256(),
            "{what}"
        );
    };
    unchanged(&first, "after the refusals");
    // whoever may delete there may replace it, as any deploy over a file (the admin here)
    let r = post(s, Admin, "py", &Form::twine(&other));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    unchanged(&other, "after the admin's replacement");
}

#[test]
fn concurrent_uploads_lose_nothing_and_one_file_wins_once() {
    let sh = shared();
    let s = &sh.s;
    // POST every form at the same moment: the statuses and answers, in order
    let post_all = |forms: Vec<Form>| -> Vec<(u16, String)> {
        let barrier = std::sync::Barrier::new(forms.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = forms
                .iter()
                .map(|form| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let (content_type, body) = form.body();
                        // without delete: a second upload of a file is refused
                        let request = call(s, Deployer, Method::POST, &api(s, "py/"))
                            .header("content-type", content_type)
                            .body(body);
                        barrier.wait();
                        let r = request.send().unwrap();
                        (r.status().as_u16(), r.text().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    // 8 files of one project at once: all there
    let dists: Vec<Dist> = (0..8)
        .map(|i| wheel("busy-py", &format!("1.{i}")))
        .collect();
    for (status, text) in post_all(dists.iter().map(Form::twine).collect()) {
        assert_eq!(status, 200, "{text}");
    }
    let page = json_page(s, "py", "busy-py");
    let mut names: Vec<String> = dists.iter().map(|d| d.filename.clone()).collect();
    names.sort();
    assert_eq!(json_filenames(&page), names);
    // the same file name twice at once (other bytes), a few rounds: one 200, one 409, and
    // the page, the item and the bytes are the winner's
    for round in 0..4 {
        let version = format!("1.0.{round}");
        let pair = [
            wheel_with("race-py", &version, None, "first"),
            wheel_with("race-py", &version, None, "second"),
        ];
        let answers = post_all(pair.iter().map(Form::twine).collect());
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        let winner = match statuses.as_slice() {
            [200, 409] => &pair[0],
            [409, 200] => &pair[1],
            _ => panic!("round {round}: want one 200 and one 409: {answers:?}"),
        };
        let page = json_page(s, "py", "race-py");
        assert_eq!(
            json_file(&page, &winner.filename)["hashes"]["sha256"],
            winner.sha256(),
            "round {round}"
        );
        let path = item_path("race-py", &version, &winner.filename);
        assert_eq!(stored_sha256(s, "py", &path), winner.sha256());
        assert_eq!(
            fetch(s, &file_url(s, "py", winner)),
            (StatusCode::OK, winner.bytes.clone())
        );
    }
    assert_eq!(json_filenames(&json_page(s, "py", "race-py")).len(), 4);
}

#[test]
fn who_may_upload_yank_and_read() {
    let sh = shared();
    let s = &sh.s;
    let d = wheel("perm-pkg", "1.0");
    let form = Form::twine(&d);
    // anonymous: 401 with the challenge; a reader or an annotator: 403; nothing stored
    let r = post(s, Anon, "py", &form);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    expect_refused(
        post(s, Reader, "py", &form),
        403,
        "reader",
        "reader uploads",
    );
    expect_refused(
        post(s, Annotator, "py", &form),
        403,
        "annotator",
        "annotator uploads",
    );
    // (an unknown user: a wrong password would slow the deployer's next logins down)
    expect_refused(
        post(s, Who::Basic("nobody-here", "wrong"), "py", &form),
        401,
        "",
        "an unknown user",
    );
    assert_nothing_stored(s, "py", "perm-pkg", "refused uploads");
    // a deployer uploads, with the password or a token as the password
    let r = post(s, Deployer, "py", &form);
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let token: Value = s
        .admin(Method::POST, s.url("/api/security/token"))
        .form(&[("username", "deployer"), ("expires_in", "600")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let sd = sdist("perm-pkg", "1.0");
    let r = post(s, Who::Basic("deployer", &token), "py", &Form::twine(&sd));
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let created = s.json(&format!(
        "/api/storage/py/{}",
        item_path("perm-pkg", "1.0", &sd.filename)
    ));
    assert_eq!(created["createdBy"], "deployer", "{created}");

    // yanking needs annotate: anonymous 401, a reader 403, an annotator and a deployer may
    let yank = |who: Who<'_>, method: Method| {
        call(s, who, method, &api(s, "py/yank/perm-pkg/1.0"))
            .send()
            .unwrap()
    };
    assert_eq!(yank(Anon, Method::PUT).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(yank(Reader, Method::PUT).status(), StatusCode::FORBIDDEN);
    assert_eq!(yank(Reader, Method::DELETE).status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json_file(&json_page(s, "py", "perm-pkg"), &d.filename)["yanked"],
        false
    );
    assert_eq!(yank(Annotator, Method::PUT).status(), StatusCode::OK);
    assert_eq!(
        json_file(&json_page(s, "py", "perm-pkg"), &d.filename)["yanked"],
        true
    );
    assert_eq!(yank(Deployer, Method::DELETE).status(), StatusCode::OK);
    assert_eq!(
        json_file(&json_page(s, "py", "perm-pkg"), &d.filename)["yanked"],
        false
    );

    // reads: a reader reads; anonymous gets the challenge (pip then asks its keyring)
    assert_eq!(
        get_page(s, Reader, "py", "perm-pkg", None).status(),
        StatusCode::OK
    );
    let r = get_page(s, Anon, "py", "perm-pkg", None);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let url = file_url(s, "py", &d);
    assert_eq!(
        call(s, Anon, Method::GET, &url).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // anonymous reads a repository with anonymousRead, but may not upload there
    let open = wheel("open-pkg", "1.0");
    upload(s, "py-open", &open);
    let anon_get = |url: &str| {
        let r = call(s, Anon, Method::GET, url).send().unwrap();
        (r.status(), r.bytes().unwrap().to_vec())
    };
    assert_eq!(anon_get(&api(s, "py-open/simple/")).0, StatusCode::OK);
    assert_eq!(
        get_page(s, Anon, "py-open", "open-pkg", Some(PIP_ACCEPT)).status(),
        StatusCode::OK
    );
    let open_url = file_url(s, "py-open", &open);
    assert_eq!(anon_get(&open_url), (StatusCode::OK, open.bytes.clone()));
    assert_eq!(
        anon_get(&format!("{open_url}.metadata")),
        (StatusCode::OK, open.metadata.clone())
    );
    let r = post(s, Anon, "py-open", &Form::twine(&wheel("open-pkg", "2.0")));
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // the PyPI API of a repository of another type, and of none
    s.generic_repo("not-pypi");
    let r = call(s, Admin, Method::GET, &api(s, "not-pypi/simple/"))
        .send()
        .unwrap();
    assert!(matches!(r.status().as_u16(), 400 | 404), "{r:?}");
    let r = call(s, Admin, Method::GET, &api(s, "no-such-repo/simple/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // anonymous where a canonical URL is a redirect away: 401 too; a 301 would tell anonymous
    // that the repository exists (a missing one answers 401 too), a reader gets the 301
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for rest in ["py/simple", "py/simple/Perm_Pkg/", "py/simple/perm-pkg"] {
        let r = no_redirects.get(api(s, rest)).send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{rest}");
        assert!(r.headers().contains_key("www-authenticate"), "{rest}");
        let r = no_redirects
            .get(api(s, rest))
            .basic_auth("reader", Some(PW))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY, "{rest}");
    }
    let r = no_redirects
        .get(api(s, "no-such-repo/simple"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn yanks_of_a_version_and_of_a_file_show_in_both_formats() {
    let sh = shared();
    let s = &sh.s;
    let w10 = wheel("yank-me", "1.0");
    let sd10 = sdist("yank-me", "1.0");
    let w11 = wheel("yank-me", "1.1");
    for d in [&w10, &sd10, &w11] {
        upload(s, "py", d);
    }
    let yank = |method: Method, rest: &str, body: Option<Value>| {
        let mut b = call(s, Admin, method, &api(s, &format!("py/yank/{rest}")));
        if let Some(body) = body {
            b = b.json(&body);
        }
        b.send().unwrap()
    };
    let yanked_list = |r: Response| -> Vec<String> {
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().unwrap();
        let mut names: Vec<String> = v["yanked"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    // (file, JSON yanked, HTML data-yanked)
    let state = || -> Vec<(String, Value, Option<String>)> {
        let page = json_page(s, "py", "yank-me");
        let html = html_page(s, "py", "yank-me");
        [&w10, &sd10, &w11]
            .iter()
            .map(|d| {
                (
                    d.filename.clone(),
                    json_file(&page, &d.filename)["yanked"].clone(),
                    anchor(&html, &d.filename)
                        .attr("data-yanked")
                        .map(str::to_string),
                )
            })
            .collect()
    };
    let expect = |yanked: [(Value, Option<&str>); 3]| -> Vec<(String, Value, Option<String>)> {
        [&w10, &sd10, &w11]
            .iter()
            .zip(yanked)
            .map(|(d, (j, h))| (d.filename.clone(), j, h.map(str::to_string)))
            .collect()
    };

    // every file of a version, with a reason that needs escaping
    let reason = "broken: use >1.0 & <2 \"soon\"";
    let mut both = vec![w10.filename.clone(), sd10.filename.clone()];
    both.sort();
    assert_eq!(
        yanked_list(yank(
            Method::PUT,
            "yank-me/1.0",
            Some(json!({"reason": reason}))
        )),
        both
    );
    assert_eq!(
        state(),
        expect([
            (json!(reason), Some(reason)),
            (json!(reason), Some(reason)),
            (json!(false), None),
        ])
    );
    let html = html_page(s, "py", "yank-me");
    let raw = anchor(&html, &w10.filename)
        .raw_attr("data-yanked")
        .unwrap();
    assert!(!raw.contains(['<', '>', '"']), "not escaped: {raw}");
    // a yanked file is still served (pip installs it when pinned)
    assert_eq!(
        fetch(s, &file_url(s, "py", &w10)),
        (StatusCode::OK, w10.bytes.clone())
    );

    // one file, without a reason
    let one = format!("yank-me/1.1/{}", w11.filename);
    assert_eq!(
        yanked_list(yank(Method::PUT, &one, None)),
        std::slice::from_ref(&w11.filename)
    );
    assert_eq!(
        state(),
        expect([
            (json!(reason), Some(reason)),
            (json!(reason), Some(reason)),
            (json!(true), Some("")),
        ])
    );
    // un-yank the version; un-yank the file
    assert_eq!(
        yank(Method::DELETE, "yank-me/1.0", None).status(),
        StatusCode::OK
    );
    assert_eq!(
        state(),
        expect([
            (json!(false), None),
            (json!(false), None),
            (json!(true), Some(""))
        ])
    );
    assert_eq!(yank(Method::DELETE, &one, None).status(), StatusCode::OK);
    assert_eq!(
        state(),
        expect([
            (json!(false), None),
            (json!(false), None),
            (json!(false), None)
        ])
    );
    // one file of a version with several
    let sd_only = format!("yank-me/1.0/{}", sd10.filename);
    assert_eq!(
        yanked_list(yank(
            Method::PUT,
            &sd_only,
            Some(json!({"reason": "no sdists"}))
        )),
        std::slice::from_ref(&sd10.filename)
    );
    assert_eq!(
        state(),
        expect([
            (json!(false), None),
            (json!("no sdists"), Some("no sdists")),
            (json!(false), None),
        ])
    );

    // unknown version, project, file: 404; a body that is not JSON: 400
    for rest in [
        "yank-me/9.9".to_string(),
        "no-such-project/1.0".to_string(),
        "yank-me/1.0/yank_me-1.0-py2-none-any.whl".to_string(),
    ] {
        assert_eq!(
            yank(Method::PUT, &rest, None).status(),
            StatusCode::NOT_FOUND,
            "{rest}"
        );
    }
    let r = call(s, Admin, Method::PUT, &api(s, "py/yank/yank-me/1.1"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_file(&json_page(s, "py", "yank-me"), &w11.filename)["yanked"],
        false
    );
}

#[test]
fn deleting_an_item_removes_it_from_the_index() {
    let sh = shared();
    let s = &sh.s;
    let w = wheel("del-pkg", "1.0");
    let sd = sdist("del-pkg", "1.0");
    upload(s, "py", &w);
    upload(s, "py", &sd);
    let path = item_path("del-pkg", "1.0", &w.filename);
    let r = s
        .admin(Method::DELETE, s.url(&format!("/py/{path}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        json_filenames(&json_page(s, "py", "del-pkg")),
        std::slice::from_ref(&sd.filename)
    );
    assert_eq!(
        anchor_texts(&html_page(s, "py", "del-pkg")),
        std::slice::from_ref(&sd.filename)
    );
    let url = file_url(s, "py", &w);
    assert_eq!(fetch(s, &url).0, StatusCode::NOT_FOUND);
    assert_eq!(
        fetch(s, &format!("{url}.metadata")).0,
        StatusCode::NOT_FOUND
    );
    // the file may be uploaded again
    upload(s, "py", &w);
    assert_eq!(json_filenames(&json_page(s, "py", "del-pkg")).len(), 2);
    // the project's folder: the project is gone from the pages
    let r = s
        .admin(Method::DELETE, s.url("/py/del-pkg"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get_page(s, Admin, "py", "del-pkg", Some(JSON_TYPE));
    if r.status() == StatusCode::OK {
        let page: Value = r.json().unwrap();
        assert!(json_filenames(&page).is_empty(), "{page}");
    } else {
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let list: Value = call(s, Admin, Method::GET, &api(s, "py/simple/"))
        .header("accept", JSON_TYPE)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        !list["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| normalize(p["name"].as_str().unwrap()) == "del-pkg"),
        "{list}"
    );
}

#[test]
fn plain_deploys_into_a_pypi_repository_are_refused() {
    let sh = shared();
    let s = &sh.s;
    let w = wheel("sneaky", "1.0");
    for path in [
        format!("/py/{}", item_path("sneaky", "1.0", &w.filename)),
        "/py/other.txt".to_string(),
    ] {
        let (status, msg) = error_message(s.put(&path, w.bytes.clone()));
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {msg}");
        assert!(msg.contains("/api/pypi/py"), "{path}: {msg}");
    }
    assert_nothing_stored(s, "py", "sneaky", "plain deploy");
    assert_eq!(
        s.get("/api/storage/py/other.txt").status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_virtual_repository_is_the_union_of_its_members_and_uploads_to_its_default() {
    let sh = shared();
    let s = &sh.s;
    for key in ["pyv-a", "pyv-b"] {
        s.create_repo(key, json!({"rclass": "local", "packageType": "pypi"}));
    }
    s.create_repo(
        "pyv",
        json!({"rclass": "virtual", "packageType": "pypi", "repositories": ["pyv-a", "pyv-b"],
               "defaultDeploymentRepo": "pyv-a"}),
    );
    // through the virtual: into pyv-a
    let in_a = wheel_with("v-proj", "1.0", None, "from a");
    upload(s, "pyv", &in_a);
    let path = item_path("v-proj", "1.0", &in_a.filename);
    assert_eq!(stored_sha256(s, "pyv-a", &path), in_a.sha256());
    assert_eq!(
        s.get(&format!("/api/storage/pyv-b/{path}")).status(),
        StatusCode::NOT_FOUND
    );
    // pyv-b: the same file name with other bytes, an sdist, a newer version, another project
    let shadowed = wheel_with("v-proj", "1.0", Some(">=3.10"), "from b");
    let sd = sdist("v-proj", "1.0");
    let w20 = wheel_with("v-proj", "2.0", Some(">=3.9"), "");
    let only_b = wheel("only-in-b", "1.0");
    for d in [&shadowed, &sd, &w20, &only_b] {
        upload(s, "pyv-b", d);
    }

    // the union, the first member winning on the same file name; links to the virtual
    let purl = page_url(s, "pyv", "v-proj");
    let page = json_page(s, "pyv", "v-proj");
    let mut names = vec![
        in_a.filename.clone(),
        sd.filename.clone(),
        w20.filename.clone(),
    ];
    names.sort();
    assert_eq!(json_filenames(&page), names);
    assert_eq!(page["versions"], json!(["1.0", "2.0"]));
    let html = html_page(s, "pyv", "v-proj");
    assert_eq!(anchor_texts(&html), names);
    for d in [&in_a, &sd, &w20] {
        let link = {
            let f = json_file(&page, &d.filename);
            resolve(&purl, f["url"].as_str().unwrap())
        };
        assert!(
            link.starts_with(&api(s, "pyv/packages/")) && link.ends_with(&d.filename),
            "{link}"
        );
        check_json_file(&page, &purl, &link, d);
        check_anchor(s, "pyv", &html, &link, d);
        assert_eq!(fetch(s, &link), (StatusCode::OK, d.bytes.clone()), "{link}");
        if d.wheel {
            assert_eq!(
                fetch(s, &format!("{link}.metadata")),
                (StatusCode::OK, d.metadata.clone())
            );
        }
    }
    // the project list is the union too
    let list: Value = call(s, Admin, Method::GET, &api(s, "pyv/simple/"))
        .header("accept", JSON_TYPE)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut projects: Vec<String> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| normalize(p["name"].as_str().unwrap()))
        .collect();
    projects.sort();
    assert_eq!(projects, ["only-in-b", "v-proj"], "{list}");
    // an existing file through the virtual, by a deployer without delete there: 409 (it is in
    // its default deployment repository)
    add_permission(
        s,
        "pyv-deploy",
        &["pyv", "pyv-a"],
        "deployer",
        &["read", "write"],
    );
    expect_refused(
        post(s, Deployer, "pyv", &Form::twine(&in_a)),
        409,
        "already exists",
        "re-upload through the virtual",
    );
}

/// A remote pypi repository `key` of `s` on `url`.
fn remote_repo(s: &Server, key: &str, url: &str, extra: Value) {
    let mut config = json!({"rclass": "remote", "packageType": "pypi", "url": url,
                            "retrievalCachePeriodSecs": 1});
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    s.create_repo(key, config);
}

#[test]
fn a_remote_repository_proxies_another_arca_and_serves_its_cache_when_it_is_gone() {
    let (_b_dir, mut b) = fresh_server();
    b.create_repo(
        "b-local",
        json!({"rclass": "local", "packageType": "pypi", "anonymousRead": true}),
    );
    let w10 = wheel_with("Remote.Proj", "1.0", Some(">=3.9,<4"), "");
    let sd10 = sdist("Remote.Proj", "1.0");
    let w11 = wheel("Remote.Proj", "1.1");
    for d in [&w10, &sd10, &w11] {
        upload(&b, "b-local", d);
    }
    let r = call(
        &b,
        Admin,
        Method::PUT,
        &api(
            &b,
            &format!("b-local/yank/remote-proj/1.0/{}", sd10.filename),
        ),
    )
    .json(&json!({"reason": "old"}))
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (_a_dir, a) = fresh_server();
    remote_repo(
        &a,
        "a-remote",
        &b.url("/api/pypi/b-local"),
        json!({"pyPIRepositorySuffix": "simple"}),
    );
    let project = "remote-proj";
    let purl = page_url(&a, "a-remote", project);
    let page = json_page(&a, "a-remote", project);
    let mut names = vec![
        w10.filename.clone(),
        sd10.filename.clone(),
        w11.filename.clone(),
    ];
    names.sort();
    assert_eq!(json_filenames(&page), names, "{page}");
    assert_eq!(page["versions"], json!(["1.0", "1.1"]));
    let mut links = Vec::new();
    for d in [&w10, &sd10, &w11] {
        let f = json_file(&page, &d.filename);
        let link = resolve(&purl, f["url"].as_str().unwrap());
        // rewritten to arca A
        assert!(
            link.starts_with(&api(&a, "a-remote/packages/")) && link.ends_with(&d.filename),
            "{link}"
        );
        assert_eq!(f["hashes"]["sha256"], d.sha256(), "{f}");
        match &d.requires_python {
            Some(rp) => assert_eq!(f["requires-python"], rp.as_str()),
            None => assert!(f["requires-python"].is_null(), "{f}"),
        }
        assert_eq!(
            f["yanked"],
            if d.wheel { json!(false) } else { json!("old") }
        );
        // the core metadata B offers (PEP 658) is offered through A and served by A (asked of
        // the one file fetched anyway: fetching it may fetch the file)
        if d.wheel {
            assert_eq!(
                f["core-metadata"],
                json!({"sha256": sha256_hex(&d.metadata)})
            );
        } else {
            assert!(
                f["core-metadata"].is_null() || f["core-metadata"] == false,
                "{f}"
            );
        }
        if d.filename == w10.filename {
            let (st, got) = fetch(&a, &format!("{link}.metadata"));
            assert_eq!(
                (st, got),
                (StatusCode::OK, d.metadata.clone()),
                "{link}.metadata"
            );
        }
        links.push(link);
    }
    let html = html_page(&a, "a-remote", project);
    assert_eq!(anchor_texts(&html), names);
    for (d, link) in [&w10, &sd10].iter().zip(&links) {
        let an = anchor(&html, &d.filename);
        assert_eq!(
            link_and_hash(&a, "a-remote", project, an),
            (link.clone(), Some(d.sha256()))
        );
        assert_eq!(
            an.attr("data-requires-python"),
            d.requires_python.as_deref()
        );
    }
    assert_eq!(
        anchor(&html, &sd10.filename).attr("data-yanked"),
        Some("old")
    );
    // the files, fetched once, then from the cache
    for (d, link) in [&w10, &sd10].iter().zip(&links) {
        assert_eq!(fetch(&a, link), (StatusCode::OK, d.bytes.clone()), "{link}");
    }
    assert_eq!(
        get_page(&a, Admin, "a-remote", "no-such-project", None).status(),
        StatusCode::NOT_FOUND
    );
    // a remote repository takes no uploads
    let r = post(
        &a,
        Admin,
        "a-remote",
        &Form::twine(&wheel("remote-proj", "3.0")),
    );
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // B goes away: the page (stale past its period) and the fetched files are still served
    b.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let stale = json_page(&a, "a-remote", project);
    assert_eq!(json_filenames(&stale), names);
    for (d, link) in [&w10, &sd10].iter().zip(&links) {
        assert_eq!(fetch(&a, link), (StatusCode::OK, d.bytes.clone()), "{link}");
    }
    // ... what was never fetched is not
    assert_ne!(fetch(&a, &links[2]).0, StatusCode::OK);
    // the cache holds what was fetched
    let deep = a.json("/api/storage/a-remote-cache/?list&deep=1");
    let cached: Vec<&str> = deep["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap())
        .collect();
    for d in [&w10, &sd10] {
        assert!(
            cached
                .iter()
                .any(|u| u.ends_with(&format!("/{}", d.filename))),
            "{cached:?}"
        );
    }
    assert!(
        !cached.iter().any(|u| u.ends_with(&w11.filename)),
        "{cached:?}"
    );
}

#[test]
fn remote_files_are_verified_against_the_upstream_sha256_and_fetched_once() {
    let up = FakeUpstream::start();
    let good = wheel("t-proj", "1.0");
    let bad = wheel("t-proj", "1.1");
    // as pypiserver writes it: links to ../../packages/{file}#sha256=…
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>Links for t-proj</title></head><body>\
         <h1>Links for t-proj</h1>\n\
         <a href=\"../../packages/{g}#sha256={gs}\">{g}</a><br>\n\
         <a href=\"../../packages/{b}#sha256={bs}\">{b}</a><br>\n</body></html>\n",
        g = good.filename,
        gs = good.sha256(),
        b = bad.filename,
        bs = sha256_hex(b"tampered"),
    );
    up.put("simple/t-proj/", page.clone());
    up.put("simple/t-proj", page);
    up.put(&format!("packages/{}", good.filename), good.bytes.clone());
    up.put(&format!("packages/{}", bad.filename), bad.bytes.clone());
    let (_dir, s) = fresh_server();
    remote_repo(
        &s,
        "t-remote",
        &up.url(),
        json!({"retrievalCachePeriodSecs": 600}),
    );

    let purl = page_url(&s, "t-remote", "t-proj");
    let page = json_page(&s, "t-remote", "t-proj");
    let mut names = vec![good.filename.clone(), bad.filename.clone()];
    names.sort();
    assert_eq!(json_filenames(&page), names, "{page}");
    let link_of = |d: &Dist| {
        resolve(
            &purl,
            json_file(&page, &d.filename)["url"].as_str().unwrap(),
        )
    };
    assert_eq!(html_page(&s, "t-remote", "t-proj").len(), 2);
    let page_hits = up.hits("simple/t-proj/") + up.hits("simple/t-proj");
    assert_eq!(
        page_hits, 1,
        "the page is cached for retrievalCachePeriodSecs"
    );

    // the tampered file: never served whole (502, or a body cut before its end when the
    // download is streamed as it arrives), nothing cached, asked again next time
    let bad_path = format!("packages/{}", bad.filename);
    for round in 1..=2 {
        let r = call(&s, Admin, Method::GET, &link_of(&bad)).send().unwrap();
        let status = r.status();
        let body = r.bytes();
        assert!(
            status == StatusCode::BAD_GATEWAY || (status == StatusCode::OK && body.is_err()),
            "round {round}: {status}, {body:?}"
        );
        assert_eq!(up.hits(&bad_path), round);
    }
    // the good one: fetched once, then from the cache
    let good_path = format!("packages/{}", good.filename);
    for _ in 0..2 {
        assert_eq!(
            fetch(&s, &link_of(&good)),
            (StatusCode::OK, good.bytes.clone())
        );
    }
    assert_eq!(up.hits(&good_path), 1);
    let deep = s.json("/api/storage/t-remote-cache/?list&deep=1");
    let cached: Vec<&str> = deep["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap())
        .collect();
    assert!(
        cached
            .iter()
            .any(|u| u.ends_with(&format!("/{}", good.filename))),
        "{cached:?}"
    );
    assert!(
        !cached.iter().any(|u| u.ends_with(&bad.filename)),
        "{cached:?}"
    );
    // a file the page does not list
    let unknown = api(
        &s,
        "t-remote/packages/t-proj/9.9/t_proj-9.9-py3-none-any.whl",
    );
    assert_eq!(fetch(&s, &unknown).0, StatusCode::NOT_FOUND);
}
