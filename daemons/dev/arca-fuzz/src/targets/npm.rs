//! Target `npm`: what npm clients send the npm format (`arca_server::formats::npm`) and the
//! route parser of `/api/npm/{repo}/…` (`arca_server::http::npm::parse_target`).
//!
//! Inputs start with a kind byte:
//! - `n` + text: a package name, version, dist-tag or route. Properties: an accepted name is
//!   1–214 bytes of `a-z0-9-._`, at most one `@scope/`, no part starting with `.` or `_`, no
//!   leading `-` (npm 11's `validate-npm-package-name`); its tarball path, attachment key and
//!   escaped form are what npm uses and route back to the name; an accepted version writes back
//!   as the same text, without build metadata; an accepted dist-tag is not a version; refusals
//!   are client errors with a message.
//! - `p` + URL name + `\n` + body: `parse_put`. Bodies start from a publish as npm 11 sends it
//!   (a real gzip'd tar with `package/package.json`, base64, sha512 integrity, sha1 shasum),
//!   then fields, the tarball and bytes are broken. Properties: an accepted publish names the
//!   URL's package and the version key, its digests are those of its tarball, which is the
//!   attachment and holds that package.json, and its tags name that version; an accepted update
//!   has semver keys and manifests of the package; a refusal has a message that names the
//!   problem.
//! - `t` + tarball: `read_package_json` on tars with odd, long, deep or missing paths and gzip
//!   bombs. Properties: an answer within seconds, and (Linux) no more than 64 MiB held beyond the
//!   input, whatever the tarball expands to.
//! - `v` + lines: packument assembly from version lists (`v\tversion\tms\tmanifest`) and tags
//!   (`t\ttag\tversion`) after the package name. Properties: dist-tags only name existing
//!   versions and `latest` is set when there is a version; the full packument has every version
//!   with its manifest and a tarball URL under the repository; the abbreviated one has only the
//!   install fields.
//! - `u` + name + `\n` + JSON: an upstream registry's packument (what a remote repository
//!   caches) through `parse_upstream_packument` and `merge_packages`. Properties: it keeps only
//!   semver versions, once each, in publish order; a merge with itself changes nothing; the
//!   packuments assembled from it have the properties above (the upstream's tarball file names
//!   stay plain path segments under the repository's URL).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::time::{Duration, Instant};

use arca_server::formats::npm::{
    Package, PackageName, PackumentPut, Publish, PublishedVersion, Update, abbreviated_packument,
    check_tag, effective_tags, full_packument, highest_version, merge_packages,
    packument_cache_path, packument_of_cache_path, parse_put, parse_upstream_packument,
    parse_version, read_package_json,
};
use arca_server::http::npm::{Target as Route, parse_target};
use base64::Engine as _;
use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::pick;
use crate::mutate::mutate;
use crate::runner::Target;

const KIND_NAME: u8 = b'n';
const KIND_PUT: u8 = b'p';
const KIND_TARBALL: u8 = b't';
const KIND_PACKUMENT: u8 = b'v';
const KIND_UPSTREAM: u8 = b'u';

/// `_npmUser` of accepted publishes.
const PUBLISHER: &str = "fuzz-user";
/// The repository's npm API URL the packuments name tarballs under.
const REGISTRY: &str = "http://arca.test/artifactory/api/npm/npm-local";
/// What `read_package_json` may hold beyond its input (its own bound is 4 MiB of package.json).
const MAX_HELD: u64 = 64 * 1024 * 1024;
/// How long `read_package_json` may take on anything (512 MiB of inflate is well under 2 s in
/// release builds).
const MAX_READ_TIME: Duration = Duration::from_secs(10);
/// What `MAX_HELD` is checked on: smaller inputs cannot inflate to it (deflate stays under
/// 1:1032).
const MEASURED_INPUT: usize = 32 * 1024;

const VALID_NAMES: &[&str] = &[
    "left-pad",
    "@acme/lib",
    "a",
    "lodash.merge",
    "x_y",
    "@a-b/c.d",
    "demo-npm-lib",
    "@acme/scoped-lib",
    "0",
    "a.b.c",
    "-",
    "@s/-rev",
    "package",
    "@node_modules/x",
];

const NAME_SEEDS: &[&str] = &[
    "",
    "Left",
    ".hidden",
    "_x",
    "@_s/x",
    "@s/.x",
    "@acme",
    "@acme/",
    "@/x",
    "a/b",
    "@a/b/c",
    "@@a/b",
    "@a%2fb",
    "@a%2Fb",
    "caf\u{e9}",
    "a b",
    "x~y",
    "node_modules",
    "favicon.ico",
    "@a/node_modules",
    "-",
    "--",
    "-rev",
    "a\0b",
    " a",
    "a\n",
    "\u{10FFFF}",
    "-/package/@acme%2flib/dist-tags/beta",
    "@acme/lib/-/lib-1.0.0.tgz/-rev/3-abc",
    "x/-rev/3-abc",
    "-/user/org.couchdb.user:dev",
    "-/v1/search",
    "-/npm/v1/security/advisories/bulk",
    "%ff",
    "%2e%2e/x",
    "x/-/a/b/c/d",
];

const NAME_TOKENS: &[&str] = &[
    "@",
    "/",
    "%2f",
    "%2F",
    "%40",
    ".",
    "..",
    "_",
    "-",
    "a",
    "z",
    "0",
    "9",
    "A",
    "Z",
    "é",
    "\0",
    " ",
    "~",
    "%",
    "+",
    "!",
    "*",
    "(",
    "'",
    "node_modules",
    "-rev",
    "-/",
    "/-/",
    "dist-tags",
    "\n",
    "\u{10FFFF}",
    "%00",
    "%c0%af",
    "1.0.0",
    ".tgz",
];

const VALID_VERSIONS: &[&str] = &[
    "1.0.0",
    "0.0.1",
    "1.1.0",
    "1.10.0",
    "2.0.0-rc.1",
    "1.0.0-rc.1",
    "1.0.0-0",
    "1.0.0-alpha.beta.7",
    "10.20.30",
    "18446744073709551615.0.0",
    "0.0.0-x-y-z.--",
];

/// Not npm versions (build metadata is semver, but npm drops it).
const OTHER_VERSIONS: &[&str] = &[
    "2.0.0-beta.2+build.7",
    "1.0.0+001",
    "1.0.0+b",
    "",
    "1.0",
    "1",
    "v1.0.0",
    "=1.0.0",
    " 1.0.0",
    "1.0.0 ",
    "01.0.0",
    "1.0.0-",
    "1.0.0+",
    "1.0.0-01",
    "1.0.0-α",
    "18446744073709551616.0.0",
    "latest",
    "1.0.0/../x",
    "1.x",
    "^1.0.0",
];

const TAGS: &[&str] = &[
    "latest", "beta", "next", "next-2", "canary_1", "Beta", "x", "X", "1", "v1", "1.x", "^2", "~1",
    "*", ">=1", "1.0.0", "a b", "a/b", "", "latest\n", "é",
];

/// Tokens for the JSON of publish bodies and manifests.
const JSON_TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-0",
    "1e999",
    "18446744073709551616",
    "\"\\u0000\"",
    "\\ud800",
    "\\u00e9",
    "\"name\"",
    "\"version\"",
    "\"versions\"",
    "\"dist-tags\"",
    "\"_attachments\"",
    "\"data\"",
    "\"length\"",
    "\"dist\"",
    "\"integrity\"",
    "\"shasum\"",
    "\"tarball\"",
    "\"latest\"",
    "\"1.0.0\"",
    "\"sha512-\"",
    "\"deprecated\"",
    "=",
    "\\n",
];

/// The install fields of an abbreviated version (npm's `install-v1` format: the registry's
/// documented list, with the platform and license fields npmjs.org serves too).
const INSTALL_FIELDS: &[&str] = &[
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

/// Fields of generated manifests: install fields and others.
const MANIFEST_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "readme",
    "main",
    "scripts",
    "dependencies",
    "devDependencies",
    "deprecated",
    "bin",
    "engines",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
    "cpu",
    "os",
    "gitHead",
    "_npmUser",
    "_id",
    "repository",
    "keywords",
    "author",
    "homepage",
];

/// `dist.tarball` values a manifest may carry (an upstream's, or an attacker's).
const TARBALL_URLS: &[&str] = &[
    "http://127.0.0.1:8083/x/-/x-1.0.0.tgz",
    "https://registry.example/@s/x/-/x-1.0.0.tgz",
    "../../../etc/passwd",
    "http://evil.example/a/..%2f..%2fsecret.tgz",
    "x-1.0.0.tgz?y=1#z",
    "http://h/x/-/.hidden.tgz",
    "http://h/x/-/a b.tgz",
    "http://h/x/-/",
    "",
    "/",
    "http://h/x/-/x-1.0.0.tgz/",
];

const TIMES: &[i64] = &[
    0,
    1,
    -1,
    1_780_000_000_000,
    253_402_300_799_999,
    253_402_300_800_000,
    -62_135_596_800_000,
    -62_135_596_800_001,
    i64::MAX,
    i64::MIN,
];

/// Tarballs that inflate far: the kind of their big entry. Built once per process and size
/// (0.1 s of fast deflate for 600 MiB in release builds) and cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bomb {
    /// A regular file of zeros, then `package/package.json`.
    Zeros,
    /// A GNU long-name entry (`L`) of zeros, then `package/package.json`.
    LongName,
    /// A pax extended header (`x`) of zeros, then `package/package.json`.
    Pax,
}

pub struct Npm {
    bombs: HashMap<(Bomb, u64), Vec<u8>>,
}

impl Npm {
    pub fn new() -> Self {
        Npm {
            bombs: HashMap::new(),
        }
    }

    /// The gzip'd tar of `bomb` whose big entry has `size` zero bytes (cached).
    fn bomb(&mut self, bomb: Bomb, size: u64) -> Vec<u8> {
        self.bombs
            .entry((bomb, size))
            .or_insert_with(|| build_bomb(bomb, size))
            .clone()
    }
}

impl Default for Npm {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for Npm {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        match rng.gen_range(0..100) {
            0..35 => gen_text(rng),
            35..62 => gen_put(rng),
            62..74 => self.gen_tarball(rng),
            74..87 => gen_upstream(rng),
            _ => gen_packument(rng),
        }
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&kind, rest)) = input.split_first() else {
            return Ok(());
        };
        match kind {
            KIND_NAME => check_text(&String::from_utf8_lossy(rest)),
            KIND_PUT => check_put(rest),
            KIND_TARBALL => check_tarball(rest),
            KIND_PACKUMENT => check_packument_input(&String::from_utf8_lossy(rest)),
            KIND_UPSTREAM => check_upstream(rest),
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// generators

fn valid_name(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.1) {
        // around the 214-byte limit, scoped or not
        let total = rng.gen_range(212..=216usize);
        if rng.gen_bool(0.5) {
            let scope = rng.gen_range(1..total - 3);
            format!("@{}/{}", "s".repeat(scope), "n".repeat(total - scope - 2))
        } else {
            "n".repeat(total)
        }
    } else {
        pick(rng, VALID_NAMES).to_string()
    }
}

fn valid_version(rng: &mut StdRng) -> String {
    pick(rng, VALID_VERSIONS).to_string()
}

fn any_version(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.8) {
        valid_version(rng)
    } else {
        pick(rng, OTHER_VERSIONS).to_string()
    }
}

fn random_part(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"abcxyz0189-._ABZ~!*'()@/% ";
    let len = rng.gen_range(0..12);
    (0..len)
        .map(|_| {
            if rng.gen_bool(0.85) {
                char::from(ALPHABET[rng.gen_range(0..10)])
            } else {
                char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])
            }
        })
        .collect()
}

/// A name, version, dist-tag or route path.
fn gen_text(rng: &mut StdRng) -> Vec<u8> {
    let text = match rng.gen_range(0..9) {
        0 | 1 => valid_name(rng),
        2 => pick(rng, NAME_SEEDS).to_string(),
        3 => {
            let base = random_part(rng);
            if rng.gen_bool(0.4) {
                format!("@{}/{base}", random_part(rng))
            } else {
                base
            }
        }
        4 => any_version(rng),
        5 => pick(rng, TAGS).to_string(),
        _ => {
            // a route as npm asks for it
            let name = valid_name(rng);
            let escaped = name.replace('/', "%2f");
            let version = any_version(rng);
            let base = name.rsplit('/').next().unwrap_or_default().to_string();
            match rng.gen_range(0..6) {
                0 => escaped,
                1 => format!("{name}/-/{base}-{version}.tgz"),
                2 => format!("{escaped}/-rev/3-abc"),
                3 => format!("-/package/{escaped}/dist-tags/{}", pick(rng, TAGS)),
                4 => format!("{escaped}/{version}"),
                _ => format!("{escaped}/-/{base}-{version}.tgz/-rev/2-x"),
            }
        }
    };
    let mut data = text.into_bytes();
    if rng.gen_bool(0.5) {
        let other = pick(rng, NAME_SEEDS).as_bytes();
        mutate(rng, &mut data, NAME_TOKENS, other, 4, 600);
    }
    let mut input = vec![KIND_NAME];
    input.extend_from_slice(&data);
    input
}

/// One 512-byte tar header (GNU format) for `name` (the first 100 bytes of it).
fn tar_header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_mtime(499_162_500);
    h.set_size(size);
    h.set_cksum();
    h
}

fn pad(tar: &mut Vec<u8>) {
    let rem = tar.len() % 512;
    if rem != 0 {
        tar.resize(tar.len() + 512 - rem, 0);
    }
}

/// An entry `name` (a GNU long-name entry first when it needs one) holding `data`.
fn push_entry(tar: &mut Vec<u8>, name: &[u8], kind: tar::EntryType, data: &[u8]) {
    if name.len() > 100 {
        let mut long = name.to_vec();
        long.push(0);
        push_entry(tar, b"././@LongLink", tar::EntryType::GNULongName, &long);
    }
    tar.extend_from_slice(tar_header(name, kind, data.len() as u64).as_bytes());
    tar.extend_from_slice(data);
    pad(tar);
}

/// A pax extended header record `key=value`.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    // "<len> key=value\n", where len counts itself
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}").len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

thread_local! {
    /// One deflate state for all inputs: a new one is 200 KiB of tables to allocate and clear,
    /// more than the rest of an input costs.
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::default(), false));
}

/// `data` as a gzip member: deflated (as npm packs) or in stored blocks (cheaper to make; the
/// reader sees the same tar).
fn gzip(data: &[u8], deflate: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    if deflate {
        DEFLATE.with(|d| {
            let mut d = d.borrow_mut();
            d.reset();
            loop {
                let consumed = usize::try_from(d.total_in()).unwrap_or(usize::MAX);
                let rest = data.get(consumed..).unwrap_or_default();
                out.reserve(rest.len() / 2 + 1024);
                match d.compress_vec(rest, &mut out, FlushCompress::Finish) {
                    Ok(Status::StreamEnd) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
    } else {
        let mut chunks = data.chunks(0xffff).peekable();
        if chunks.peek().is_none() {
            out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        while let Some(chunk) = chunks.next() {
            let len = chunk.len() as u16;
            out.push(u8::from(chunks.peek().is_none()));
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The `package.json` of a generated tarball: right for `name`@`version` mostly.
fn gen_package_json(rng: &mut StdRng, name: &str, version: &str, faulty: bool) -> Vec<u8> {
    let mut pj = json!({
        "name": name,
        "version": version,
        "description": "tiny",
        "main": "index.js",
        "license": "MIT",
    });
    match if faulty { rng.gen_range(0..10) } else { 99 } {
        0 => pj["name"] = json!(valid_name(rng)),
        1 => pj["version"] = json!(any_version(rng)),
        2 => {
            if let Some(m) = pj.as_object_mut() {
                m.remove("name");
            }
        }
        3 => {
            if let Some(m) = pj.as_object_mut() {
                m.remove("version");
            }
        }
        4 => pj["name"] = json!(7),
        5 => {
            return pick(
                rng,
                &[
                    "[1,2]",
                    "\"x\"",
                    "{",
                    "",
                    "null",
                    "\u{feff}{}",
                    "{\"name\":",
                ],
            )
            .as_bytes()
            .to_vec();
        }
        6 => pj["name"] = json!(name.to_uppercase()),
        _ => {}
    }
    serde_json::to_vec(&pj).unwrap_or_default()
}

/// A tar (not gzip'd) holding `package_json` somewhere, mostly at `package/package.json`.
fn gen_tar(rng: &mut StdRng, package_json: &[u8], other_json: &[u8], faulty: bool) -> Vec<u8> {
    use tar::EntryType as E;
    let mut tar = Vec::new();
    let index = b"module.exports = 1;\n".as_slice();
    let layout = if faulty { rng.gen_range(0..20) } else { 99 };
    match layout {
        0 => push_entry(&mut tar, b"package.json", E::Regular, package_json),
        1 => push_entry(
            &mut tar,
            b"package/lib/package.json",
            E::Regular,
            package_json,
        ),
        2 => push_entry(&mut tar, b"package/index.js", E::Regular, index),
        3 => {
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
            push_entry(&mut tar, b"package/package.json", E::Regular, other_json);
        }
        4 => {
            push_entry(&mut tar, b"package/package.json", E::Regular, other_json);
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        5 => {
            // long paths (GNU long names) before it
            let deep = format!("package/{}x.js", "d/".repeat(rng.gen_range(40..200)));
            push_entry(&mut tar, deep.as_bytes(), E::Regular, index);
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        6 => {
            // the top folder's name is longer than a header holds
            let top = "p".repeat(rng.gen_range(90..300));
            let path = format!("{top}/package.json");
            push_entry(&mut tar, path.as_bytes(), E::Regular, package_json);
        }
        7 => {
            let path = pick(
                rng,
                &[
                    "./package.json",
                    "package//package.json",
                    "/package/package.json",
                    "package/./package.json",
                    "../package.json",
                    "package/package.json/",
                    "package\\package.json",
                    "package/package.json\u{0}x",
                    "package/PACKAGE.JSON",
                ],
            );
            push_entry(&mut tar, path.as_bytes(), E::Regular, package_json);
        }
        8 => {
            push_entry(&mut tar, b"package/package.json", E::Directory, b"");
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        9 => {
            let mut h = tar_header(b"package/package.json", E::Symlink, 0);
            if h.set_link_name("index.js").is_ok() {
                h.set_cksum();
            }
            tar.extend_from_slice(h.as_bytes());
        }
        10 => {
            // a pax header renames the next entry to package/package.json
            let record = pax_record("path", "package/package.json");
            push_entry(&mut tar, b"PaxHeader/x", E::XHeader, &record);
            push_entry(&mut tar, b"package/other.json", E::Regular, package_json);
        }
        11 => {
            // a pax header that lies about the size
            let record = pax_record("size", pick(rng, &["0", "99999999999", "-1", "x"]));
            push_entry(&mut tar, b"PaxHeader/x", E::XHeader, &record);
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        12 => {
            for i in 0..rng.gen_range(20..100) {
                push_entry(
                    &mut tar,
                    format!("package/f{i}.js").as_bytes(),
                    E::Regular,
                    b"",
                );
            }
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        13 => {
            // the header says more than there is
            tar.extend_from_slice(
                tar_header(b"package/package.json", E::Regular, 1 << 20).as_bytes(),
            );
            tar.extend_from_slice(package_json);
        }
        14 if rng.gen_bool(0.02) => {
            // a package.json at and over the 4 MiB bound (mostly spaces)
            let mut big = package_json.to_vec();
            big.resize(4 * 1024 * 1024 + rng.gen_range(0..3), b' ');
            push_entry(&mut tar, b"package/package.json", E::Regular, &big);
        }
        15 => {
            // a hard link and a GNU sparse entry in front
            let mut h = tar_header(b"package/link.js", E::Link, 0);
            if h.set_link_name("package/index.js").is_ok() {
                h.set_cksum();
            }
            tar.extend_from_slice(h.as_bytes());
            push_entry(&mut tar, b"package/sparse", E::GNUSparse, b"xxxx");
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
        }
        _ => {
            if rng.gen_bool(0.5) {
                push_entry(&mut tar, b"package/index.js", E::Regular, index);
            }
            push_entry(&mut tar, b"package/package.json", E::Regular, package_json);
            if rng.gen_bool(0.3) {
                push_entry(&mut tar, b"package/README.md", E::Regular, b"# x\n");
            }
        }
    }
    if !faulty || rng.gen_bool(0.8) {
        tar.resize(tar.len() + 1024, 0);
    }
    tar
}

/// A tarball of `name`@`version` as npm packs it, then (sometimes) broken.
fn gen_tarball_bytes(rng: &mut StdRng, name: &str, version: &str, faulty: bool) -> Vec<u8> {
    // one of the package.json, the tar or the gzip'd bytes broken
    let fault = if faulty { rng.gen_range(0..3) } else { 3 };
    let package_json = gen_package_json(rng, name, version, fault == 0);
    let other_json =
        serde_json::to_vec(&json!({"name": "other", "version": "9.9.9"})).unwrap_or_default();
    let tar = gen_tar(rng, &package_json, &other_json, fault == 1);
    let deflate = fault == 2 || rng.gen_bool(0.05);
    let mut tgz = gzip(&tar, deflate);
    match if fault == 2 { rng.gen_range(0..8) } else { 99 } {
        0 => tgz = tar,
        1 => tgz = gzip(pick(rng, &["", "x", "{\"name\":\"x\"}"]).as_bytes(), true),
        2 => {
            let at = rng.gen_range(0..=tgz.len());
            tgz.truncate(at);
        }
        3 | 4 => {
            let other = gzip(&other_json, true);
            mutate(
                rng,
                &mut tgz,
                &["\u{1f}", "\0", "\u{7f}"],
                &other,
                3,
                1 << 20,
            );
        }
        5 => tgz.clear(),
        6 => {
            // a second gzip member with another package.json (node-tar, like the reader,
            // stops after the first member)
            let mut second = Vec::new();
            push_entry(
                &mut second,
                b"package/package.json",
                tar::EntryType::Regular,
                &other_json,
            );
            let first = gen_tar(rng, &package_json, &other_json, false);
            let trimmed = first.len().saturating_sub(1024);
            tgz = gzip(&first[..trimmed], deflate);
            tgz.extend_from_slice(&gzip(&second, deflate));
        }
        7 => {
            // gzip header flags: a file name, a comment, extra data
            if let Some(flags) = tgz.get_mut(3) {
                *flags |= rng.gen_range(1..32u8);
            }
        }
        _ => {}
    }
    tgz
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn integrity(bytes: &[u8]) -> String {
    format!("sha512-{}", b64(&sha2::Sha512::digest(bytes)))
}

fn shasum(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

/// The base name of a package (what its tarball file names start with).
fn base_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The body of `npm publish` (npm 11): one version, its tarball as the only attachment.
fn publish_doc(name: &str, version: &str, tag: &str, tarball: &[u8], digested: &[u8]) -> Value {
    let base = base_of(name);
    json!({
        "_id": name,
        "name": name,
        "description": "tiny",
        "dist-tags": { tag: version },
        "versions": {
            version: {
                "name": name,
                "version": version,
                "description": "tiny",
                "main": "index.js",
                "license": "MIT",
                "readme": "# tiny\n",
                "_id": format!("{name}@{version}"),
                "_nodeVersion": "20.20.2",
                "_npmVersion": "11.19.1",
                "dist": {
                    "integrity": integrity(digested),
                    "shasum": shasum(digested),
                    "tarball": format!("http://127.0.0.1:8083/{name}/-/{base}-{version}.tgz"),
                },
            },
        },
        "access": null,
        "_attachments": {
            format!("{name}-{version}.tgz"): {
                "content_type": "application/octet-stream",
                "data": b64(tarball),
                "length": tarball.len(),
            },
        },
    })
}

fn object_at<'a>(doc: &'a mut Value, pointer: &str) -> Option<&'a mut Map<String, Value>> {
    doc.pointer_mut(pointer).and_then(Value::as_object_mut)
}

/// A random JSON value that is not the expected one.
fn odd_value(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..7) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(1.5),
        3 => json!([]),
        4 => json!({}),
        5 => json!(""),
        _ => json!("x"),
    }
}

/// One field-level change of a publish document (the version `version` of `name`).
fn break_doc(rng: &mut StdRng, doc: &mut Value, name: &str, version: &str) {
    let vptr = format!(
        "/versions/{}",
        version.replace('~', "~0").replace('/', "~1")
    );
    let key = format!("{name}-{version}.tgz");
    let aptr = format!(
        "/_attachments/{}",
        key.replace('~', "~0").replace('/', "~1")
    );
    match rng.gen_range(0..26) {
        0 => doc["name"] = json!(valid_name(rng)),
        1 => {
            if let Some(m) = doc.as_object_mut() {
                m.remove("name");
            }
        }
        2 => doc["name"] = odd_value(rng),
        3 => {
            // a second version
            let other = valid_version(rng);
            if let Some(vs) = object_at(doc, "/versions") {
                vs.insert(other.clone(), json!({"name": name, "version": other}));
            }
        }
        4 => {
            if let Some(vs) = object_at(doc, "/versions") {
                vs.clear();
            }
        }
        5 => {
            // the version key renamed
            let other = any_version(rng);
            if let Some(vs) = object_at(doc, "/versions")
                && let Some(m) = vs.remove(version)
            {
                vs.insert(other, m);
            }
        }
        6 => {
            if let Some(m) = object_at(doc, &vptr) {
                m.insert("version".into(), json!(any_version(rng)));
            }
        }
        7 => {
            if let Some(m) = object_at(doc, &vptr) {
                m.insert("name".into(), json!(valid_name(rng)));
            }
        }
        8 => {
            if let Some(v) = doc.pointer_mut(&vptr) {
                *v = odd_value(rng);
            }
        }
        9 => {
            if let Some(m) = object_at(doc, &format!("{vptr}/dist")) {
                let bad = match rng.gen_range(0..4) {
                    0 => integrity(b"other"),
                    1 => "sha1-AAAA".to_string(),
                    2 => "sha512-".to_string(),
                    _ => format!(
                        "{} sha1-x",
                        m.get("integrity").and_then(Value::as_str).unwrap_or("")
                    ),
                };
                m.insert("integrity".into(), json!(bad));
            }
        }
        10 => {
            if let Some(m) = object_at(doc, &format!("{vptr}/dist")) {
                let bad = match rng.gen_range(0..3) {
                    0 => shasum(b"other"),
                    1 => m
                        .get("shasum")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_uppercase(),
                    _ => String::new(),
                };
                m.insert("shasum".into(), json!(bad));
            }
        }
        11 => {
            if let Some(m) = object_at(doc, &format!("{vptr}/dist")) {
                m.remove(pick(rng, &["integrity", "shasum", "tarball"]));
            }
        }
        12 => {
            if let Some(m) = object_at(doc, &vptr) {
                if rng.gen_bool(0.5) {
                    m.remove("dist");
                } else {
                    m.insert("dist".into(), odd_value(rng));
                }
            }
        }
        13 => {
            let (tag, target) = (pick(rng, TAGS), any_version(rng));
            if let Some(t) = object_at(doc, "/dist-tags") {
                t.insert(tag.to_string(), json!(target));
            }
        }
        14 => {
            let tag = pick(rng, TAGS);
            if let Some(t) = object_at(doc, "/dist-tags") {
                t.insert(tag.to_string(), odd_value(rng));
            }
        }
        15 => doc["dist-tags"] = odd_value(rng),
        16 => {
            // the attachment under another key
            let others = [
                format!("{}-{version}.tgz", base_of(name)),
                format!("{name}-9.9.9.tgz"),
                format!("{name}-{version}"),
                String::new(),
            ];
            let other = others.choose(rng).cloned().unwrap_or_default();
            if let Some(a) = object_at(doc, "/_attachments")
                && let Some(v) = a.remove(&key)
            {
                a.insert(other, v);
            }
        }
        17 => {
            if let Some(a) = object_at(doc, "/_attachments") {
                a.insert(format!("{name}-0.0.0.tgz"), json!({"data": ""}));
            }
        }
        18 => doc["_attachments"] = odd_value(rng),
        19 => {
            if let Some(m) = object_at(doc, &aptr) {
                m.remove("data");
            }
        }
        20 => {
            if let Some(m) = object_at(doc, &aptr) {
                let data = m
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let bad = match rng.gen_range(0..5) {
                    0 => format!("{data}!"),
                    1 => data.replace('=', ""),
                    2 => data.chars().flat_map(|c| [c, '\n']).collect(),
                    3 => data.replace('+', "-").replace('/', "_"),
                    _ => format!(" {data}"),
                };
                m.insert("data".into(), json!(bad));
            }
        }
        21 => {
            if let Some(m) = object_at(doc, &aptr) {
                let len = m.get("length").and_then(Value::as_u64).unwrap_or(0);
                let bad = match rng.gen_range(0..4) {
                    0 => json!(len + 1),
                    1 => json!(len.to_string()),
                    2 => json!(len as f64),
                    _ => json!(-1),
                };
                m.insert("length".into(), bad);
            }
        }
        22 => {
            if let Some(m) = object_at(doc, &aptr) {
                m.insert("data".into(), odd_value(rng));
            }
        }
        23 => {
            if let Some(m) = object_at(doc, &vptr) {
                m.insert("deprecated".into(), json!("use y"));
                m.insert("_npmUser".into(), json!({"name": "someone-else"}));
                m.insert("_id".into(), json!("other@1.0.0"));
            }
        }
        24 => {
            if let Some(m) = doc.as_object_mut() {
                m.remove(pick(rng, &["versions", "dist-tags", "_attachments"]));
            }
        }
        _ => doc["versions"] = odd_value(rng),
    }
}

/// A `PUT /{package}` input: the URL's name, a newline, the body. A third are publishes as
/// npm 11 sends them, the others have one kind of fault.
fn gen_put(rng: &mut StdRng) -> Vec<u8> {
    let name = valid_name(rng);
    let version = valid_version(rng);
    let tag = if rng.gen_bool(0.8) {
        "latest"
    } else {
        pick(rng, TAGS)
    };
    let fault = rng.gen_range(0..100);
    let tarball = gen_tarball_bytes(rng, &name, &version, (50..65).contains(&fault));
    let digested = if (65..70).contains(&fault) {
        gen_tarball_bytes(rng, &name, &version, false)
    } else {
        tarball.clone()
    };
    let mut doc = publish_doc(&name, &version, tag, &tarball, &digested);
    if (35..50).contains(&fault) {
        // a changed packument (npm deprecate, npm unpublish of one version)
        if let Some(m) = doc.as_object_mut() {
            m.remove("_attachments");
        }
    }
    if (40..50).contains(&fault) || (70..95).contains(&fault) {
        for _ in 0..rng.gen_range(1..=3) {
            break_doc(rng, &mut doc, &name, &version);
        }
    }
    let url_name = if fault == 95 { valid_name(rng) } else { name };
    let mut body = serde_json::to_vec(&doc).unwrap_or_default();
    if fault > 95 {
        let other =
            serde_json::to_vec(&json!({"name": url_name, "versions": {}})).unwrap_or_default();
        mutate(rng, &mut body, JSON_TOKENS, &other, 3, 1 << 20);
    }
    let mut input = vec![KIND_PUT];
    input.extend_from_slice(url_name.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(&body);
    input
}

/// Bytes `size` zero bytes long, streamed into `gz` in chunks.
fn write_zeros(gz: &mut GzEncoder<Vec<u8>>, size: u64) -> std::io::Result<()> {
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        gz.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

fn build_bomb(bomb: Bomb, size: u64) -> Vec<u8> {
    use tar::EntryType as E;
    let header = match bomb {
        Bomb::Zeros => tar_header(b"package/zeros.bin", E::Regular, size),
        Bomb::LongName => tar_header(b"././@LongLink", E::GNULongName, size),
        Bomb::Pax => tar_header(b"PaxHeader/package.json", E::XHeader, size),
    };
    let mut tail = Vec::new();
    push_entry(
        &mut tail,
        b"package/package.json",
        E::Regular,
        br#"{"name":"bomb","version":"1.0.0"}"#,
    );
    tail.resize(tail.len() + 1024, 0);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let written = gz
        .write_all(header.as_bytes())
        .and_then(|()| write_zeros(&mut gz, size.div_ceil(512) * 512))
        .and_then(|()| gz.write_all(&tail));
    match written {
        Ok(()) => gz.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

impl Npm {
    /// A `read_package_json` input: tarballs of every layout, and now and then a gzip bomb.
    fn gen_tarball(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let bytes = if rng.gen_bool(0.000_3) {
            // small bombs: 1–8 MiB (a few ms each)
            let kind = *[Bomb::Zeros, Bomb::LongName, Bomb::Pax]
                .choose(rng)
                .unwrap_or(&Bomb::Zeros);
            let size = *[1u64 << 20, 4 << 20, 8 << 20]
                .choose(rng)
                .unwrap_or(&(1 << 20));
            self.bomb(kind, size)
        } else if rng.gen_bool(0.000_1) {
            // large ones: 96 MiB, and past the 512 MiB the scan stops at (0.5–3 MB of gzip,
            // about 0.1 s of inflate in release builds)
            let kind = *[Bomb::Zeros, Bomb::LongName, Bomb::Pax]
                .choose(rng)
                .unwrap_or(&Bomb::Zeros);
            let size = *[96u64 << 20, 600 << 20].choose(rng).unwrap_or(&(96 << 20));
            self.bomb(kind, size)
        } else {
            let name = valid_name(rng);
            let version = valid_version(rng);
            let faulty = rng.gen_bool(0.8);
            gen_tarball_bytes(rng, &name, &version, faulty)
        };
        let mut input = vec![KIND_TARBALL];
        input.extend_from_slice(&bytes);
        input
    }
}

/// A manifest for the packument assembly: install fields and others, odd values now and then.
fn gen_manifest(rng: &mut StdRng, name: &str, version: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("version".into(), json!(version));
    for _ in 0..rng.gen_range(0..6) {
        let field = pick(rng, MANIFEST_FIELDS);
        let value = match rng.gen_range(0..4) {
            0 => odd_value(rng),
            1 => json!({"x": "^1.0.0"}),
            _ => json!(format!("{field} of {version}")),
        };
        m.insert(field.to_string(), value);
    }
    let mut dist = Map::new();
    dist.insert("integrity".into(), json!(integrity(version.as_bytes())));
    dist.insert("shasum".into(), json!(shasum(version.as_bytes())));
    match rng.gen_range(0..8) {
        0 => {
            dist.insert("tarball".into(), json!(pick(rng, TARBALL_URLS)));
        }
        3 | 4 => {
            // as registries name them, the scope in the path only
            let base = base_of(name);
            let url = format!("https://registry.example/{name}/-/{base}-{version}.tgz");
            dist.insert("tarball".into(), json!(url));
        }
        1 => {
            dist.insert("tarball".into(), odd_value(rng));
        }
        2 => {
            dist.insert("fileCount".into(), json!(3));
        }
        _ => {}
    }
    match rng.gen_range(0..10) {
        0 => {}
        1 => {
            m.insert("dist".into(), odd_value(rng));
        }
        _ => {
            m.insert("dist".into(), Value::Object(dist));
        }
    }
    m
}

/// Publish times of upstream packuments (`time`): RFC 3339 and what else registries write.
const ISO_TIMES: &[&str] = &[
    "2026-12-07T10:00:00.000Z",
    "2026-12-07T10:00:00Z",
    "2026-12-07T10:00:00.123456789+14:00",
    "1970-01-01T00:00:00.000Z",
    "1969-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.999Z",
    "0000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00.000Z",
    "2026-13-01T00:00:00Z",
    "2026-12-07 10:00:00",
    "2026-12-07T10:00:60Z",
    "",
    "x",
];

/// An upstream's packument (a remote repository fetches it): the name, a newline, the JSON.
fn gen_upstream(rng: &mut StdRng) -> Vec<u8> {
    let name = valid_name(rng);
    let mut versions = Map::new();
    let mut time = Map::new();
    time.insert("created".into(), json!(pick(rng, ISO_TIMES)));
    let mut names = Vec::new();
    for _ in 0..rng.gen_range(0..7) {
        let version = any_version(rng);
        let manifest = if rng.gen_bool(0.95) {
            Value::Object(gen_manifest(rng, &name, &version))
        } else {
            odd_value(rng)
        };
        versions.insert(version.clone(), manifest);
        let published = if rng.gen_bool(0.9) {
            json!(pick(rng, ISO_TIMES))
        } else {
            odd_value(rng)
        };
        time.insert(version.clone(), published);
        names.push(version);
    }
    let mut tags = Map::new();
    for _ in 0..rng.gen_range(0..4) {
        let target = match names.choose(rng) {
            Some(v) if rng.gen_bool(0.8) => json!(v),
            _ if rng.gen_bool(0.5) => odd_value(rng),
            _ => json!(any_version(rng)),
        };
        tags.insert(pick(rng, TAGS).to_string(), target);
    }
    let mut doc = json!({
        "_id": name,
        "_rev": "12-0123456789abcdef",
        "name": name,
        "dist-tags": tags,
        "versions": versions,
        "time": time,
    });
    if rng.gen_bool(0.05) {
        doc[pick(rng, &["versions", "dist-tags", "time"])] = odd_value(rng);
    }
    let mut data = serde_json::to_vec(&doc).unwrap_or_default();
    if rng.gen_bool(0.1) {
        mutate(
            rng,
            &mut data,
            JSON_TOKENS,
            b"{\"versions\":{}}",
            3,
            64 * 1024,
        );
    }
    let mut input = vec![KIND_UPSTREAM];
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(&data);
    input
}

/// A packument assembly input: the name, then versions and tags, one a line.
fn gen_packument(rng: &mut StdRng) -> Vec<u8> {
    let name = if rng.gen_bool(0.95) {
        valid_name(rng)
    } else {
        pick(rng, NAME_SEEDS).to_string()
    };
    let mut text = name.clone();
    let mut versions = Vec::new();
    for _ in 0..rng.gen_range(0..7) {
        let version = any_version(rng);
        if versions.contains(&version) && rng.gen_bool(0.9) {
            continue;
        }
        let published = if rng.gen_bool(0.7) {
            1_780_000_000_000 + rng.gen_range(0..1_000_000)
        } else {
            *TIMES.choose(rng).unwrap_or(&0)
        };
        let manifest = gen_manifest(rng, &name, &version);
        let manifest = serde_json::to_string(&manifest).unwrap_or_default();
        text.push_str(&format!("\nv\t{version}\t{published}\t{manifest}"));
        versions.push(version);
    }
    for _ in 0..rng.gen_range(0..4) {
        let tag = pick(rng, TAGS);
        let target = match versions.choose(rng) {
            Some(v) if rng.gen_bool(0.8) => v.clone(),
            _ => any_version(rng),
        };
        text.push_str(&format!("\nt\t{tag}\t{target}"));
    }
    let mut data = text.into_bytes();
    if rng.gen_bool(0.1) {
        mutate(
            rng,
            &mut data,
            JSON_TOKENS,
            b"\nv\t1.0.0\t0\t{}",
            3,
            64 * 1024,
        );
    }
    let mut input = vec![KIND_PACKUMENT];
    input.extend_from_slice(&data);
    input
}

// ---------------------------------------------------------------------------------------------
// checks

/// `text` with its `%XX` escapes decoded (None when one is broken or the result is not UTF-8).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a route is the one expected.
type RouteCheck<'a> = dyn Fn(&Route) -> bool + 'a;

/// What an accepted name must be, and how npm's URLs for it must route.
fn check_accepted_name(text: &str, name: &PackageName) -> Result<(), String> {
    let bad = |why: String| Err(format!("PackageName::parse({text:?}) accepted it: {why}"));
    if name.as_str() != text {
        return bad(format!("it became {:?}", name.as_str()));
    }
    if text.starts_with('-') {
        return bad("npm refuses names that start with '-'".into());
    }
    if text.is_empty() || text.len() > 214 {
        return bad(format!("{} bytes", text.len()));
    }
    let (scope, base) = match text.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, base)) => (Some(scope), base),
            None => return bad("'@' without a scope".into()),
        },
        None => (None, text),
    };
    for part in scope.into_iter().chain([base]) {
        if part.is_empty() || part.starts_with(['.', '_']) {
            return bad(format!("part {part:?} is empty or starts with '.' or '_'"));
        }
        if let Some(c) = part.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
        }) {
            return bad(format!("{c:?} is not allowed"));
        }
    }
    if name.base() != base {
        return bad(format!("base() is {:?}", name.base()));
    }
    let version = "1.0.0-rc.1";
    let file = format!("{base}-{version}.tgz");
    if name.tarball_name(version) != file {
        return bad(format!("tarball_name is {:?}", name.tarball_name(version)));
    }
    if name.tarball_path(version) != format!("{text}/-/{file}") {
        return bad(format!("tarball_path is {:?}", name.tarball_path(version)));
    }
    if name.attachment_key(version) != format!("{text}-{version}.tgz") {
        return bad(format!(
            "attachment_key is {:?}",
            name.attachment_key(version)
        ));
    }
    let escaped = name.escaped();
    if escaped.contains('/') || percent_decode(&escaped).as_deref() != Some(text) {
        return bad(format!("escaped() is {escaped:?}"));
    }
    // npm's URLs for the package route back to it
    let n = name;
    let routes: [(String, &RouteCheck<'_>); 8] = [
        (
            escaped.clone(),
            &|r| matches!(r, Route::Packument(x) if x == n),
        ),
        (
            text.to_string(),
            &|r| matches!(r, Route::Packument(x) if x == n),
        ),
        (
            format!("{escaped}/-rev/3-abc"),
            &|r| matches!(r, Route::PackumentRev(x, ..) if x == n),
        ),
        (
            name.tarball_path(version),
            &|r| matches!(r, Route::Tarball(x, f) if x == n && *f == file),
        ),
        (
            format!("{escaped}/-/{file}/-rev/3-abc"),
            &|r| matches!(r, Route::TarballRev(x, f, ..) if x == n && *f == file),
        ),
        (
            format!("{escaped}/{version}"),
            &|r| matches!(r, Route::Version(x, v) if x == n && v == version),
        ),
        (
            format!("-/package/{escaped}/dist-tags"),
            &|r| matches!(r, Route::DistTags(x, None) if x == n),
        ),
        (
            format!("-/package/{escaped}/dist-tags/beta"),
            &|r| matches!(r, Route::DistTags(x, Some(t)) if x == n && t == "beta"),
        ),
    ];
    for (path, wanted) in routes {
        match parse_target(&path) {
            Ok(got) if wanted(&got) => {}
            Ok(got) => return bad(format!("parse_target({path:?}) is {got:?}")),
            Err(e) => {
                return bad(format!(
                    "parse_target({path:?}) refused it: {} {}",
                    e.status, e.message
                ));
            }
        }
    }
    Ok(())
}

/// A name, version, dist-tag and route parsers on the same text.
fn check_text(text: &str) -> Result<(), String> {
    match PackageName::parse(text) {
        Ok(name) => check_accepted_name(text, &name)?,
        Err(e) if e.0.starts_with("Invalid package name") => {}
        Err(e) => {
            return Err(format!(
                "PackageName::parse({text:?}) refused it with {e:?}"
            ));
        }
    }
    match parse_version(text) {
        Ok(v) => {
            if v.to_string() != text || !v.build.is_empty() {
                return Err(format!(
                    "parse_version({text:?}) accepted it as {v} (npm has no build metadata)"
                ));
            }
            if highest_version([text].into_iter()).as_deref() != Some(text) {
                return Err(format!("highest_version([{text:?}]) is not {text:?}"));
            }
        }
        Err(e) if e.0.starts_with("Invalid version") => {}
        Err(e) => return Err(format!("parse_version({text:?}) refused it with {e:?}")),
    }
    match check_tag(text) {
        Ok(()) => {
            let charset = text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if text.is_empty() || text.len() > 128 || !charset {
                return Err(format!("check_tag({text:?}) accepted a malformed tag"));
            }
            if parse_version(text).is_ok() {
                return Err(format!("check_tag({text:?}) accepted a version"));
            }
        }
        Err(e) if e.0.starts_with("Invalid dist-tag") => {}
        Err(e) => return Err(format!("check_tag({text:?}) refused it with {e:?}")),
    }
    if let Err(e) = parse_target(text)
        && !matches!(e.status.as_u16(), 400 | 404)
    {
        return Err(format!("parse_target({text:?}) answered {}", e.status));
    }
    Ok(())
}

/// Words one of which a refusal of `parse_put` names.
const PROBLEM_WORDS: &[&str] = &[
    "name",
    "version",
    "Version",
    "JSON",
    "dist",
    "attachment",
    "Attachment",
    "tarball",
    "publish",
    "package",
    "object",
];

fn check_put(input: &[u8]) -> Result<(), String> {
    let Some(newline) = input.iter().position(|b| *b == b'\n') else {
        return Ok(());
    };
    let (url, body) = (&input[..newline], &input[newline + 1..]);
    let Ok(name) = PackageName::parse(&String::from_utf8_lossy(url)) else {
        return Ok(());
    };
    match parse_put(&name, body, PUBLISHER) {
        Ok(PackumentPut::Publish(p)) => check_publish(&name, body, &p),
        Ok(PackumentPut::Update(u)) => check_update(&name, body, &u),
        Err(e) => {
            if e.0.trim().is_empty() || !PROBLEM_WORDS.iter().any(|w| e.0.contains(w)) {
                Err(format!(
                    "parse_put refused it with a message that names nothing: {:?}",
                    e.0
                ))
            } else {
                Ok(())
            }
        }
    }
}

fn check_publish(name: &PackageName, body: &[u8], p: &Publish) -> Result<(), String> {
    let bad = |why: String| Err(format!("parse_put accepted a publish: {why}"));
    let doc: Value = match serde_json::from_slice(body) {
        Ok(doc) => doc,
        Err(e) => return bad(format!("of a body that is not JSON: {e}")),
    };
    if p.name != *name {
        return bad(format!("of {}, not the URL's {name}", p.name));
    }
    if parse_version(&p.version).is_err() {
        return bad(format!("of version {:?}", p.version));
    }
    let sent = doc
        .get("versions")
        .and_then(Value::as_object)
        .map(|v| v.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if sent != [p.version.clone()] {
        return bad(format!(
            "of {:?}, the body's versions are {sent:?}",
            p.version
        ));
    }
    let m = &p.manifest;
    let field = |k: &str| m.get(k).and_then(Value::as_str);
    if field("name") != Some(name.as_str()) || field("version") != Some(&p.version) {
        return bad(format!(
            "its manifest is {:?}@{:?}",
            field("name"),
            field("version")
        ));
    }
    let id = format!("{name}@{}", p.version);
    if field("_id") != Some(id.as_str()) {
        return bad(format!("its _id is {:?}", field("_id")));
    }
    if m.get("_npmUser") != Some(&json!({ "name": PUBLISHER })) {
        return bad(format!("its _npmUser is {:?}", m.get("_npmUser")));
    }
    let dist = m.get("dist").and_then(Value::as_object);
    let dist_field = |k: &str| dist.and_then(|d| d.get(k)).and_then(Value::as_str);
    if dist_field("integrity") != Some(integrity(&p.tarball).as_str()) {
        return bad(format!("its integrity is {:?}", dist_field("integrity")));
    }
    if dist_field("shasum") != Some(shasum(&p.tarball).as_str()) {
        return bad(format!("its shasum is {:?}", dist_field("shasum")));
    }
    if dist.is_some_and(|d| d.contains_key("tarball")) {
        return bad("its dist keeps the client's tarball URL".into());
    }
    // the tarball is the attachment, and holds the package.json of this version
    let key = name.attachment_key(&p.version);
    let data = doc
        .pointer(&format!(
            "/_attachments/{}",
            key.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(|a| a.get("data"))
        .and_then(Value::as_str)
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok());
    if data.as_deref() != Some(p.tarball.as_slice()) {
        return bad(format!("its tarball is not the attachment '{key}'"));
    }
    match read_package_json(&p.tarball) {
        Ok(pj) => {
            let f = |k: &str| pj.get(k).and_then(Value::as_str);
            if f("name") != Some(name.as_str()) || f("version") != Some(&p.version) {
                return bad(format!(
                    "its tarball's package.json is {:?}@{:?}",
                    f("name"),
                    f("version")
                ));
            }
        }
        Err(e) => return bad(format!("its tarball has no package.json: {}", e.0)),
    }
    // the tags: exactly those of the body that name this version, each a valid tag
    let tags: BTreeSet<&str> = p.tags.iter().map(String::as_str).collect();
    let sent_tags: BTreeSet<&str> = doc
        .get("dist-tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .filter(|(_, v)| v.as_str() == Some(p.version.as_str()))
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    if tags != sent_tags {
        return bad(format!(
            "tags {tags:?}, the body points {sent_tags:?} at it"
        ));
    }
    if let Some(t) = p.tags.iter().find(|t| check_tag(t).is_err()) {
        return bad(format!("tag {t:?} is not a valid tag"));
    }
    // served as the only version
    let versions = [PublishedVersion {
        version: p.version.clone(),
        manifest: p.manifest.clone(),
        published: 1_780_000_000_000,
    }];
    let tags: Vec<(String, String)> = p
        .tags
        .iter()
        .map(|t| (t.clone(), p.version.clone()))
        .collect();
    check_assembly(name, &versions, &tags)
}

fn check_update(name: &PackageName, body: &[u8], u: &Update) -> Result<(), String> {
    let bad = |why: String| Err(format!("parse_put accepted an update: {why}"));
    let doc: Value = match serde_json::from_slice(body) {
        Ok(doc) => doc,
        Err(e) => return bad(format!("of a body that is not JSON: {e}")),
    };
    if doc
        .get("_attachments")
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty())
    {
        return bad("of a body with attachments".into());
    }
    for (version, manifest) in &u.versions {
        if parse_version(version).is_err() {
            return bad(format!("version key {version:?}"));
        }
        let f = |k: &str| manifest.get(k).and_then(Value::as_str);
        if f("name") != Some(name.as_str()) || f("version") != Some(version.as_str()) {
            return bad(format!(
                "version {version:?} has the manifest of {:?}@{:?}",
                f("name"),
                f("version")
            ));
        }
    }
    for (tag, version) in &u.tags {
        if check_tag(tag).is_err() || parse_version(version).is_err() {
            return bad(format!("dist-tag {tag:?} → {version:?}"));
        }
    }
    Ok(())
}

/// `VmHWM` or `VmRSS` of this process in bytes (Linux).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Reset the process's peak resident size to its current one (Linux `clear_refs`); the peak
/// then, or None where that is not possible.
fn reset_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_bytes("VmHWM")
}

fn check_tarball(tarball: &[u8]) -> Result<(), String> {
    let measured = tarball.len() >= MEASURED_INPUT;
    let before = if measured { reset_peak() } else { None };
    let started = Instant::now();
    let result = read_package_json(tarball);
    let took = started.elapsed();
    if took > MAX_READ_TIME {
        return Err(format!(
            "read_package_json took {took:?} on {} bytes",
            tarball.len()
        ));
    }
    if let Some(before) = before
        && let Some(after) = status_bytes("VmHWM")
        && after.saturating_sub(before) > MAX_HELD
    {
        return Err(format!(
            "read_package_json held {} MiB on a {}-byte tarball ({})",
            after.saturating_sub(before) >> 20,
            tarball.len(),
            match &result {
                Ok(_) => "Ok".to_string(),
                Err(e) => e.0.clone(),
            }
        ));
    }
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.0.starts_with("The tarball") => Ok(()),
        Err(e) => Err(format!("read_package_json refused it with {:?}", e.0)),
    }
}

/// The `v` input: a name line, then `v\tversion\tms\tmanifest` and `t\ttag\tversion` lines
/// (malformed lines are skipped).
fn check_packument_input(text: &str) -> Result<(), String> {
    let mut lines = text.split('\n');
    let Ok(name) = PackageName::parse(lines.next().unwrap_or_default()) else {
        return Ok(());
    };
    let mut versions = Vec::new();
    let mut tags = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        match fields.as_slice() {
            ["v", version, ms, manifest] => {
                let Ok(Value::Object(manifest)) = serde_json::from_str(manifest) else {
                    continue;
                };
                versions.push(PublishedVersion {
                    version: version.to_string(),
                    manifest,
                    published: ms.parse().unwrap_or(0),
                });
            }
            ["t", tag, version] => tags.push((tag.to_string(), version.to_string())),
            _ => {}
        }
    }
    check_assembly(&name, &versions, &tags)
}

/// `parse_upstream_packument`: what it keeps is semver with object manifests, ordered by
/// publish time; merging it is idempotent; the packuments assembled from it keep the assembly's
/// properties (tarball URLs under the repository whatever the upstream named them).
fn check_upstream(input: &[u8]) -> Result<(), String> {
    let Some(newline) = input.iter().position(|b| *b == b'\n') else {
        return Ok(());
    };
    let Ok(name) = PackageName::parse(&String::from_utf8_lossy(&input[..newline])) else {
        return Ok(());
    };
    let cache = packument_cache_path(&name);
    if packument_of_cache_path(&cache).as_ref() != Some(&name) {
        return Err(format!(
            "the packument cache path {cache:?} is not {name}'s"
        ));
    }
    let (versions, tags) = match parse_upstream_packument(&name, &input[newline + 1..]) {
        Ok(package) => package,
        Err(e) if e.0.contains("not valid JSON") => return Ok(()),
        Err(e) => {
            return Err(format!(
                "parse_upstream_packument refused it with {:?}",
                e.0
            ));
        }
    };
    let mut seen = BTreeSet::new();
    for v in &versions {
        if semver::Version::parse(&v.version).is_err() || !seen.insert(v.version.as_str()) {
            return Err(format!(
                "parse_upstream_packument kept version {:?} (not semver, or twice)",
                v.version
            ));
        }
    }
    if versions
        .windows(2)
        .any(|w| (w[0].published, &w[0].version) > (w[1].published, &w[1].version))
    {
        return Err("parse_upstream_packument's versions are not in publish order".into());
    }
    let key = |p: &Package| {
        let vs: Vec<(String, i64)> =
            p.0.iter()
                .map(|v| (v.version.clone(), v.published))
                .collect();
        (vs, p.1.clone())
    };
    let package: Package = (versions, tags);
    let merged = merge_packages(vec![
        package.clone(),
        package.clone(),
        (Vec::new(), Vec::new()),
    ]);
    if key(&merged) != key(&package) {
        return Err(format!(
            "merge_packages of a package with itself changed it: {:?} → {:?}",
            key(&package),
            key(&merged)
        ));
    }
    check_assembly(&name, &merged.0, &merged.1)
}

/// The tarball URL of a served manifest lies under the repository's URL for the package, and
/// its file is one plain path segment.
fn check_tarball_url(name: &PackageName, version: &str, served: &Value) -> Result<(), String> {
    let url = served.pointer("/dist/tarball").and_then(Value::as_str);
    let prefix = format!("{REGISTRY}/{name}/-/");
    let file = url.and_then(|u| u.strip_prefix(&prefix));
    let plain = file.is_some_and(|f| {
        !f.is_empty()
            && !f.starts_with('.')
            && !f.chars().any(|c| {
                matches!(c, '/' | '\\' | '%' | '?' | '#') || c.is_whitespace() || c.is_control()
            })
    });
    if !plain {
        return Err(format!(
            "the served tarball URL of {name}@{version} is {url:?}, not a file under {prefix}"
        ));
    }
    Ok(())
}

/// The properties of the dist-tags and the two packuments of `versions` and `tags`.
fn check_assembly(
    name: &PackageName,
    versions: &[PublishedVersion],
    tags: &[(String, String)],
) -> Result<(), String> {
    let described = || {
        let vs: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        format!("versions {vs:?}, tags {tags:?}")
    };
    let have: BTreeSet<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    // the manifest served for each version: the last one given (as a map keeps it)
    let mut last: BTreeMap<&str, &PublishedVersion> = BTreeMap::new();
    for v in versions {
        last.insert(v.version.as_str(), v);
    }

    let highest = highest_version(versions.iter().map(|v| v.version.as_str()));
    let parsed: Vec<_> = versions
        .iter()
        .filter_map(|v| semver::Version::parse(&v.version).ok())
        .collect();
    match &highest {
        Some(h) => {
            if !have.contains(h.as_str()) {
                return Err(format!(
                    "highest_version is {h:?}, not one of {}",
                    described()
                ));
            }
            let hv = semver::Version::parse(h).map_err(|e| e.to_string())?;
            let releases = parsed.iter().any(|v| v.pre.is_empty());
            if (releases && !hv.pre.is_empty())
                || parsed
                    .iter()
                    .any(|v| *v > hv && (v.pre.is_empty() || !releases))
            {
                return Err(format!("highest_version is {h:?} of {}", described()));
            }
        }
        None if !parsed.is_empty() => {
            return Err(format!("highest_version is None of {}", described()));
        }
        None => {}
    }

    let effective = effective_tags(versions, tags);
    for (tag, version) in &effective {
        if !have.contains(version.as_str()) {
            return Err(format!(
                "effective_tags names the missing {version:?} ({tag}) of {}",
                described()
            ));
        }
        let given = tags.iter().any(|(t, v)| t == tag && v == version);
        let computed_latest = tag == "latest" && Some(version) == highest.as_ref();
        if !given && !computed_latest {
            return Err(format!(
                "effective_tags made up {tag} → {version} of {}",
                described()
            ));
        }
    }
    if !parsed.is_empty() && !effective.contains_key("latest") {
        return Err(format!("effective_tags has no latest of {}", described()));
    }

    let full = full_packument(name, versions, tags, REGISTRY);
    let tags_json = json!(effective);
    let field = |doc: &Value, k: &str| doc.get(k).cloned();
    if field(&full, "name") != Some(json!(name.as_str()))
        || field(&full, "_id") != Some(json!(name.as_str()))
    {
        return Err(format!("the full packument of {name} is named otherwise"));
    }
    if field(&full, "dist-tags") != Some(tags_json.clone()) {
        return Err(format!(
            "the full packument's dist-tags are {:?}, not {tags_json} ({})",
            full.get("dist-tags"),
            described()
        ));
    }
    let served = full.get("versions").and_then(Value::as_object);
    let served_keys: BTreeSet<&str> = served
        .map(|s| s.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if served_keys != have {
        return Err(format!(
            "the full packument has versions {served_keys:?} of {}",
            described()
        ));
    }
    for (version, v) in &last {
        let Some(manifest) = served.and_then(|s| s.get(*version)) else {
            continue;
        };
        // (versions are semver: parse_put and the upstream parser keep no other)
        if semver::Version::parse(version).is_ok() {
            check_tarball_url(name, version, manifest)?;
        }
        // every field but the readme, which the packument serves once, at the top
        for (k, value) in &v.manifest {
            if matches!(k.as_str(), "readme" | "readmeFilename") {
                if manifest.get(k).is_some() {
                    return Err(format!("the full packument kept {k} in version {version}"));
                }
                continue;
            }
            if k != "dist" && manifest.get(k) != Some(value) {
                return Err(format!(
                    "the full packument changed {k} of {version}: {:?}, given {value}",
                    manifest.get(k)
                ));
            }
        }
        if let Some(Value::Object(dist)) = v.manifest.get("dist") {
            for (k, value) in dist {
                if k != "tarball" && manifest.get("dist").and_then(|d| d.get(k)) != Some(value) {
                    return Err(format!("the full packument changed dist.{k} of {version}"));
                }
            }
        }
    }
    let time = full.get("time").and_then(Value::as_object);
    for key in ["created", "modified"]
        .into_iter()
        .chain(have.iter().copied())
    {
        if !time.is_some_and(|t| t.get(key).is_some_and(Value::is_string)) {
            return Err(format!("the full packument's time has no {key:?}"));
        }
    }
    let rev = full.get("_rev").and_then(Value::as_str).unwrap_or_default();
    let well_formed = rev.split_once('-').is_some_and(|(n, h)| {
        n.parse::<usize>() == Ok(versions.len() + 1)
            && h.len() == 32
            && h.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if !well_formed {
        return Err(format!("the full packument's _rev is {rev:?}"));
    }

    let short = abbreviated_packument(name, versions, tags, REGISTRY);
    let keys: BTreeSet<&str> = short
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if keys != BTreeSet::from(["name", "modified", "dist-tags", "versions"]) {
        return Err(format!("the abbreviated packument has the fields {keys:?}"));
    }
    if field(&short, "name") != Some(json!(name.as_str()))
        || field(&short, "dist-tags") != Some(tags_json)
    {
        return Err(format!(
            "the abbreviated packument of {name} differs from the full one: {short}"
        ));
    }
    let short_versions = short.get("versions").and_then(Value::as_object);
    for version in &have {
        let (Some(short_v), Some(full_v)) = (
            short_versions
                .and_then(|s| s.get(*version))
                .and_then(Value::as_object),
            served
                .and_then(|s| s.get(*version))
                .and_then(Value::as_object),
        ) else {
            return Err(format!(
                "the abbreviated packument lacks version {version:?}"
            ));
        };
        if let Some(k) = short_v
            .keys()
            .find(|k| !INSTALL_FIELDS.contains(&k.as_str()))
        {
            return Err(format!(
                "the abbreviated packument serves {k:?} of {version} (not an install field)"
            ));
        }
        for k in INSTALL_FIELDS {
            if short_v.get(*k) != full_v.get(*k) {
                return Err(format!(
                    "the abbreviated packument's {k} of {version} differs from the full one's"
                ));
            }
        }
    }
    if short_versions.map(Map::len) != Some(have.len()) {
        return Err("the abbreviated packument has other versions".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_publishes_are_accepted_updated_and_refused() {
        let (mut published, mut updated, mut refused) = (0, 0, 0);
        let mut npm = Npm::new();
        for i in 0..3000 {
            let input = gen_put(&mut iteration_rng(5, "npm", i));
            let newline = input.iter().position(|b| *b == b'\n').unwrap();
            npm.check(&input).expect("property");
            // names just over the limit are in the mix
            let Ok(name) = PackageName::parse(&String::from_utf8_lossy(&input[1..newline])) else {
                continue;
            };
            match parse_put(&name, &input[newline + 1..], PUBLISHER) {
                Ok(PackumentPut::Publish(_)) => published += 1,
                Ok(PackumentPut::Update(_)) => updated += 1,
                Err(_) => refused += 1,
            }
        }
        eprintln!("{published} published, {updated} updated, {refused} refused");
        assert!(published > 800, "{published} publishes accepted");
        assert!(updated > 200, "{updated} updates");
        assert!(refused > 1200, "{refused} refused");
    }

    #[test]
    fn a_wrong_publish_breaks_the_properties() {
        let mut rng = iteration_rng(1, "npm", 0);
        let name = PackageName::parse("@acme/lib").unwrap();
        let mut tar = Vec::new();
        push_entry(
            &mut tar,
            b"package/package.json",
            tar::EntryType::Regular,
            br#"{"name":"@acme/lib","version":"1.0.0"}"#,
        );
        tar.resize(tar.len() + 1024, 0);
        let tgz = gzip(&tar, true);
        let body =
            serde_json::to_vec(&publish_doc("@acme/lib", "1.0.0", "beta", &tgz, &tgz)).unwrap();
        let Ok(PackumentPut::Publish(good)) = parse_put(&name, &body, PUBLISHER) else {
            panic!("the publish of npm 11 is refused");
        };
        assert_eq!(good.tags, ["beta"]);
        check_publish(&name, &body, &good).unwrap();
        let mut wrong = good.clone();
        wrong.tarball.push(0);
        assert!(check_publish(&name, &body, &wrong).is_err());
        let mut wrong = good.clone();
        wrong.tags.push("latest".into());
        assert!(check_publish(&name, &body, &wrong).is_err());
        let mut wrong = good.clone();
        wrong.manifest.insert("_id".into(), json!("@acme/lib"));
        assert!(check_publish(&name, &body, &wrong).is_err());
        // the assembly's properties: a tag of a missing version, a non-install field
        let v = PublishedVersion {
            version: "1.0.0".into(),
            manifest: gen_manifest(&mut rng, "@acme/lib", "1.0.0"),
            published: 0,
        };
        check_assembly(&name, std::slice::from_ref(&v), &[]).unwrap();
        let other = PackageName::parse("@acme/other").unwrap();
        let full = full_packument(&other, std::slice::from_ref(&v), &[], REGISTRY);
        let served = full.pointer("/versions/1.0.0").unwrap();
        assert!(check_tarball_url(&name, "1.0.0", served).is_err());
    }

    #[test]
    fn bombs_are_small_and_what_a_read_holds_is_measured() {
        let mut npm = Npm::new();
        let bomb = npm.bomb(Bomb::Zeros, 8 << 20);
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let pj = read_package_json(&bomb).unwrap();
        assert_eq!(pj.get("name"), Some(&json!("bomb")));
        let mut input = vec![KIND_TARBALL];
        input.extend_from_slice(&bomb);
        npm.check(&input).unwrap();
        // the peak measure sees memory held in between (where /proc allows it)
        if let Some(before) = reset_peak() {
            let held = vec![1u8; (MAX_HELD + (16 << 20)) as usize];
            std::hint::black_box(&held);
            let after = status_bytes("VmHWM").unwrap();
            assert!(after - before > MAX_HELD, "{before} → {after}");
        }
    }

    #[test]
    fn names_upstream_packuments_and_assemblies_survive() {
        let mut npm = Npm::new();
        for i in 0..2000 {
            let mut rng = iteration_rng(2, "npm", i);
            let input = match i % 3 {
                0 => gen_text(&mut rng),
                1 => gen_upstream(&mut rng),
                _ => gen_packument(&mut rng),
            };
            npm.check(&input).expect("property");
        }
    }
}
