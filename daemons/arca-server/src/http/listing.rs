//! The HTML index of a folder (a `GET` of a folder or of a repository's root): what the caller
//! may read in it, with links for a browser.

use warp::http::{HeaderValue, header};
use warp::reply::Response;

use arca_db::Repo;
use arca_db::items;
use arca_db::permissions::Action;

use crate::http::authz::Authz;
use crate::http::error::ApiResult;
use crate::http::{Request, format};

/// The index of `path` in `repo` (`""`: the root), listing what `authz` may read.
pub async fn folder_listing(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    path: &str,
) -> ApiResult<Response> {
    let (repo_key, p) = (repo.key.clone(), path.to_string());
    let mut children = req
        .app
        .db
        .read(move |conn| items::children(conn, &repo_key, &p))
        .await?;
    // Only what the caller may read is listed.
    children.retain(|c| authz.allows(repo, &c.path, Action::Read));
    Ok(render(req, &repo.key, path, &children))
}

/// The HTML index of `path` in the repository named `key`, listing `children`.
pub fn render(req: &Request, key: &str, path: &str, children: &[arca_db::Item]) -> Response {
    let title = format!("{key}/{path}");
    let mut html = String::with_capacity(512 + children.len() * 128);
    html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    html.push_str(&escape_html(&title));
    html.push_str("</title></head>\n<body>\n<h1>Index of ");
    html.push_str(&escape_html(&title));
    html.push_str("</h1>\n<pre>");
    let here = format::download_uri(&req.base_url, key, path);
    if !path.is_empty() {
        let (parent, _) = items::split_path(path);
        let up = format::download_uri(&req.base_url, key, parent);
        html.push_str(&format!("<a href=\"{}/\">../</a>\n", escape_html(&up)));
    }
    for child in children {
        let slash = if child.folder { "/" } else { "" };
        let size = if child.folder {
            "-".to_string()
        } else {
            child.size().to_string()
        };
        html.push_str(&format!(
            "<a href=\"{}/{}{}\">{}{}</a>  {}  {}\n",
            escape_html(&here),
            escape_html(&format::url_path(&child.name)),
            slash,
            escape_html(&child.name),
            slash,
            format::iso8601(child.modified),
            size
        ));
    }
    html.push_str("</pre>\n</body></html>\n");
    let mut resp = Response::new(html.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
