//! Target `oci`: what OCI / Docker registry clients send the docker format
//! (`arca_server::formats::oci`).
//!
//! Inputs start with a kind byte:
//! - `r` + path: a `/v2` path (percent-decoded, as the caller hands it over) through
//!   `parse_route`. Properties: a route renders to the path it was read from (a trailing slash
//!   aside) and that path reads back as the same route; its repository key, image name and
//!   upload id are valid; a refusal is one of the codes a path can earn, with a JSON error body.
//! - `t` + text: a digest, reference, image name, tag, Content-Range, page size, stored item
//!   path or token scopes. Properties: an accepted digest or reference writes back as the same
//!   text; an accepted image name or tag is within the grammar and its stored paths read back as
//!   the same parts; an accepted range has start ≤ end; a page size is at most 10,000; scopes
//!   have known actions once each and their scope string reads back as the same scope.
//! - `m` + Content-Type index + bytes: `parse_manifest` on manifests as skopeo, podman and oras
//!   push them (an OCI image, an artifact with `subject` and `artifactType`, an index with
//!   platforms, a Docker schema 2 manifest and manifest list), then broken: fields removed or
//!   retyped, odd numbers, deep nesting, thousands of layers, non-UTF-8 bytes. Properties: an
//!   accepted manifest has a known media type and the fields of its kind, valid digests, sizes
//!   that fit the database; its referrers index parses back to the same descriptors; a refusal
//!   is one of the manifest codes with a JSON error body.
//! - `p` + n + flag + lines: `paginate` over the sorted lines. Properties: a page holds at most
//!   `n` entries, none ≤ `last`, the entries that directly follow `last`, and "more" exactly
//!   when entries are left.

use std::collections::HashSet;

use arca_server::formats::oci::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Digest, ErrorCode, MANIFEST_MEDIA_TYPES,
    MAX_IMAGE_NAME_BYTES, MAX_MANIFEST_BYTES, MAX_PAGE_SIZE, MAX_TAG_BYTES, Manifest, ManifestKind,
    OCI_INDEX, OCI_MANIFEST, OciError, Reference, Route, SCOPE_ACTIONS, StoredPart, blob_path,
    error_body, is_upload_id, manifest_path, paginate, parse_content_range, parse_manifest,
    parse_page_size, parse_route, parse_scopes, referrers_index, scope_string, stored_part,
    tag_path, validate_image_name, validate_tag,
};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::pick;
use crate::mutate::mutate;
use crate::runner::Target;

const KIND_ROUTE: u8 = b'r';
const KIND_TEXT: u8 = b't';
const KIND_MANIFEST: u8 = b'm';
const KIND_PAGE: u8 = b'p';

const REPO_KEYS: &[&str] = &[
    "docker-local",
    "r",
    "R.1_x",
    "a-b",
    "docker-remote",
    ".x",
    "-x",
    "api",
    "x:y",
    "",
    "é",
];

const IMAGE_COMPONENTS: &[&str] = &[
    "hello",
    "library",
    "ubuntu",
    "a",
    "0",
    "a.b",
    "a_b",
    "a__b",
    "a---b",
    "blobs",
    "manifests",
    "tags",
    "list",
    "uploads",
    "referrers",
    "_blobs",
    "_tags",
    "_catalog",
    "token",
    "A",
    "-x",
    "a.",
    "a___b",
    "",
];

const TAGS: &[&str] = &[
    "latest", "v1", "1.0.0", "_x", "A-b_c.D", "-x", ".x", "a:b", "", "é", "sha256",
];

const CONTENT_TYPES: &[&str] = &[
    "",
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "Application/VND.OCI.Image.Index.V1+JSON",
    "application/json",
    "application/octet-stream",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.example+json",
    ";",
];

const ROUTE_TOKENS: &[&str] = &[
    "/",
    "//",
    "/v2",
    "/_catalog",
    "/token",
    "/tags/list",
    "/manifests/",
    "/blobs/",
    "/blobs/uploads/",
    "/referrers/",
    "sha256:",
    "sha512:",
    ":",
    "..",
    ".",
    "_",
    "__",
    "-",
    "%2F",
    "\0",
    "\n",
    " ",
    "A",
    "é",
    "\u{FFFF}",
];

const TEXT_TOKENS: &[&str] = &[
    "sha256:",
    "sha512:",
    "bytes ",
    "bytes=",
    "-",
    "/",
    "/*",
    ":",
    ",",
    " ",
    "repository:",
    "registry:catalog:*",
    ":pull",
    ":push,pull",
    "delete",
    "*",
    "_blobs/",
    "_manifests/",
    "_tags/",
    "18446744073709551615",
    "18446744073709551616",
    "10000",
    "10001",
    "0",
    "+",
    "\0",
    "é",
    "A",
    "__",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-1",
    "1.5",
    "1e3",
    "-0",
    "1E400",
    "18446744073709551616",
    "9223372036854775808",
    "\"schemaVersion\":",
    "\"schemaVersion\":1",
    "\"mediaType\":",
    "\"config\":",
    "\"layers\":[]",
    "\"manifests\":[]",
    "\"subject\":",
    "\"artifactType\":\"x\"",
    "\"annotations\":{\"a\":1}",
    "\"digest\":\"sha256:",
    "\"digest\":\"sha512:",
    "\"size\":",
    "\"platform\":",
    "\"urls\":[1]",
    "\\u0000",
    "\\ud800",
    "\\\"",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "nondistributable",
    "\u{e9}",
    "\u{ff}",
];

/// Sizes and schema versions that are not plain non-negative integers.
const ODD_NUMBERS: &[&str] = &[
    "-1",
    "1.5",
    "1e3",
    "-0",
    "0",
    "00",
    "1E400",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "0x10",
    "\"1\"",
    "null",
    "[]",
    "2.0",
    "2",
];

pub struct Oci;

impl Target for Oci {
    fn name(&self) -> &'static str {
        "oci"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        match rng.gen_range(0..100) {
            0..35 => gen_route(rng),
            35..60 => gen_text(rng),
            60..90 => gen_manifest(rng),
            _ => gen_page(rng),
        }
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&kind, rest)) = input.split_first() else {
            return Ok(());
        };
        match kind {
            KIND_ROUTE => check_route(&String::from_utf8_lossy(rest)),
            KIND_TEXT => check_text(&String::from_utf8_lossy(rest)),
            KIND_MANIFEST => {
                let Some((&content_type, body)) = rest.split_first() else {
                    return Ok(());
                };
                let content_type = CONTENT_TYPES[usize::from(content_type) % CONTENT_TYPES.len()];
                check_manifest(body, (!content_type.is_empty()).then_some(content_type))
            }
            KIND_PAGE => check_page(rest),
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

/// A digest: mostly valid, sometimes another algorithm or malformed.
fn digest_text(rng: &mut StdRng) -> String {
    let hex = hex64(rng);
    match rng.gen_range(0..20) {
        0 => format!("sha512:{hex}{hex}"),
        1 => format!("sha256:{}", hex.to_uppercase()),
        2 => format!("sha256:{}", &hex[1..]),
        3 => hex,
        4 => format!("sha256:{hex}0"),
        _ => format!("sha256:{hex}"),
    }
}

fn image_name(rng: &mut StdRng) -> String {
    let components = rng.gen_range(1..=4);
    let mut parts: Vec<&str> = Vec::new();
    for _ in 0..components {
        // mostly valid components
        if rng.gen_bool(0.8) {
            parts.push(pick(rng, &IMAGE_COMPONENTS[..15]));
        } else {
            parts.push(pick(rng, IMAGE_COMPONENTS));
        }
    }
    if rng.gen_bool(0.02) {
        return "a".repeat(rng.gen_range(250..260));
    }
    parts.join("/")
}

fn repo_key(rng: &mut StdRng) -> &'static str {
    if rng.gen_bool(0.85) {
        pick(rng, &REPO_KEYS[..5])
    } else {
        pick(rng, REPO_KEYS)
    }
}

fn upload_id(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => "a_b".into(),
        1 => "x".repeat(rng.gen_range(60..70)),
        _ => format!(
            "{:08x}-{:04x}-{:012x}",
            rng.r#gen::<u32>(),
            rng.r#gen::<u16>(),
            rng.r#gen::<u64>() & 0xffff_ffff_ffff
        ),
    }
}

fn gen_route(rng: &mut StdRng) -> Vec<u8> {
    let repo = repo_key(rng);
    let image = image_name(rng);
    let name = format!("{repo}/{image}");
    let path = match rng.gen_range(0..12) {
        0 => pick(rng, &["", "/", "/_catalog", "/token", "/_catalog/"]).to_string(),
        1 => format!("/{name}/tags/list"),
        2 | 3 => {
            let reference = if rng.gen_bool(0.5) {
                pick(rng, TAGS).to_string()
            } else {
                digest_text(rng)
            };
            format!("/{name}/manifests/{reference}")
        }
        4 | 5 => format!("/{name}/blobs/{}", digest_text(rng)),
        6 => format!("/{name}/blobs/uploads{}", pick(rng, &["/", ""])),
        7 | 8 => format!("/{name}/blobs/uploads/{}", upload_id(rng)),
        9 => format!("/{name}/referrers/{}", digest_text(rng)),
        10 => format!("/{name}/{}", pick(rng, IMAGE_COMPONENTS)),
        _ => format!("/{image}/manifests/latest"),
    };
    let mut data = path.into_bytes();
    if rng.gen_bool(0.5) {
        let other = format!("/{name}/blobs/{}", digest_text(rng));
        mutate(rng, &mut data, ROUTE_TOKENS, other.as_bytes(), 4, 2048);
    }
    [vec![KIND_ROUTE], data].concat()
}

fn gen_text(rng: &mut StdRng) -> Vec<u8> {
    let text = match rng.gen_range(0..9) {
        0 => digest_text(rng),
        1 => pick(rng, TAGS).to_string(),
        2 => image_name(rng),
        3 => {
            let (a, b) = (rng.gen_range(0..1000u64), rng.gen_range(0..1000u64));
            let prefix = pick(rng, &["", "bytes ", "bytes=", "bits "]);
            let total = pick(rng, &["", "/*", "/1000", "/5"]);
            format!("{prefix}{a}-{b}{total}")
        }
        4 => pick(
            rng,
            &["0", "10", "10000", "10001", "007", "-1", "+1", "", "1e3"],
        )
        .to_string(),
        5 => {
            let image = image_name(rng);
            match rng.gen_range(0..3) {
                0 => format!("{image}/_blobs/{}", digest_text(rng)),
                1 => format!("{image}/_manifests/{}", digest_text(rng)),
                _ => format!("{image}/_tags/{}", pick(rng, TAGS)),
            }
        }
        6 | 7 => {
            let scopes: Vec<String> = (0..rng.gen_range(1..4))
                .map(|_| {
                    let kind = pick(rng, &["repository", "registry", "repository(plugin)", ""]);
                    let name = format!("{}/{}", repo_key(rng), image_name(rng));
                    let actions = pick(
                        rng,
                        &[
                            "pull",
                            "pull,push",
                            "push,pull,pull",
                            "*",
                            "delete,bogus",
                            "",
                        ],
                    );
                    format!("{kind}:{name}:{actions}")
                })
                .collect();
            scopes.join(pick(rng, &[" ", "\n", "  "]))
        }
        _ => format!("{}/{}", repo_key(rng), image_name(rng)),
    };
    let mut data = text.into_bytes();
    if rng.gen_bool(0.5) {
        let other = digest_text(rng);
        mutate(rng, &mut data, TEXT_TOKENS, other.as_bytes(), 4, 1024);
    }
    [vec![KIND_TEXT], data].concat()
}

fn descriptor(rng: &mut StdRng, media_type: &str) -> Value {
    json!({"mediaType": media_type, "digest": format!("sha256:{}", hex64(rng)),
           "size": rng.gen_range(0..10_000_000u64)})
}

fn platform(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..3) {
        0 => json!({"architecture": "amd64", "os": "linux"}),
        1 => json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
        _ => json!({"architecture": "arm", "os": "linux", "variant": "v7"}),
    }
}

/// `object[key] = value` when `object` is a JSON object (indexing would panic otherwise).
fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(o) = object.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

/// A manifest as real clients push it: (document, the Content-Type they send).
fn real_manifest(rng: &mut StdRng) -> (Value, &'static str) {
    let layers = rng.gen_range(1..5);
    match rng.gen_range(0..5) {
        // podman / skopeo: OCI image
        0 => {
            let layers: Vec<Value> = (0..layers)
                .map(|_| descriptor(rng, "application/vnd.oci.image.layer.v1.tar+gzip"))
                .collect();
            (
                json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(rng, "application/vnd.oci.image.config.v1+json"),
                       "layers": layers,
                       "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}),
                OCI_MANIFEST,
            )
        }
        // oras: an artifact attached to an image
        1 => {
            let mut layer = descriptor(rng, "application/spdx+json");
            set(
                &mut layer,
                "annotations",
                json!({"org.opencontainers.image.title": "sbom.spdx.json"}),
            );
            (
                json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "artifactType": "application/spdx+json",
                       "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                                  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                  "size": 2, "data": "e30="},
                       "layers": [layer],
                       "subject": descriptor(rng, OCI_MANIFEST)}),
                OCI_MANIFEST,
            )
        }
        // a multi-arch index
        2 => {
            let manifests: Vec<Value> = (0..layers)
                .map(|_| {
                    let mut d = descriptor(rng, OCI_MANIFEST);
                    set(&mut d, "platform", platform(rng));
                    d
                })
                .collect();
            (
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
                OCI_INDEX,
            )
        }
        // Docker schema 2
        3 => {
            let mut layers: Vec<Value> = (0..layers)
                .map(|_| descriptor(rng, "application/vnd.docker.image.rootfs.diff.tar.gzip"))
                .collect();
            if rng.gen_bool(0.2) {
                let mut foreign = descriptor(
                    rng,
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                );
                set(
                    &mut foreign,
                    "urls",
                    json!(["https://example.invalid/layer"]),
                );
                layers.push(foreign);
            }
            (
                json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                       "config": descriptor(rng, "application/vnd.docker.container.image.v1+json"),
                       "layers": layers}),
                DOCKER_MANIFEST,
            )
        }
        // Docker manifest list
        _ => {
            let manifests: Vec<Value> = (0..layers)
                .map(|_| {
                    let mut d = descriptor(rng, DOCKER_MANIFEST);
                    set(&mut d, "platform", platform(rng));
                    d
                })
                .collect();
            (
                json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST,
                       "manifests": manifests}),
                DOCKER_MANIFEST_LIST,
            )
        }
    }
}

/// The array of descriptors of `doc` (layers or manifests).
fn descriptors_mut(doc: &mut Value) -> Option<&mut Vec<Value>> {
    let key = if doc.get("layers").is_some() {
        "layers"
    } else {
        "manifests"
    };
    doc.get_mut(key).and_then(Value::as_array_mut)
}

/// Structural breakage: what a byte mutation rarely reaches.
fn break_structure(rng: &mut StdRng, doc: &mut Value) {
    match rng.gen_range(0..9) {
        // a field removed
        0 => {
            let key = pick(
                rng,
                &[
                    "schemaVersion",
                    "mediaType",
                    "config",
                    "layers",
                    "manifests",
                    "subject",
                ],
            );
            if let Some(o) = doc.as_object_mut() {
                o.remove(key);
            }
        }
        // a descriptor field removed or retyped
        1 | 2 => {
            let field = pick(rng, &["mediaType", "digest", "size", "annotations", "urls"]);
            let replacement = match rng.gen_range(0..4) {
                0 => None,
                1 => Some(json!(null)),
                2 => Some(json!([1, "x"])),
                _ => Some(json!({"k": 1})),
            };
            if let Some(d) = descriptors_mut(doc).and_then(|ds| ds.first_mut())
                && let Some(o) = d.as_object_mut()
            {
                match replacement {
                    Some(v) => o.insert(field.to_string(), v),
                    None => o.remove(field),
                };
            }
        }
        // an index's field in an image manifest or the reverse
        3 => {
            let key = pick(rng, &["manifests", "layers", "config"]);
            set(doc, key, json!([]));
        }
        // thousands of layers
        4 if rng.gen_bool(0.1) => {
            let count = rng.gen_range(1000..3000);
            let many: Vec<Value> = (0..count)
                .map(|_| descriptor(rng, "application/vnd.oci.image.layer.v1.tar"))
                .collect();
            if let Some(ds) = descriptors_mut(doc) {
                *ds = many;
            }
        }
        // deep nesting, below and above serde_json's limit
        5 => {
            let depth = rng.gen_range(50..300);
            let mut nested = json!("x");
            for i in 0..depth {
                nested = if i % 2 == 0 {
                    json!([nested])
                } else {
                    json!({ "p": nested })
                };
            }
            let at = pick(rng, &["annotations", "platform", "x-extra"]);
            match descriptors_mut(doc).and_then(|ds| ds.first_mut()) {
                Some(d) if rng.gen_bool(0.5) => set(d, at, nested),
                _ => set(doc, at, nested),
            }
        }
        // a subject, artifactType or annotations of the wrong shape
        6 => {
            let key = pick(rng, &["subject", "artifactType", "annotations"]);
            let value = match rng.gen_range(0..4) {
                0 => json!("x"),
                1 => json!(1),
                2 => json!({}),
                _ => json!([]),
            };
            set(doc, key, value);
        }
        // a media type that disagrees or is unknown
        7 => {
            let media_type = pick(
                rng,
                &[
                    OCI_MANIFEST,
                    OCI_INDEX,
                    DOCKER_MANIFEST,
                    DOCKER_MANIFEST_LIST,
                    "application/vnd.docker.distribution.manifest.v1+json",
                    "",
                ],
            );
            set(doc, "mediaType", json!(media_type));
        }
        _ => {}
    }
}

/// The text of `doc` with an odd number for a size or the schema version (spliced as text:
/// `serde_json` would not write most of them).
fn with_odd_number(rng: &mut StdRng, text: String) -> String {
    let number = pick(rng, ODD_NUMBERS);
    if rng.gen_bool(0.3) {
        return text.replacen(
            "\"schemaVersion\":2",
            &format!("\"schemaVersion\":{number}"),
            1,
        );
    }
    // the n-th size
    let sizes = text.matches("\"size\":").count();
    if sizes == 0 {
        return text;
    }
    let nth = rng.gen_range(0..sizes);
    let Some((at, _)) = text.match_indices("\"size\":").nth(nth) else {
        return text;
    };
    let value_start = at + "\"size\":".len();
    let value_end = text[value_start..]
        .find([',', '}'])
        .map_or(text.len(), |i| value_start + i);
    format!("{}{number}{}", &text[..value_start], &text[value_end..])
}

fn gen_manifest(rng: &mut StdRng) -> Vec<u8> {
    let (mut doc, mut content_type) = real_manifest(rng);
    if rng.gen_bool(0.3) {
        break_structure(rng, &mut doc);
    }
    let mut text = doc.to_string();
    if rng.gen_bool(0.15) {
        text = with_odd_number(rng, text);
    }
    let mut data = text.into_bytes();
    match rng.gen_range(0..10) {
        0..4 => {
            let (other, _) = real_manifest(rng);
            mutate(
                rng,
                &mut data,
                JSON_TOKENS,
                other.to_string().as_bytes(),
                4,
                1 << 20,
            );
        }
        // non-UTF-8 inside a string
        4 => {
            if let Some(i) = data.iter().position(|&b| b == b'"') {
                let byte = if rng.gen_bool(0.5) { 0xff } else { 0xc0 };
                data.insert(i + 1, byte);
            }
        }
        _ => {}
    }
    // mostly the Content-Type clients send; sometimes another
    if rng.gen_bool(0.3) {
        content_type = pick(rng, CONTENT_TYPES);
    }
    let index = CONTENT_TYPES
        .iter()
        .position(|c| *c == content_type)
        .unwrap_or_default();
    let mut input = vec![KIND_MANIFEST, index as u8];
    input.extend_from_slice(&data);
    input
}

fn gen_page(rng: &mut StdRng) -> Vec<u8> {
    let n: u8 = if rng.gen_bool(0.2) {
        255
    } else {
        rng.gen_range(0..12)
    };
    let with_last = u8::from(rng.gen_bool(0.7));
    let count = rng.gen_range(0..20);
    let mut lines: Vec<String> = (0..count)
        .map(|_| pick(rng, TAGS).to_string() + &rng.gen_range(0..50).to_string())
        .collect();
    if with_last == 1 {
        lines.insert(
            0,
            pick(rng, TAGS).to_string() + &rng.gen_range(0..60).to_string(),
        );
    }
    let mut data = lines.join("\n").into_bytes();
    if rng.gen_bool(0.3) {
        mutate(rng, &mut data, TEXT_TOKENS, b"a\nb\nc", 3, 4096);
    }
    [vec![KIND_PAGE, n, with_last], data].concat()
}

// ---------------------------------------------------------------------------------------------
// properties

/// An error body is the spec's JSON with the error's code and message.
fn check_error(e: &OciError, allowed: &[ErrorCode], what: &str) -> Result<(), String> {
    if !allowed.contains(&e.code) {
        return Err(format!("{what}: unexpected error code {e}"));
    }
    if e.message.is_empty() {
        return Err(format!("{what}: {} without a message", e.code.as_str()));
    }
    let body: Value = serde_json::from_slice(&error_body(std::slice::from_ref(e)))
        .map_err(|err| format!("{what}: the error body is not JSON: {err}"))?;
    let entry = &body["errors"][0];
    if entry["code"] != e.code.as_str() || entry["message"] != e.message.as_str() {
        return Err(format!(
            "{what}: the error body does not hold the error: {body}"
        ));
    }
    Ok(())
}

fn check_route(path: &str) -> Result<(), String> {
    let route = match parse_route(path) {
        Ok(Some(route)) => route,
        Ok(None) => return Ok(()),
        Err(e) => {
            return check_error(
                &e,
                &[
                    ErrorCode::NameInvalid,
                    ErrorCode::TagInvalid,
                    ErrorCode::DigestInvalid,
                    ErrorCode::BlobUploadUnknown,
                ],
                "parse_route",
            );
        }
    };
    let rendered = route.path();
    let same_text = rendered == path
        || (path.is_empty() && route == Route::Base)
        || (matches!(route, Route::UploadStart { .. }) && rendered == format!("{path}/"));
    if !same_text {
        return Err(format!(
            "{route:?} renders as {rendered:?}, read from {path:?}"
        ));
    }
    match parse_route(&rendered) {
        Ok(Some(again)) if again == route => {}
        other => return Err(format!("{rendered:?} of {route:?} reads back as {other:?}")),
    }
    if let Some((repo, image)) = route.name() {
        arca_server::paths::validate_repo_key(repo)
            .map_err(|_| format!("{route:?}: invalid repository key accepted"))?;
        validate_image_name(image).map_err(|e| format!("{route:?}: {e}"))?;
    }
    match &route {
        Route::Upload { id, .. } if !is_upload_id(id) => {
            Err(format!("{route:?}: invalid upload id accepted"))
        }
        Route::Manifest {
            reference: Reference::Tag(tag),
            ..
        } => validate_tag(tag).map_err(|e| format!("{route:?}: {e}")),
        _ => Ok(()),
    }
}

fn check_digest_text(text: &str) -> Result<(), String> {
    match Digest::parse(text) {
        Ok(d) => {
            if d.to_string() != text {
                return Err(format!("digest {text:?} writes as {d}"));
            }
            let hex = d.hex();
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(format!("digest {text:?} has the hex {hex:?}"));
            }
            if Digest::from_sha256_hex(hex) != Some(d.clone()) {
                return Err(format!("digest {text:?} does not come back from its hex"));
            }
            let json = serde_json::to_string(&d).map_err(|e| e.to_string())?;
            if serde_json::from_str::<Digest>(&json).ok() != Some(d) {
                return Err(format!("digest {text:?} does not read back from JSON"));
            }
        }
        Err(e) => {
            check_error(&e, &[ErrorCode::DigestInvalid], "Digest::parse")?;
            if serde_json::from_value::<Digest>(json!(text)).is_ok() {
                return Err(format!("{text:?} refused by parse but read from JSON"));
            }
        }
    }
    match Reference::parse(text) {
        Ok(r) if r.to_string() != text => Err(format!("reference {text:?} writes as {r}")),
        Ok(_) => Ok(()),
        Err(e) => check_error(
            &e,
            &[ErrorCode::DigestInvalid, ErrorCode::TagInvalid],
            "Reference::parse",
        ),
    }
}

fn check_name_and_tag(text: &str) -> Result<(), String> {
    let sample = Digest::of_bytes(text.as_bytes());
    match validate_image_name(text) {
        Ok(()) => {
            let in_grammar = text.len() <= MAX_IMAGE_NAME_BYTES
                && text.split('/').all(|c| {
                    c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                        && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
                        && c.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                        })
                        && !c.contains("..")
                        && !c.contains("___")
                });
            if !in_grammar {
                return Err(format!("image name {text:?} accepted"));
            }
            let parts = [
                (
                    blob_path(text, &sample),
                    StoredPart::Blob {
                        image: text.to_string(),
                        digest: sample.clone(),
                    },
                ),
                (
                    manifest_path(text, &sample),
                    StoredPart::Manifest {
                        image: text.to_string(),
                        digest: sample.clone(),
                    },
                ),
                (
                    tag_path(text, "latest"),
                    StoredPart::Tag {
                        image: text.to_string(),
                        tag: "latest".into(),
                    },
                ),
            ];
            for (path, part) in parts {
                if stored_part(&path).as_ref() != Some(&part) {
                    return Err(format!("{path:?} does not read back as {part:?}"));
                }
            }
        }
        Err(e) => check_error(&e, &[ErrorCode::NameInvalid], "validate_image_name")?,
    }
    match validate_tag(text) {
        Ok(()) => {
            if text.is_empty()
                || text.len() > MAX_TAG_BYTES
                || text.starts_with(['.', '-'])
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(format!("tag {text:?} accepted"));
            }
            let part = StoredPart::Tag {
                image: "a/b".into(),
                tag: text.to_string(),
            };
            if stored_part(&tag_path("a/b", text)) != Some(part) {
                return Err(format!("the tag path of {text:?} does not read back"));
            }
        }
        Err(e) => check_error(&e, &[ErrorCode::TagInvalid], "validate_tag")?,
    }
    Ok(())
}

fn check_ranges_and_sizes(text: &str) -> Result<(), String> {
    match parse_content_range(text) {
        Ok((start, end)) => {
            if start > end {
                return Err(format!("range {text:?} read as {start}-{end}"));
            }
            if parse_content_range(&format!("{start}-{end}")) != Ok((start, end)) {
                return Err(format!("range {start}-{end} does not read back"));
            }
        }
        Err(e) => check_error(&e, &[ErrorCode::RangeInvalid], "parse_content_range")?,
    }
    match parse_page_size(text) {
        Ok(n) if n > MAX_PAGE_SIZE => return Err(format!("page size {text:?} read as {n}")),
        Ok(_) => {}
        Err(e) => {
            check_error(&e, &[ErrorCode::PaginationNumberInvalid], "parse_page_size")?;
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("page size {text:?} refused"));
            }
        }
    }
    Ok(())
}

fn check_stored_and_scopes(text: &str) -> Result<(), String> {
    if let Some(part) = stored_part(text) {
        let rendered = match &part {
            StoredPart::Blob { image, digest } => blob_path(image, digest),
            StoredPart::Manifest { image, digest } => manifest_path(image, digest),
            StoredPart::Tag { image, tag } => tag_path(image, tag),
        };
        if rendered != text {
            return Err(format!(
                "{text:?} read as {part:?}, which is at {rendered:?}"
            ));
        }
    }
    let values: Vec<&str> = text.split('\n').collect();
    for scope in parse_scopes(&values) {
        let clean = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_ascii_whitespace());
        if !clean(&scope.kind) || scope.kind.contains(':') || !clean(&scope.name) {
            return Err(format!("scope {scope:?} read from {text:?}"));
        }
        let mut seen = HashSet::new();
        if !scope
            .actions
            .iter()
            .all(|a| SCOPE_ACTIONS.contains(&a.as_str()) && seen.insert(a))
        {
            return Err(format!("scope {scope:?} has unknown or repeated actions"));
        }
        let actions: Vec<&str> = scope.actions.iter().map(String::as_str).collect();
        let again = parse_scopes(&[&scope_string(&scope.kind, &scope.name, &actions)]);
        if again != [scope.clone()] {
            return Err(format!("scope {scope:?} reads back as {again:?}"));
        }
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), String> {
    check_digest_text(text)?;
    check_name_and_tag(text)?;
    check_ranges_and_sizes(text)?;
    check_stored_and_scopes(text)
}

fn all_descriptors(m: &Manifest) -> impl Iterator<Item = &Descriptor> {
    m.config
        .iter()
        .chain(&m.layers)
        .chain(&m.manifests)
        .chain(&m.subject)
}

fn check_accepted_manifest(m: &Manifest) -> Result<(), String> {
    if !MANIFEST_MEDIA_TYPES.contains(&m.media_type.as_str()) {
        return Err(format!("accepted the media type {:?}", m.media_type));
    }
    if ManifestKind::of_media_type(&m.media_type) != Some(m.kind) {
        return Err(format!("{:?} is not a {:?}", m.media_type, m.kind));
    }
    match m.kind {
        ManifestKind::Image => {
            if m.config.is_none() || !m.manifests.is_empty() || m.artifact_type.is_none() {
                return Err(format!(
                    "image manifest without config or with children: {m:?}"
                ));
            }
            if m.media_type == DOCKER_MANIFEST && m.layers.is_empty() {
                return Err("a Docker manifest without layers was accepted".into());
            }
        }
        ManifestKind::Index => {
            if m.config.is_some() || !m.layers.is_empty() {
                return Err(format!("index with config or layers: {m:?}"));
            }
        }
    }
    for d in all_descriptors(m) {
        if Digest::parse(d.digest.as_str()).as_ref() != Ok(&d.digest) {
            return Err(format!("invalid digest {} accepted", d.digest));
        }
        if i64::try_from(d.size).is_err() || d.media_type.is_empty() {
            return Err(format!("descriptor {d:?} accepted"));
        }
    }
    let required = m.required_blobs();
    if required.len() > m.layers.len() + usize::from(m.config.is_some())
        || required.iter().any(|r| {
            !m.config
                .iter()
                .chain(&m.layers)
                .any(|d| std::ptr::eq(d, *r))
        })
    {
        return Err("required blobs that are not the config or a layer".into());
    }
    let referenced = m.referenced_digests();
    let unique: HashSet<&Digest> = referenced.iter().collect();
    if unique.len() != referenced.len()
        || referenced.iter().any(|r| {
            !m.config
                .iter()
                .chain(&m.layers)
                .chain(&m.manifests)
                .any(|d| &d.digest == r)
        })
    {
        return Err("referenced digests repeated or not in the manifest".into());
    }
    // the referrers index of the manifest's descriptors and of itself parses back
    let mut entries: Vec<Descriptor> = m.manifests.iter().chain(&m.layers).cloned().collect();
    entries.push(m.as_referrer(Digest::of_bytes(b"referrer"), 1));
    let body = referrers_index(&entries);
    if body.len() <= MAX_MANIFEST_BYTES {
        match parse_manifest(&body, Some(OCI_INDEX)) {
            Ok(index) if index.manifests == entries => {}
            other => {
                return Err(format!("the referrers index does not read back: {other:?}"));
            }
        }
    }
    Ok(())
}

fn check_manifest(body: &[u8], content_type: Option<&str>) -> Result<(), String> {
    match parse_manifest(body, content_type) {
        Ok(m) => check_accepted_manifest(&m),
        Err(e) => check_error(
            &e,
            &[
                ErrorCode::SizeInvalid,
                ErrorCode::ManifestInvalid,
                ErrorCode::Unsupported,
                ErrorCode::DigestInvalid,
            ],
            "parse_manifest",
        ),
    }
}

fn check_page(input: &[u8]) -> Result<(), String> {
    let [n, with_last, rest @ ..] = input else {
        return Ok(());
    };
    let n = (*n != 255).then_some(usize::from(*n));
    let text = String::from_utf8_lossy(rest);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let last = if *with_last % 2 == 1 && !lines.is_empty() {
        Some(lines.remove(0))
    } else {
        None
    };
    let mut sorted: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    sorted.dedup();
    let (page, more) = paginate(&sorted, n, last);
    let skipped = last.map_or(0, |l| sorted.iter().filter(|s| s.as_str() <= l).count());
    let remaining = sorted.len() - skipped;
    if let Some(n) = n
        && page.len() > n
    {
        return Err(format!("{} entries for n={n}", page.len()));
    }
    if let Some(l) = last
        && page.iter().any(|s| s.as_str() <= l)
    {
        return Err(format!("an entry ≤ last={l:?} in {page:?}"));
    }
    let expected_len = n.map_or(remaining, |n| remaining.min(n));
    if page != &sorted[skipped..skipped + expected_len] {
        return Err(format!("page {page:?} of {sorted:?} after {last:?}"));
    }
    let expected_more = n.is_some_and(|n| n > 0 && remaining > n);
    if more != expected_more {
        return Err(format!(
            "more={more} for {page:?} of {sorted:?} after {last:?}"
        ));
    }
    if let Some(n) = n
        && parse_page_size(&n.to_string()) != Ok(n.min(MAX_PAGE_SIZE))
    {
        return Err(format!("n={n} does not parse"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn every_kind_is_generated_and_survives() {
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..3000 {
            let input = Oci.generate(&mut iteration_rng(5, "oci", i));
            kinds.insert(input[0]);
            Oci.check(&input).expect("property");
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }

    #[test]
    fn generated_inputs_are_often_accepted_and_often_refused() {
        let (mut routes, mut manifests, mut refused) = (0, 0, 0);
        for i in 0..3000 {
            let mut rng = iteration_rng(6, "oci", i);
            match i % 2 {
                0 => match parse_route(&String::from_utf8_lossy(&gen_route(&mut rng)[1..])) {
                    Ok(Some(_)) => routes += 1,
                    Err(_) => refused += 1,
                    Ok(None) => {}
                },
                _ => {
                    let input = gen_manifest(&mut rng);
                    let ct = CONTENT_TYPES[usize::from(input[1]) % CONTENT_TYPES.len()];
                    match parse_manifest(&input[2..], (!ct.is_empty()).then_some(ct)) {
                        Ok(_) => manifests += 1,
                        Err(_) => refused += 1,
                    }
                }
            }
        }
        assert!(routes > 300, "{routes} routes");
        assert!(manifests > 300, "{manifests} manifests");
        assert!(refused > 300, "{refused} refused");
    }

    #[test]
    fn violations_are_reported() {
        let denied = OciError::new(ErrorCode::Denied, "x");
        assert!(check_error(&denied, &[ErrorCode::NameInvalid], "t").is_err());
        assert!(check_error(&denied, &[ErrorCode::Denied], "t").is_ok());
        let valid = parse_manifest(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            None,
        )
        .expect("valid");
        assert_eq!(check_accepted_manifest(&valid), Ok(()));
        let with_config = Manifest {
            config: Some(valid.as_referrer(Digest::of_bytes(b"x"), 1)),
            ..valid.clone()
        };
        assert!(check_accepted_manifest(&with_config).is_err());
        let unknown_type = Manifest {
            media_type: "application/json".into(),
            ..valid
        };
        assert!(check_accepted_manifest(&unknown_type).is_err());
    }
}
