//! The HTML index of a folder (a `GET` of a folder or of a repository's root): what the caller
//! may read in it, with links for a browser. Streamed a page of children at a time
//! ([`crate::http::streamed`]).

use std::io::Write;

use warp::http::{HeaderValue, header};
use warp::reply::Response;

use arca_db::Repo;
use arca_db::items;
use arca_db::listing::{Columns, Listed};
use arca_db::permissions::Action;

use crate::http::authz::Authz;
use crate::http::error::ApiResult;
use crate::http::streamed::{Entries, Listing, Walk};
use crate::http::{Request, format};

/// The index of `path` in `repo` (`""`: the root), listing what `authz` may read; streamed a
/// page of children at a time, whatever the folder's size.
pub async fn folder_listing(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    path: &str,
) -> ApiResult<Response> {
    let page = Page::new(req, &repo.key, path);
    let entries = HtmlEntries {
        here: page.here,
        shown: Some((repo.clone(), authz.clone())),
    };
    Listing {
        repo: repo.key.clone(),
        path: path.to_string(),
        walk: Walk::children(Columns::Plain),
        head: page.head.into_bytes(),
        entries,
    }
    .respond(&req.app.db, HTML)
    .await
}

const HTML: &str = "text/html; charset=utf-8";

/// The HTML index of `path` in the repository named `key`, listing `children`.
pub fn render(req: &Request, key: &str, path: &str, children: &[arca_db::Item]) -> Response {
    let page = Page::new(req, key, path);
    let mut html = page.head.into_bytes();
    let mut entries = HtmlEntries {
        here: page.here,
        shown: None,
    };
    for child in children {
        entries.entry(&Listed::from(child), &mut html);
    }
    entries.finish(&mut html);
    let mut resp = Response::new(html.into());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    resp
}

/// The start of an index page and the URL its links are relative to.
struct Page {
    head: String,
    here: String,
}

impl Page {
    fn new(req: &Request, key: &str, path: &str) -> Page {
        let title = format!("{key}/{path}");
        let mut head = String::with_capacity(512);
        head.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
        head.push_str(&escape_html(&title));
        head.push_str("</title></head>\n<body>\n<h1>Index of ");
        head.push_str(&escape_html(&title));
        head.push_str("</h1>\n<pre>");
        if !path.is_empty() {
            let (parent, _) = items::split_path(path);
            let up = format::download_uri(&req.base_url, key, parent);
            head.push_str(&format!("<a href=\"{}/\">../</a>\n", escape_html(&up)));
        }
        Page {
            head,
            here: escape_html(&format::download_uri(&req.base_url, key, path)),
        }
    }
}

/// One line per child; `shown`: the repository and the caller, when only what they may read
/// is listed (`None`: the children given are all shown).
struct HtmlEntries {
    here: String,
    shown: Option<(Repo, Authz)>,
}

impl Entries for HtmlEntries {
    fn entry(&mut self, child: &Listed, out: &mut Vec<u8>) {
        if let Some((repo, authz)) = &self.shown
            && !authz.allows(repo, &child.path, Action::Read)
        {
            return;
        }
        let slash = if child.folder { "/" } else { "" };
        let size: &dyn std::fmt::Display = if child.folder { &"-" } else { &child.size };
        // writing to memory cannot fail
        let _ = writeln!(
            out,
            "<a href=\"{}/{}{}\">{}{}</a>  {}  {}",
            self.here,
            // percent-encoded: no character HTML would need escaped
            format::UrlPath(&child.name),
            slash,
            Html(&child.name),
            slash,
            format::Iso8601(child.modified),
            size
        );
    }

    fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"</pre>\n</body></html>\n");
    }
}

fn escape_html(s: &str) -> String {
    Html(s).to_string()
}

/// `s` with `&`, `<`, `>` and `"` escaped, printed where it goes (an index prints two per line).
struct Html<'a>(&'a str);

impl std::fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                _ => "&quot;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_the_four_characters_and_keeps_the_rest() {
        for s in [
            "",
            "plain.jar",
            "a&b<c>d\"e'f",
            "&&<<>>\"\"",
            "é<ü>&\u{10FFFF}\"",
            "&amp;",
        ] {
            let expected = s
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            assert_eq!(escape_html(s), expected, "{s:?}");
        }
    }
}
