//! What every answer of the front end must be, and a raw request split by hand.

use arca_server::inspect::inspect;
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// The context path of a default installation.
pub const CONTEXT_PATH: &str = "/artifactory";
/// `arca.path.max.length`'s default.
pub const MAX_PATH_LENGTH: usize = 1024;

/// A status the front end may answer: below 500, or 501 to a transfer coding it does not
/// implement (RFC 9112 §6.1 prescribes it; `Transfer-Encoding: gzip, chunked` was stored
/// undecoded before).
pub(super) fn acceptable(status: StatusCode, transfer_coding: bool) -> bool {
    !status.is_server_error() || (transfer_coding && status == StatusCode::NOT_IMPLEMENTED)
}

/// Whether raw request bytes carry a `Transfer-Encoding` header (any case).
pub(super) fn mentions_transfer_encoding(input: &[u8]) -> bool {
    input
        .windows(b"transfer-encoding".len())
        .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding"))
}

pub(super) fn check_inspect(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(), String> {
    let transfer_coding = headers.contains_key(warp::http::header::TRANSFER_ENCODING);
    match inspect(CONTEXT_PATH, MAX_PATH_LENGTH, method, path, query, headers) {
        Err(e) if !acceptable(e.status, transfer_coding) => Err(format!(
            "inspect({method}, {path:?}, {query:?}) answered {}",
            e.status
        )),
        _ => Ok(()),
    }
}

/// What hyper wrote back: nothing (it closed the connection) or an `HTTP/1.x` status line with
/// an [`acceptable`] status.
pub(super) fn check_wire(wire: &[u8], transfer_coding: bool) -> Result<(), String> {
    if wire.is_empty() {
        return Ok(());
    }
    let line_end = wire.iter().position(|b| *b == b'\n').unwrap_or(wire.len());
    let line = String::from_utf8_lossy(&wire[..line_end]);
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            format!("the answer does not start with an HTTP/1.x status line: {line:?}")
        })?;
    if !StatusCode::from_u16(status).is_ok_and(|s| acceptable(s, transfer_coding)) {
        return Err(format!("answered {line:?}"));
    }
    Ok(())
}

// ------------------------------------------------------------------ splitting raw requests

/// A request split by hand, leniently (LF or CRLF, headers at their first `:`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RawParts<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

pub fn split_request(input: &[u8]) -> RawParts<'_> {
    let mut lines = input.split(|b| *b == b'\n');
    let mut parts = RawParts::default();
    let request_line = trim(lines.next().unwrap_or_default());
    let mut words = request_line.splitn(3, |b| *b == b' ');
    parts.method = words.next().unwrap_or_default();
    parts.target = words.next().unwrap_or_default();
    let mut consumed = input
        .iter()
        .position(|b| *b == b'\n')
        .map_or(input.len(), |i| i + 1);
    for line in lines {
        consumed = (consumed + line.len() + 1).min(input.len());
        let line = trim(line);
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            parts
                .headers
                .push((trim(&line[..colon]), trim(&line[colon + 1..])));
        }
    }
    parts.body = &input[consumed..];
    parts
}

/// The headers `http` accepts (others are dropped, as hyper would refuse them).
pub(super) fn header_map(headers: &[(&[u8], &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_request_finds_the_parts() {
        let parts = split_request(b"PUT /a?b HTTP/1.1\r\nHost: h \r\nX:y:z\r\n\r\nbody");
        assert_eq!(parts.method, b"PUT");
        assert_eq!(parts.target, b"/a?b");
        assert_eq!(
            parts.headers,
            vec![(&b"Host"[..], &b"h"[..]), (&b"X"[..], &b"y:z"[..])]
        );
        assert_eq!(parts.body, b"body");
        assert_eq!(split_request(b"").method, b"");
    }

    #[test]
    fn the_wire_check_accepts_client_errors_and_refuses_server_errors() {
        assert!(check_wire(b"", false).is_ok());
        assert!(check_wire(b"HTTP/1.1 400 Bad Request\r\n\r\n", false).is_ok());
        assert!(check_wire(b"HTTP/1.0 200 OK\r\n\r\n", false).is_ok());
        assert!(check_wire(b"HTTP/1.1 500 Internal Server Error\r\n\r\n", true).is_err());
        assert!(check_wire(b"HTTP/1.1 501 Not Implemented\r\n\r\n", false).is_err());
        assert!(check_wire(b"HTTP/1.1 501 Not Implemented\r\n\r\n", true).is_ok());
        assert!(check_wire(b"garbage", false).is_err());
        assert!(mentions_transfer_encoding(
            b"PUT / HTTP/1.1\r\ntransfer-ENCODING: gzip\r\n"
        ));
    }
}
