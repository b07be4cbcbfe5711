//! The request headers of a conditional or partial download: `Range`, `If-None-Match`,
//! `If-Modified-Since`.

/// The byte range a request asks for, if it is one we serve.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    Full,
    Part(u64, u64), // inclusive
    Unsatisfiable,
}

/// The range a `Range` header value asks of a file of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        // Multiple ranges: answering the whole body is allowed (RFC 9110 §14.2).
        return RangeAsk::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    let parsed = if start.is_empty() {
        match end.parse::<u64>() {
            Ok(0) | Err(_) => return RangeAsk::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
        }
    } else {
        let Ok(s) = start.parse::<u64>() else {
            return RangeAsk::Full;
        };
        let e = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            match end.parse::<u64>() {
                Ok(e) if e >= s => e.min(size.saturating_sub(1)),
                _ => return RangeAsk::Full,
            }
        };
        (s, e)
    };
    if size == 0 || parsed.0 >= size {
        RangeAsk::Unsatisfiable
    } else {
        RangeAsk::Part(parsed.0, parsed.1)
    }
}

/// Whether an `If-None-Match` value names the entity tag `sha1` (or `*`).
pub fn etag_matches(header_value: &str, sha1: &str) -> bool {
    header_value.split(',').any(|tag| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag == "*" || tag.trim_matches('"').eq_ignore_ascii_case(sha1)
    })
}

/// A generated document (an npm packument, a PyPI page) of `media_type`, negotiated on `Accept`:
/// with an ETag of its bytes, or 304 when the request's `If-None-Match` names it (clients
/// revalidate the indexes they cached); no body for a `HEAD`.
pub fn negotiated_document(
    req: &crate::http::Request,
    body: Vec<u8>,
    media_type: &str,
) -> warp::reply::Response {
    use sha1::Digest;
    use warp::http::{HeaderValue, Method, StatusCode, header};
    let etag = hex::encode(sha1::Sha1::digest(&body));
    let not_modified = req
        .header("if-none-match")
        .is_some_and(|v| etag_matches(v, &etag));
    let len = body.len();
    let mut resp = warp::reply::Response::default();
    if not_modified {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
    } else if req.method != Method::HEAD {
        *resp.body_mut() = body.into();
    }
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    if !not_modified {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, v);
    }
    resp
}

/// Whether a file modified at `modified_ms` is unchanged since an `If-Modified-Since` date.
pub fn not_modified_since(header_value: &str, modified_ms: i64) -> bool {
    httpdate::parse_http_date(header_value)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|since| (modified_ms / 1000) as u64 <= since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range("bytes=50-500", 100), RangeAsk::Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Full);
        assert_eq!(parse_range("bytes=0-0", 0), RangeAsk::Unsatisfiable);
    }

    #[test]
    fn etags() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("W/\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
