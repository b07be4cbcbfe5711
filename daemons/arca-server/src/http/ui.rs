//! The web UI's files (`daemons/arca-server/ui/`), embedded in the binary at build time (no
//! Node toolchain, nothing to install; `build.rs` lists `ui/`): `{context}/ui/` is the page,
//! the `*.js` files its ES modules (`app.js` the entry), `app.css` its style. Every node
//! serves them, so the load balancer needs nothing new. The page's Content-Security-Policy
//! allows only these files and calls to this origin.

use std::sync::LazyLock;

use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use crate::http::Request;
use crate::http::error::{ApiError, empty_response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every file of `ui/` (written by `build.rs`).
const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Each asset's ETag (its SHA-256): a new build's files replace the cached ones at once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", &arca_crypto::sha256_hex(a.bytes)[..32]))
        .collect()
});

/// Scripts, styles, pictures and calls of this origin only; never framed.
const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET`/`HEAD {context}/ui/{page}` (`page` "" is the UI itself).
pub fn asset(req: &Request, page: &str) -> Response {
    let name = if page.is_empty() { "index.html" } else { page };
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found(format!("No such file of the web UI: {name}")).into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let not_modified = req
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if not_modified {
        empty_response(StatusCode::NOT_MODIFIED)
    } else if req.method == Method::HEAD {
        Response::default()
    } else {
        Response::new(asset.bytes.into())
    };
    let headers = resp.headers_mut();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("content-type", asset.content_type);
    put("etag", etag);
    // revalidated each time (a 304 when unchanged): an upgraded node serves its own UI at once
    put("cache-control", "no-cache");
    put("content-security-policy", UI_CSP);
    put("x-frame-options", "DENY");
    put("referrer-policy", "same-origin");
    if !not_modified {
        put("content-length", &asset.bytes.len().to_string());
    }
    resp
}
