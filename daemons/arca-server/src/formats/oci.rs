//! OCI / Docker registry (package type `docker`): the pure logic of the OCI Distribution API
//! (spec 1.1) and the Docker Registry HTTP API v2 — the spec's error codes and body, digests,
//! image names, tags and references, what a path under `/v2/` names, pushed manifests (OCI image
//! manifest and index, Docker schema 2 manifest and manifest list) checked before anything is
//! stored, the referrers index, upload ranges, token scopes, pagination, and where an image's
//! parts live in a repository. No I/O here: `http/oci.rs` serves the API with it, and the fuzz
//! target `oci` feeds it outside input.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::Digest as _;
use warp::http::StatusCode;

pub const PACKAGE_TYPE: &str = "docker";
/// `repoLayoutRef` of docker repositories.
pub const LAYOUT_REF: &str = "simple-default";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The manifest media types arca accepts and serves.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];
/// Largest manifest accepted (distribution's and the spec's suggested limit).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Longest image name: many clients limit the whole reference to 255 characters.
pub const MAX_IMAGE_NAME_BYTES: usize = 255;
/// Longest tag, as the spec's grammar.
pub const MAX_TAG_BYTES: usize = 128;
/// Largest page of `tags/list` and `_catalog`; bigger `n` values are clamped to it.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// Longest upload session id.
pub const MAX_UPLOAD_ID_BYTES: usize = 64;
/// The actions a token scope can ask for.
pub const SCOPE_ACTIONS: &[&str] = &["pull", "push", "delete", "*"];

/// Characters of a client's value quoted in an error message.
const SHOWN_CHARS: usize = 100;
/// Media types clients send when they do not say which manifest type they push: they defer to
/// the document's `mediaType`.
const GENERIC_CONTENT_TYPES: &[&str] = &["application/json", "application/octet-stream"];

// ---------------------------------------------------------------------------------------------
// errors

/// The error codes of the distribution spec (+ Docker's `TAG_INVALID` and distribution's
/// `PAGINATION_NUMBER_INVALID`), each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    RangeInvalid,
    TagInvalid,
    PaginationNumberInvalid,
}

impl ErrorCode {
    /// Every code, for tests and the fuzz target.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BlobUnknown,
        ErrorCode::BlobUploadInvalid,
        ErrorCode::BlobUploadUnknown,
        ErrorCode::DigestInvalid,
        ErrorCode::ManifestBlobUnknown,
        ErrorCode::ManifestInvalid,
        ErrorCode::ManifestUnknown,
        ErrorCode::NameInvalid,
        ErrorCode::NameUnknown,
        ErrorCode::SizeInvalid,
        ErrorCode::Unauthorized,
        ErrorCode::Denied,
        ErrorCode::Unsupported,
        ErrorCode::TooManyRequests,
        ErrorCode::RangeInvalid,
        ErrorCode::TagInvalid,
        ErrorCode::PaginationNumberInvalid,
    ];

    /// The code as the error body spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
        }
    }

    /// The HTTP status answered with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => StatusCode::NOT_FOUND,
            // a push that names a missing blob is the client's error (distribution answers 400)
            ErrorCode::ManifestBlobUnknown
            | ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid
            | ErrorCode::TagInvalid
            | ErrorCode::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }
}

/// One error of a `/v2/` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct OciError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<Value>,
}

impl OciError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OciError {
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(self, detail: Value) -> Self {
        OciError {
            detail: Some(detail),
            ..self
        }
    }

    /// The same error with `prefix` (a JSON field) before its message.
    fn within(self, prefix: &str) -> Self {
        OciError {
            message: format!("{prefix}: {}", self.message),
            ..self
        }
    }
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for OciError {}

/// `{"errors":[{"code":"…","message":"…","detail":…}]}` (`detail` omitted when `None`).
pub fn error_body(errors: &[OciError]) -> Vec<u8> {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut entry = Map::new();
            entry.insert("code".into(), Value::from(e.code.as_str()));
            entry.insert("message".into(), Value::from(e.message.as_str()));
            if let Some(detail) = &e.detail {
                entry.insert("detail".into(), detail.clone());
            }
            Value::Object(entry)
        })
        .collect();
    let mut body = Map::new();
    body.insert("errors".into(), Value::Array(errors));
    Value::Object(body).to_string().into_bytes()
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
// digests

const SHA256_PREFIX: &str = "sha256:";

/// A sha256 digest (the only algorithm arca stores: its binaries are keyed by sha256).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(
    /// `sha256:<64 lower-case hex digits>`
    String,
);

impl Digest {
    /// `sha256:<64 lower-case hex>`. Another algorithm well-formed per the spec's grammar
    /// (`sha512:…`) → `DIGEST_INVALID` saying arca supports sha256 only; anything else malformed
    /// → `DIGEST_INVALID`.
    pub fn parse(s: &str) -> Result<Digest, OciError> {
        if let Some(hex) = s.strip_prefix(SHA256_PREFIX)
            && is_sha256_hex(hex)
        {
            return Ok(Digest(s.to_string()));
        }
        let invalid = |why: &str| {
            OciError::new(
                ErrorCode::DigestInvalid,
                format!("Invalid digest '{}': {why}", shown(s)),
            )
        };
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(invalid("expected sha256:<64 hex digits>"));
        };
        if !is_digest_algorithm(algorithm) || !is_digest_encoded(encoded) {
            return Err(invalid(
                "expected algorithm:encoded, as sha256:<64 hex digits>",
            ));
        }
        if algorithm == "sha256" {
            return Err(invalid("a sha256 digest has 64 lower-case hex digits"));
        }
        Err(invalid(&format!(
            "the algorithm '{}' is not supported: arca supports sha256 only",
            shown(algorithm)
        )))
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        Digest(format!("{SHA256_PREFIX}{hex}"))
    }

    /// The digest of a sha256 given as 64 lower-case hex digits (arca's binary keys).
    pub fn from_sha256_hex(hex: &str) -> Option<Digest> {
        is_sha256_hex(hex).then(|| Digest(format!("{SHA256_PREFIX}{hex}")))
    }

    /// The 64 lower-case hex digits.
    pub fn hex(&self) -> &str {
        self.0.get(SHA256_PREFIX.len()..).unwrap_or_default()
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The spec's `algorithm-component ( algorithm-separator algorithm-component )*`.
fn is_digest_algorithm(algorithm: &str) -> bool {
    let components_ok = algorithm.split(['+', '.', '_', '-']).all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    !algorithm.is_empty() && components_ok
}

/// The spec's `encoded`: `[a-zA-Z0-9=_-]+`.
fn is_digest_encoded(encoded: &str) -> bool {
    !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

// ---------------------------------------------------------------------------------------------
// names, tags, references

/// Image names (below the registry's repository key): the spec's
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
/// [`MAX_IMAGE_NAME_BYTES`]. `NAME_INVALID` naming the offending component.
pub fn validate_image_name(name: &str) -> Result<(), OciError> {
    let invalid = |why: String| {
        OciError::new(
            ErrorCode::NameInvalid,
            format!("Invalid image name '{}': {why}", shown(name)),
        )
    };
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if name.len() > MAX_IMAGE_NAME_BYTES {
        return Err(invalid(format!(
            "it is longer than {MAX_IMAGE_NAME_BYTES} bytes"
        )));
    }
    if let Some(bad) = name.split('/').find(|c| !is_name_component(c)) {
        return Err(invalid(format!(
            "the component '{}' is not lower-case letters and digits separated by '.', '_', \
             '__' or '-'",
            shown(bad)
        )));
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_name_component(component: &str) -> bool {
    let b = component.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < b.len() && (b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        if i == run {
            // empty component, or a separator not followed by a letter or digit
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Tags: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` → `TAG_INVALID` otherwise.
pub fn validate_tag(tag: &str) -> Result<(), OciError> {
    let b = tag.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= MAX_TAG_BYTES
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(OciError::new(
            ErrorCode::TagInvalid,
            format!(
                "Invalid tag '{}': use 1 to {MAX_TAG_BYTES} letters, digits, '_', '.' or '-', \
                 starting with a letter, digit or '_'",
                shown(tag)
            ),
        ))
    }
}

/// What a manifest request names: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest when `s` contains `:` (tags cannot), a tag otherwise.
    pub fn parse(s: &str) -> Result<Reference, OciError> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else {
            validate_tag(s).map(|()| Reference::Tag(s.to_string()))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => f.write_str(tag),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// routes

/// What a path under `/v2/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `""`, `"/"`
    Base,
    /// `/_catalog`
    Catalog,
    /// `/token` (the token endpoint)
    Token,
    /// `/{name}/tags/list`
    TagsList { repo: String, image: String },
    /// `/{name}/manifests/{reference}`
    Manifest {
        repo: String,
        image: String,
        reference: Reference,
    },
    /// `/{name}/blobs/{digest}`
    Blob {
        repo: String,
        image: String,
        digest: Digest,
    },
    /// `/{name}/blobs/uploads/` (and without the slash)
    UploadStart { repo: String, image: String },
    /// `/{name}/blobs/uploads/{id}`; id: `[A-Za-z0-9-]{1,64}`
    Upload {
        repo: String,
        image: String,
        id: String,
    },
    /// `/{name}/referrers/{digest}`
    Referrers {
        repo: String,
        image: String,
        digest: Digest,
    },
}

impl Route {
    /// The repository key and image name, for the routes below an image.
    pub fn name(&self) -> Option<(&str, &str)> {
        match self {
            Route::Base | Route::Catalog | Route::Token => None,
            Route::TagsList { repo, image }
            | Route::Manifest { repo, image, .. }
            | Route::Blob { repo, image, .. }
            | Route::UploadStart { repo, image }
            | Route::Upload { repo, image, .. }
            | Route::Referrers { repo, image, .. } => Some((repo, image)),
        }
    }

    /// The path after `/v2` (not percent-encoded: every part is plain ASCII without `/`
    /// other than between name components) that [`parse_route`] reads as this route.
    pub fn path(&self) -> String {
        match self {
            Route::Base => "/".into(),
            Route::Catalog => "/_catalog".into(),
            Route::Token => "/token".into(),
            Route::TagsList { repo, image } => format!("/{repo}/{image}/tags/list"),
            Route::Manifest {
                repo,
                image,
                reference,
            } => format!("/{repo}/{image}/manifests/{reference}"),
            Route::Blob {
                repo,
                image,
                digest,
            } => format!("/{repo}/{image}/blobs/{digest}"),
            Route::UploadStart { repo, image } => format!("/{repo}/{image}/blobs/uploads/"),
            Route::Upload { repo, image, id } => format!("/{repo}/{image}/blobs/uploads/{id}"),
            Route::Referrers {
                repo,
                image,
                digest,
            } => format!("/{repo}/{image}/referrers/{digest}"),
        }
    }
}

/// The endpoint shapes below a name, read from the end of the path.
enum Endpoint<'a> {
    TagsList,
    Manifest(&'a str),
    Blob(&'a str),
    UploadStart,
    Upload(&'a str),
    Referrers(&'a str),
}

/// What a path under `/v2/` names. `path`: the request path after `/v2` (starts with `/` or is
/// empty), already percent-decoded. The first segment of the name is arca's repository key, the
/// rest the image name (at least one component). Read from the end: an image name may contain
/// `manifests`, `blobs` or `tags` as components.
///
/// `Ok(None)`: no such endpoint; `Err`: a recognised shape with an invalid part (name,
/// reference, digest, upload id).
pub fn parse_route(path: &str) -> Result<Option<Route>, OciError> {
    match path {
        "" | "/" => return Ok(Some(Route::Base)),
        "/_catalog" => return Ok(Some(Route::Catalog)),
        "/token" => return Ok(Some(Route::Token)),
        _ => {}
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Ok(None);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (endpoint, name_len) = match *segments.as_slice() {
        [ref name @ .., "tags", "list"] => (Endpoint::TagsList, name.len()),
        [ref name @ .., "blobs", "uploads"] | [ref name @ .., "blobs", "uploads", ""] => {
            (Endpoint::UploadStart, name.len())
        }
        [ref name @ .., "blobs", "uploads", id] => (Endpoint::Upload(id), name.len()),
        // an empty last segment (a trailing slash) names nothing
        [.., _, ""] => return Ok(None),
        [ref name @ .., "manifests", reference] => (Endpoint::Manifest(reference), name.len()),
        [ref name @ .., "blobs", digest] => (Endpoint::Blob(digest), name.len()),
        [ref name @ .., "referrers", digest] => (Endpoint::Referrers(digest), name.len()),
        _ => return Ok(None),
    };
    let (repo, image) = parse_name(&segments[..name_len])?;
    Ok(Some(match endpoint {
        Endpoint::TagsList => Route::TagsList { repo, image },
        Endpoint::Manifest(reference) => Route::Manifest {
            repo,
            image,
            reference: Reference::parse(reference)?,
        },
        Endpoint::Blob(digest) => Route::Blob {
            repo,
            image,
            digest: Digest::parse(digest)?,
        },
        Endpoint::UploadStart => Route::UploadStart { repo, image },
        Endpoint::Upload(id) => {
            if !is_upload_id(id) {
                return Err(OciError::new(
                    ErrorCode::BlobUploadUnknown,
                    format!("No upload session '{}'", shown(id)),
                ));
            }
            Route::Upload {
                repo,
                image,
                id: id.to_string(),
            }
        }
        Endpoint::Referrers(digest) => Route::Referrers {
            repo,
            image,
            digest: Digest::parse(digest)?,
        },
    }))
}

/// The repository key and the image name of a route's name segments.
fn parse_name(segments: &[&str]) -> Result<(String, String), OciError> {
    let Some((&repo, image)) = segments.split_first() else {
        return Err(OciError::new(ErrorCode::NameInvalid, "The name is empty"));
    };
    if crate::paths::validate_repo_key(repo).is_err() {
        return Err(OciError::new(
            ErrorCode::NameInvalid,
            format!(
                "Invalid repository key '{}': the name is {{repository key}}/{{image}}, the key \
                 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                shown(repo)
            ),
        ));
    }
    if image.is_empty() {
        return Err(OciError::new(
            ErrorCode::NameInvalid,
            format!(
                "The name '{}' has no image: it is {{repository key}}/{{image}}",
                shown(repo)
            ),
        ));
    }
    let image = image.join("/");
    validate_image_name(&image)?;
    Ok((repo.to_string(), image))
}

/// `[A-Za-z0-9-]{1,64}`
pub fn is_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// manifests

/// A content descriptor (OCI image spec), as manifests reference blobs and other manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI image manifest, Docker schema 2 manifest
    Image,
    /// OCI image index, Docker manifest list
    Index,
}

impl ManifestKind {
    /// The kind of a manifest media type, `None` for any other type.
    pub fn of_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
            OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
            _ => None,
        }
    }
}

/// A pushed manifest, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The effective media type: the document's `mediaType`, else the request's Content-Type.
    pub media_type: String,
    pub kind: ManifestKind,
    /// Image only.
    pub config: Option<Descriptor>,
    /// Image (layers; OCI artifacts may have an empty list).
    pub layers: Vec<Descriptor>,
    /// Index (children).
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// For the referrers API: `artifactType` of the document, else (image manifests) the
    /// config's mediaType.
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Blobs that must exist in the repository before the manifest is accepted: config +
    /// layers, except non-distributable/foreign layers (which live at their `urls`).
    pub fn required_blobs(&self) -> Vec<&Descriptor> {
        self.config
            .iter()
            .chain(
                self.layers
                    .iter()
                    .filter(|l| !is_foreign_layer(&l.media_type)),
            )
            .collect()
    }

    /// Manifests an index references (they must exist too).
    pub fn required_manifests(&self) -> Vec<&Descriptor> {
        self.manifests.iter().collect()
    }

    /// Every digest the manifest references (config, all layers, children; not the subject),
    /// once each, in document order: for garbage collection.
    pub fn referenced_digests(&self) -> Vec<Digest> {
        let mut seen = std::collections::HashSet::new();
        self.config
            .iter()
            .chain(&self.layers)
            .chain(&self.manifests)
            .filter(|d| seen.insert(&d.digest))
            .map(|d| d.digest.clone())
            .collect()
    }

    /// The manifest's entry in its subject's referrers index, stored as `digest` of `size`
    /// bytes.
    pub fn as_referrer(&self, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest,
            size,
            artifact_type: self.artifact_type.clone(),
            annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
            platform: None,
            urls: None,
        }
    }
}

/// Layers that are not pushed to registries (Windows base layers): they live at their `urls`.
fn is_foreign_layer(media_type: &str) -> bool {
    media_type.contains("nondistributable") || media_type.contains("foreign")
}

fn manifest_invalid(message: impl Into<String>) -> OciError {
    OciError::new(ErrorCode::ManifestInvalid, message)
}

/// `obj[key]`, `None` for a missing key or `null` (Go clients write absent fields as `null`).
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, OciError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(manifest_invalid(format!("{path}{key}: must be a string"))),
    }
}

fn optional_annotations(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<Option<BTreeMap<String, String>>, OciError> {
    let Some(value) = field(obj, "annotations") else {
        return Ok(None);
    };
    let Value::Object(map) = value else {
        return Err(manifest_invalid(format!(
            "{path}annotations: must be an object of strings"
        )));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(manifest_invalid(format!(
                "{path}annotations.{}: must be a string",
                shown(k)
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The descriptor at JSON field `path` (`layers[2]`).
fn parse_descriptor(value: &Value, path: &str) -> Result<Descriptor, OciError> {
    let Value::Object(obj) = value else {
        return Err(manifest_invalid(format!(
            "{path}: must be a descriptor (an object)"
        )));
    };
    let media_type = match field(obj, "mediaType") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(manifest_invalid(format!(
                "{path}.mediaType: must be a non-empty string"
            )));
        }
        None => return Err(manifest_invalid(format!("{path}.mediaType: missing"))),
    };
    let digest = match field(obj, "digest") {
        Some(Value::String(s)) => {
            Digest::parse(s).map_err(|e| e.within(&format!("{path}.digest")))?
        }
        Some(_) => return Err(manifest_invalid(format!("{path}.digest: must be a string"))),
        None => return Err(manifest_invalid(format!("{path}.digest: missing"))),
    };
    let size = match field(obj, "size") {
        // i64: sizes are stored as signed 64-bit integers
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&s| i64::try_from(s).is_ok())
            .ok_or_else(|| {
                manifest_invalid(format!(
                    "{path}.size: must be a non-negative integer, not {n}"
                ))
            })?,
        Some(_) => {
            return Err(manifest_invalid(format!(
                "{path}.size: must be a non-negative integer"
            )));
        }
        None => return Err(manifest_invalid(format!("{path}.size: missing"))),
    };
    let prefix = format!("{path}.");
    let artifact_type = optional_string(obj, "artifactType", &prefix)?;
    let annotations = optional_annotations(obj, &prefix)?;
    let platform = match field(obj, "platform") {
        None => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            return Err(manifest_invalid(format!(
                "{path}.platform: must be an object"
            )));
        }
    };
    let urls = match field(obj, "urls") {
        None => None,
        Some(Value::Array(urls)) => Some(
            urls.iter()
                .enumerate()
                .map(|(i, u)| {
                    u.as_str().map(str::to_string).ok_or_else(|| {
                        manifest_invalid(format!("{path}.urls[{i}]: must be a string"))
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(manifest_invalid(format!(
                "{path}.urls: must be an array of strings"
            )));
        }
    };
    Ok(Descriptor {
        media_type,
        digest,
        size,
        artifact_type,
        annotations,
        platform,
        urls,
    })
}

/// The descriptors of the array field `key` (required).
fn parse_descriptors(obj: &Map<String, Value>, key: &str) -> Result<Vec<Descriptor>, OciError> {
    match field(obj, key) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, d)| parse_descriptor(d, &format!("{key}[{i}]")))
            .collect(),
        Some(_) => Err(manifest_invalid(format!(
            "{key}: must be an array of descriptors"
        ))),
        None => Err(manifest_invalid(format!("{key}: missing"))),
    }
}

/// The media type of a Content-Type header: parameters stripped, lower case; `None` when it
/// does not name a type (absent, empty, or generic JSON).
fn content_media_type(content_type: Option<&str>) -> Option<String> {
    let value = content_type?;
    let media_type = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (!media_type.is_empty() && !GENERIC_CONTENT_TYPES.contains(&media_type.as_str()))
        .then_some(media_type)
}

/// Parse and validate a pushed manifest. `content_type`: the request's Content-Type (with its
/// parameters, if any).
///
/// At most [`MAX_MANIFEST_BYTES`] (`SIZE_INVALID`); a JSON object with `schemaVersion` 2
/// (schema 1 → `UNSUPPORTED`); the media type is the document's `mediaType` or the
/// Content-Type, which agree when both are given (a generic `application/json` or
/// `application/octet-stream` Content-Type defers to the document); one of the four manifest
/// types (`UNSUPPORTED` otherwise). Image manifests need `config` and `layers` (empty only for
/// OCI), indexes `manifests`, and neither may carry the other's fields (the ambiguity of
/// GHSA-mc8v-mgrf-8f4m). Descriptors: `mediaType`, `digest` (`DIGEST_INVALID` when malformed),
/// `size` (a non-negative integer). Messages name the JSON field (`layers[2].digest: …`).
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, OciError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(OciError::new(
            ErrorCode::SizeInvalid,
            format!(
                "The manifest has {} bytes; at most {MAX_MANIFEST_BYTES} are accepted",
                bytes.len()
            ),
        ));
    }
    // serde_json stops at 128 levels of nesting: deep documents are an error, not a crash
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| manifest_invalid(format!("The manifest is not valid JSON: {e}")))?;
    let Value::Object(obj) = document else {
        return Err(manifest_invalid("The manifest is not a JSON object"));
    };
    match field(&obj, "schemaVersion") {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) if v.as_u64() == Some(1) => {
            return Err(OciError::new(
                ErrorCode::Unsupported,
                "schemaVersion: Docker image manifest schema 1 is not supported; push schema 2 \
                 or OCI manifests",
            ));
        }
        Some(v) => {
            return Err(manifest_invalid(format!(
                "schemaVersion: must be 2, not {}",
                shown(&v.to_string())
            )));
        }
        None => return Err(manifest_invalid("schemaVersion: missing")),
    }
    let declared = optional_string(&obj, "mediaType", "")?;
    let header = content_media_type(content_type);
    let media_type = match (declared, header) {
        (Some(declared), Some(header)) if declared != header => {
            return Err(manifest_invalid(format!(
                "mediaType: the document says '{}' but the Content-Type is '{}'",
                shown(&declared),
                shown(&header)
            )));
        }
        (Some(media_type), _) | (None, Some(media_type)) => media_type,
        (None, None) => {
            return Err(OciError::new(
                ErrorCode::Unsupported,
                "The manifest's media type is unknown: neither its mediaType nor the \
                 Content-Type names one",
            ));
        }
    };
    let Some(kind) = ManifestKind::of_media_type(&media_type) else {
        return Err(OciError::new(
            ErrorCode::Unsupported,
            format!(
                "The manifest media type '{}' is not supported; supported: {}",
                shown(&media_type),
                MANIFEST_MEDIA_TYPES.join(", ")
            ),
        ));
    };
    let subject = field(&obj, "subject")
        .map(|s| parse_descriptor(s, "subject"))
        .transpose()?;
    let declared_artifact_type = optional_string(&obj, "artifactType", "")?;
    let annotations = optional_annotations(&obj, "")?.unwrap_or_default();
    let mut manifest = Manifest {
        media_type,
        kind,
        config: None,
        layers: Vec::new(),
        manifests: Vec::new(),
        subject,
        artifact_type: declared_artifact_type,
        annotations,
    };
    match kind {
        ManifestKind::Image => {
            if field(&obj, "manifests").is_some() {
                return Err(manifest_invalid(
                    "manifests: an image manifest has no 'manifests' (is it an index?)",
                ));
            }
            let config = match field(&obj, "config") {
                Some(c) => parse_descriptor(c, "config")?,
                None => return Err(manifest_invalid("config: missing")),
            };
            manifest.layers = parse_descriptors(&obj, "layers")?;
            if manifest.layers.is_empty() && manifest.media_type == DOCKER_MANIFEST {
                return Err(manifest_invalid(
                    "layers: a Docker image manifest needs at least one layer",
                ));
            }
            if manifest.artifact_type.is_none() {
                manifest.artifact_type = Some(config.media_type.clone());
            }
            manifest.config = Some(config);
        }
        ManifestKind::Index => {
            for image_field in ["config", "layers"] {
                if field(&obj, image_field).is_some() {
                    return Err(manifest_invalid(format!(
                        "{image_field}: an index has no '{image_field}' (is it an image manifest?)"
                    )));
                }
            }
            manifest.manifests = parse_descriptors(&obj, "manifests")?;
        }
    }
    Ok(manifest)
}

/// The referrers answer: an OCI image index listing `descriptors`.
pub fn referrers_index(descriptors: &[Descriptor]) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Index<'a> {
        schema_version: u32,
        media_type: &'a str,
        manifests: &'a [Descriptor],
    }
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: descriptors,
    };
    // Strings, integers and JSON values only: serializing cannot fail.
    serde_json::to_vec(&index).unwrap_or_else(|_| {
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#).into_bytes()
    })
}

// ---------------------------------------------------------------------------------------------
// uploads

/// A PATCH's Content-Range: `start-end` (inclusive, end ≥ start), optionally after `bytes ` or
/// `bytes=` and followed by `/total` or `/*`; `RANGE_INVALID` otherwise.
pub fn parse_content_range(value: &str) -> Result<(u64, u64), OciError> {
    let invalid = || {
        OciError::new(
            ErrorCode::RangeInvalid,
            format!(
                "Invalid Content-Range '{}': expected <start>-<end>, inclusive",
                shown(value)
            ),
        )
    };
    let trimmed = value.trim();
    let range = trimmed
        .strip_prefix("bytes=")
        .or_else(|| trimmed.strip_prefix("bytes "))
        .unwrap_or(trimmed)
        .trim_start();
    let (range, total) = match range.split_once('/') {
        Some((range, total)) => (range, Some(total)),
        None => (range, None),
    };
    let (start, end) = range.split_once('-').ok_or_else(invalid)?;
    let start = parse_decimal(start).ok_or_else(invalid)?;
    let end = parse_decimal(end).ok_or_else(invalid)?;
    if end < start {
        return Err(invalid());
    }
    match total {
        None | Some("*") => {}
        Some(total) => match parse_decimal(total) {
            Some(total) if end < total => {}
            _ => return Err(invalid()),
        },
    }
    Ok((start, end))
}

/// Decimal digits only (no sign, no spaces) that fit in a u64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The `Range` header of an upload's status: `0-{size-1}`, and `0-0` for an empty upload (what
/// distribution sends).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

// ---------------------------------------------------------------------------------------------
// token scopes

/// One scope of a token request or a token: `repository:{name}:{actions}`,
/// `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// A token request's scopes (`scope=` query values; one value may hold several
/// space-separated scopes). The type is before the first `:`, the actions (comma-separated)
/// after the last. Malformed scopes are skipped (as distribution does), unknown actions
/// dropped, repeated ones kept once.
pub fn parse_scopes(values: &[&str]) -> Vec<Scope> {
    values
        .iter()
        .flat_map(|v| v.split_ascii_whitespace())
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            if kind.is_empty() || name.is_empty() {
                return None;
            }
            let mut kept: Vec<String> = Vec::new();
            for action in actions.split(',') {
                if SCOPE_ACTIONS.contains(&action) && !kept.iter().any(|k| k == action) {
                    kept.push(action.to_string());
                }
            }
            Some(Scope {
                kind: kind.to_string(),
                name: name.to_string(),
                actions: kept,
            })
        })
        .collect()
}

/// The scope string of a 401 challenge, for `WWW-Authenticate: Bearer …,scope="…"`.
pub fn scope_string(kind: &str, name: &str, actions: &[&str]) -> String {
    format!("{kind}:{name}:{}", actions.join(","))
}

// ---------------------------------------------------------------------------------------------
// pagination

/// Pagination of `tags/list` and `_catalog`: `sorted` ascending; `n` (None: all; Some(0):
/// none), `last` (exclusive). Returns the page and whether more follow (the caller then sends
/// `Link: <…?n=N&last=X>; rel="next"`; never after an empty page of `n=0`).
pub fn paginate<'a>(
    sorted: &'a [String],
    n: Option<usize>,
    last: Option<&str>,
) -> (&'a [String], bool) {
    let start = last.map_or(0, |last| sorted.partition_point(|s| s.as_str() <= last));
    let rest = sorted.get(start..).unwrap_or_default();
    match n {
        Some(n) if rest.len() > n => (rest.get(..n).unwrap_or_default(), n > 0),
        _ => (rest, false),
    }
}

/// The `n` query value: a non-negative integer, clamped to [`MAX_PAGE_SIZE`];
/// `PAGINATION_NUMBER_INVALID` otherwise.
pub fn parse_page_size(value: &str) -> Result<usize, OciError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OciError::new(
            ErrorCode::PaginationNumberInvalid,
            format!(
                "Invalid n '{}': expected a non-negative integer",
                shown(value)
            ),
        ));
    }
    let significant = value.trim_start_matches('0');
    // more digits than MAX_PAGE_SIZE has: bigger, whatever they are (and may not fit a usize)
    if significant.len() > 5 {
        return Ok(MAX_PAGE_SIZE);
    }
    Ok(significant
        .parse::<usize>()
        .unwrap_or_default()
        .min(MAX_PAGE_SIZE))
}

// ---------------------------------------------------------------------------------------------
// where an image's parts are stored

const BLOBS_DIR: &str = "_blobs";
const MANIFESTS_DIR: &str = "_manifests";
const TAGS_DIR: &str = "_tags";

/// `{image}/_blobs/sha256:{hex}`: image name components cannot start with `_`, so these
/// folders never collide with a nested image.
pub fn blob_path(image: &str, digest: &Digest) -> String {
    format!("{image}/{BLOBS_DIR}/{digest}")
}

/// `{image}/_manifests/sha256:{hex}`
pub fn manifest_path(image: &str, digest: &Digest) -> String {
    format!("{image}/{MANIFESTS_DIR}/{digest}")
}

/// `{image}/_tags/{tag}`
pub fn tag_path(image: &str, tag: &str) -> String {
    format!("{image}/{TAGS_DIR}/{tag}")
}

/// `{image}/_tags`
pub fn tags_dir(image: &str) -> String {
    format!("{image}/{TAGS_DIR}")
}

/// What an item of a docker repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredPart {
    Blob { image: String, digest: Digest },
    Manifest { image: String, digest: Digest },
    Tag { image: String, tag: String },
}

/// The part of an image stored at `path` of a docker repository (the inverse of
/// [`blob_path`], [`manifest_path`] and [`tag_path`]); `None` for any other path.
pub fn stored_part(path: &str) -> Option<StoredPart> {
    let (dir, last) = path.rsplit_once('/')?;
    let (image, kind) = dir.rsplit_once('/')?;
    validate_image_name(image).ok()?;
    let image = image.to_string();
    match kind {
        BLOBS_DIR => Some(StoredPart::Blob {
            image,
            digest: Digest::parse(last).ok()?,
        }),
        MANIFESTS_DIR => Some(StoredPart::Manifest {
            image,
            digest: Digest::parse(last).ok()?,
        }),
        TAGS_DIR => {
            validate_tag(last).ok()?;
            Some(StoredPart::Tag {
                image,
                tag: last.to_string(),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const HEX_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn digest(hex: &str) -> Digest {
        Digest::from_sha256_hex(hex).expect("hex")
    }

    fn sha(hex: &str) -> String {
        format!("sha256:{hex}")
    }

    fn desc(media_type: &str, hex: &str, size: u64) -> Value {
        json!({"mediaType": media_type, "digest": sha(hex), "size": size})
    }

    fn oci_image() -> Value {
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", HEX_A, 10),
            "layers": [
                desc("application/vnd.oci.image.layer.v1.tar+gzip", HEX_B, 20),
                desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", HEX_C, 30),
            ],
            "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
        })
    }

    fn parse(v: &Value, content_type: Option<&str>) -> Result<Manifest, OciError> {
        parse_manifest(v.to_string().as_bytes(), content_type)
    }

    fn code_of(v: &Value, content_type: Option<&str>) -> ErrorCode {
        parse(v, content_type).expect_err("must fail").code
    }

    #[test]
    fn error_codes_have_the_spec_names_and_statuses() {
        let expected = [
            (ErrorCode::BlobUnknown, "BLOB_UNKNOWN", 404),
            (ErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
            (ErrorCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
            (ErrorCode::DigestInvalid, "DIGEST_INVALID", 400),
            (ErrorCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
            (ErrorCode::ManifestInvalid, "MANIFEST_INVALID", 400),
            (ErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN", 404),
            (ErrorCode::NameInvalid, "NAME_INVALID", 400),
            (ErrorCode::NameUnknown, "NAME_UNKNOWN", 404),
            (ErrorCode::SizeInvalid, "SIZE_INVALID", 400),
            (ErrorCode::Unauthorized, "UNAUTHORIZED", 401),
            (ErrorCode::Denied, "DENIED", 403),
            (ErrorCode::Unsupported, "UNSUPPORTED", 415),
            (ErrorCode::TooManyRequests, "TOOMANYREQUESTS", 429),
            (ErrorCode::RangeInvalid, "RANGE_INVALID", 416),
            (ErrorCode::TagInvalid, "TAG_INVALID", 400),
            (
                ErrorCode::PaginationNumberInvalid,
                "PAGINATION_NUMBER_INVALID",
                400,
            ),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, name, status) in expected {
            assert!(ErrorCode::ALL.contains(&code));
            assert_eq!(code.as_str(), name);
            assert_eq!(code.status().as_u16(), status, "{name}");
        }
    }

    #[test]
    fn error_bodies_are_the_spec_json() {
        let errors = [
            OciError::new(ErrorCode::BlobUnknown, "no \"such\" blob\n"),
            OciError::new(ErrorCode::Denied, "no").with_detail(json!({"x": [1]})),
        ];
        let body: Value = serde_json::from_slice(&error_body(&errors)).expect("json");
        assert_eq!(
            body,
            json!({"errors": [
                {"code": "BLOB_UNKNOWN", "message": "no \"such\" blob\n"},
                {"code": "DENIED", "message": "no", "detail": {"x": [1]}}
            ]})
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&error_body(&[])).expect("json"),
            json!({"errors": []})
        );
        assert_eq!(errors[1].to_string(), "DENIED: no");
    }

    #[test]
    fn digests_are_sha256_in_lower_case_hex() {
        let d = Digest::parse(&sha(HEX_A)).expect("valid");
        assert_eq!(d.hex(), HEX_A);
        assert_eq!(d.to_string(), sha(HEX_A));
        assert_eq!(d.as_str(), sha(HEX_A));
        assert_eq!(Digest::from_sha256_hex(HEX_A), Some(d.clone()));
        assert_eq!(
            Digest::of_bytes(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::from_sha256_hex(&HEX_A.to_uppercase()), None);
        assert_eq!(Digest::from_sha256_hex(&HEX_A[1..]), None);
        assert_eq!(Digest::from_sha256_hex(&sha(HEX_A)), None);
        // serde: as the string, validated
        assert_eq!(serde_json::to_value(&d).expect("ser"), json!(sha(HEX_A)));
        let back: Digest = serde_json::from_value(json!(sha(HEX_A))).expect("de");
        assert_eq!(back, d);
        assert!(serde_json::from_value::<Digest>(json!("sha256:x")).is_err());
        assert!(serde_json::from_value::<Digest>(json!(1)).is_err());
    }

    #[test]
    fn malformed_and_unsupported_digests_are_digest_invalid() {
        for bad in [
            "",
            ":",
            "sha256",
            "sha256:",
            &format!("sha256:{}", HEX_A.to_uppercase()),
            &format!("sha256:{}", &HEX_A[1..]),
            &format!("sha256:{HEX_A}a"),
            &format!("SHA256:{HEX_A}"),
            &format!(" sha256:{HEX_A}"),
            &format!("sha256:{HEX_A}\n"),
            &format!("sha256::{HEX_A}"),
            "sha256:zz",
            "+sha:abc",
            "sha__x:abc",
            "sha256:ab/c",
        ] {
            let e = Digest::parse(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::DigestInvalid, "{bad}");
            assert!(!e.message.contains("sha256 only"), "{bad}: {}", e.message);
        }
        for other in [
            format!("sha512:{HEX_A}{HEX_A}"),
            "sha384:abc".to_string(),
            "blake3:abc=".to_string(),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".to_string(),
        ] {
            let e = Digest::parse(&other).expect_err(&other);
            assert_eq!(e.code, ErrorCode::DigestInvalid);
            assert!(e.message.contains("sha256 only"), "{other}: {}", e.message);
        }
        // long values are cut in the message
        let long = format!("sha256:{}", "x".repeat(10_000));
        assert!(Digest::parse(&long).expect_err("long").message.len() < 400);
    }

    #[test]
    fn image_names_follow_the_spec_grammar() {
        for good in [
            "a",
            "hello",
            "library/ubuntu",
            "a/b/c/d",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a1.b2_c3__d4-e5",
            "0",
            "blobs/manifests/tags",
            &"a".repeat(255),
        ] {
            assert_eq!(validate_image_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "A",
            "Hello",
            "/a",
            "a/",
            "a//b",
            ".a",
            "a.",
            "a..b",
            "a___b",
            "a_-b",
            "-a",
            "a-",
            "_a",
            "a/_blobs",
            "a b",
            "a\0",
            "é",
            "a:b",
            "a@b",
            &"a".repeat(256),
        ] {
            let e = validate_image_name(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::NameInvalid, "{bad}");
        }
        let e = validate_image_name("good/Bad/x").expect_err("bad");
        assert!(e.message.contains("component 'Bad'"), "{}", e.message);
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        for good in ["latest", "v1.0", "_x", "1", "A-b_c.D", &"t".repeat(128)] {
            assert_eq!(validate_tag(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "a:b",
            "a b",
            "é",
            "a\n",
            &"t".repeat(129),
        ] {
            assert_eq!(
                validate_tag(bad).expect_err(bad).code,
                ErrorCode::TagInvalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn references_are_digests_when_they_have_a_colon() {
        assert_eq!(Reference::parse("v1"), Ok(Reference::Tag("v1".to_string())));
        assert_eq!(
            Reference::parse(&sha(HEX_A)),
            Ok(Reference::Digest(digest(HEX_A)))
        );
        assert_eq!(
            Reference::parse("v1:x").expect_err("bad").code,
            ErrorCode::DigestInvalid
        );
        assert_eq!(
            Reference::parse("-v").expect_err("bad").code,
            ErrorCode::TagInvalid
        );
        for s in ["v1", &sha(HEX_A)] {
            assert_eq!(Reference::parse(s).expect("ok").to_string(), s);
        }
    }

    fn route(path: &str) -> Option<Route> {
        parse_route(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn route_error(path: &str) -> ErrorCode {
        parse_route(path).expect_err(path).code
    }

    #[test]
    fn routes_are_read_from_the_end_of_the_path() {
        let s = |x: &str| x.to_string();
        assert_eq!(route(""), Some(Route::Base));
        assert_eq!(route("/"), Some(Route::Base));
        assert_eq!(route("/_catalog"), Some(Route::Catalog));
        assert_eq!(route("/token"), Some(Route::Token));
        assert_eq!(
            route("/docker-local/hello/tags/list"),
            Some(Route::TagsList {
                repo: s("docker-local"),
                image: s("hello")
            })
        );
        assert_eq!(
            route("/r/a/blobs/b/manifests/latest"),
            Some(Route::Manifest {
                repo: s("r"),
                image: s("a/blobs/b"),
                reference: Reference::Tag(s("latest"))
            })
        );
        assert_eq!(
            route(&format!("/r/x/manifests/{}", sha(HEX_A))),
            Some(Route::Manifest {
                repo: s("r"),
                image: s("x"),
                reference: Reference::Digest(digest(HEX_A))
            })
        );
        assert_eq!(
            route(&format!("/r/a/manifests/blobs/{}", sha(HEX_B))),
            Some(Route::Blob {
                repo: s("r"),
                image: s("a/manifests"),
                digest: digest(HEX_B)
            })
        );
        for start in ["/r/a/b/blobs/uploads/", "/r/a/b/blobs/uploads"] {
            assert_eq!(
                route(start),
                Some(Route::UploadStart {
                    repo: s("r"),
                    image: s("a/b")
                }),
                "{start}"
            );
        }
        assert_eq!(
            route("/r/a/blobs/uploads/0f6a-42"),
            Some(Route::Upload {
                repo: s("r"),
                image: s("a"),
                id: s("0f6a-42")
            })
        );
        assert_eq!(
            route(&format!("/R.1_x/tags/tags/list/referrers/{}", sha(HEX_C))),
            Some(Route::Referrers {
                repo: s("R.1_x"),
                image: s("tags/tags/list"),
                digest: digest(HEX_C)
            })
        );
        assert_eq!(
            route("/r/a/tags/list/tags/list"),
            Some(Route::TagsList {
                repo: s("r"),
                image: s("a/tags/list")
            })
        );
    }

    #[test]
    fn unknown_route_shapes_are_none() {
        for path in [
            "x",
            "//",
            "/_catalog/",
            "/token/",
            "/r",
            "/r/",
            "/r/a",
            "/r/a/",
            "/r/a/tags",
            "/r/a/tags/list/",
            "/r/a/manifests",
            "/r/a/manifests/",
            "/r/a/blobs/",
            "/r/a/referrers/",
            "/r/a/unknown/x",
            "/r/a/blobs/uploads/x/",
        ] {
            assert_eq!(route(path), None, "{path}");
        }
    }

    #[test]
    fn recognised_routes_with_bad_parts_are_errors() {
        assert_eq!(route_error("/r/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r/manifests/latest"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/blobs/uploads/"), ErrorCode::NameInvalid);
        assert_eq!(route_error("//a/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/.r/a/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r:x/a/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r/A/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r/a//b/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r/_a/tags/list"), ErrorCode::NameInvalid);
        assert_eq!(route_error("/r/a/manifests/-x"), ErrorCode::TagInvalid);
        assert_eq!(
            route_error("/r/a/manifests/sha256:x"),
            ErrorCode::DigestInvalid
        );
        assert_eq!(route_error("/r/a/blobs/latest"), ErrorCode::DigestInvalid);
        assert_eq!(route_error("/r/a/referrers/v1"), ErrorCode::DigestInvalid);
        assert_eq!(
            route_error("/r/a/blobs/uploads/a_b"),
            ErrorCode::BlobUploadUnknown
        );
        assert_eq!(
            route_error(&format!("/r/a/blobs/uploads/{}", "a".repeat(65))),
            ErrorCode::BlobUploadUnknown
        );
        // the name is checked before the reference
        assert_eq!(route_error("/r/A/manifests/-x"), ErrorCode::NameInvalid);
    }

    #[test]
    fn routes_render_to_paths_that_parse_back() {
        let paths = [
            "/".to_string(),
            "/_catalog".to_string(),
            "/token".to_string(),
            "/r/a/tags/list".to_string(),
            "/r/a/b/manifests/v1".to_string(),
            format!("/r/a/manifests/{}", sha(HEX_A)),
            format!("/r/a/blobs/{}", sha(HEX_A)),
            "/r/a/blobs/uploads/".to_string(),
            "/r/a/blobs/uploads/abc-1".to_string(),
            format!("/r/a/referrers/{}", sha(HEX_A)),
        ];
        for path in paths {
            let r = route(&path).expect("route");
            assert_eq!(r.path(), path);
            assert_eq!(route(&r.path()), Some(r.clone()));
        }
        assert_eq!(
            route("/r/a/tags/list").expect("route").name(),
            Some(("r", "a"))
        );
        assert_eq!(Route::Catalog.name(), None);
    }

    #[test]
    fn an_oci_image_manifest_parses() {
        let m = parse(&oci_image(), Some(OCI_MANIFEST)).expect("valid");
        assert_eq!(m.media_type, OCI_MANIFEST);
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.config.as_ref().map(|c| c.size), Some(10));
        assert_eq!(m.layers.len(), 2);
        assert!(m.manifests.is_empty());
        assert_eq!(m.subject, None);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert_eq!(m.annotations.len(), 1);
        // the foreign layer is not required
        let required: Vec<_> = m
            .required_blobs()
            .iter()
            .map(|d| d.digest.clone())
            .collect();
        assert_eq!(required, vec![digest(HEX_A), digest(HEX_B)]);
        assert!(m.required_manifests().is_empty());
        assert_eq!(
            m.referenced_digests(),
            vec![digest(HEX_A), digest(HEX_B), digest(HEX_C)]
        );
        // no mediaType in the document: the Content-Type decides (parameters ignored)
        let mut bare = oci_image();
        bare.as_object_mut().map(|o| o.remove("mediaType"));
        let m = parse(
            &bare,
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        )
        .expect("valid");
        assert_eq!(m.media_type, OCI_MANIFEST);
        // a generic Content-Type defers to the document
        for generic in [
            None,
            Some("application/json"),
            Some("application/octet-stream"),
        ] {
            assert!(parse(&oci_image(), generic).is_ok(), "{generic:?}");
        }
    }

    #[test]
    fn an_artifact_with_a_subject_parses() {
        let artifact = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": desc("application/vnd.oci.empty.v1+json", HEX_A, 2),
            "layers": [],
            "subject": desc(OCI_MANIFEST, HEX_B, 500),
            "annotations": {"org.opencontainers.image.title": "sbom.json"}
        });
        let m = parse(&artifact, Some(OCI_MANIFEST)).expect("valid");
        assert_eq!(m.artifact_type.as_deref(), Some("application/spdx+json"));
        assert!(m.layers.is_empty());
        assert_eq!(m.subject.as_ref().map(|s| &s.digest), Some(&digest(HEX_B)));
        // the subject is not referenced content
        assert_eq!(m.referenced_digests(), vec![digest(HEX_A)]);
        let entry = m.as_referrer(digest(HEX_C), 321);
        assert_eq!(entry.media_type, OCI_MANIFEST);
        assert_eq!(entry.size, 321);
        assert_eq!(
            entry.artifact_type.as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(
            entry
                .annotations
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.title"))
                .map(String::as_str),
            Some("sbom.json")
        );
    }

    #[test]
    fn indexes_and_docker_manifests_parse() {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": sha(HEX_A), "size": 1,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "digest": sha(HEX_B), "size": 2,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            ]
        });
        let m = parse(&index, None).expect("valid");
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.config, None);
        assert_eq!(m.artifact_type, None);
        assert!(m.required_blobs().is_empty());
        assert_eq!(m.required_manifests().len(), 2);
        assert_eq!(m.referenced_digests(), vec![digest(HEX_A), digest(HEX_B)]);
        assert_eq!(
            m.manifests[1]
                .platform
                .as_ref()
                .and_then(|p| p["variant"].as_str()),
            Some("v8")
        );

        let docker = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": desc("application/vnd.docker.container.image.v1+json", HEX_A, 5),
            "layers": [
                desc("application/vnd.docker.image.rootfs.diff.tar.gzip", HEX_B, 6),
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                 "digest": sha(HEX_C), "size": 7, "urls": ["https://example.invalid/l"]},
            ]
        });
        let m = parse(&docker, Some(DOCKER_MANIFEST)).expect("valid");
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!(m.required_blobs().len(), 2);
        assert_eq!(
            m.layers[1].urls,
            Some(vec!["https://example.invalid/l".to_string()])
        );

        let list = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": sha(HEX_A), "size": 9,
                           "platform": {"architecture": "amd64", "os": "linux"}}]
        });
        assert_eq!(
            parse(&list, Some(DOCKER_MANIFEST_LIST))
                .expect("valid")
                .kind,
            ManifestKind::Index
        );
        // an empty index is valid
        let empty = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
        assert!(parse(&empty, None).is_ok());
    }

    #[test]
    fn media_types_must_be_known_and_agree() {
        assert_eq!(
            code_of(&oci_image(), Some(DOCKER_MANIFEST)),
            ErrorCode::ManifestInvalid
        );
        let e = parse(&oci_image(), Some(OCI_INDEX)).expect_err("disagree");
        assert!(
            e.message.contains(OCI_MANIFEST) && e.message.contains(OCI_INDEX),
            "{}",
            e.message
        );
        let mut bare = oci_image();
        bare.as_object_mut().map(|o| o.remove("mediaType"));
        assert_eq!(code_of(&bare, None), ErrorCode::Unsupported);
        assert_eq!(
            code_of(&bare, Some("application/json")),
            ErrorCode::Unsupported
        );
        let e = parse(&bare, Some("application/vnd.example+json")).expect_err("unknown");
        assert_eq!(e.code, ErrorCode::Unsupported);
        assert!(
            e.message.contains("application/vnd.example+json"),
            "{}",
            e.message
        );
        let mut odd = oci_image();
        odd["mediaType"] = json!("application/vnd.docker.distribution.manifest.v1+prettyjws");
        assert_eq!(code_of(&odd, None), ErrorCode::Unsupported);
        odd["mediaType"] = json!(5);
        assert_eq!(code_of(&odd, None), ErrorCode::ManifestInvalid);
    }

    #[test]
    fn schema_versions_other_than_2_are_refused() {
        let mut m = oci_image();
        m["schemaVersion"] = json!(1);
        assert_eq!(code_of(&m, None), ErrorCode::Unsupported);
        for bad in [json!(3), json!(2.0), json!("2"), json!(-2), json!(null)] {
            m["schemaVersion"] = bad.clone();
            assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid, "{bad}");
        }
        m.as_object_mut().map(|o| o.remove("schemaVersion"));
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
    }

    #[test]
    fn malformed_documents_are_manifest_invalid() {
        for bytes in [
            &b""[..],
            b"[]",
            b"null",
            b"\"x\"",
            b"{",
            b"{\"schemaVersion\":2,}",
            b"\xff\xfe{}",
        ] {
            assert_eq!(
                parse_manifest(bytes, Some(OCI_MANIFEST))
                    .expect_err("invalid")
                    .code,
                ErrorCode::ManifestInvalid,
                "{}",
                bytes.escape_ascii()
            );
        }
        let deep = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            parse_manifest(deep.as_bytes(), None)
                .expect_err("deep")
                .code,
            ErrorCode::ManifestInvalid
        );
        let huge = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert_eq!(
            parse_manifest(&huge, None).expect_err("huge").code,
            ErrorCode::SizeInvalid
        );
    }

    #[test]
    fn image_manifests_need_config_and_layers() {
        let mut m = oci_image();
        m.as_object_mut().map(|o| o.remove("config"));
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        let mut m = oci_image();
        m.as_object_mut().map(|o| o.remove("layers"));
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        let mut m = oci_image();
        m["layers"] = json!({});
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        // empty layers: fine for OCI, not for Docker
        let mut m = oci_image();
        m["layers"] = json!([]);
        assert!(parse(&m, None).is_ok());
        m["mediaType"] = json!(DOCKER_MANIFEST);
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        // an image manifest with an index's field and the reverse (GHSA-mc8v-mgrf-8f4m)
        let mut m = oci_image();
        m["manifests"] = json!([]);
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        let mut i = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
        i["layers"] = json!([]);
        assert_eq!(code_of(&i, None), ErrorCode::ManifestInvalid);
        let mut i = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
        i["config"] = desc("x", HEX_A, 1);
        assert_eq!(code_of(&i, None), ErrorCode::ManifestInvalid);
        let i = json!({"schemaVersion": 2, "mediaType": OCI_INDEX});
        assert_eq!(code_of(&i, None), ErrorCode::ManifestInvalid);
    }

    #[test]
    fn descriptor_errors_name_the_field() {
        let cases: Vec<(&str, Value, ErrorCode, &str)> = vec![
            (
                "digest",
                json!("sha256:nope"),
                ErrorCode::DigestInvalid,
                "layers[1].digest:",
            ),
            (
                "digest",
                json!(format!("sha512:{HEX_A}{HEX_A}")),
                ErrorCode::DigestInvalid,
                "sha256 only",
            ),
            (
                "digest",
                json!(1),
                ErrorCode::ManifestInvalid,
                "layers[1].digest:",
            ),
            (
                "size",
                json!(-1),
                ErrorCode::ManifestInvalid,
                "layers[1].size:",
            ),
            (
                "size",
                json!(1.5),
                ErrorCode::ManifestInvalid,
                "layers[1].size:",
            ),
            (
                "size",
                json!(1e3),
                ErrorCode::ManifestInvalid,
                "layers[1].size:",
            ),
            (
                "size",
                json!("1"),
                ErrorCode::ManifestInvalid,
                "layers[1].size:",
            ),
            (
                "size",
                json!(u64::MAX),
                ErrorCode::ManifestInvalid,
                "layers[1].size:",
            ),
            (
                "mediaType",
                json!(""),
                ErrorCode::ManifestInvalid,
                "layers[1].mediaType:",
            ),
            (
                "mediaType",
                json!([]),
                ErrorCode::ManifestInvalid,
                "layers[1].mediaType:",
            ),
            (
                "annotations",
                json!({"a": 1}),
                ErrorCode::ManifestInvalid,
                "layers[1].annotations.a:",
            ),
            (
                "annotations",
                json!([]),
                ErrorCode::ManifestInvalid,
                "layers[1].annotations:",
            ),
            (
                "urls",
                json!(["x", 1]),
                ErrorCode::ManifestInvalid,
                "layers[1].urls[1]:",
            ),
            (
                "urls",
                json!("x"),
                ErrorCode::ManifestInvalid,
                "layers[1].urls:",
            ),
            (
                "platform",
                json!("linux"),
                ErrorCode::ManifestInvalid,
                "layers[1].platform:",
            ),
            (
                "artifactType",
                json!(7),
                ErrorCode::ManifestInvalid,
                "layers[1].artifactType:",
            ),
        ];
        for (key, value, code, needle) in cases {
            let mut m = oci_image();
            m["layers"][1][key] = value.clone();
            let e = parse(&m, None).expect_err(key);
            assert_eq!(e.code, code, "{key}={value}: {e}");
            assert!(e.message.contains(needle), "{key}={value}: {e}");
        }
        for key in ["mediaType", "digest", "size"] {
            let mut m = oci_image();
            m["config"].as_object_mut().map(|o| o.remove(key));
            let e = parse(&m, None).expect_err(key);
            assert!(
                e.message.starts_with(&format!("config.{key}: missing")),
                "{e}"
            );
        }
        let mut m = oci_image();
        m["layers"][0] = json!("sha256:x");
        assert!(
            parse(&m, None)
                .expect_err("x")
                .message
                .starts_with("layers[0]:")
        );
        let mut m = oci_image();
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": "x", "size": 1});
        assert!(
            parse(&m, None)
                .expect_err("x")
                .message
                .starts_with("subject.digest:")
        );
        let mut m = oci_image();
        m["annotations"] = json!({"k": null});
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        let mut m = oci_image();
        m["artifactType"] = json!(false);
        assert_eq!(code_of(&m, None), ErrorCode::ManifestInvalid);
        // null optional fields are absent; big and zero sizes are fine
        let mut m = oci_image();
        m["subject"] = Value::Null;
        m["layers"][0]["annotations"] = Value::Null;
        m["layers"][0]["size"] = json!(i64::MAX);
        m["layers"][1]["size"] = json!(0);
        assert!(parse(&m, None).is_ok());
    }

    #[test]
    fn referrers_index_is_an_oci_index_that_parses() {
        let empty: Value = serde_json::from_slice(&referrers_index(&[])).expect("json");
        assert_eq!(
            empty,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        );
        let artifact = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x",
            "config": desc("application/vnd.oci.empty.v1+json", HEX_A, 2), "layers": [],
            "subject": desc(OCI_MANIFEST, HEX_B, 5)
        });
        let entry = parse(&artifact, None)
            .expect("valid")
            .as_referrer(digest(HEX_C), 99);
        let body = referrers_index(std::slice::from_ref(&entry));
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v["manifests"][0],
            json!({"mediaType": OCI_MANIFEST, "digest": sha(HEX_C), "size": 99,
                   "artifactType": "application/x"})
        );
        let back = parse_manifest(&body, Some(OCI_INDEX)).expect("parses");
        assert_eq!(back.manifests, vec![entry.clone()]);
        // descriptors deserialize from what they serialize to
        let text = serde_json::to_string(&entry).expect("ser");
        assert_eq!(
            serde_json::from_str::<Descriptor>(&text).expect("de"),
            entry
        );
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Ok((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199"), Ok((100, 199)));
        assert_eq!(parse_content_range("bytes=5-5"), Ok((5, 5)));
        assert_eq!(parse_content_range(" 0-9/10 "), Ok((0, 9)));
        assert_eq!(parse_content_range("bytes 0-9/*"), Ok((0, 9)));
        assert_eq!(
            parse_content_range("0-18446744073709551615"),
            Ok((0, u64::MAX))
        );
        for bad in [
            "",
            "-",
            "5-4",
            "0-",
            "-5",
            "a-b",
            "+1-2",
            "1-+2",
            "1 - 2",
            "0-9/9",
            "0-9/x",
            "0-18446744073709551616",
            "bytes",
            "bits 0-1",
            "0-1-2",
        ] {
            let e = parse_content_range(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::RangeInvalid, "{bad}");
            assert!(e.message.contains(&bad.escape_debug().to_string()), "{e}");
        }
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(1), "0-0");
        assert_eq!(upload_range(100), "0-99");
    }

    #[test]
    fn scopes_are_parsed_as_distribution_does() {
        let scope = |kind: &str, name: &str, actions: &[&str]| Scope {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(
            parse_scopes(&[
                "repository:r/a:pull,push",
                "repository:r/b:pull repository:r/c:delete,bogus,pull,pull registry:catalog:*",
                "",
                "  ",
                "malformed",
                "repository:noactions",
                ":name:pull",
                "repository::pull",
                "repository(plugin):r/x:pull",
                "repository:host:5000/a:push",
                "repository:r/d:",
            ]),
            vec![
                scope("repository", "r/a", &["pull", "push"]),
                scope("repository", "r/b", &["pull"]),
                scope("repository", "r/c", &["delete", "pull"]),
                scope("registry", "catalog", &["*"]),
                scope("repository(plugin)", "r/x", &["pull"]),
                scope("repository", "host:5000/a", &["push"]),
                scope("repository", "r/d", &[]),
            ]
        );
        assert_eq!(
            scope_string("repository", "r/a", &["pull", "push"]),
            "repository:r/a:pull,push"
        );
        let s = parse_scopes(&[&scope_string("repository", "r/a", &["pull", "delete"])]);
        assert_eq!(s, vec![scope("repository", "r/a", &["pull", "delete"])]);
        assert_eq!(
            serde_json::to_value(&s[0]).expect("ser"),
            json!({"type": "repository", "name": "r/a", "actions": ["pull", "delete"]})
        );
    }

    #[test]
    fn pages_start_after_last_and_hold_at_most_n() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let page = |n, last| {
            let (p, more) = paginate(&all, n, last);
            (p.iter().map(String::as_str).collect::<Vec<_>>(), more)
        };
        assert_eq!(page(None, None), (vec!["a", "b", "c", "d"], false));
        assert_eq!(page(Some(2), None), (vec!["a", "b"], true));
        assert_eq!(page(Some(2), Some("b")), (vec!["c", "d"], false));
        assert_eq!(page(Some(4), None), (vec!["a", "b", "c", "d"], false));
        assert_eq!(page(Some(0), None), (vec![], false));
        assert_eq!(page(None, Some("bb")), (vec!["c", "d"], false));
        assert_eq!(page(Some(1), Some("0")), (vec!["a"], true));
        assert_eq!(page(Some(1), Some("d")), (vec![], false));
        assert_eq!(page(Some(1), Some("z")), (vec![], false));
        assert_eq!(paginate(&[], Some(3), Some("x")), (&[][..], false));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_size("0"), Ok(0));
        assert_eq!(parse_page_size("100"), Ok(100));
        assert_eq!(parse_page_size("000010000"), Ok(10_000));
        assert_eq!(parse_page_size("10001"), Ok(MAX_PAGE_SIZE));
        assert_eq!(parse_page_size("99999"), Ok(MAX_PAGE_SIZE));
        assert_eq!(parse_page_size(&"9".repeat(100)), Ok(MAX_PAGE_SIZE));
        for bad in ["", "-1", "+1", "1.0", " 1", "1 ", "x", "1e3", "٣"] {
            assert_eq!(
                parse_page_size(bad).expect_err(bad).code,
                ErrorCode::PaginationNumberInvalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn stored_paths_and_their_inverse() {
        let d = digest(HEX_A);
        assert_eq!(blob_path("a/b", &d), format!("a/b/_blobs/{}", sha(HEX_A)));
        assert_eq!(
            manifest_path("a", &d),
            format!("a/_manifests/{}", sha(HEX_A))
        );
        assert_eq!(tag_path("a", "v1"), "a/_tags/v1");
        assert_eq!(tags_dir("a"), "a/_tags");
        assert_eq!(
            stored_part(&blob_path("a/b", &d)),
            Some(StoredPart::Blob {
                image: "a/b".into(),
                digest: d.clone()
            })
        );
        assert_eq!(
            stored_part(&manifest_path("x", &d)),
            Some(StoredPart::Manifest {
                image: "x".into(),
                digest: d.clone()
            })
        );
        // tags may start with '_' and look like the part folders
        for tag in ["v1", "_blobs", "_tags"] {
            assert_eq!(
                stored_part(&tag_path("a/b", tag)),
                Some(StoredPart::Tag {
                    image: "a/b".into(),
                    tag: tag.into()
                })
            );
        }
        for other in [
            "",
            "a",
            "a/_tags",
            "_tags/v1",
            "/_tags/v1",
            "a/_tags/",
            "a/_tags/-v",
            "a/_tags/v1/x",
            "A/_tags/v1",
            "a/_blobs/sha256:x",
            "a/_blobs/v1",
            "a/_manifests/v1",
            "a/_other/v1",
            "a/b/v1",
            "a/_blobs/_tags/v1",
            &format!("a/_blobs/{}/x", sha(HEX_A)),
        ] {
            assert_eq!(stored_part(other), None, "{other}");
        }
    }
}
