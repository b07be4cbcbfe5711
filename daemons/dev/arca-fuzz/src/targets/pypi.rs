//! Target `pypi`: what PyPI clients and upstream indexes send the PyPI format
//! (`arca_server::formats::pypi`).
//!
//! Inputs start with a kind byte:
//! - `f` + text: a distribution file name, project name or version. Properties: `normalize` is
//!   idempotent; an accepted file name has a `file_path` under its normalised project, which is
//!   a normalised valid name; a normalised version normalises to itself; a valid name
//!   normalises to lower-case letters, digits and `-`.
//! - `m` + bytes: core metadata (`METADATA`, `PKG-INFO`). Properties: accepted metadata has a
//!   name and a version; the match check against a file name does not panic.
//! - `p` + page URL index + body: an upstream project page (pypiserver, devpi, arca's HTML and
//!   JSON, mutated). Properties: every file kept has a valid distribution file name, an http(s)
//!   URL without fragment and hashes of 64 lower-case hex digits; the files rendered as HTML and
//!   as JSON parse back to the same files.
//! - `g` + JSON: random files (valid names, odd attributes) rendered by `project_html` and
//!   `project_json`. Properties: both parse back to the same files.
//! - `n` + flags + Accept + `\n` + `?format=`: content negotiation. Properties: a known
//!   `?format=` media type wins; no Accept is `text/html`; the order of the Accept ranges does
//!   not matter.
//! - `z` + file name index + zip: `wheel_metadata` on a zip file (written to one temporary file)
//!   built with a `.dist-info/METADATA` and mutated: odd entry names, several dist-info
//!   directories, lying size headers, broken bytes. Properties: no panic; an accepted METADATA
//!   is at most 16 MiB.

use std::io::Write as _;

use arca_server::formats::pypi::{
    CoreMetadata, DistKind, HTML_MEDIA_TYPE, IndexFile, JSON_MEDIA_TYPE, MAX_METADATA_SIZE,
    MAX_PAGE_FILES, MetadataHash, PageFormat, check_matches, check_name, file_path, negotiate,
    normalize, normalize_version, parse_core_metadata, parse_filename, parse_upstream_page,
    project_html, project_json, sorted_versions, upload_time_rfc3339, wheel_metadata,
};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use super::pick;
use crate::mutate::mutate;
use crate::runner::Target;

const KIND_TEXT: u8 = b'f';
const KIND_METADATA: u8 = b'm';
const KIND_PAGE: u8 = b'p';
const KIND_RENDERED: u8 = b'g';
const KIND_NEGOTIATE: u8 = b'n';
const KIND_ZIP: u8 = b'z';

const PAGE_URLS: &[&str] = &[
    "http://127.0.0.1:8090/simple/demo/",
    "http://127.0.0.1:3141/peer/dev/+simple/demo-lib/",
    "https://arca.test/artifactory/api/pypi/py-remote/simple/demo/",
    "http://[::1]:8080/a/b/c",
    "http://u:p@h.test/simple/x/?q=1#frag",
];

const WHEEL_NAMES: &[&str] = &[
    "demo-1.0-py3-none-any.whl",
    "demo_lib-1.0-py3-none-any.whl",
    "demo-1.0-1-py3-none-any.whl",
    "demo-1.0.tar.gz",
    "other-2.0-py3-none-any.whl",
];

const NAMES: &[&str] = &[
    "demo",
    "Demo_Lib",
    "zope.interface",
    "python-dateutil",
    "a",
    "x__y",
    "A-._-B",
    "1",
    "-x",
    "x-",
    ".x",
    "",
    "caf\u{e9}",
    "a b",
];

const VERSIONS: &[&str] = &[
    "1.0",
    "1.0.0",
    "2.8.2",
    "1.0.post1",
    "1.0-post1",
    "1.0_post1",
    "v1.0",
    "1!2.0rc1.dev3",
    "1.0+local.7",
    "1.0+Ubuntu-1",
    "1.0-",
    "abc",
    "",
    "1..0",
    "18446744073709551616",
    "1.0a1",
    "1.0.x",
    "0",
    "99999999999999999999.1",
];

const TAGS: &[&str] = &[
    "py3-none-any",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "py2.py3-none-any",
    "1-py3-none-any",
    "x-py3-none-any",
    "py3-none",
    "py3--any",
];

const SDIST_SUFFIXES: &[&str] = &[
    ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".egg", ".exe", ".msi", ".tar", "",
];

const TEXT_TOKENS: &[&str] = &[
    "-",
    "_",
    ".",
    "..",
    "/",
    "\\",
    "\0",
    "\n",
    " ",
    "+",
    "!",
    "v",
    "V",
    "#",
    "%",
    ".whl",
    ".tar.gz",
    ".zip",
    "-py3-none-any",
    "1.0",
    "é",
    "\u{10FFFF}",
    "\u{7f}",
];

const METADATA_TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    ":",
    ": ",
    " ",
    "\t",
    "Name",
    "Version",
    "Metadata-Version",
    "Requires-Python",
    "Summary",
    "Name: x\n",
    "Version: 1.0\n",
    "=?utf-8?q?x?=",
    "\u{e9}",
    "\u{ff}",
    "\0",
];

const HTML_TOKENS: &[&str] = &[
    "<a href=\"",
    "\">",
    "</a>",
    "<a href='demo-1.0.tar.gz'>",
    "<base href=\"",
    "<base href='/x/'>",
    "#sha256=",
    "#md5=00",
    " data-yanked=\"",
    " data-yanked",
    " data-requires-python=\"&gt;=3.8\"",
    " data-core-metadata=\"true\"",
    " data-dist-info-metadata=\"sha256=",
    "&amp;",
    "&#0;",
    "&#13;",
    "&#x110000;",
    "&bogus;",
    "<script>",
    "</script>",
    "<!--",
    "-->",
    "<![CDATA[",
    "<title>",
    "<textarea>",
    "<plaintext>",
    "\"",
    "'",
    "<",
    ">",
    "=",
    "\0",
    "\r",
    "../",
    "//",
    "javascript:",
    "file:///",
    "http://",
    "https://x/",
    "{\"files\":[",
    "]}",
    "\"filename\":",
    "\"url\":",
    "\"hashes\":{\"sha256\":\"",
    "\"yanked\":",
    "true",
    "false",
    "null",
    "\"upload-time\":\"2024-01-01T00:00:00Z\"",
    "\"size\":",
    "-1",
    "1e99",
];

const ACCEPT_TOKENS: &[&str] = &[
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.latest+json",
    "application/vnd.pypi.simple.latest+html",
    "text/html",
    "application/json",
    "*/*",
    "text/*",
    "application/*",
    "*",
    ";q=0",
    ";q=0.5",
    "; q=0.01",
    ";q=1",
    ";q=1.000",
    ";q=1.0001",
    ";q=",
    ";q=-1",
    ";Q=0.2",
    ";charset=utf-8",
    ",",
    ", ",
    ";",
    "=",
    " ",
    "\0",
];

const REQUIRES_PYTHON: &[&str] = &[
    ">=3.8",
    ">=3.8,<4",
    "",
    "\"<>&'",
    "a\rb\r\nc\nd",
    "x\0y",
    "&amp;",
    "\u{FFFE}\u{10FFFF}",
    " spaced ",
];

pub struct Pypi {
    /// The temporary file the zip inputs are written to (one per target, re-used).
    zip_file: Option<tempfile::NamedTempFile>,
}

impl Pypi {
    pub fn new() -> Self {
        Pypi { zip_file: None }
    }

    fn check_zip(&mut self, filename: &str, zip: &[u8]) -> Result<(), String> {
        if self.zip_file.is_none() {
            let file = tempfile::Builder::new()
                .prefix("arca-fuzz-pypi-")
                .suffix(".whl")
                .tempfile()
                .map_err(|e| format!("cannot create the temporary wheel: {e}"))?;
            self.zip_file = Some(file);
        }
        let Some(file) = self.zip_file.as_mut() else {
            return Ok(());
        };
        std::fs::write(file.path(), zip)
            .map_err(|e| format!("cannot write the temporary wheel: {e}"))?;
        if let Ok(metadata) = wheel_metadata(file.path(), filename) {
            if metadata.len() as u64 > MAX_METADATA_SIZE {
                return Err(format!(
                    "a METADATA of {} bytes was accepted",
                    metadata.len()
                ));
            }
            let _ = parse_core_metadata(&metadata);
        }
        Ok(())
    }
}

impl Default for Pypi {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for Pypi {
    fn name(&self) -> &'static str {
        "pypi"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        match rng.gen_range(0..100) {
            0..30 => gen_text(rng),
            30..45 => gen_metadata(rng),
            45..65 => gen_page(rng),
            65..75 => gen_rendered(rng),
            75..88 => gen_negotiate(rng),
            _ => gen_zip(rng),
        }
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&kind, rest)) = input.split_first() else {
            return Ok(());
        };
        match kind {
            KIND_TEXT => check_text(&String::from_utf8_lossy(rest)),
            KIND_METADATA => check_metadata(rest),
            KIND_PAGE => {
                let Some((&url, body)) = rest.split_first() else {
                    return Ok(());
                };
                check_page(body, PAGE_URLS[usize::from(url) % PAGE_URLS.len()])
            }
            KIND_RENDERED => check_rendered(rest),
            KIND_NEGOTIATE => check_negotiate(rest),
            KIND_ZIP => {
                let Some((&name, zip)) = rest.split_first() else {
                    return Ok(());
                };
                self.check_zip(WHEEL_NAMES[usize::from(name) % WHEEL_NAMES.len()], zip)
            }
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// generators

fn hex64(rng: &mut StdRng) -> String {
    (0..32)
        .map(|_| format!("{:02x}", rng.r#gen::<u8>()))
        .collect()
}

/// A distribution file name: mostly valid, sometimes not.
fn filename(rng: &mut StdRng) -> String {
    let name = pick(rng, NAMES);
    let version = pick(rng, VERSIONS);
    if rng.gen_bool(0.5) {
        let name = name.replace(['-', '.'], "_");
        let version = version.replace('-', "_");
        format!("{name}-{version}-{}.whl", pick(rng, TAGS))
    } else {
        format!("{name}-{version}{}", pick(rng, SDIST_SUFFIXES))
    }
}

/// A file name `parse_filename` accepts.
fn valid_filename(rng: &mut StdRng) -> String {
    for _ in 0..20 {
        let f = filename(rng);
        if parse_filename(&f).is_ok() {
            return f;
        }
    }
    "demo-1.0-py3-none-any.whl".to_string()
}

fn gen_text(rng: &mut StdRng) -> Vec<u8> {
    let text = match rng.gen_range(0..5) {
        0 | 1 => filename(rng),
        2 => pick(rng, NAMES).to_string(),
        3 => pick(rng, VERSIONS).to_string(),
        _ => {
            "a".repeat(rng.gen_range(195..260))
                + pick(rng, &["-1.0.tar.gz", "", "-1.0-py3-none-any.whl"])
        }
    };
    let mut data = text.into_bytes();
    if rng.gen_bool(0.5) {
        let other = filename(rng);
        mutate(rng, &mut data, TEXT_TOKENS, other.as_bytes(), 4, 600);
    }
    [vec![KIND_TEXT], data].concat()
}

fn metadata_text(rng: &mut StdRng, name: &str, version: &str) -> String {
    let eol = if rng.gen_bool(0.8) { "\n" } else { "\r\n" };
    let mut fields = vec![
        format!(
            "Metadata-Version: {}",
            pick(rng, &["2.1", "2.3", "2.4", "1.0", ""])
        ),
        format!("Name: {name}"),
        format!("Version: {version}"),
        format!("Summary: a {eol} folded{eol}\tsummary"),
        format!("Requires-Python: {}", pick(rng, REQUIRES_PYTHON)),
        "Requires-Dist: x (>=1) ; extra == 'y'".to_string(),
    ];
    fields.shuffle(rng);
    fields.truncate(rng.gen_range(1..=fields.len()));
    let mut text = fields.join(eol);
    text.push_str(eol);
    if rng.gen_bool(0.5) {
        text.push_str(eol);
        text.push_str("The description.\nName: not-a-header\n");
    }
    text
}

fn gen_metadata(rng: &mut StdRng) -> Vec<u8> {
    let (name, version) = (pick(rng, NAMES), pick(rng, VERSIONS));
    let mut data = metadata_text(rng, name, version).into_bytes();
    if rng.gen_bool(0.6) {
        let other = metadata_text(rng, "demo", "1.0");
        mutate(rng, &mut data, METADATA_TOKENS, other.as_bytes(), 6, 8192);
    }
    [vec![KIND_METADATA], data].concat()
}

/// A random file of a project page; `absolute` URLs or arca's relative ones.
fn index_file(rng: &mut StdRng) -> IndexFile {
    let filename = valid_filename(rng);
    let url = match rng.gen_range(0..4) {
        0 => format!("../../packages/demo/1.0/{filename}"),
        1 => format!("http://up.test/files/{filename}"),
        2 => format!("https://h.test:8443/a%20b/{filename}?x=1&y=2"),
        _ => format!("/+f/abc/{filename}"),
    };
    let text = |rng: &mut StdRng| pick(rng, REQUIRES_PYTHON).to_string();
    IndexFile {
        filename,
        url,
        sha256: rng.gen_bool(0.7).then(|| hex64(rng)),
        requires_python: rng.gen_bool(0.5).then(|| text(rng)),
        yanked: rng.gen_bool(0.3).then(|| text(rng)),
        core_metadata: rng.gen_bool(0.5).then(|| MetadataHash {
            sha256: rng.gen_bool(0.5).then(|| hex64(rng)),
        }),
        size: rng.gen_bool(0.5).then(|| rng.r#gen()),
        upload_time: rng.gen_bool(0.5).then(|| {
            if rng.gen_bool(0.9) {
                rng.gen_range(-62_167_219_200_000..253_402_300_800_000)
            } else {
                rng.r#gen()
            }
        }),
    }
}

fn files(rng: &mut StdRng) -> Vec<IndexFile> {
    (0..rng.gen_range(0..6)).map(|_| index_file(rng)).collect()
}

fn gen_page(rng: &mut StdRng) -> Vec<u8> {
    let files = files(rng);
    let body = match rng.gen_range(0..5) {
        0 => project_html("demo", &files),
        1 => project_json("demo", &files, &[]).to_string(),
        2 => {
            // pypiserver 2.4
            let links: String = files
                .iter()
                .map(|f| {
                    format!(
                        "     <a href=\"/packages/{}#sha256={}\">{}</a><br>\n",
                        f.filename,
                        hex64(rng),
                        f.filename
                    )
                })
                .collect();
            format!(
                "<html><head><title>Links for demo</title></head><body><h1>Links for demo</h1>\n{links}</body></html>"
            )
        }
        3 => {
            // devpi 6
            let links: String = files
                .iter()
                .map(|f| format!("peer/dev <a href=\"../../+f/3a1/b2c/{}#sha256={}\" data-requires-python=\"&gt;=3.8\">{}</a><br/>\n", f.filename, hex64(rng), f.filename))
                .collect();
            format!(
                "<!DOCTYPE html><html><head><title>peer/dev: links for demo</title></head><body><h1>peer/dev: links for demo</h1>\n{links}</body></html>"
            )
        }
        _ => format!(
            "<base href=\"{}\">{}",
            pick(rng, &["/x/", "http://o.test/", "::", ""]),
            project_html("demo", &files)
        ),
    };
    let mut data = body.into_bytes();
    if rng.gen_bool(0.6) {
        let other = project_html("x", &[index_file(rng)]);
        mutate(rng, &mut data, HTML_TOKENS, other.as_bytes(), 8, 64 * 1024);
    }
    [vec![KIND_PAGE, rng.r#gen()], data].concat()
}

fn gen_rendered(rng: &mut StdRng) -> Vec<u8> {
    let files: Vec<Value> = files(rng)
        .into_iter()
        .map(|f| {
            json!({
                "filename": f.filename,
                "url": f.url,
                "sha256": f.sha256,
                "requires_python": f.requires_python,
                "yanked": f.yanked,
                "metadata": f.core_metadata.map(|m| json!({ "sha256": m.sha256 })),
                "size": f.size,
                "upload_time": f.upload_time,
            })
        })
        .collect();
    [
        vec![KIND_RENDERED],
        Value::Array(files).to_string().into_bytes(),
    ]
    .concat()
}

fn accept_range(rng: &mut StdRng) -> String {
    let mut range = pick(rng, &ACCEPT_TOKENS[..9]).to_string();
    if rng.gen_bool(0.5) {
        range.push_str(pick(rng, &ACCEPT_TOKENS[10..20]));
    }
    range
}

fn gen_negotiate(rng: &mut StdRng) -> Vec<u8> {
    let flags: u8 = rng.gen_range(0..4);
    let ranges: Vec<String> = (0..rng.gen_range(0..5))
        .map(|_| accept_range(rng))
        .collect();
    let mut accept = ranges.join(pick(rng, &[",", ", ", " ,"])).into_bytes();
    if rng.gen_bool(0.3) {
        mutate(rng, &mut accept, ACCEPT_TOKENS, b"", 4, 512);
    }
    let format = match rng.gen_range(0..4) {
        0 => JSON_MEDIA_TYPE,
        1 => HTML_MEDIA_TYPE,
        2 => "text/html",
        _ => pick(rng, ACCEPT_TOKENS),
    };
    [
        vec![KIND_NEGOTIATE, flags],
        accept,
        b"\n".to_vec(),
        format.as_bytes().to_vec(),
    ]
    .concat()
}

/// Overwrite the uncompressed size of every entry in the local and central headers.
fn lie_about_sizes(zip: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
            b"PK\x01\x02" => zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
}

fn gen_zip(rng: &mut StdRng) -> Vec<u8> {
    const ENTRIES: &[&str] = &[
        "demo-1.0.dist-info/METADATA",
        "demo_lib-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/WHEEL",
        "other-2.0.dist-info/METADATA",
        "demo/__init__.py",
        "a/b-1.0.dist-info/METADATA",
        ".dist-info/METADATA",
        "demo-1.0.dist-info/METADATA/",
        "demo-1.0.dist-info\\METADATA",
        "../demo-1.0.dist-info/METADATA",
    ];
    /// The `.dist-info/METADATA` of each of [`WHEEL_NAMES`].
    const OWN_METADATA: &[&str] = &[
        "demo-1.0.dist-info/METADATA",
        "demo_lib-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/METADATA",
        "other-2.0.dist-info/METADATA",
    ];
    let wheel: u8 = rng.gen_range(0..WHEEL_NAMES.len() as u8);
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    if rng.gen_bool(0.5) {
        let own = OWN_METADATA[usize::from(wheel)];
        if zip
            .start_file(own, zip::write::SimpleFileOptions::default())
            .is_ok()
        {
            let _ = zip.write_all(metadata_text(rng, "demo", "1.0").as_bytes());
        }
    }
    for _ in 0..rng.gen_range(0..4) {
        let method = if rng.gen_bool(0.5) {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let data = match rng.gen_range(0..4) {
            0 => vec![b'x'; rng.gen_range(0..200_000)],
            _ => metadata_text(rng, "demo", "1.0").into_bytes(),
        };
        // a duplicate name is refused by the writer: that entry is left out
        if zip.start_file(pick(rng, ENTRIES), options).is_ok() {
            let _ = zip.write_all(&data);
        }
    }
    let _ = zip.finish();
    let mut data = out.into_inner();
    if rng.gen_bool(0.2) {
        let size = *[0, 10, 16 << 20, (16 << 20) + 1, u32::MAX]
            .choose(rng)
            .unwrap_or(&0);
        lie_about_sizes(&mut data, size);
    }
    if rng.gen_bool(0.5) {
        mutate(
            rng,
            &mut data,
            &[
                "PK\x01\x02",
                "PK\x03\x04",
                "PK\x05\x06",
                "PK\x06\x06",
                "\u{ff}\u{ff}",
            ],
            b"",
            4,
            1 << 20,
        );
    }
    [vec![KIND_ZIP, wheel], data].concat()
}

// ---------------------------------------------------------------------------------------------
// properties

fn check_text(text: &str) -> Result<(), String> {
    let once = normalize(text);
    if normalize(&once) != once {
        return Err(format!("normalize is not idempotent on {text:?}: {once:?}"));
    }
    if check_name(text, "name").is_ok()
        && !once
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!("the valid name {text:?} normalises to {once:?}"));
    }
    if let Ok(v) = normalize_version(text, "version") {
        match normalize_version(&v, "version") {
            Ok(again) if again == v => {}
            other => return Err(format!("{text:?} normalises to {v:?}, that to {other:?}")),
        }
    }
    let _ = sorted_versions([text, "1.0", text.trim()]);
    if let Ok(dist) = parse_filename(text) {
        if check_name(&dist.project, "project").is_err() || normalize(&dist.project) != dist.project
        {
            return Err(format!("{text:?} is of the project {:?}", dist.project));
        }
        match file_path(text) {
            Ok(path)
                if path.starts_with(&format!("{}/", dist.project))
                    && path.ends_with(&format!("/{text}")) =>
            {
                let version = &path[dist.project.len() + 1..path.len() - text.len() - 1];
                if version.is_empty() || version.contains('/') || version.starts_with('.') {
                    return Err(format!("{text:?} lives at {path:?}"));
                }
            }
            other => return Err(format!("{text:?} is accepted, its path is {other:?}")),
        }
        let meta = CoreMetadata {
            name: dist.project.clone(),
            version: dist.version.clone(),
            ..CoreMetadata::default()
        };
        // the file's own name and version match it whenever the version is PEP 440
        let matches = check_matches(&dist, &meta, "METADATA");
        if normalize_version(&dist.version, "v").is_ok() && matches.is_err() {
            return Err(format!(
                "{text:?} does not match its own name and version: {matches:?}"
            ));
        }
        if dist.kind == DistKind::Wheel && !text.ends_with(".whl") {
            return Err(format!("{text:?} is no wheel"));
        }
    }
    Ok(())
}

fn check_metadata(bytes: &[u8]) -> Result<(), String> {
    if let Ok(meta) = parse_core_metadata(bytes) {
        if meta.name.is_empty() || meta.version.is_empty() {
            return Err(format!(
                "accepted metadata without name or version: {meta:?}"
            ));
        }
        if let Ok(dist) = parse_filename("demo-1.0-py3-none-any.whl") {
            let _ = check_matches(&dist, &meta, "METADATA");
        }
    }
    Ok(())
}

fn is_hex64(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a page of `files` (parsed from `page_url`) should read back as through HTML: no size or
/// upload time; NUL as U+FFFD.
fn through_html(files: &[IndexFile], page_url: &str) -> Result<Vec<IndexFile>, String> {
    let base = url::Url::parse(page_url).map_err(|e| e.to_string())?;
    let fix = |s: &Option<String>| s.as_ref().map(|s| s.replace('\0', "\u{FFFD}"));
    Ok(files
        .iter()
        .filter_map(|f| {
            let mut url = base.join(&f.url).ok()?;
            url.set_fragment(None);
            Some(IndexFile {
                url: url.into(),
                requires_python: fix(&f.requires_python),
                yanked: fix(&f.yanked),
                size: None,
                upload_time: None,
                ..f.clone()
            })
        })
        .collect())
}

/// What a page of `files` should read back as through JSON: URLs resolved, times RFC 3339 can
/// write.
fn through_json(files: &[IndexFile], page_url: &str) -> Result<Vec<IndexFile>, String> {
    let base = url::Url::parse(page_url).map_err(|e| e.to_string())?;
    Ok(files
        .iter()
        .filter_map(|f| {
            let mut url = base.join(&f.url).ok()?;
            url.set_fragment(None);
            Some(IndexFile {
                url: url.into(),
                upload_time: f.upload_time.filter(|t| upload_time_rfc3339(*t).is_some()),
                ..f.clone()
            })
        })
        .collect())
}

/// `files` rendered as HTML and as JSON parse back as they should.
fn check_round_trip(files: &[IndexFile], page_url: &str) -> Result<(), String> {
    let html = project_html("demo", files);
    let parsed = parse_upstream_page(html.as_bytes(), page_url)
        .map_err(|e| format!("arca's own HTML page is refused: {e:?}"))?;
    let expected = through_html(files, page_url)?;
    if parsed != expected {
        return Err(format!(
            "the HTML page of {expected:?} reads back as {parsed:?}:\n{html}"
        ));
    }
    let doc = project_json("demo", files, &[]).to_string();
    let parsed = parse_upstream_page(doc.as_bytes(), page_url)
        .map_err(|e| format!("arca's own JSON page is refused: {e:?}"))?;
    let expected = through_json(files, page_url)?;
    if parsed != expected {
        return Err(format!(
            "the JSON page of {expected:?} reads back as {parsed:?}:\n{doc}"
        ));
    }
    Ok(())
}

fn check_page(body: &[u8], page_url: &str) -> Result<(), String> {
    let Ok(files) = parse_upstream_page(body, page_url) else {
        return Ok(());
    };
    if files.len() > MAX_PAGE_FILES {
        return Err(format!("{} files kept", files.len()));
    }
    for f in &files {
        if parse_filename(&f.filename).is_err() {
            return Err(format!("kept the file {:?}", f.filename));
        }
        let url = url::Url::parse(&f.url).map_err(|e| format!("kept the URL {:?}: {e}", f.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
            return Err(format!("kept the URL {:?}", f.url));
        }
        let hashes = [
            f.sha256.as_ref(),
            f.core_metadata.as_ref().and_then(|m| m.sha256.as_ref()),
        ];
        if let Some(bad) = hashes.into_iter().flatten().find(|h| !is_hex64(h)) {
            return Err(format!("kept the hash {bad:?}"));
        }
    }
    check_round_trip(&files, page_url)
}

fn check_rendered(spec: &[u8]) -> Result<(), String> {
    let Ok(Value::Array(specs)) = serde_json::from_slice::<Value>(spec) else {
        return Ok(());
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let files: Vec<IndexFile> = specs
        .iter()
        .map(|s| IndexFile {
            filename: text(s, "filename").unwrap_or_default(),
            url: text(s, "url").unwrap_or_default(),
            sha256: text(s, "sha256"),
            requires_python: text(s, "requires_python"),
            yanked: text(s, "yanked"),
            core_metadata: s
                .get("metadata")
                .filter(|m| m.is_object())
                .map(|m| MetadataHash {
                    sha256: text(m, "sha256"),
                }),
            size: s.get("size").and_then(Value::as_u64),
            upload_time: s.get("upload_time").and_then(Value::as_i64),
        })
        .collect();
    check_round_trip(&files, PAGE_URLS[2])
}

fn check_negotiate(input: &[u8]) -> Result<(), String> {
    let Some((&flags, rest)) = input.split_first() else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(rest);
    let text: &str = &text;
    let (accept, format) = text.split_once('\n').unwrap_or((text, ""));
    let accept = (flags & 1 != 0).then_some(accept);
    let format = (flags & 2 != 0).then_some(format);
    let chosen = negotiate(accept, format);
    let known = [
        (JSON_MEDIA_TYPE, PageFormat::Json),
        (HTML_MEDIA_TYPE, PageFormat::HtmlV1),
        ("text/html", PageFormat::TextHtml),
    ];
    if let Some((_, want)) = known.iter().find(|(t, _)| Some(*t) == format)
        && chosen != Ok(*want)
    {
        return Err(format!("?format={format:?} chose {chosen:?}"));
    }
    if accept.is_none() && format.is_none() && chosen != Ok(PageFormat::TextHtml) {
        return Err(format!("no Accept chose {chosen:?}"));
    }
    if let Some(accept) = accept {
        let reversed: Vec<&str> = accept.split(',').rev().collect();
        let again = negotiate(Some(&reversed.join(",")), format);
        if again != chosen {
            return Err(format!(
                "Accept {accept:?} chose {chosen:?}, reversed {again:?}"
            ));
        }
    }
    if let Ok(f) = chosen
        && f.media_type().is_empty()
    {
        return Err("no media type".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn every_kind_is_generated_and_survives() {
        let mut target = Pypi::new();
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..3000 {
            let input = target.generate(&mut iteration_rng(11, "pypi", i));
            kinds.insert(input[0]);
            target.check(&input).expect("property");
        }
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }

    #[test]
    fn generated_pages_and_wheels_are_read_and_refused() {
        let mut target = Pypi::new();
        let (mut pages_with_files, mut pages) = (0, 0);
        let (mut wheels_read, mut zips) = (0, 0);
        for i in 0..3000 {
            let mut rng = iteration_rng(12, "pypi", i);
            let input = match i % 2 {
                0 => gen_page(&mut rng),
                _ => gen_zip(&mut rng),
            };
            target.check(&input).expect("property");
            if input[0] == KIND_PAGE {
                pages += 1;
                let url = PAGE_URLS[usize::from(input[1]) % PAGE_URLS.len()];
                if parse_upstream_page(&input[2..], url).is_ok_and(|f| !f.is_empty()) {
                    pages_with_files += 1;
                }
            } else {
                zips += 1;
                let path = target.zip_file.as_ref().unwrap().path().to_path_buf();
                let name = WHEEL_NAMES[usize::from(input[1]) % WHEEL_NAMES.len()];
                wheels_read += usize::from(wheel_metadata(&path, name).is_ok());
            }
        }
        eprintln!("{pages_with_files}/{pages} pages with files, {wheels_read}/{zips} wheels read");
        assert!(
            pages_with_files > pages / 2,
            "{pages_with_files} of {pages}"
        );
        assert!(
            wheels_read > zips / 10 && wheels_read < zips * 9 / 10,
            "{wheels_read} of {zips}"
        );
    }

    #[test]
    fn generated_file_names_are_mostly_accepted() {
        let accepted = (0..2000)
            .filter(|i| parse_filename(&filename(&mut iteration_rng(3, "pypi", *i))).is_ok())
            .count();
        assert!(
            (400..1800).contains(&accepted),
            "{accepted} of 2000 accepted"
        );
    }

    #[test]
    fn a_broken_round_trip_is_a_property_violation() {
        let mut rng = iteration_rng(1, "pypi", 0);
        let files = vec![index_file(&mut rng), index_file(&mut rng)];
        check_round_trip(&files, PAGE_URLS[0]).unwrap();
        let mut wrong = through_html(&files, PAGE_URLS[0]).unwrap();
        wrong[0].filename = "other-1.0.tar.gz".into();
        let html = project_html("demo", &wrong);
        assert_ne!(
            parse_upstream_page(html.as_bytes(), PAGE_URLS[0]).unwrap(),
            through_html(&files, PAGE_URLS[0]).unwrap()
        );
        // a zip written and read through the target's temporary file
        let mut target = Pypi::new();
        let mut input = vec![KIND_ZIP, 0];
        let mut zip = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut zip);
        w.start_file(
            "demo-1.0.dist-info/METADATA",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"Name: demo\nVersion: 1.0\n").unwrap();
        w.finish().unwrap();
        input.extend_from_slice(zip.get_ref());
        target.check(&input).unwrap();
        let path = target.zip_file.as_ref().unwrap().path().to_path_buf();
        assert_eq!(
            wheel_metadata(&path, WHEEL_NAMES[0]).unwrap(),
            b"Name: demo\nVersion: 1.0\n"
        );
    }
}
