//! Target `headers`: the header parsers of a request on their own — credentials
//! (`Authorization` Basic/Bearer, `X-JFrog-Art-Api`), the session cookie, the base URL
//! (`X-Forwarded-*`, override headers), ranges, conditional requests and declared checksums.
//!
//! Each input is a header block (`Name: value` lines). Properties: no panic; errors are client
//! errors; a session id taken from a cookie is 32 hex characters.

use arca_server::http::artifacts::inspect_headers;
use arca_server::http::auth::cookie_id;
use arca_server::http::auth::credentials;
use arca_server::http::format::base_url;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use warp::http::{HeaderMap, HeaderName, HeaderValue};

use crate::mutate::mutate;
use crate::runner::Target;
use crate::targets::front::{DICTIONARY, HEADER_NAMES, header_value, split_request};

pub struct Headers;

/// `Name: value` lines into a header map (what `http` refuses is dropped, as hyper would).
fn header_map(input: &[u8]) -> HeaderMap {
    // The block is parsed as the header part of a request with an empty request line.
    let mut request = b"\n".to_vec();
    request.extend_from_slice(input);
    let parts = split_request(&request);
    let mut map = HeaderMap::new();
    for (name, value) in parts.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

impl Target for Headers {
    fn name(&self) -> &'static str {
        "headers"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let mut data = Vec::new();
        for _ in 0..rng.gen_range(1..6) {
            let name = HEADER_NAMES.choose(rng).copied().unwrap_or("Host");
            data.extend_from_slice(name.as_bytes());
            data.extend_from_slice(b": ");
            data.extend_from_slice(&header_value(rng, name));
            data.extend_from_slice(b"\r\n");
        }
        if rng.gen_bool(0.5) {
            let name = HEADER_NAMES.choose(rng).copied().unwrap_or("Host");
            let other = header_value(rng, name);
            mutate(rng, &mut data, DICTIONARY, &other, 6, 16 * 1024);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let headers = header_map(input);
        if let Err(e) = credentials(&headers)
            && !e.status.is_client_error()
        {
            return Err(format!("credentials answered {}", e.status));
        }
        if let Some(id) = cookie_id(&headers)
            && (id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("cookie_id returned {id:?}"));
        }
        let _ = base_url(&headers, "/artifactory", None);
        let _ = base_url(&headers, "", Some("https://repo.example"));
        for size in [0, 1, 1 << 20, u64::MAX] {
            if let Err(e) = inspect_headers(&headers, size)
                && !e.status.is_client_error()
            {
                return Err(format!("inspect_headers answered {}", e.status));
            }
        }
        Ok(())
    }
}
