//! Parsing and validating repository paths from request URIs.
//!
//! Everything that names a place in a repository goes through here, so path
//! traversal, NUL bytes, backslashes and over-long paths are refused in one
//! place, before any storage or database work.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use warp::http::StatusCode;

use crate::http::error::ApiError;

/// A validated location: repository key and relative path (no leading or
/// trailing slash; `""` is the repository root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    pub repo: String,
    pub path: String,
    /// The request named a folder explicitly (trailing slash).
    pub trailing_slash: bool,
}

/// The rest of a format API's URL (after `/api/{format}/{repo}/`), percent-decoded: 400 when it
/// is not UTF-8 or holds a control character.
pub fn decode_api_path(rest: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("The path is not UTF-8 after percent-decoding"))?;
    if decoded.chars().any(char::is_control) {
        return Err(ApiError::bad_request("The path has a control character"));
    }
    Ok(decoded.into_owned())
}

/// Repository keys: letters, digits, `.`, `_`, `-`; starts with a letter or digit; ≤ 64 chars.
pub fn validate_repo_key(key: &str) -> Result<(), ApiError> {
    let valid = !key.is_empty()
        && key.len() <= 64
        && key.as_bytes()[0].is_ascii_alphanumeric()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    // `api/` and `ui/` are the REST API and the web UI's endpoints, routed before repositories.
    if valid && !matches!(key, "api" | "ui") {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid repository key '{}': use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (and not 'api' or 'ui')",
            key.escape_debug()
        )))
    }
}

fn decode_segment(raw: &str) -> Result<String, ApiError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("Path is not valid UTF-8 after percent-decoding"))?;
    if decoded.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(ApiError::bad_request(
            "Path contains a NUL or control character",
        ));
    }
    // Noncharacters (U+FFFE, U+FFFF, U+10FFFF, …) are for internal use: U+10FFFF is the upper
    // bound of the database's path range scans, so a name starting with it would hide from
    // listings and survive a recursive delete.
    if let Some(c) = decoded.chars().find(|c| is_noncharacter(*c)) {
        return Err(ApiError::bad_request(format!(
            "Path contains the noncharacter U+{:04X}",
            u32::from(c)
        )));
    }
    if decoded.contains('\\') {
        return Err(ApiError::bad_request("Path contains a backslash"));
    }
    if decoded.contains('/') {
        return Err(ApiError::bad_request(
            "Path segment contains an encoded '/' (absolute or nested path)",
        ));
    }
    if decoded == ".." {
        return Err(ApiError::bad_request("Path contains a '..' segment"));
    }
    Ok(decoded.into_owned())
}

/// Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of every plane.
fn is_noncharacter(c: char) -> bool {
    let n = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// Parse `repo/a/b/c` (percent-encoded, no leading slash) into a [`RepoPath`].
/// `.` segments are dropped (apt asks for `/./`); empty interior segments are refused.
pub fn parse_repo_path(raw: &str, max_len: usize) -> Result<RepoPath, ApiError> {
    if raw.len() > max_len.saturating_mul(3) {
        return Err(too_long(max_len));
    }
    let trailing_slash = raw.ends_with('/');
    let trimmed = raw.strip_suffix('/').unwrap_or(raw);
    let mut segments = trimmed.split('/');
    let repo_raw = segments.next().unwrap_or_default();
    let repo = decode_segment(repo_raw)?;
    validate_repo_key(&repo)?;
    let mut parts: Vec<String> = Vec::new();
    for seg in segments {
        if seg.is_empty() {
            return Err(ApiError::bad_request(
                "Path contains an empty segment ('//'); absolute paths are not allowed",
            ));
        }
        let decoded = decode_segment(seg)?;
        if decoded == "." {
            continue;
        }
        parts.push(decoded);
    }
    let path = parts.join("/");
    if path.len() > max_len {
        return Err(too_long(max_len));
    }
    Ok(RepoPath {
        repo,
        path,
        trailing_slash,
    })
}

fn too_long(max_len: usize) -> ApiError {
    ApiError::new(
        StatusCode::URI_TOO_LONG,
        format!("Path is longer than the limit of {max_len} characters (arca.path.max.length)"),
    )
}

/// Characters the reference forbids in property keys.
const FORBIDDEN_KEY_CHARS: &str = ")(}{][*+^$\\/~`!@#%&<>;=,±§ ";

pub fn validate_property_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty()
        || key.len() > 255
        || key
            .chars()
            .any(|c| FORBIDDEN_KEY_CHARS.contains(c) || c.is_control())
    {
        return Err(ApiError::bad_request(format!(
            "Invalid property key '{}': 1-255 characters, none of {FORBIDDEN_KEY_CHARS:?}",
            key.escape_debug()
        )));
    }
    Ok(())
}

/// Split on any of `seps` unless escaped with a backslash; the parts are unescaped.
fn split_escaped(input: &str, seps: &[char]) -> Vec<String> {
    split_on_unescaped(input, seps, false)
}

/// Split on any of `seps` unless escaped with a backslash. `keep_escapes`
/// leaves the backslashes in the parts, for a second split.
fn split_on_unescaped(input: &str, seps: &[char], keep_escapes: bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if keep_escapes {
                cur.push(c);
            }
            if let Some(next) = chars.next() {
                cur.push(next);
            }
        } else if seps.contains(&c) {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// Parse properties in the reference's syntax: `k1=v1,v2;k2=v3` (`|` also
/// separates properties, `\` escapes). Values are already percent-decoded.
pub fn parse_properties(spec: &str) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for prop in split_on_unescaped(spec, &[';', '|'], true) {
        if prop.is_empty() {
            continue;
        }
        let (key, values) = match prop.find('=') {
            Some(i) => (&prop[..i], &prop[i + 1..]),
            None => (prop.as_str(), ""),
        };
        let key = unescape(key);
        validate_property_key(&key)?;
        let entry = map.entry(key).or_default();
        for v in split_escaped(values, &[',']) {
            if v.len() > 4000 {
                return Err(ApiError::bad_request(
                    "Property value longer than 4000 characters",
                ));
            }
            if !entry.contains(&v) {
                entry.push(v);
            }
        }
    }
    Ok(map)
}

fn unescape(s: &str) -> String {
    split_escaped(s, &[]).concat()
}

/// Matrix parameters of a deploy URL (`;k=v1,v2;k2=v3`), percent-decoded.
pub fn parse_matrix(raw: &str) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_request("Matrix parameters are not valid UTF-8"))?;
    parse_properties(&decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let p = parse_repo_path("libs/com/ex/./a%20b.jar", 1024).unwrap();
        assert_eq!(p.repo, "libs");
        assert_eq!(p.path, "com/ex/a b.jar");
        assert!(!p.trailing_slash);
        let root = parse_repo_path("libs/", 1024).unwrap();
        assert_eq!(root.path, "");
        assert!(root.trailing_slash);
    }

    #[test]
    fn refuses_traversal_and_junk() {
        for bad in [
            "libs/../etc/passwd",
            "libs/a/%2e%2e/b",
            "libs/%2Fetc%2Fpasswd",
            "libs//etc/passwd",
            "libs/a%00b",
            "libs/a%5Cb",
            "libs/a\\b",
            "li bs/a",
            "../x",
            "api/x",
            "ui/x",
            "libs/%ff",
            "libs/%c0%af",
            "libs/%EF%BF%BF",
            "libs/%F4%8F%BF%BFtop",
            "libs/a/%EF%B7%90",
        ] {
            let err = parse_repo_path(bad, 1024).expect_err(bad);
            assert!(err.status.is_client_error(), "{bad}: {err:?}");
        }
        let long = format!("libs/{}", "a".repeat(2000));
        assert_eq!(
            parse_repo_path(&long, 1024).unwrap_err().status,
            StatusCode::URI_TOO_LONG
        );
    }

    #[test]
    fn properties_syntax() {
        let m = parse_properties("a=1,2;b=x\\,y|c").unwrap();
        assert_eq!(m["a"], vec!["1", "2"]);
        assert_eq!(m["b"], vec!["x,y"]);
        assert_eq!(m["c"], vec![""]);
        assert!(parse_properties("bad key=1").is_err());
        let mx = parse_matrix("build.name=ci%20job;build.number=7").unwrap();
        assert_eq!(mx["build.name"], vec!["ci job"]);
    }
}
