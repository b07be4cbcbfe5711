//! PyPI: project names (PEP 503), versions (PEP 440), distribution file names (wheels, sdists)
//! and where they live in a repository, core metadata (a wheel's `METADATA`), the simple index
//! pages arca serves (PEP 503 HTML, PEP 691 JSON, with PEP 592/658/700 fields), content
//! negotiation, and the project pages of upstream indexes (pypiserver, devpi, arca). No I/O but
//! reading an uploaded wheel: `http/pypi.rs` serves the API with it, and the fuzz target `pypi`
//! feeds it outside input.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use pep440_rs::Version;
use serde_json::{Map, Value, json};

pub const PACKAGE_TYPE: &str = "pypi";
/// The repository API's `repoLayoutRef` of pypi repositories.
pub const LAYOUT_REF: &str = "simple-default";
pub const JSON_MEDIA_TYPE: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML_MEDIA_TYPE: &str = "application/vnd.pypi.simple.v1+html";
/// What `text/html` pages are served as.
pub const TEXT_HTML_MEDIA_TYPE: &str = "text/html; charset=utf-8";
/// Where a remote repository caches an upstream project page: `.pypi/{project}/simple.html`.
pub const CACHE_DIR: &str = ".pypi";
/// The simple API version arca's pages declare (PEP 700's fields are 1.1).
pub const API_VERSION: &str = "1.1";

/// Longest project name (warehouse's limit).
pub const MAX_NAME_LEN: usize = 200;
/// Longest version string.
pub const MAX_VERSION_LEN: usize = 255;
/// Longest distribution file name (a file name on every file system arca stores on).
pub const MAX_FILENAME_LEN: usize = 255;
/// Largest core metadata file (`METADATA`, `PKG-INFO`).
pub const MAX_METADATA_SIZE: u64 = 16 * 1024 * 1024;
/// Most entries of a wheel's zip file.
pub const MAX_ZIP_ENTRIES: usize = 100_000;
/// The largest central directory of a wheel's zip (what the zip crate holds in memory).
pub const MAX_ZIP_DIRECTORY: u64 = 32 * 1024 * 1024;
/// Largest upstream project page.
pub const MAX_PAGE_SIZE: usize = 64 * 1024 * 1024;
/// Most files of an upstream project page.
pub const MAX_PAGE_FILES: usize = 1_000_000;

/// The extensions of source distributions, the legacy ones after `.tar.gz` and `.zip`.
const SDIST_SUFFIXES: &[&str] = &[".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz"];
/// `latest` aliases of the v1 media types (PEP 691).
const JSON_LATEST_MEDIA_TYPE: &str = "application/vnd.pypi.simple.latest+json";
const HTML_LATEST_MEDIA_TYPE: &str = "application/vnd.pypi.simple.latest+html";
/// How much of a refused value an error message repeats.
const SHOWN_CHARS: usize = 120;

/// Bad input; the message names the field / file / rule (it goes to the client as a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `value` escaped for an error message, cut after [`SHOWN_CHARS`] characters.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(SHOWN_CHARS).collect();
    let cut = out.len() < value.len();
    out = out.escape_debug().to_string();
    if cut {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// names and versions

/// PEP 503 normalised name: lower-case, each run of `-`, `_`, `.` becomes one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator = false;
        }
    }
    out
}

/// A valid project name (core metadata / PEP 508: ASCII letters/digits, `.`, `_`, `-` inside,
/// starting and ending with a letter or digit, at most 200 chars); the error names `field`.
pub fn check_name(name: &str, field: &str) -> Result<(), Invalid> {
    let refuse = |why: &str| {
        invalid(format!(
            "Invalid {field} '{}': {why} (a project name is ASCII letters, digits, '.', '_' and \
             '-', starting and ending with a letter or digit, at most {MAX_NAME_LEN} characters)",
            shown(name)
        ))
    };
    if name.is_empty() {
        return Err(refuse("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(refuse("it is too long"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(refuse(&format!("'{}' is not allowed", c.escape_debug())));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().next_back()) {
        return Err(refuse("it starts or ends with a separator"));
    }
    Ok(())
}

fn parse_version(version: &str) -> Option<Version> {
    if version.len() > MAX_VERSION_LEN {
        return None;
    }
    Version::from_str(version.trim()).ok()
}

/// The PEP 440 normalised form of `version` (pep440_rs `Version` Display), or an Invalid naming
/// `field`. Local versions (`+local`) are allowed.
pub fn normalize_version(version: &str, field: &str) -> Result<String, Invalid> {
    if version.len() > MAX_VERSION_LEN {
        return Err(invalid(format!(
            "Invalid {field} '{}': longer than {MAX_VERSION_LEN} characters",
            shown(version)
        )));
    }
    Version::from_str(version.trim())
        .map(|v| v.to_string())
        .map_err(|e| {
            invalid(format!(
                "Invalid {field} '{}': not a PEP 440 version ({e})",
                shown(version)
            ))
        })
}

/// Sort key helper: `versions` deduplicated and sorted ascending by PEP 440 (unparseable ones
/// first, by string). PEP 700's `versions` list uses this.
pub fn sorted_versions<'a>(versions: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let unique: BTreeSet<&str> = versions.into_iter().collect();
    let mut keyed: Vec<(Option<Version>, &str)> =
        unique.into_iter().map(|v| (parse_version(v), v)).collect();
    // `None` sorts before `Some`; equal versions (1.0, 1.0.0) by their text
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    keyed.into_iter().map(|(_, v)| v.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// distribution files

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Wheel,
    Sdist,
}

/// What a distribution file's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    pub kind: DistKind,
    /// PEP 503-normalised project name.
    pub project: String,
    /// The version as it appears in the name (wheels escape `-` as `_`; undo nothing else).
    pub version: String,
}

/// Whether `version` looks like a version in a file name: it starts with a digit (or `v` and a
/// digit) and has only the characters of PEP 440 versions. Whether it parses is for the caller.
fn version_like(version: &str) -> bool {
    let digits = version
        .strip_prefix(['v', 'V'])
        .unwrap_or(version)
        .starts_with(|c: char| c.is_ascii_digit());
    digits
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '!'))
}

/// Parse a distribution file name: a wheel (PEP 427 `{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl`,
/// name with `_` for separators), an sdist `{name}-{ver}.tar.gz` / `.zip` (also legacy
/// `.tar.bz2`, `.tgz`, `.tar.xz`; the version is after the LAST `-`), anything else (eggs,
/// `.exe`, `.msi`, no version, `/` or `\` or control characters or leading `.`, longer than 255
/// bytes) → Invalid naming the file.
pub fn parse_filename(filename: &str) -> Result<DistFilename, Invalid> {
    let refuse = |why: &str| {
        invalid(format!(
            "Invalid distribution file name '{}': {why}",
            shown(filename)
        ))
    };
    if filename.is_empty() {
        return Err(refuse("it is empty"));
    }
    if filename.len() > MAX_FILENAME_LEN {
        return Err(refuse(&format!("longer than {MAX_FILENAME_LEN} bytes")));
    }
    if filename.starts_with('.') {
        return Err(refuse("it starts with '.'"));
    }
    if filename
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(refuse("it has '/', '\\' or a control character"));
    }
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if !(parts.len() == 5 || parts.len() == 6) {
            return Err(refuse(
                "a wheel is {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl",
            ));
        }
        let (name, version) = (parts[0], parts[1]);
        check_name(name, "project name in the wheel's file name").map_err(|e| refuse(&e.0))?;
        if !version_like(version) {
            return Err(refuse(&format!("'{}' is not a version", shown(version))));
        }
        if parts.len() == 6 && !parts[2].starts_with(|c: char| c.is_ascii_digit()) {
            return Err(refuse("a wheel's build tag starts with a digit"));
        }
        let tag_ok = |t: &&str| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        };
        if !parts[2..].iter().all(tag_ok) {
            return Err(refuse("invalid wheel tags"));
        }
        return Ok(DistFilename {
            kind: DistKind::Wheel,
            project: normalize(name),
            version: version.replace('_', "-"),
        });
    }
    let Some(stem) = SDIST_SUFFIXES
        .iter()
        .find_map(|suffix| filename.strip_suffix(suffix))
    else {
        return Err(refuse(
            "not a wheel (.whl) or a source distribution (.tar.gz, .zip)",
        ));
    };
    let Some((name, version)) = stem.rsplit_once('-') else {
        return Err(refuse("it has no version ({name}-{version}.tar.gz)"));
    };
    check_name(name, "project name in the file name").map_err(|e| refuse(&e.0))?;
    if !version_like(version) {
        return Err(refuse(&format!("'{}' is not a version", shown(version))));
    }
    Ok(DistFilename {
        kind: DistKind::Sdist,
        project: normalize(name),
        version: version.to_string(),
    })
}

/// The repository path of a distribution file: `{project}/{version}/{filename}`, the version
/// PEP 440-normalised when it parses (else as in the name). Invalid as parse_filename.
pub fn file_path(filename: &str) -> Result<String, Invalid> {
    let dist = parse_filename(filename)?;
    let version = parse_version(&dist.version)
        .map(|v| v.to_string())
        .unwrap_or(dist.version);
    Ok(format!("{}/{version}/{filename}", dist.project))
}

// ---------------------------------------------------------------------------------------------
// core metadata

/// The core metadata fields arca uses (from a wheel's METADATA or an upload's form).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoreMetadata {
    pub metadata_version: String,
    pub name: String,
    pub version: String,
    pub requires_python: Option<String>,
    pub summary: Option<String>,
}

/// A header's value with its folded lines joined by one space.
fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.lines().enumerate() {
        if i == 0 {
            out.push_str(line.trim_end());
        } else {
            let line = line.trim();
            if !line.is_empty() {
                out.push(' ');
                out.push_str(line);
            }
        }
    }
    out.trim().to_string()
}

/// Parse core metadata (RFC 822 headers, as METADATA / PKG-INFO; the body after the blank line
/// is the description and ignored): Name and Version required (Invalid "METADATA has no 'Name'"),
/// Metadata-Version, Requires-Python, Summary optional. Non-UTF-8 → Invalid. Bounded: input over
/// 16 MiB → Invalid.
pub fn parse_core_metadata(text: &[u8]) -> Result<CoreMetadata, Invalid> {
    if text.len() as u64 > MAX_METADATA_SIZE {
        return Err(invalid(format!(
            "METADATA is larger than {} MiB",
            MAX_METADATA_SIZE >> 20
        )));
    }
    if let Err(e) = std::str::from_utf8(text) {
        return Err(invalid(format!(
            "METADATA is not UTF-8 (at byte {})",
            e.valid_up_to()
        )));
    }
    let (headers, _) = mailparse::parse_headers(text)
        .map_err(|e| invalid(format!("METADATA's headers do not parse: {e}")))?;
    // the first of a repeated field counts, as for Python's email parser
    let field = |key: &str| {
        headers
            .iter()
            .find(|h| h.get_key_ref().trim().eq_ignore_ascii_case(key))
            .map(|h| unfold(&String::from_utf8_lossy(h.get_value_raw())))
    };
    let required = |key: &str| match field(key) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(invalid(format!("METADATA has no '{key}'"))),
    };
    Ok(CoreMetadata {
        metadata_version: field("Metadata-Version").unwrap_or_default(),
        name: required("Name")?,
        version: required("Version")?,
        requires_python: field("Requires-Python").filter(|v| !v.is_empty()),
        summary: field("Summary").filter(|v| !v.is_empty()),
    })
}

/// Whether a `.dist-info` directory's name is `{name}-{version}` of `dist`.
fn dist_info_matches(dir: &str, dist: &DistFilename) -> bool {
    let wanted_version = parse_version(&dist.version);
    dir.match_indices('-').any(|(i, _)| {
        let (name, version) = (&dir[..i], &dir[i + 1..]);
        normalize(name) == dist.project
            && match (&wanted_version, parse_version(version)) {
                (Some(a), Some(b)) => a.to_string() == b.to_string(),
                _ => version.replace('_', "-") == dist.version,
            }
    })
}

/// The bytes of a wheel's `{dist-info}/METADATA` (the `*.dist-info/METADATA` entry at depth 1;
/// when several dist-info dirs exist, the one whose name normalises to the wheel's
/// `{name}-{version}` of `filename`), read from the zip file at `file`. Bounded: at most 100,000
/// zip entries; the METADATA entry's declared and actual uncompressed size ≤ 16 MiB (read with a
/// `take` limit, never trusting the header). Not a zip / no METADATA / too large → Invalid naming
/// `filename`.
pub fn wheel_metadata(file: &Path, filename: &str) -> Result<Vec<u8>, Invalid> {
    let dist = parse_filename(filename)?;
    if dist.kind != DistKind::Wheel {
        return Err(invalid(format!(
            "'{}' is not a wheel: only wheels carry a METADATA file",
            shown(filename)
        )));
    }
    let refuse = |why: String| invalid(format!("The wheel '{}' {why}", shown(filename)));
    let mut opened =
        std::fs::File::open(file).map_err(|e| refuse(format!("cannot be read: {e}")))?;
    // the zip crate keeps every entry of the central directory in memory (a few hundred bytes
    // for each 46 bytes of the file): its declared size is checked first
    match declared_directory(&mut opened) {
        Ok(Some((entries, bytes)))
            if entries <= MAX_ZIP_ENTRIES as u64 && bytes <= MAX_ZIP_DIRECTORY => {}
        Ok(Some((entries, bytes))) => {
            return Err(refuse(format!(
                "declares {entries} zip entries in {bytes} bytes; at most {MAX_ZIP_ENTRIES} \
                 entries in {} MiB are accepted",
                MAX_ZIP_DIRECTORY >> 20
            )));
        }
        Ok(None) => {
            return Err(refuse(
                "is not a valid zip file: no end of central directory record".into(),
            ));
        }
        Err(e) => return Err(refuse(format!("cannot be read: {e}"))),
    }
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(opened))
        .map_err(|e| refuse(format!("is not a valid zip file: {e}")))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(refuse(format!(
            "has {} entries; at most {MAX_ZIP_ENTRIES} are accepted",
            archive.len()
        )));
    }
    let candidates: Vec<(String, String)> = archive
        .file_names()
        .filter_map(|name| {
            let dir = name.strip_suffix(".dist-info/METADATA")?;
            (!dir.is_empty() && !dir.contains('/')).then(|| (name.to_string(), dir.to_string()))
        })
        .collect();
    let entry_name = match candidates.as_slice() {
        [] => return Err(refuse("has no *.dist-info/METADATA file".into())),
        [(name, _)] => name.clone(),
        several => {
            let matching: Vec<&String> = several
                .iter()
                .filter(|(_, dir)| dist_info_matches(dir, &dist))
                .map(|(name, _)| name)
                .collect();
            match matching.as_slice() {
                [name] => (*name).clone(),
                _ => {
                    return Err(refuse(format!(
                        "has {} .dist-info directories and not exactly one of them is {}-{}",
                        several.len(),
                        dist.project,
                        dist.version
                    )));
                }
            }
        }
    };
    let mut entry = archive
        .by_name(&entry_name)
        .map_err(|e| refuse(format!("has an unreadable {entry_name}: {e}")))?;
    let declared = entry.size();
    if declared > MAX_METADATA_SIZE {
        return Err(refuse(format!(
            "has a {entry_name} of {declared} bytes; at most {} MiB are accepted",
            MAX_METADATA_SIZE >> 20
        )));
    }
    let mut metadata = Vec::new();
    (&mut entry)
        .take(MAX_METADATA_SIZE + 1)
        .read_to_end(&mut metadata)
        .map_err(|e| refuse(format!("has an unreadable {entry_name}: {e}")))?;
    if metadata.len() as u64 > MAX_METADATA_SIZE {
        return Err(refuse(format!(
            "has a {entry_name} larger than {} MiB",
            MAX_METADATA_SIZE >> 20
        )));
    }
    if metadata.len() as u64 != declared {
        return Err(refuse(format!(
            "has a {entry_name} of {} bytes whose zip header says {declared}",
            metadata.len()
        )));
    }
    Ok(metadata)
}

/// Whether the core metadata file's claims match the file name: normalised name equal,
/// normalised versions equal; Invalid names which (e.g. "the file name says version 1.0, the
/// METADATA says 1.1").
pub fn check_matches(
    dist: &DistFilename,
    metadata: &CoreMetadata,
    source: &str,
) -> Result<(), Invalid> {
    let claimed = normalize(&metadata.name);
    if claimed != dist.project {
        return Err(invalid(format!(
            "The file name says project {}, the {source} says {}",
            dist.project,
            shown(&metadata.name)
        )));
    }
    let file_version = normalize_version(&dist.version, "version in the file name")?;
    let claimed_version =
        normalize_version(&metadata.version, &format!("Version of the {source}"))?;
    if file_version != claimed_version {
        return Err(invalid(format!(
            "The file name says version {file_version}, the {source} says {claimed_version}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// index pages

/// Core metadata availability of a file (PEP 658/714).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataHash {
    pub sha256: Option<String>,
}

/// One file of a project page, as arca writes it or as read from an upstream page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    /// Without fragment. Relative (arca's own links: `../../packages/{project}/{version}/{filename}`)
    /// or absolute (parsed from an upstream page, resolved against its URL).
    pub url: String,
    /// lower-case hex
    pub sha256: Option<String>,
    /// raw, unescaped
    pub requires_python: Option<String>,
    /// `Some("")`: yanked without a reason.
    pub yanked: Option<String>,
    pub core_metadata: Option<MetadataHash>,
    pub size: Option<u64>,
    /// epoch ms
    pub upload_time: Option<i64>,
}

/// `text` for HTML text and double-quoted attribute values. A CR is written as a character
/// reference (a parser would read a literal one as LF) and NUL as U+FFFD (what a parser makes of
/// it anyway), so that what a page says reads back the same.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '\r' => out.push_str("&#13;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn metadata_attribute(m: &MetadataHash) -> String {
    match &m.sha256 {
        Some(hex) => format!("sha256={hex}"),
        None => "true".to_string(),
    }
}

/// PEP 503 HTML project page (PEP 592 data-yanked, PEP 658/714 data-dist-info-metadata AND
/// data-core-metadata, `<meta name="pypi:repository-version" content="1.1">`), every attribute
/// and text HTML-escaped, links `{url}#sha256={hex}` when known. Deterministic output.
pub fn project_html(project: &str, files: &[IndexFile]) -> String {
    let project = escape_html(project);
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"{API_VERSION}\">\n    <title>Links for {project}</title>\n  </head>\n  \
         <body>\n    <h1>Links for {project}</h1>\n"
    );
    for f in files {
        let mut href = f.url.clone();
        if let Some(hex) = &f.sha256 {
            href.push_str("#sha256=");
            href.push_str(hex);
        }
        out.push_str("    <a href=\"");
        out.push_str(&escape_html(&href));
        out.push('"');
        if let Some(rp) = &f.requires_python {
            out.push_str(" data-requires-python=\"");
            out.push_str(&escape_html(rp));
            out.push('"');
        }
        if let Some(reason) = &f.yanked {
            out.push_str(" data-yanked=\"");
            out.push_str(&escape_html(reason));
            out.push('"');
        }
        if let Some(m) = &f.core_metadata {
            let value = escape_html(&metadata_attribute(m));
            out.push_str(&format!(
                " data-dist-info-metadata=\"{value}\" data-core-metadata=\"{value}\""
            ));
        }
        out.push('>');
        out.push_str(&escape_html(&f.filename));
        out.push_str("</a><br>\n");
    }
    out.push_str("  </body>\n</html>\n");
    out
}

/// `ms` since the epoch as PEP 700's `upload-time`: RFC 3339 in UTC with milliseconds
/// (`2024-01-02T03:04:05.678Z`), when it falls in the years 0–9999 RFC 3339 can write.
pub fn upload_time_rfc3339(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

fn metadata_json(m: &MetadataHash) -> Value {
    match &m.sha256 {
        Some(hex) => json!({ "sha256": hex }),
        None => Value::Bool(true),
    }
}

/// PEP 691 JSON (+ PEP 700: meta.api-version "1.1", `versions`, `size`, `upload-time` RFC 3339
/// with `Z`, millisecond precision or less; `yanked`: false / true / reason string;
/// `core-metadata` and `dist-info-metadata`: {"sha256": …} or true; absent when not available;
/// `requires-python` absent when None; `hashes` {} when unknown).
pub fn project_json(project: &str, files: &[IndexFile], versions: &[String]) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut file = Map::new();
            file.insert("filename".into(), json!(f.filename));
            file.insert("url".into(), json!(f.url));
            let hashes = match &f.sha256 {
                Some(hex) => json!({ "sha256": hex }),
                None => json!({}),
            };
            file.insert("hashes".into(), hashes);
            if let Some(rp) = &f.requires_python {
                file.insert("requires-python".into(), json!(rp));
            }
            let yanked = match f.yanked.as_deref() {
                None => Value::Bool(false),
                Some("") => Value::Bool(true),
                Some(reason) => json!(reason),
            };
            file.insert("yanked".into(), yanked);
            if let Some(m) = &f.core_metadata {
                file.insert("core-metadata".into(), metadata_json(m));
                file.insert("dist-info-metadata".into(), metadata_json(m));
            }
            if let Some(size) = f.size {
                file.insert("size".into(), json!(size));
            }
            if let Some(t) = f.upload_time.and_then(upload_time_rfc3339) {
                file.insert("upload-time".into(), json!(t));
            }
            Value::Object(file)
        })
        .collect();
    json!({
        "meta": { "api-version": API_VERSION },
        "name": project,
        "files": files,
        "versions": versions,
    })
}

/// PEP 503 root page: one `<a href="{normalised}/">{name}</a>` per project.
pub fn index_html(projects: &[String]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"{API_VERSION}\">\n    <title>Simple index</title>\n  </head>\n  <body>\n"
    );
    for name in projects {
        out.push_str(&format!(
            "    <a href=\"{}/\">{}</a><br>\n",
            escape_html(&normalize(name)),
            escape_html(name)
        ));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

/// PEP 691 root JSON: {"meta":{"api-version":"1.1"},"projects":[{"name":…}]}.
pub fn index_json(projects: &[String]) -> Value {
    let projects: Vec<Value> = projects.iter().map(|p| json!({ "name": p })).collect();
    json!({ "meta": { "api-version": API_VERSION }, "projects": projects })
}

// ---------------------------------------------------------------------------------------------
// content negotiation

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFormat {
    Json,
    HtmlV1,
    TextHtml,
}

impl PageFormat {
    /// The Content-Type of a page in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            PageFormat::Json => JSON_MEDIA_TYPE,
            PageFormat::HtmlV1 => HTML_MEDIA_TYPE,
            PageFormat::TextHtml => TEXT_HTML_MEDIA_TYPE,
        }
    }

    /// The media types naming this format exactly.
    fn names(self) -> &'static [&'static str] {
        match self {
            PageFormat::Json => &[JSON_MEDIA_TYPE, JSON_LATEST_MEDIA_TYPE],
            PageFormat::HtmlV1 => &[HTML_MEDIA_TYPE, HTML_LATEST_MEDIA_TYPE],
            PageFormat::TextHtml => &["text/html"],
        }
    }
}

/// Server preference, for ties.
const FORMATS: [PageFormat; 3] = [PageFormat::Json, PageFormat::HtmlV1, PageFormat::TextHtml];

/// A media type without parameters, lower-cased.
fn bare_media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// An Accept q-value (`0`, `0.5`, `1.000`) in thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    (thousandths <= 1000).then_some(thousandths)
}

/// Content negotiation (PEP 691): `format_query` (the `?format=` value) wins over `accept`;
/// q-values honoured (q=0 means not acceptable), `*/*`, `application/*`, `text/*` wildcards;
/// ties broken: a format named beats one matched by a wildcard, then JSON > v1 HTML > text/html
/// among named ones and text/html first among wildcard matches; no Accept → TextHtml;
/// nothing acceptable → Err(()) (the lead answers 406). What pip sends:
/// `application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01` → Json.
// the one way to fail is "nothing acceptable" (a 406): no error value to carry
#[allow(clippy::result_unit_err)]
pub fn negotiate(accept: Option<&str>, format_query: Option<&str>) -> Result<PageFormat, ()> {
    if let Some(query) = format_query.filter(|q| !q.trim().is_empty()) {
        // one media type, no wildcards or q-values (PEP 691)
        let wanted = bare_media_type(query);
        return FORMATS
            .into_iter()
            .find(|f| f.names().contains(&wanted.as_str()))
            .ok_or(());
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(PageFormat::TextHtml);
    };
    // per format: (specificity of the best matching range, its q)
    let mut best: [Option<(u8, u16)>; 3] = [None; 3];
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for param in params {
            if let Some((key, value)) = param.split_once('=')
                && key.trim().eq_ignore_ascii_case("q")
            {
                q = parse_qvalue(value);
            }
        }
        // a malformed q-value makes the range mean nothing
        let Some(q) = q else { continue };
        for (i, format) in FORMATS.into_iter().enumerate() {
            let specificity = if format.names().contains(&media.as_str()) {
                3
            } else if media == "*/*" {
                1
            } else if let Some(kind) = media.strip_suffix("/*") {
                let own = format.media_type().split('/').next().unwrap_or_default();
                if kind == own { 2 } else { continue }
            } else {
                continue;
            };
            match best[i] {
                // the most specific range decides; among equals, the highest q
                Some((s, old_q)) if s > specificity || (s == specificity && old_q >= q) => {}
                _ => best[i] = Some((specificity, q)),
            }
        }
    }
    // the highest q; among equals a format the client named beats one a wildcard covers, and
    // a wildcard alone (`*/*`: curl, browsers, old clients) gets text/html
    let mut chosen: Option<(PageFormat, (u16, bool, usize))> = None;
    for (i, format) in FORMATS.into_iter().enumerate() {
        let Some((specificity, q)) = best[i] else {
            continue;
        };
        let named = specificity == 3;
        let preference = if named { FORMATS.len() - i } else { i };
        let rank = (q, named, preference);
        if q > 0 && chosen.is_none_or(|(_, best)| rank > best) {
            chosen = Some((format, rank));
        }
    }
    chosen.map(|(format, _)| format).ok_or(())
}

/// The central directory a zip file declares, (entries, bytes), from its end of central
/// directory record (ZIP64's when the classic record overflows); `None` without one. Read by
/// hand because the zip crate offers no bound before it loads the directory.
fn declared_directory(file: &mut std::fs::File) -> std::io::Result<Option<(u64, u64)>> {
    use std::io::{Seek, SeekFrom};
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const ZIP64_LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const ZIP64_EOCD: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    let len = file.metadata()?.len();
    // the record (22 bytes) and its comment (at most 65,535)
    let tail_len = len.min(22 + 65_535);
    let tail_start = len - tail_len;
    file.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact(&mut tail)?;
    let Some(at) = tail.windows(4).rposition(|w| w == EOCD) else {
        return Ok(None);
    };
    let Some(record) = tail.get(at..at + 22) else {
        return Ok(None);
    };
    let le16 = |b: &[u8]| u64::from(u16::from_le_bytes([b[0], b[1]]));
    let le32 = |b: &[u8]| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let le64 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        u64::from_le_bytes(a)
    };
    let (entries, bytes) = (le16(&record[10..12]), le32(&record[12..16]));
    if entries != 0xFFFF && bytes != 0xFFFF_FFFF {
        return Ok(Some((entries, bytes)));
    }
    // ZIP64: a locator of 20 bytes right before the record names the ZIP64 record
    let record_at = tail_start + at as u64;
    if record_at < 20 {
        return Ok(None);
    }
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(record_at - 20))?;
    file.read_exact(&mut locator)?;
    if locator[..4] != ZIP64_LOCATOR {
        return Ok(None);
    }
    let zip64_at = le64(&locator[8..16]);
    if zip64_at >= len {
        return Ok(None);
    }
    let mut zip64 = [0u8; 56];
    file.seek(SeekFrom::Start(zip64_at))?;
    if file.read_exact(&mut zip64).is_err() || zip64[..4] != ZIP64_EOCD {
        return Ok(None);
    }
    Ok(Some((le64(&zip64[32..40]), le64(&zip64[40..48]))))
}

// ---------------------------------------------------------------------------------------------
// upstream pages

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A `sha256=HEX` value (a URL fragment, a metadata attribute), lower-cased.
fn sha256_of(value: &str) -> Option<String> {
    let hex = value.strip_prefix("sha256=")?;
    is_sha256_hex(hex).then(|| hex.to_ascii_lowercase())
}

/// `href` resolved against `base`, when it is an http(s) URL: the URL without its fragment and
/// the fragment's sha256.
fn resolve_link(base: &url::Url, href: &str) -> Option<(url::Url, Option<String>)> {
    let mut url = base.join(href).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let sha256 = url.fragment().and_then(sha256_of);
    url.set_fragment(None);
    Some((url, sha256))
}

/// The last path segment of `url`, percent-decoded.
fn last_segment(url: &url::Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The files of an upstream project page: PEP 691 JSON when the body parses as a JSON object with
/// `files`, else PEP 503 HTML (html5gum tokenizer: every `<a href>` — its text is the filename,
/// trimmed; when the text is not a distribution file name the last path segment of the URL is
/// used; attributes entity-decoded). URLs resolved against `page_url` (the `<base href>` if the
/// page has one), fragment `#sha256=` taken as the hash (other hash fragments ignored), the
/// fragment stripped; only `http`/`https` URLs kept; files whose name `parse_filename` refuses are
/// skipped. `data-yanked` present → yanked (value = reason); `data-core-metadata` or
/// `data-dist-info-metadata` = `true` or `sha256=HEX` → available (anything else, `false`: not).
/// Bounded: body over 64 MiB → Invalid; at most 1,000,000 files.
pub fn parse_upstream_page(body: &[u8], page_url: &str) -> Result<Vec<IndexFile>, Invalid> {
    if body.len() > MAX_PAGE_SIZE {
        return Err(invalid(format!(
            "The upstream's project page is larger than {} MiB",
            MAX_PAGE_SIZE >> 20
        )));
    }
    let page_url = url::Url::parse(page_url).map_err(|e| {
        invalid(format!(
            "The upstream page's URL '{}' is not a URL: {e}",
            shown(page_url)
        ))
    })?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{')
        && let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body)
        && let Some(files) = doc.get("files")
    {
        return parse_json_files(files, &page_url);
    }
    parse_html_files(body, &page_url)
}

fn too_many_files() -> Invalid {
    invalid(format!(
        "The upstream's project page lists more than {MAX_PAGE_FILES} files"
    ))
}

/// PEP 691 `core-metadata` / `dist-info-metadata`: `true` or a hash object → available.
fn json_metadata(value: Option<&Value>) -> Option<MetadataHash> {
    match value? {
        Value::Bool(true) => Some(MetadataHash { sha256: None }),
        Value::Object(hashes) => Some(MetadataHash {
            sha256: hashes
                .get("sha256")
                .and_then(Value::as_str)
                .filter(|h| is_sha256_hex(h))
                .map(str::to_ascii_lowercase),
        }),
        _ => None,
    }
}

fn parse_json_files(files: &Value, page_url: &url::Url) -> Result<Vec<IndexFile>, Invalid> {
    let Value::Array(files) = files else {
        return Err(invalid(
            "The upstream's project page (JSON) has 'files' that is not a list",
        ));
    };
    let mut out = Vec::new();
    for file in files {
        let (Some(filename), Some(href)) = (
            file.get("filename").and_then(Value::as_str),
            file.get("url").and_then(Value::as_str),
        ) else {
            continue;
        };
        if parse_filename(filename).is_err() {
            continue;
        }
        let Some((url, fragment_sha256)) = resolve_link(page_url, href) else {
            continue;
        };
        let sha256 = file
            .pointer("/hashes/sha256")
            .and_then(Value::as_str)
            .filter(|h| is_sha256_hex(h))
            .map(str::to_ascii_lowercase)
            .or(fragment_sha256);
        let yanked = match file.get("yanked") {
            Some(Value::Bool(true)) => Some(String::new()),
            Some(Value::String(reason)) => Some(reason.clone()),
            _ => None,
        };
        // PEP 714: the new key, when present, decides
        let core_metadata = json_metadata(
            file.get("core-metadata")
                .or_else(|| file.get("dist-info-metadata")),
        );
        if out.len() == MAX_PAGE_FILES {
            return Err(too_many_files());
        }
        out.push(IndexFile {
            filename: filename.to_string(),
            url: url.into(),
            sha256,
            requires_python: file
                .get("requires-python")
                .and_then(Value::as_str)
                .map(str::to_string),
            yanked,
            core_metadata,
            size: file.get("size").and_then(Value::as_u64),
            upload_time: file
                .get("upload-time")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_ms),
        });
    }
    Ok(out)
}

/// An `<a href>` of an HTML page, its attributes as they were (decoded), its text.
struct Anchor {
    href: String,
    requires_python: Option<String>,
    yanked: Option<String>,
    core_metadata: Option<String>,
    dist_info_metadata: Option<String>,
    text: String,
}

/// A PEP 658/714 attribute's value: `true` or `sha256=HEX` → available.
fn html_metadata(value: Option<&str>) -> Option<MetadataHash> {
    let value = value?.trim();
    if value.eq_ignore_ascii_case("true") {
        return Some(MetadataHash { sha256: None });
    }
    sha256_of(value).map(|hex| MetadataHash { sha256: Some(hex) })
}

fn parse_html_files(body: &[u8], page_url: &url::Url) -> Result<Vec<IndexFile>, Invalid> {
    let mut emitter = DefaultEmitter::default();
    // the text of <script>, <style>, <title>… is not markup
    emitter.naively_switch_states(true);
    let mut base: Option<String> = None;
    let mut anchors: Vec<Anchor> = Vec::new();
    let mut open: Option<Anchor> = None;
    for token in Tokenizer::new_with_emitter(body, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let attr = |name: &str| {
                    tag.attributes
                        .get(name.as_bytes())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                if tag.name == b"base" {
                    if base.is_none() {
                        base = attr("href");
                    }
                } else if tag.name == b"a" {
                    anchors.extend(open.take());
                    if let Some(href) = attr("href") {
                        if anchors.len() >= MAX_PAGE_FILES {
                            return Err(too_many_files());
                        }
                        open = Some(Anchor {
                            href,
                            requires_python: attr("data-requires-python"),
                            yanked: attr("data-yanked"),
                            core_metadata: attr("data-core-metadata"),
                            dist_info_metadata: attr("data-dist-info-metadata"),
                            text: String::new(),
                        });
                    }
                }
            }
            Token::EndTag(tag) if tag.name == b"a" => anchors.extend(open.take()),
            Token::String(text) => {
                if let Some(anchor) = open.as_mut() {
                    anchor.text.push_str(&String::from_utf8_lossy(&text));
                }
            }
            _ => {}
        }
    }
    anchors.extend(open.take());
    // the first <base href> applies to the whole document, links before it too
    let base = base
        .and_then(|href| page_url.join(&href).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut out = Vec::new();
    for anchor in anchors {
        let Some((url, sha256)) = resolve_link(&base, &anchor.href) else {
            continue;
        };
        let text = anchor.text.trim();
        let filename = if parse_filename(text).is_ok() {
            text.to_string()
        } else {
            match last_segment(&url) {
                Some(segment) if parse_filename(&segment).is_ok() => segment,
                _ => continue,
            }
        };
        // PEP 714: the new attribute, when present, decides
        let core_metadata = html_metadata(
            anchor
                .core_metadata
                .as_deref()
                .or(anchor.dist_info_metadata.as_deref()),
        );
        out.push(IndexFile {
            filename,
            url: url.into(),
            sha256,
            requires_python: anchor.requires_python,
            yanked: anchor.yanked,
            core_metadata,
            size: None,
            upload_time: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use zip::write::SimpleFileOptions;

    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_normalise_as_pep_503_says() {
        for name in [
            "friendly-bard",
            "Friendly-Bard",
            "FRIENDLY-BARD",
            "friendly.bard",
            "friendly_bard",
            "friendly--bard",
            "FrIeNdLy-._.-bArD",
        ] {
            assert_eq!(normalize(name), "friendly-bard", "{name}");
            assert_eq!(normalize(&normalize(name)), "friendly-bard");
        }
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("A1__b..C"), "a1-b-c");
    }

    #[test]
    fn project_names_are_checked() {
        for ok in ["a", "A1", "zope.interface", "x_y-z", "1", &"a".repeat(200)] {
            assert_eq!(check_name(ok, "name"), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            ".a",
            "a_",
            "a b",
            "caf\u{e9}",
            "a/b",
            "a\0",
            "a+b",
            &"a".repeat(201),
        ] {
            let e = check_name(bad, "field 'name'").unwrap_err();
            assert!(e.0.starts_with("Invalid field 'name'"), "{bad}: {}", e.0);
        }
    }

    #[test]
    fn versions_normalise_as_pep_440_says() {
        let norm = |v: &str| normalize_version(v, "version");
        assert_eq!(norm("1.0").unwrap(), "1.0");
        assert_eq!(
            norm("1.0.0").unwrap(),
            "1.0.0",
            "1.0 and 1.0.0 stay distinct"
        );
        assert_eq!(norm("1.0-post1").unwrap(), "1.0.post1");
        assert_eq!(norm("v1.0").unwrap(), "1.0");
        assert_eq!(norm("1.0RC1").unwrap(), "1.0rc1");
        assert_eq!(norm("1.0+Ubuntu-1").unwrap(), "1.0+ubuntu.1");
        assert_eq!(norm("1!2.0.dev3").unwrap(), "1!2.0.dev3");
        assert_eq!(norm(" 1.0 ").unwrap(), "1.0");
        for bad in ["1.0-", "", "abc", "1..0", "1.0 2", &"1".repeat(300)] {
            let e = normalize_version(bad, "form field 'version'").unwrap_err();
            assert!(
                e.0.starts_with("Invalid form field 'version'"),
                "{bad}: {}",
                e.0
            );
        }
    }

    #[test]
    fn versions_sort_by_pep_440_after_the_unparseable_ones() {
        let sorted = sorted_versions([
            "2.0",
            "1.0",
            "zzz",
            "1.10",
            "1.0",
            "1.9",
            "1.0.0",
            "abc",
            "1.0rc1",
            "1.0.post1",
        ]);
        assert_eq!(
            sorted,
            [
                "abc",
                "zzz",
                "1.0rc1",
                "1.0",
                "1.0.0",
                "1.0.post1",
                "1.9",
                "1.10",
                "2.0"
            ]
        );
        assert!(sorted_versions([]).is_empty());
    }

    #[test]
    fn distribution_file_names_are_parsed() {
        let wheel = |project: &str, version: &str| DistFilename {
            kind: DistKind::Wheel,
            project: project.into(),
            version: version.into(),
        };
        let sdist = |project: &str, version: &str| DistFilename {
            kind: DistKind::Sdist,
            project: project.into(),
            version: version.into(),
        };
        let cases = [
            ("demo-1.0-py3-none-any.whl", wheel("demo", "1.0")),
            ("demo-1.0-1-py3-none-any.whl", wheel("demo", "1.0")),
            ("demo-1.0-2b-py2.py3-none-any.whl", wheel("demo", "1.0")),
            (
                "zope_interface-5.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                wheel("zope-interface", "5.0"),
            ),
            (
                "Foo.Bar-1.0_post1-py3-none-any.whl",
                wheel("foo-bar", "1.0-post1"),
            ),
            (
                "python-dateutil-2.8.2.tar.gz",
                sdist("python-dateutil", "2.8.2"),
            ),
            ("demo-1.0.zip", sdist("demo", "1.0")),
            ("demo-1.0.tar.bz2", sdist("demo", "1.0")),
            ("demo-1.0.tgz", sdist("demo", "1.0")),
            ("demo-1.0.tar.xz", sdist("demo", "1.0")),
            ("Demo_Lib-v2.0rc1.tar.gz", sdist("demo-lib", "v2.0rc1")),
            ("demo-1.0+local.7.tar.gz", sdist("demo", "1.0+local.7")),
        ];
        for (name, want) in cases {
            assert_eq!(parse_filename(name), Ok(want), "{name}");
        }
        for bad in [
            "",
            "demo-1.0-py2.7.egg",
            "demo-1.0.win32.exe",
            "demo-1.0.msi",
            "demo-1.0.rpm",
            "demo.tar.gz",
            "demo-.tar.gz",
            "-1.0.tar.gz",
            "demo-bar.tar.gz",
            "../demo-1.0.tar.gz",
            "a/demo-1.0.tar.gz",
            "a\\demo-1.0.tar.gz",
            ".demo-1.0.tar.gz",
            "demo-1.0\n.tar.gz",
            "demo-1.0\u{7f}.tar.gz",
            "demo-1.0-any.whl",
            "demo-1.0-none-any.whl",
            "demo-1.0-x-py3-none-any.whl",
            "demo-1.0-1-2-py3-none-any.whl",
            "demo-1.0-py3--any.whl",
            "demo-1.0-py3-none-any.whl.exe",
            "de mo-1.0.tar.gz",
            "demo-1.0#x.tar.gz",
            &format!("{}-1.0.tar.gz", "a".repeat(248)),
        ] {
            let e = parse_filename(bad).unwrap_err();
            assert!(
                e.0.starts_with("Invalid distribution file name"),
                "{bad}: {}",
                e.0
            );
        }
        // the limit is 255 bytes
        let longest = format!("{}-1.0.tar.gz", "a".repeat(200 - 1));
        assert!(longest.len() < 255);
        assert!(parse_filename(&longest).is_ok());
    }

    #[test]
    fn files_live_under_the_normalised_project_and_version() {
        assert_eq!(
            file_path("Foo_Bar-1.0.POST1-py3-none-any.whl").unwrap(),
            "foo-bar/1.0.post1/Foo_Bar-1.0.POST1-py3-none-any.whl"
        );
        assert_eq!(
            file_path("python-dateutil-2.8.2.tar.gz").unwrap(),
            "python-dateutil/2.8.2/python-dateutil-2.8.2.tar.gz"
        );
        assert_eq!(
            file_path("demo-v1.0.zip").unwrap(),
            "demo/1.0/demo-v1.0.zip"
        );
        assert_eq!(
            file_path("demo-1.0_post1-py3-none-any.whl").unwrap(),
            "demo/1.0.post1/demo-1.0_post1-py3-none-any.whl"
        );
        // a version that is no PEP 440 version stays as it is
        assert_eq!(
            file_path("demo-1.0.x.tar.gz").unwrap(),
            "demo/1.0.x/demo-1.0.x.tar.gz"
        );
        assert!(file_path("demo-1.0.exe").is_err());
    }

    /// The header section of pip 23.0.1's METADATA (as Debian ships it), then its description.
    const PIP_METADATA: &str = "Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\n\
        Summary: The PyPA recommended tool for installing Python packages.\n\
        Home-page: https://pip.pypa.io/\nAuthor: The pip developers\n\
        Author-email: distutils-sig@python.org\nLicense: MIT\n\
        Project-URL: Documentation, https://pip.pypa.io\n\
        Classifier: Development Status :: 5 - Production/Stable\n\
        Requires-Python: >=3.7\nLicense-File: LICENSE.txt\n\
        \npip - The Python Package Installer\n==================================\n\
        Name: not-this-one\n";

    #[test]
    fn core_metadata_is_read_from_its_headers() {
        let m = parse_core_metadata(PIP_METADATA.as_bytes()).unwrap();
        assert_eq!(
            m,
            CoreMetadata {
                metadata_version: "2.1".into(),
                name: "pip".into(),
                version: "23.0.1".into(),
                requires_python: Some(">=3.7".into()),
                summary: Some("The PyPA recommended tool for installing Python packages.".into()),
            }
        );
        // CRLF, folded lines, case-insensitive keys, the first of repeated fields
        let m = parse_core_metadata(
            b"metadata-version: 2.3\r\nNAME: demo\r\nversion:1.0\r\nVersion: 2.0\r\n\
              Summary: one\r\n  two\r\nRequires-Python: >=3.8, <4\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.version, "1.0");
        assert_eq!(m.summary.as_deref(), Some("one two"));
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8, <4"));
        assert_eq!(m.metadata_version, "2.3");
        // UTF-8 stays UTF-8 (no Latin-1 or encoded-word decoding)
        let m = parse_core_metadata(
            "Name: x\nVersion: 1\nSummary: caf\u{e9} =?utf-8?q?x?=\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(m.summary.as_deref(), Some("caf\u{e9} =?utf-8?q?x?="));

        let refused = |text: &[u8]| parse_core_metadata(text).unwrap_err().0;
        assert_eq!(refused(b"Version: 1.0\n"), "METADATA has no 'Name'");
        assert_eq!(
            refused(b"Name: x\n\nVersion: 1.0\n"),
            "METADATA has no 'Version'"
        );
        assert_eq!(refused(b"Name:   \nVersion: 1\n"), "METADATA has no 'Name'");
        assert_eq!(refused(b""), "METADATA has no 'Name'");
        assert!(refused(b"Name: \xff\nVersion: 1\n").contains("not UTF-8"));
        let mut huge = b"Name: x\nVersion: 1\n\n".to_vec();
        huge.resize(16 * 1024 * 1024 + 1, b'x');
        assert!(refused(&huge).contains("larger than 16 MiB"));
    }

    #[test]
    fn debian_wheels_metadata_is_read() {
        // the real thing, where Debian's python3-pip-whl is installed (the literal above otherwise)
        let Ok(dir) = std::fs::read_dir("/usr/share/python-wheels") else {
            return;
        };
        for entry in dir.flatten() {
            let filename = entry.file_name().to_string_lossy().into_owned();
            if !filename.ends_with(".whl") {
                continue;
            }
            let bytes = wheel_metadata(&entry.path(), &filename).unwrap();
            let m = parse_core_metadata(&bytes).unwrap();
            let dist = parse_filename(&filename).unwrap();
            check_matches(&dist, &m, "METADATA").unwrap();
            assert!(m.metadata_version.starts_with('2'), "{filename}");
        }
    }

    /// A zip file of `entries` (name, bytes, deflated?).
    fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, data, deflate) in entries {
            let method = if *deflate {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            zip.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
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

    fn metadata_of(zip: &[u8], filename: &str) -> Result<Vec<u8>, Invalid> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(zip).unwrap();
        wheel_metadata(file.path(), filename)
    }

    #[test]
    fn a_wheels_metadata_is_its_dist_info_metadata() {
        const WHEEL: &str = "demo_lib-1.0-py3-none-any.whl";
        let meta = b"Metadata-Version: 2.1\nName: demo-lib\nVersion: 1.0\n\nreadme";
        let good = zip_of(&[
            ("demo_lib/__init__.py", b"x = 1\n", true),
            ("demo_lib-1.0.dist-info/METADATA", meta, true),
            (
                "demo_lib-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\n",
                false,
            ),
            (
                "demo_lib/sub.dist-info/METADATA",
                b"nested: not this",
                false,
            ),
        ]);
        assert_eq!(metadata_of(&good, WHEEL).unwrap(), meta);
        let stored = zip_of(&[("demo_lib-1.0.dist-info/METADATA", meta, false)]);
        assert_eq!(metadata_of(&stored, WHEEL).unwrap(), meta);

        // several dist-info directories: the wheel's own
        let two = zip_of(&[
            ("vendored-9.9.dist-info/METADATA", b"Name: vendored", true),
            ("Demo.Lib-1.0.dist-info/METADATA", meta, true),
            (
                "demo_lib-1.0.0.dist-info/METADATA",
                b"Name: 1.0.0 is not 1.0",
                true,
            ),
            ("zzz-1.0.dist-info/METADATA", b"Name: zzz", true),
        ]);
        assert_eq!(metadata_of(&two, WHEEL).unwrap(), meta);
        let none_matches = zip_of(&[
            ("a-1.0.dist-info/METADATA", b"Name: a", true),
            ("b-1.0.dist-info/METADATA", b"Name: b", true),
        ]);
        let e = metadata_of(&none_matches, WHEEL).unwrap_err();
        assert!(e.0.contains("2 .dist-info directories"), "{}", e.0);
        assert!(e.0.contains(WHEEL), "{}", e.0);

        let missing = zip_of(&[("demo_lib/__init__.py", b"", true)]);
        let e = metadata_of(&missing, WHEEL).unwrap_err();
        assert_eq!(
            e.0,
            format!("The wheel '{WHEEL}' has no *.dist-info/METADATA file")
        );
        let e = metadata_of(b"PK\x03\x04 this is no zip file", WHEEL).unwrap_err();
        assert!(e.0.contains("is not a valid zip file"), "{}", e.0);
        let e = metadata_of(&good, "demo_lib-1.0.tar.gz").unwrap_err();
        assert!(e.0.contains("is not a wheel"), "{}", e.0);
    }

    #[test]
    fn a_metadata_entry_whose_header_lies_is_refused() {
        const WHEEL: &str = "demo-1.0-py3-none-any.whl";
        let meta = b"Name: demo\nVersion: 1.0\n".repeat(10);
        // says 10 bytes, holds 240
        let mut small_lie = zip_of(&[("demo-1.0.dist-info/METADATA", &meta, true)]);
        lie_about_sizes(&mut small_lie, 10);
        let e = metadata_of(&small_lie, WHEEL).unwrap_err();
        assert!(e.0.contains("zip header says 10"), "{}", e.0);
        // says 17 MiB, holds 240
        let mut big_lie = zip_of(&[("demo-1.0.dist-info/METADATA", &meta, true)]);
        lie_about_sizes(&mut big_lie, 17 << 20);
        let e = metadata_of(&big_lie, WHEEL).unwrap_err();
        assert!(e.0.contains("at most 16 MiB"), "{}", e.0);
        // says 100 bytes, inflates to 17 MiB: the read stops after 16 MiB
        let bomb = vec![b'x'; 17 << 20];
        let mut bomb_zip = zip_of(&[("demo-1.0.dist-info/METADATA", &bomb, true)]);
        assert!(bomb_zip.len() < 1 << 20);
        lie_about_sizes(&mut bomb_zip, 100);
        let e = metadata_of(&bomb_zip, WHEEL).unwrap_err();
        assert!(e.0.contains("larger than 16 MiB"), "{}", e.0);
    }

    #[test]
    fn a_wheel_of_too_many_entries_is_refused() {
        const WHEEL: &str = "demo-1.0-py3-none-any.whl";
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("demo-1.0.dist-info/METADATA", stored)
            .unwrap();
        zip.write_all(b"Name: demo\nVersion: 1.0\n").unwrap();
        for i in 0..MAX_ZIP_ENTRIES {
            zip.start_file(format!("{i:x}"), stored).unwrap();
        }
        zip.finish().unwrap();
        let e = metadata_of(out.get_ref(), WHEEL).unwrap_err();
        assert_eq!(
            e.0,
            format!(
                "The wheel '{WHEEL}' declares 100001 zip entries in 5030169 bytes; at most \
                 100000 entries in 32 MiB are accepted"
            )
        );
    }

    #[test]
    fn metadata_must_match_the_file_name() {
        let dist = parse_filename("Demo_Lib-1.0-py3-none-any.whl").unwrap();
        let meta = |name: &str, version: &str| CoreMetadata {
            name: name.into(),
            version: version.into(),
            ..CoreMetadata::default()
        };
        // normalised forms compare, not PEP 440 equality: 1.0.0 would be another path
        assert!(check_matches(&dist, &meta("demo-lib", "1.0.0"), "METADATA").is_err());
        assert_eq!(
            check_matches(&dist, &meta("demo.lib", "1.0"), "METADATA"),
            Ok(())
        );
        assert_eq!(
            check_matches(&dist, &meta("DEMO-LIB", "v1.0"), "METADATA"),
            Ok(())
        );
        assert_eq!(
            check_matches(&dist, &meta("demo-lib", "1.1"), "METADATA")
                .unwrap_err()
                .0,
            "The file name says version 1.0, the METADATA says 1.1"
        );
        assert_eq!(
            check_matches(&dist, &meta("other", "1.0"), "METADATA")
                .unwrap_err()
                .0,
            "The file name says project demo-lib, the METADATA says other"
        );
        let e = check_matches(&dist, &meta("demo-lib", "one"), "form").unwrap_err();
        assert!(
            e.0.starts_with("Invalid Version of the form 'one'"),
            "{}",
            e.0
        );
        let odd = parse_filename("demo-1.0.x.tar.gz").unwrap();
        let e = check_matches(&odd, &meta("demo", "1.0"), "PKG-INFO").unwrap_err();
        assert!(e.0.contains("version in the file name"), "{}", e.0);
        // local versions count
        let local = parse_filename("demo-1.0+a.tar.gz").unwrap();
        assert!(check_matches(&local, &meta("demo", "1.0"), "METADATA").is_err());
        assert!(check_matches(&local, &meta("demo", "1.0+A"), "METADATA").is_ok());
    }

    fn file(filename: &str, url: &str) -> IndexFile {
        IndexFile {
            filename: filename.into(),
            url: url.into(),
            sha256: None,
            requires_python: None,
            yanked: None,
            core_metadata: None,
            size: None,
            upload_time: None,
        }
    }

    /// arca's own project page of `demo`: a wheel with everything, a yanked sdist.
    fn demo_files() -> Vec<IndexFile> {
        vec![
            IndexFile {
                sha256: Some(HEX_A.into()),
                requires_python: Some(">=3.8,<4".into()),
                core_metadata: Some(MetadataHash {
                    sha256: Some(HEX_B.into()),
                }),
                size: Some(1234),
                upload_time: Some(1_700_000_000_123),
                ..file(
                    "demo-1.0-py3-none-any.whl",
                    "../../packages/demo/1.0/demo-1.0-py3-none-any.whl",
                )
            },
            IndexFile {
                sha256: Some(HEX_B.into()),
                yanked: Some("broken \"<b>\" & 'worse'".into()),
                core_metadata: Some(MetadataHash { sha256: None }),
                ..file("demo-1.1.tar.gz", "../../packages/demo/1.1/demo-1.1.tar.gz")
            },
            IndexFile {
                yanked: Some(String::new()),
                ..file("demo-0.9.zip", "../../packages/demo/0.9/demo-0.9.zip")
            },
        ]
    }

    #[test]
    fn html_pages_escape_everything_and_read_back() {
        let files = demo_files();
        let html = project_html("demo", &files);
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
        assert!(html.contains(&format!(
            "<a href=\"../../packages/demo/1.0/demo-1.0-py3-none-any.whl#sha256={HEX_A}\" \
             data-requires-python=\"&gt;=3.8,&lt;4\" \
             data-dist-info-metadata=\"sha256={HEX_B}\" data-core-metadata=\"sha256={HEX_B}\">\
             demo-1.0-py3-none-any.whl</a>"
        )));
        assert!(html.contains(
            "data-yanked=\"broken &quot;&lt;b&gt;&quot; &amp; &#x27;worse&#x27;\" \
             data-dist-info-metadata=\"true\" data-core-metadata=\"true\">demo-1.1.tar.gz</a>"
        ));
        assert!(html.contains(
            "<a href=\"../../packages/demo/0.9/demo-0.9.zip\" data-yanked=\"\">demo-0.9.zip</a>"
        ));
        assert_eq!(html, project_html("demo", &files), "deterministic");
        assert!(project_html("<x>", &[]).contains("Links for &lt;x&gt;"));

        let page = "http://arca.test/artifactory/api/pypi/py/simple/demo/";
        let parsed = parse_upstream_page(html.as_bytes(), page).unwrap();
        let expected: Vec<IndexFile> = files
            .iter()
            .map(|f| IndexFile {
                url: f.url.replace(
                    "../../packages/",
                    "http://arca.test/artifactory/api/pypi/py/packages/",
                ),
                size: None,
                upload_time: None,
                ..f.clone()
            })
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn json_pages_carry_pep_691_and_700_fields() {
        let files = demo_files();
        let versions = sorted_versions(["1.1", "1.0", "0.9"]);
        let doc = project_json("demo", &files, &versions);
        assert_eq!(doc["meta"], json!({ "api-version": "1.1" }));
        assert_eq!(doc["name"], "demo");
        assert_eq!(doc["versions"], json!(["0.9", "1.0", "1.1"]));
        assert_eq!(
            doc["files"][0],
            json!({
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../packages/demo/1.0/demo-1.0-py3-none-any.whl",
                "hashes": { "sha256": HEX_A },
                "requires-python": ">=3.8,<4",
                "yanked": false,
                "core-metadata": { "sha256": HEX_B },
                "dist-info-metadata": { "sha256": HEX_B },
                "size": 1234,
                "upload-time": "2023-11-14T22:13:20.123Z",
            })
        );
        assert_eq!(doc["files"][1]["yanked"], "broken \"<b>\" & 'worse'");
        assert_eq!(doc["files"][1]["core-metadata"], true);
        assert_eq!(doc["files"][2]["yanked"], true);
        assert_eq!(doc["files"][2]["hashes"], json!({}));
        for absent in [
            "requires-python",
            "core-metadata",
            "dist-info-metadata",
            "size",
            "upload-time",
        ] {
            assert!(doc["files"][2].get(absent).is_none(), "{absent}");
        }
        // a time RFC 3339 cannot write is left out
        let far = IndexFile {
            upload_time: Some(i64::MAX),
            ..file("demo-1.0.zip", "x")
        };
        assert!(
            project_json("demo", &[far], &[])["files"][0]
                .get("upload-time")
                .is_none()
        );

        // and it reads back (URLs resolved against the page)
        let page = "http://up.test/simple/demo/";
        let parsed = parse_upstream_page(doc.to_string().as_bytes(), page).unwrap();
        let expected: Vec<IndexFile> = files
            .iter()
            .map(|f| IndexFile {
                url: f.url.replace("../../packages/", "http://up.test/packages/"),
                ..f.clone()
            })
            .collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn root_pages_list_projects() {
        let projects = vec!["Demo_Lib".to_string(), "a&b".to_string()];
        let html = index_html(&projects);
        assert!(html.contains("<a href=\"demo-lib/\">Demo_Lib</a>"));
        assert!(html.contains("<a href=\"a&amp;b/\">a&amp;b</a>"));
        assert_eq!(
            index_json(&projects),
            json!({
                "meta": { "api-version": "1.1" },
                "projects": [{ "name": "Demo_Lib" }, { "name": "a&b" }],
            })
        );
    }

    #[test]
    fn content_is_negotiated_as_pep_691_says() {
        use PageFormat::*;
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; \
                   q=0.1, text/html; q=0.01";
        let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, \
                  text/html;q=0.01";
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<PageFormat, ()>);
        let cases: &[Case<'_>] = &[
            (Some(pip), None, Ok(Json)),
            (Some(uv), None, Ok(Json)),
            (None, None, Ok(TextHtml)),
            (Some(""), None, Ok(TextHtml)),
            // a wildcard alone: HTML (curl, browsers)
            (Some("*/*"), None, Ok(TextHtml)),
            (Some("text/html"), None, Ok(TextHtml)),
            (Some("text/*"), None, Ok(TextHtml)),
            (Some("application/*"), None, Ok(HtmlV1)),
            // named beats a wildcard of the same q
            (
                Some("*/*, application/vnd.pypi.simple.v1+json"),
                None,
                Ok(Json),
            ),
            (
                Some("application/vnd.pypi.simple.v1+html"),
                None,
                Ok(HtmlV1),
            ),
            (
                Some("application/vnd.pypi.simple.latest+json"),
                None,
                Ok(Json),
            ),
            (Some("Application/VND.pypi.simple.V1+JSON"), None, Ok(Json)),
            (Some("application/json"), None, Err(())),
            (Some("image/png"), None, Err(())),
            (
                Some("application/vnd.pypi.simple.v1+json;q=0"),
                None,
                Err(()),
            ),
            (Some("*/*;q=0"), None, Err(())),
            // the specific range wins over the wildcard, whatever their order
            (
                Some("*/*, application/vnd.pypi.simple.v1+json;q=0"),
                None,
                Ok(TextHtml),
            ),
            (Some("application/*;q=0, text/html"), None, Ok(TextHtml)),
            (
                Some("text/html;q=0.5, application/vnd.pypi.simple.v1+html;q=0.6"),
                None,
                Ok(HtmlV1),
            ),
            (
                Some("text/html, application/vnd.pypi.simple.v1+html"),
                None,
                Ok(HtmlV1),
            ),
            (Some("text/html;charset=utf-8"), None, Ok(TextHtml)),
            // a browser's
            (
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                None,
                Ok(TextHtml),
            ),
            (Some("text/html;q=2"), None, Err(())),
            (Some("text/html;q=abc, */*;q=0.1"), None, Ok(TextHtml)),
            (Some(",,;"), None, Err(())),
            // ?format= wins
            (Some(pip), Some("text/html"), Ok(TextHtml)),
            (Some("text/html"), Some(JSON_MEDIA_TYPE), Ok(Json)),
            (None, Some(HTML_MEDIA_TYPE), Ok(HtmlV1)),
            (
                None,
                Some("application/vnd.pypi.simple.latest+html"),
                Ok(HtmlV1),
            ),
            (Some(pip), Some("*/*"), Err(())),
            (Some(pip), Some("application/json"), Err(())),
            (Some(pip), Some(""), Ok(Json)),
        ];
        for (accept, format, want) in cases {
            assert_eq!(negotiate(*accept, *format), *want, "{accept:?} {format:?}");
        }
        assert_eq!(Json.media_type(), JSON_MEDIA_TYPE);
        assert_eq!(HtmlV1.media_type(), HTML_MEDIA_TYPE);
        assert_eq!(TextHtml.media_type(), "text/html; charset=utf-8");
    }

    #[test]
    fn pypiserver_pages_are_read() {
        // pypiserver 2.4's simple page: absolute-path links with #sha256=, no other data
        let html = format!(
            "\n    <html>\n        <head>\n            <title>Links for demo-lib</title>\n        \
             </head>\n        <body>\n            <h1>Links for demo-lib</h1>\n                 \
             <a href=\"/packages/demo_lib-1.0-py3-none-any.whl#sha256={HEX_A}\">\
             demo_lib-1.0-py3-none-any.whl</a><br>\n                 \
             <a href=\"/packages/demo-lib-1.0.tar.gz#md5=0123\">demo-lib-1.0.tar.gz</a><br>\n\
             \n        </body>\n    </html>\n    "
        );
        let files =
            parse_upstream_page(html.as_bytes(), "http://127.0.0.1:8090/simple/demo-lib/").unwrap();
        assert_eq!(
            files,
            [
                IndexFile {
                    sha256: Some(HEX_A.into()),
                    ..file(
                        "demo_lib-1.0-py3-none-any.whl",
                        "http://127.0.0.1:8090/packages/demo_lib-1.0-py3-none-any.whl"
                    )
                },
                file(
                    "demo-lib-1.0.tar.gz",
                    "http://127.0.0.1:8090/packages/demo-lib-1.0.tar.gz"
                ),
            ]
        );
    }

    #[test]
    fn devpi_pages_are_read() {
        // devpi-server 6's +simple page: the stage before each link, relative +f/ links
        let html = format!(
            "<!DOCTYPE html><html><head><title>peer/dev: links for demo-lib</title></head><body>\
             <h1>peer/dev: links for demo-lib</h1>\n\
             peer/dev <a href=\"../../+f/3a1/b2c3d4e5f6a7b/demo_lib-1.0-py3-none-any.whl#sha256={HEX_B}\" \
             data-requires-python=\"&gt;=3.8\">demo_lib-1.0-py3-none-any.whl</a><br/>\n\
             peer/dev <a href=\"../../+f/9f8/e7d6c5b4a3921/demo-lib-1.1.tar.gz#sha256={}\" \
             data-requires-python=\"&gt;=3.8\" data-yanked=\"\">demo-lib-1.1.tar.gz</a><br/>\n\
             </body></html>",
            HEX_A.to_uppercase()
        );
        let page = "http://127.0.0.1:3141/peer/dev/+simple/demo-lib/";
        let files = parse_upstream_page(html.as_bytes(), page).unwrap();
        assert_eq!(
            files,
            [
                IndexFile {
                    sha256: Some(HEX_B.into()),
                    requires_python: Some(">=3.8".into()),
                    ..file(
                        "demo_lib-1.0-py3-none-any.whl",
                        "http://127.0.0.1:3141/peer/dev/+f/3a1/b2c3d4e5f6a7b/demo_lib-1.0-py3-none-any.whl"
                    )
                },
                IndexFile {
                    sha256: Some(HEX_A.into()),
                    requires_python: Some(">=3.8".into()),
                    yanked: Some(String::new()),
                    ..file(
                        "demo-lib-1.1.tar.gz",
                        "http://127.0.0.1:3141/peer/dev/+f/9f8/e7d6c5b4a3921/demo-lib-1.1.tar.gz"
                    )
                },
            ]
        );
    }

    #[test]
    fn upstream_links_are_resolved_filtered_and_named() {
        let page = "http://up.test/simple/demo/";
        let html = format!(
            "<a href='demo-1.0.tar.gz'> demo-1.0.tar.gz\n</a>\
             <a href='https://files.test/x/demo-1.1.tar.gz#sha256={HEX_A}'>demo-1.1.tar.gz</a>\
             <a href='ftp://files.test/demo-1.2.tar.gz'>demo-1.2.tar.gz</a>\
             <a href='javascript:alert(1)'>demo-1.3.tar.gz</a>\
             <a href='/f/demo-1.4-py3-none-any.whl?x=1#egg=demo'>download</a>\
             <a href='/f/demo-1.5%2Blocal-py3-none-any.whl'>demo 1.5</a>\
             <a href='/f/demo-1.6.exe'>demo-1.6.exe</a>\
             <a>demo-1.7.tar.gz</a>\
             <a href='http://[bad'>demo-1.8.tar.gz</a>\
             <a href='demo-1.9.tar.gz#sha256=abc'>demo-1.9.tar.gz</a>\
             <a href='demo-2.0.tar.gz' data-core-metadata='false' data-dist-info-metadata='true'>demo-2.0.tar.gz</a>\
             <a href='demo-2.1.tar.gz' data-dist-info-metadata='sha256={HEX_B}'>demo-2.1.tar.gz</a>\
             <a href='demo-2.2.tar.gz' data-core-metadata='md5=00' data-requires-python='&gt;=3.8,&lt;4&amp;'>demo-2.2.tar.gz</a>\
             <script>var s = '<a href=\"demo-6.6.tar.gz\">demo-6.6.tar.gz</a>';</script>\
             <a href='demo-2.3.tar.gz'>demo-2.3.tar.gz"
        );
        let files = parse_upstream_page(html.as_bytes(), page).unwrap();
        let summary: Vec<(&str, &str, Option<&str>)> = files
            .iter()
            .map(|f| (f.filename.as_str(), f.url.as_str(), f.sha256.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "demo-1.0.tar.gz",
                    "http://up.test/simple/demo/demo-1.0.tar.gz",
                    None
                ),
                (
                    "demo-1.1.tar.gz",
                    "https://files.test/x/demo-1.1.tar.gz",
                    Some(HEX_A)
                ),
                (
                    "demo-1.4-py3-none-any.whl",
                    "http://up.test/f/demo-1.4-py3-none-any.whl?x=1",
                    None
                ),
                (
                    "demo-1.5+local-py3-none-any.whl",
                    "http://up.test/f/demo-1.5%2Blocal-py3-none-any.whl",
                    None
                ),
                (
                    "demo-1.9.tar.gz",
                    "http://up.test/simple/demo/demo-1.9.tar.gz",
                    None
                ),
                (
                    "demo-2.0.tar.gz",
                    "http://up.test/simple/demo/demo-2.0.tar.gz",
                    None
                ),
                (
                    "demo-2.1.tar.gz",
                    "http://up.test/simple/demo/demo-2.1.tar.gz",
                    None
                ),
                (
                    "demo-2.2.tar.gz",
                    "http://up.test/simple/demo/demo-2.2.tar.gz",
                    None
                ),
                (
                    "demo-2.3.tar.gz",
                    "http://up.test/simple/demo/demo-2.3.tar.gz",
                    None
                ),
            ]
        );
        // data-core-metadata, when present, decides (PEP 714); "false" is not available
        assert_eq!(files[5].core_metadata, None);
        assert_eq!(
            files[6].core_metadata,
            Some(MetadataHash {
                sha256: Some(HEX_B.into())
            })
        );
        assert_eq!(files[7].core_metadata, None);
        assert_eq!(files[7].requires_python.as_deref(), Some(">=3.8,<4&"));
    }

    #[test]
    fn a_base_href_applies_to_every_link() {
        let html = "<html><head><base href='http://mirror.test/pkgs/'><base href='http://no/'>\
                    </head><body><a href='demo-1.0.tar.gz'>demo-1.0.tar.gz</a>\
                    <a href='../other/demo-1.1.tar.gz'>demo-1.1.tar.gz</a></body></html>";
        let files = parse_upstream_page(html.as_bytes(), "http://up.test/simple/demo/").unwrap();
        let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://mirror.test/pkgs/demo-1.0.tar.gz",
                "http://mirror.test/other/demo-1.1.tar.gz"
            ]
        );
        // a relative base is resolved against the page
        let html = "<a href='demo-1.0.tar.gz'>demo-1.0.tar.gz</a><base href='/files/'>";
        let files = parse_upstream_page(html.as_bytes(), "http://up.test/simple/demo/").unwrap();
        assert_eq!(files[0].url, "http://up.test/files/demo-1.0.tar.gz");
    }

    #[test]
    fn upstream_json_pages_are_read_leniently() {
        let page = "http://up.test/simple/demo/";
        let doc = json!({
            "meta": { "api-version": "1.0" },
            "name": "demo",
            "files": [
                { "filename": "demo-1.0.tar.gz", "url": "/f/demo-1.0.tar.gz",
                  "hashes": { "sha256": HEX_A.to_uppercase(), "md5": "00" },
                  "upload-time": "2024-01-02T03:04:05.678901+01:00", "size": 10,
                  "dist-info-metadata": { "md5": "00" } },
                { "filename": "demo-1.1.tar.gz", "url": format!("/f/demo-1.1.tar.gz#sha256={HEX_B}"),
                  "hashes": {}, "yanked": "bad", "size": -1, "upload-time": "yesterday",
                  "core-metadata": false, "dist-info-metadata": true },
                { "filename": "demo-1.1-py3-none-any.whl", "url": "/f/demo-1.1-py3-none-any.whl",
                  "core-metadata": { "sha256": HEX_A }, "dist-info-metadata": false },
                { "filename": "demo-1.2.exe", "url": "/f/demo-1.2.exe", "hashes": {} },
                { "filename": "demo-1.3.tar.gz", "url": "file:///etc/passwd", "hashes": {} },
                { "filename": "demo-1.4.tar.gz", "hashes": {} },
                { "url": "/f/demo-1.5.tar.gz", "hashes": {} },
                "garbage",
            ],
        });
        let files = parse_upstream_page(doc.to_string().as_bytes(), page).unwrap();
        assert_eq!(
            files,
            [
                IndexFile {
                    sha256: Some(HEX_A.into()),
                    size: Some(10),
                    upload_time: Some(1_704_161_045_678),
                    core_metadata: Some(MetadataHash { sha256: None }),
                    ..file("demo-1.0.tar.gz", "http://up.test/f/demo-1.0.tar.gz")
                },
                IndexFile {
                    sha256: Some(HEX_B.into()),
                    yanked: Some("bad".into()),
                    ..file("demo-1.1.tar.gz", "http://up.test/f/demo-1.1.tar.gz")
                },
                IndexFile {
                    core_metadata: Some(MetadataHash {
                        sha256: Some(HEX_A.into())
                    }),
                    ..file(
                        "demo-1.1-py3-none-any.whl",
                        "http://up.test/f/demo-1.1-py3-none-any.whl"
                    )
                },
            ]
        );
        // a JSON object without files is no JSON page (and no HTML links either)
        assert_eq!(parse_upstream_page(b"{\"projects\": []}", page), Ok(vec![]));
        assert!(parse_upstream_page(b"{\"files\": {}}", page).is_err());
        assert!(parse_upstream_page(b"", page).unwrap().is_empty());
        assert!(parse_upstream_page(b"x", "not a url").is_err());
        let huge = vec![b' '; 64 * 1024 * 1024 + 1];
        let e = parse_upstream_page(&huge, page).unwrap_err();
        assert!(e.0.contains("larger than 64 MiB"), "{}", e.0);
    }
}
