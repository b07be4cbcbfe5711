//! npm: package names, where tarballs live in a repository, what a publish carries (checked
//! before anything is stored), and the packuments (full and abbreviated) assembled from the
//! published versions. No I/O here: `http/npm.rs` serves the registry API with it, and the
//! fuzz target `npm` feeds it outside input.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde_json::{Map, Value, json};
use sha1::Digest;

pub const PACKAGE_TYPE: &str = "npm";
/// `repoLayoutRef` of npm repositories.
pub const LAYOUT_REF: &str = "npm-default";
/// The media type of abbreviated packuments (what `npm install` asks for).
pub const ABBREVIATED_MEDIA_TYPE: &str = "application/vnd.npm.install-v1+json";

/// Longest package name (scope included), as npm's `validate-npm-package-name`.
const MAX_NAME_LEN: usize = 214;
/// Largest `package.json` read from a tarball.
const MAX_PACKAGE_JSON: u64 = 4 * 1024 * 1024;
/// Most bytes unpacked from a tarball while reading its `package.json`: 100 times the tarball
/// (npm packages compress far less), at least 64 MiB, at most 512 MiB — a gzip bomb stops there.
const MAX_UNPACK_RATIO: u64 = 100;
const MIN_UNPACKED_SCAN: u64 = 64 * 1024 * 1024;
const MAX_UNPACKED_SCAN: u64 = 512 * 1024 * 1024;
/// Largest GNU long name or pax header entry.
const MAX_EXTENDED_HEADER: u64 = 64 * 1024;
/// Longest dist-tag.
const MAX_TAG_LEN: usize = 128;

/// Why a publish or a name was refused: the message names the field or the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A valid package name: `name` or `@scope/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName {
    full: String,
}

impl PackageName {
    /// Check `name` with npm's rules for new packages: 1–214 characters, lower-case letters,
    /// digits, `-`, `.` and `_`, not starting with `.` or `_`, optionally one `@scope/`.
    pub fn parse(name: &str) -> Result<PackageName, Invalid> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "Invalid package name '{}': it must have 1 to {MAX_NAME_LEN} characters",
                name.escape_debug()
            )));
        }
        let (scope, base) = match name.strip_prefix('@') {
            Some(scoped) => match scoped.split_once('/') {
                Some((scope, base)) => (Some(scope), base),
                None => {
                    return Err(invalid(format!(
                        "Invalid package name '{}': a scoped name is @scope/name",
                        name.escape_debug()
                    )));
                }
            },
            None => (None, name),
        };
        for part in scope.into_iter().chain(std::iter::once(base)) {
            check_name_part(name, part)?;
        }
        // npm's rule; and `-/…` are the registry's own URLs
        if name.starts_with('-') {
            return Err(invalid(format!(
                "Invalid package name '{}': it may not start with '-'",
                name.escape_debug()
            )));
        }
        if scope.is_none() && matches!(base, "node_modules" | "favicon.ico") {
            return Err(invalid(format!(
                "Invalid package name '{name}': the name is reserved"
            )));
        }
        Ok(PackageName {
            full: name.to_string(),
        })
    }

    /// `@scope/name` or `name`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The name without its scope (what tarball file names start with).
    pub fn base(&self) -> &str {
        self.full.rsplit('/').next().unwrap_or(&self.full)
    }

    /// The folder of the package in the repository (`@scope/name` or `name`).
    pub fn folder(&self) -> &str {
        &self.full
    }

    /// The tarball's file name of `version`: `name-1.0.0.tgz` (no scope).
    pub fn tarball_name(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.base())
    }

    /// The tarball's path in the repository: `@scope/name/-/name-1.0.0.tgz`.
    pub fn tarball_path(&self, version: &str) -> String {
        self.file_path(&self.tarball_name(version))
    }

    /// The path of the package's file `file` (a tarball) in the repository: `@scope/name/-/{file}`.
    pub fn file_path(&self, file: &str) -> String {
        format!("{}/-/{file}", self.full)
    }

    /// The key of the tarball in a publish's `_attachments`: `@scope/name-1.0.0.tgz`.
    pub fn attachment_key(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.full)
    }

    /// The name as a URL path segment: `@scope%2fname` (how npm asks for packuments).
    pub fn escaped(&self) -> String {
        self.full.replace('/', "%2f")
    }
}

impl std::fmt::Display for PackageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

fn check_name_part(name: &str, part: &str) -> Result<(), Invalid> {
    if part.is_empty() {
        return Err(invalid(format!(
            "Invalid package name '{}': empty scope or name",
            name.escape_debug()
        )));
    }
    if part.starts_with(['.', '_']) {
        return Err(invalid(format!(
            "Invalid package name '{}': it may not start with '.' or '_'",
            name.escape_debug()
        )));
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')))
    {
        return Err(invalid(format!(
            "Invalid package name '{}': '{}' is not allowed (lower-case letters, digits, '-', '.' \
             and '_' only)",
            name.escape_debug(),
            c.escape_debug()
        )));
    }
    Ok(())
}

/// Where a remote repository caches the packument of `name` (never a package path: package
/// names do not start with `.`).
pub fn packument_cache_path(name: &PackageName) -> String {
    format!(".npm/{name}/package.json")
}

/// The package whose packument a remote repository caches at `path`, if `path` is one.
pub fn packument_of_cache_path(path: &str) -> Option<PackageName> {
    let name = path.strip_prefix(".npm/")?.strip_suffix("/package.json")?;
    PackageName::parse(name).ok()
}

/// A packument from another registry (a remote repository's upstream) as published versions and
/// dist-tags: versions with a valid version key and an object manifest, publish times from
/// `time` (0 when absent); a version's upstream tarball file name stays in `dist.tarball` (the
/// assembly keeps the file name and replaces the URL).
pub fn parse_upstream_packument(name: &PackageName, bytes: &[u8]) -> Result<Package, Invalid> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "The upstream's packument of '{name}' is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let times = doc.get("time").and_then(Value::as_object);
    let mut versions = Vec::new();
    if let Some(Value::Object(all)) = doc.get("versions") {
        for (version, manifest) in all {
            let (Value::Object(manifest), Ok(_)) = (manifest, semver::Version::parse(version))
            else {
                continue;
            };
            let published = times
                .and_then(|t| t.get(version))
                .and_then(Value::as_str)
                .and_then(parse_iso_ms)
                .unwrap_or(0);
            versions.push(PublishedVersion {
                version: version.clone(),
                manifest: manifest.clone(),
                published,
            });
        }
    }
    versions.sort_by(|a, b| (a.published, &a.version).cmp(&(b.published, &b.version)));
    let tags = doc
        .get("dist-tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter_map(|(tag, v)| Some((tag.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok((versions, tags))
}

fn parse_iso_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Versions and dist-tags of several registries merged in resolution order: a version from the
/// first that has it, a dist-tag from the first that has it (and names a version of the merge).
pub fn merge_packages(parts: Vec<Package>) -> Package {
    let mut versions: Vec<PublishedVersion> = Vec::new();
    let mut tags: Vec<(String, String)> = Vec::new();
    for (part_versions, part_tags) in parts {
        for v in part_versions {
            if !versions.iter().any(|have| have.version == v.version) {
                versions.push(v);
            }
        }
        for (tag, v) in part_tags {
            if !tags.iter().any(|(have, _)| *have == tag) {
                tags.push((tag, v));
            }
        }
    }
    versions.sort_by(|a, b| (a.published, &a.version).cmp(&(b.published, &b.version)));
    (versions, tags)
}

/// A valid version: strict semver (`1.2.3`, `1.0.0-rc.1`, `1.0.0+build`), as npm writes it.
pub fn parse_version(version: &str) -> Result<semver::Version, Invalid> {
    let parsed = semver::Version::parse(version)
        .map_err(|e| invalid(format!("Invalid version '{}': {e}", version.escape_debug())))?;
    if !parsed.build.is_empty() {
        // npm drops build metadata: 1.0.0+a and 1.0.0+b would be one version to it
        return Err(invalid(format!(
            "Invalid version '{}': npm versions carry no build metadata ('+{}')",
            version.escape_debug(),
            parsed.build
        )));
    }
    Ok(parsed)
}

/// A valid dist-tag: 1–128 characters of letters, digits, `-`, `.`, `_`, not a version or a
/// version range (npm refuses those: `npm install pkg@1.x` must mean the range).
pub fn check_tag(tag: &str) -> Result<(), Invalid> {
    let charset_ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !charset_ok {
        return Err(invalid(format!(
            "Invalid dist-tag '{}': use 1 to {MAX_TAG_LEN} letters, digits, '-', '.' or '_'",
            tag.escape_debug()
        )));
    }
    // npm reads a tag that is a version range loosely (`v1`, `=1.x`, `x.x`) as that range
    let loose = tag.trim_start_matches(['v', 'V', '=']);
    let range_like = !loose.is_empty()
        && loose
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'x' | 'X' | '*'));
    if semver::VersionReq::parse(tag).is_ok()
        || semver::VersionReq::parse(loose).is_ok()
        || range_like
    {
        return Err(invalid(format!(
            "Invalid dist-tag '{tag}': it reads as a version range"
        )));
    }
    Ok(())
}

/// A version a publish carries, checked: its manifest (as it will be served, without
/// `dist.tarball`), the tarball, and the dist-tags to point at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub name: PackageName,
    pub version: String,
    pub manifest: Map<String, Value>,
    pub tarball: Vec<u8>,
    pub tags: Vec<String>,
}

/// What a `PUT /{package}` body is: a new version with its tarball, or (no attachments) a
/// changed packument — `npm deprecate` and `npm unpublish` of one version send those.
#[derive(Debug, Clone, PartialEq)]
pub enum PackumentPut {
    Publish(Publish),
    Update(Update),
}

/// A changed packument: the versions it still has, with their manifests, and its dist-tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub versions: BTreeMap<String, Map<String, Value>>,
    pub tags: BTreeMap<String, String>,
    /// The `_rev` of the packument the change was made on.
    pub rev: Option<String>,
}

/// Read the body of `PUT /{package}` for package `name` (from the URL). `publisher` goes into
/// the manifest's `_npmUser`.
pub fn parse_put(
    name: &PackageName,
    body: &[u8],
    publisher: &str,
) -> Result<PackumentPut, Invalid> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "The package document is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(mut doc) = doc else {
        return Err(invalid("The package document is not a JSON object"));
    };
    match doc.get("name") {
        Some(Value::String(n)) if n == name.as_str() => {}
        Some(Value::String(n)) => {
            return Err(invalid(format!(
                "The document's name '{}' is not the package's name '{name}' in the URL",
                n.escape_debug()
            )));
        }
        _ => return Err(invalid("The package document has no 'name'")),
    }
    let rev = doc.get("_rev").and_then(Value::as_str).map(str::to_string);
    let (versions, has_versions) = match doc.remove("versions") {
        Some(Value::Object(v)) => (v, true),
        None => (Map::new(), false),
        Some(_) => return Err(invalid("'versions' is not an object")),
    };
    let tags = match doc.remove("dist-tags") {
        Some(Value::Object(t)) => t
            .into_iter()
            .map(|(tag, v)| match v {
                Value::String(v) => Ok((tag, v)),
                _ => Err(invalid(format!(
                    "dist-tag '{}' does not name a version",
                    tag.escape_debug()
                ))),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?,
        None => BTreeMap::new(),
        Some(_) => return Err(invalid("'dist-tags' is not an object")),
    };
    let attachments = match doc.remove("_attachments") {
        Some(Value::Object(a)) if !a.is_empty() => a,
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(_)) => Map::new(),
        Some(_) => return Err(invalid("'_attachments' is not an object")),
    };
    let mut checked = BTreeMap::new();
    for (version, manifest) in versions {
        parse_version(&version)?;
        let Value::Object(manifest) = manifest else {
            return Err(invalid(format!("Version '{version}' is not an object")));
        };
        if manifest.get("name").and_then(Value::as_str) != Some(name.as_str()) {
            return Err(invalid(format!(
                "Version '{version}': its 'name' is not '{name}'"
            )));
        }
        if manifest.get("version").and_then(Value::as_str) != Some(version.as_str()) {
            return Err(invalid(format!(
                "Version '{version}': its 'version' field does not match"
            )));
        }
        checked.insert(version, manifest);
    }
    for (tag, version) in &tags {
        check_tag(tag)?;
        parse_version(version)?;
    }
    if attachments.is_empty() {
        if !has_versions {
            return Err(invalid(
                "The document has neither '_attachments' (a publish) nor 'versions' (a change of \
                 the packument, which lists every version it keeps)",
            ));
        }
        return Ok(PackumentPut::Update(Update {
            versions: checked,
            tags,
            rev,
        }));
    }
    if checked.len() != 1 || attachments.len() != 1 {
        return Err(invalid(
            "A publish carries exactly one version and its tarball in '_attachments'",
        ));
    }
    let Some((version, mut manifest)) = checked.pop_first() else {
        return Err(invalid("A publish carries one version"));
    };
    let key = name.attachment_key(&version);
    let Some(attachment) = attachments.get(&key) else {
        return Err(invalid(format!(
            "'_attachments' has no '{key}' (the tarball of version {version})"
        )));
    };
    let tarball = decode_attachment(attachment, &key)?;
    let package_json = read_package_json(&tarball)?;
    if package_json.get("name").and_then(Value::as_str) != Some(name.as_str())
        || package_json.get("version").and_then(Value::as_str) != Some(version.as_str())
    {
        return Err(invalid(format!(
            "The tarball's package.json is {}@{}, not {name}@{version}",
            package_json
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("(no name)")
                .escape_debug(),
            package_json
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("(no version)")
                .escape_debug()
        )));
    }
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball))
    );
    let shasum = hex::encode(sha1::Sha1::digest(&tarball));
    let mut dist = match manifest.remove("dist") {
        Some(Value::Object(d)) => d,
        None => Map::new(),
        Some(_) => {
            return Err(invalid(format!(
                "Version '{version}': 'dist' is not an object"
            )));
        }
    };
    if let Some(claimed) = dist.get("integrity").and_then(Value::as_str)
        && claimed.starts_with("sha512-")
        && claimed != integrity
    {
        return Err(invalid(format!(
            "Version '{version}': dist.integrity does not match the tarball (it is {integrity})"
        )));
    }
    if let Some(claimed) = dist.get("shasum").and_then(Value::as_str)
        && !claimed.eq_ignore_ascii_case(&shasum)
    {
        return Err(invalid(format!(
            "Version '{version}': dist.shasum does not match the tarball (it is {shasum})"
        )));
    }
    dist.remove("tarball");
    dist.insert("integrity".into(), Value::String(integrity));
    dist.insert("shasum".into(), Value::String(shasum));
    manifest.insert("dist".into(), Value::Object(dist));
    manifest.insert("_id".into(), Value::String(format!("{name}@{version}")));
    manifest.insert("_npmUser".into(), json!({ "name": publisher }));
    let tags = tags
        .into_iter()
        .filter(|(_, v)| *v == version)
        .map(|(tag, _)| tag)
        .collect();
    Ok(PackumentPut::Publish(Publish {
        name: name.clone(),
        version,
        manifest,
        tarball,
        tags,
    }))
}

fn decode_attachment(attachment: &Value, key: &str) -> Result<Vec<u8>, Invalid> {
    let data = attachment
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("Attachment '{key}' has no 'data'")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| invalid(format!("Attachment '{key}': 'data' is not base64: {e}")))?;
    if let Some(length) = attachment.get("length").and_then(Value::as_u64)
        && length != bytes.len() as u64
    {
        return Err(invalid(format!(
            "Attachment '{key}': 'length' says {length} bytes, the data has {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The `package.json` of an npm tarball: the file `package.json` in the top folder (usually
/// `package/`) of the gzip'd tar, read as npm's extraction does — names from GNU long-name and pax
/// `path` records, the *last* entry of a name winning — but in bounded memory and time: entries
/// are streamed past, extended headers may hold at most 64 KiB, and the bytes unpacked are bounded
/// by the tarball's size (a gzip bomb stops early).
pub fn read_package_json(tarball: &[u8]) -> Result<Map<String, Value>, Invalid> {
    let limit = u64::try_from(tarball.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(MAX_UNPACK_RATIO)
        .clamp(MIN_UNPACKED_SCAN, MAX_UNPACKED_SCAN);
    let gz = flate2::read::GzDecoder::new(tarball).take(limit);
    let mut archive = tar::Archive::new(gz);
    let broken =
        |e: std::io::Error| invalid(format!("The tarball is not a gzip'd tar archive: {e}"));
    let entries = archive.entries().map_err(broken)?.raw(true);
    // the name the next entry has instead of its header's (GNU long name, pax `path`), and the
    // one every later entry has (pax global `path`)
    let mut next_name: Option<Vec<u8>> = None;
    let mut global_name: Option<Vec<u8>> = None;
    let mut found: Option<Vec<u8>> = None;
    for entry in entries {
        let mut entry = entry.map_err(broken)?;
        let kind = entry.header().entry_type();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension {
            if entry.size() > MAX_EXTENDED_HEADER {
                return Err(invalid(format!(
                    "The tarball has an extended header of {} bytes (at most {MAX_EXTENDED_HEADER})",
                    entry.size()
                )));
            }
            let mut data = Vec::new();
            (&mut entry)
                .take(MAX_EXTENDED_HEADER)
                .read_to_end(&mut data)
                .map_err(broken)?;
            if kind.is_gnu_longname() {
                let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                data.truncate(end);
                next_name = Some(data);
            } else if !kind.is_gnu_longlink() {
                let path = pax_path(&data)?;
                if kind.is_pax_global_extensions() {
                    global_name = path.or(global_name);
                } else if path.is_some() {
                    next_name = path;
                }
            }
            continue;
        }
        let name = next_name
            .take()
            .or_else(|| global_name.clone())
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let is_file = matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous);
        if !is_file || !is_top_package_json(&name) {
            continue;
        }
        if entry.size() > MAX_PACKAGE_JSON {
            return Err(invalid(format!(
                "The tarball's package.json is larger than {MAX_PACKAGE_JSON} bytes"
            )));
        }
        let mut text = Vec::new();
        (&mut entry)
            .take(MAX_PACKAGE_JSON)
            .read_to_end(&mut text)
            .map_err(|e| invalid(format!("The tarball could not be read: {e}")))?;
        found = Some(text);
    }
    let Some(text) = found else {
        return Err(invalid("The tarball has no package.json in its top folder"));
    };
    match serde_json::from_slice(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid("The tarball's package.json is not a JSON object")),
        Err(e) => Err(invalid(format!(
            "The tarball's package.json is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))),
    }
}

/// Whether a tar entry's name is `{top}/package.json` (empty segments and `.` ignored, as tar
/// extraction does).
fn is_top_package_json(name: &[u8]) -> bool {
    let mut parts = name
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty() && *p != b".");
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(top), Some(b"package.json"), None) if top != b".."
    )
}

/// The `path` of pax records (`"{len} {key}={value}\n"` each); a `size` record is refused (it
/// would change where the next entry ends, which raw reading does not follow).
fn pax_path(data: &[u8]) -> Result<Option<Vec<u8>>, Invalid> {
    let bad = || invalid("The tarball has a malformed pax header");
    let mut path = None;
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > space && *n <= rest.len())
            .ok_or_else(bad)?;
        let record = rest[space + 1..len].strip_suffix(b"\n").ok_or_else(bad)?;
        rest = &rest[len..];
        let eq = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        match &record[..eq] {
            b"path" => path = Some(record[eq + 1..].to_vec()),
            b"size" => {
                return Err(invalid(
                    "The tarball has a pax 'size' record (entries of 8 GiB or more are not taken)",
                ));
            }
            _ => {}
        }
    }
    Ok(path)
}

/// A package's published versions and its dist-tags (tag, version).
pub type Package = (Vec<PublishedVersion>, Vec<(String, String)>);

/// One published version, as the packument assembly needs it.
#[derive(Debug, Clone)]
pub struct PublishedVersion {
    pub version: String,
    pub manifest: Map<String, Value>,
    /// epoch ms
    pub published: i64,
}

/// The fields of a version that an abbreviated packument keeps (npm's `install-v1` list).
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "acceptDependencies",
];

/// The dist-tags as served: only tags of versions that exist, and `latest` always set when
/// there is a version (the highest release, else the highest version).
pub fn effective_tags(
    versions: &[PublishedVersion],
    tags: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = tags
        .iter()
        .filter(|(_, v)| versions.iter().any(|p| p.version == *v))
        .cloned()
        .collect();
    if !out.contains_key("latest")
        && let Some(best) = highest_version(versions.iter().map(|v| v.version.as_str()))
    {
        out.insert("latest".into(), best);
    }
    out
}

/// The highest of `versions` by semver precedence, releases before pre-releases.
pub fn highest_version<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    let parsed: Vec<semver::Version> = versions
        .filter_map(|v| semver::Version::parse(v).ok())
        .collect();
    parsed
        .iter()
        .filter(|v| v.pre.is_empty())
        .max()
        .or_else(|| parsed.iter().max())
        .map(ToString::to_string)
}

/// How a packument names its tarballs: `{registry}/{package}/-/{file}` with `registry` the
/// repository's npm API URL (`…/api/npm/{repo}`, no trailing slash).
fn with_tarball(
    mut manifest: Map<String, Value>,
    name: &PackageName,
    version: &str,
    registry: &str,
) -> Map<String, Value> {
    // an upstream's tarball may be named otherwise: keep its file name, served at arca's URL
    let file = manifest
        .get("dist")
        .and_then(|d| d.get("tarball"))
        .and_then(Value::as_str)
        .and_then(|url| url.rsplit('/').next())
        .filter(|f| f.ends_with(".tgz") && is_plain_file_name(f))
        .map(str::to_string)
        .unwrap_or_else(|| name.tarball_name(version));
    let url = format!("{registry}/{}/-/{file}", name.as_str());
    match manifest.get_mut("dist") {
        Some(Value::Object(dist)) => {
            dist.insert("tarball".into(), Value::String(url));
        }
        _ => {
            manifest.insert("dist".into(), json!({ "tarball": url }));
        }
    }
    manifest
}

/// A tarball file name as a path segment: no separators, no dot names, no escapes, no controls.
fn is_plain_file_name(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= 255
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '+' | '~'))
}

fn iso(ms: i64) -> String {
    crate::http::format::iso8601(ms)
}

/// One version's manifest as served (`GET /{package}/{version}`, and in the full packument): the
/// tarball URL of `registry`, without the readme — served once, at the top of the packument (from
/// `latest`), as the public registry does.
pub fn version_manifest(name: &PackageName, v: &PublishedVersion, registry: &str) -> Value {
    let manifest: Map<String, Value> = v
        .manifest
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "readme" | "readmeFilename"))
        .map(|(k, value)| (k.clone(), value.clone()))
        .collect();
    Value::Object(with_tarball(manifest, name, &v.version, registry))
}

/// The full packument (`application/json`): every version with its manifest, dist-tags, the
/// publish times, and the `latest` version's description and readme at the top.
pub fn full_packument(
    name: &PackageName,
    versions: &[PublishedVersion],
    tags: &[(String, String)],
    registry: &str,
) -> Value {
    let tags = effective_tags(versions, tags);
    let mut time = Map::new();
    let created = versions.iter().map(|v| v.published).min().unwrap_or(0);
    let modified = versions.iter().map(|v| v.published).max().unwrap_or(0);
    time.insert("created".into(), Value::String(iso(created)));
    time.insert("modified".into(), Value::String(iso(modified)));
    let mut out_versions = Map::new();
    for v in versions {
        time.insert(v.version.clone(), Value::String(iso(v.published)));
        out_versions.insert(v.version.clone(), version_manifest(name, v, registry));
    }
    let latest = tags
        .get("latest")
        .and_then(|l| versions.iter().find(|v| v.version == *l));
    let mut doc = Map::new();
    doc.insert("_id".into(), Value::String(name.to_string()));
    doc.insert("_rev".into(), Value::String(revision(versions, &tags)));
    doc.insert("name".into(), Value::String(name.to_string()));
    for field in [
        "description",
        "readme",
        "readmeFilename",
        "license",
        "homepage",
        "repository",
        "keywords",
        "author",
    ] {
        if let Some(value) = latest.and_then(|l| l.manifest.get(field)) {
            doc.insert(field.into(), value.clone());
        }
    }
    doc.insert("dist-tags".into(), json!(tags));
    doc.insert("versions".into(), Value::Object(out_versions));
    doc.insert("time".into(), Value::Object(time));
    Value::Object(doc)
}

/// The abbreviated packument (`application/vnd.npm.install-v1+json`): what installing needs.
pub fn abbreviated_packument(
    name: &PackageName,
    versions: &[PublishedVersion],
    tags: &[(String, String)],
    registry: &str,
) -> Value {
    let tags = effective_tags(versions, tags);
    let modified = versions.iter().map(|v| v.published).max().unwrap_or(0);
    let mut out_versions = Map::new();
    for v in versions {
        // only the install fields are copied (a manifest may carry a large readme)
        let short: Map<String, Value> = ABBREVIATED_FIELDS
            .iter()
            .filter_map(|k| Some(((*k).to_string(), v.manifest.get(*k)?.clone())))
            .collect();
        out_versions.insert(
            v.version.clone(),
            Value::Object(with_tarball(short, name, &v.version, registry)),
        );
    }
    json!({
        "name": name.as_str(),
        "modified": iso(modified),
        "dist-tags": tags,
        "versions": out_versions,
    })
}

/// The `_rev` of the packument of `versions` and `tags` (as stored; the served dist-tags are
/// derived from them).
pub fn packument_rev(versions: &[PublishedVersion], tags: &[(String, String)]) -> String {
    revision(versions, &effective_tags(versions, tags))
}

/// A packument's `_rev`: changes whenever its versions, deprecations or tags do. Clients send it
/// back with a change (`npm deprecate`, `npm unpublish`); a change made on an older packument is
/// refused, so it cannot undo a publish or a tag it never saw.
fn revision(versions: &[PublishedVersion], tags: &BTreeMap<String, String>) -> String {
    let mut hash = sha2::Sha256::new();
    for v in versions {
        hash.update(v.version.as_bytes());
        hash.update([0]);
        hash.update(
            v.manifest
                .get("deprecated")
                .map(Value::to_string)
                .unwrap_or_default(),
        );
        hash.update([0]);
    }
    for (t, v) in tags {
        hash.update(t.as_bytes());
        hash.update([1]);
        hash.update(v.as_bytes());
    }
    format!(
        "{}-{}",
        versions.len() + 1,
        &hex::encode(hash.finalize())[..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_npm_rules() {
        for ok in [
            "left-pad",
            "@acme/lib",
            "a",
            "lodash.merge",
            "x_y",
            "@a-b/c.d",
            "@s/-x",
        ] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Left",
            ".hidden",
            "_x",
            "@acme",
            "@acme/",
            "@/x",
            "a b",
            "a/b",
            "@a/b/c",
            "node_modules",
            "x~y",
            "caf\u{e9}",
            "-",
            "-rev",
            "-x",
            &"a".repeat(215),
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
        let n = PackageName::parse("@acme/lib").unwrap();
        assert_eq!(n.tarball_path("1.0.0"), "@acme/lib/-/lib-1.0.0.tgz");
        assert_eq!(n.attachment_key("1.0.0"), "@acme/lib-1.0.0.tgz");
        assert_eq!(n.escaped(), "@acme%2flib");
    }

    #[test]
    fn tags_are_not_versions_or_ranges() {
        assert!(check_tag("beta").is_ok());
        assert!(check_tag("next-2").is_ok());
        for bad in [
            "", "1.0.0", "1.x", "^2", "a b", "a/b", "v1", "v1.0", "v1.x", "x.x", "=1",
        ] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latest_is_the_highest_release_when_not_tagged() {
        let v = |s: &str, t| PublishedVersion {
            version: s.into(),
            manifest: Map::new(),
            published: t,
        };
        let versions = [v("1.0.0", 1), v("1.10.0", 2), v("2.0.0-rc.1", 3)];
        let tags = effective_tags(&versions, &[("beta".into(), "9.9.9".into())]);
        assert_eq!(tags.get("latest").map(String::as_str), Some("1.10.0"));
        assert!(
            !tags.contains_key("beta"),
            "a tag of a missing version is dropped"
        );
    }
}
