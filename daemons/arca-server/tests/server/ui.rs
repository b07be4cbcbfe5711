//! The web UI's files (`docs/ui.md`): served by every node under the context path, embedded in
//! the binary, with a strict Content-Security-Policy, revalidated by ETag; the UI's calls get a
//! 401 without the Basic challenge (no browser dialog).

use super::*;

#[test]
fn the_ui_is_served_with_its_policy_and_revalidated() {
    let (_dir, s) = fresh_server();
    let page = s.get_anonymous("/ui/");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().unwrap();
    assert!(
        html.contains("src=\"app.js\"") && html.contains("href=\"app.css\""),
        "{html}"
    );
    // no inline script or style: the policy would block them
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );

    let js = s.get_anonymous("/ui/app.js");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = js.headers()["etag"].to_str().unwrap().to_string();
    let again = s
        .client()
        .get(s.url("/ui/app.js"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        s.get_anonymous("/ui/app.css").headers()["content-type"]
            .to_str()
            .unwrap(),
        "text/css; charset=utf-8"
    );
    assert_eq!(
        s.get_anonymous("/ui/nope.js").status(),
        StatusCode::NOT_FOUND
    );
    let bare = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(s.url("/ui"))
        .send()
        .unwrap();
    assert_eq!(bare.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(bare.headers()["location"], format!("{}/ui/", s.context));
    let post = s.client().post(s.url("/ui/")).send().unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);

    // a 401 for the UI's own calls comes without the challenge; others keep it
    let scripted = s
        .client()
        .get(s.url("/ui/auth/current"))
        .header("X-Requested-With", "XMLHttpRequest")
        .send()
        .unwrap();
    assert_eq!(scripted.status(), StatusCode::UNAUTHORIZED);
    assert!(scripted.headers().get("www-authenticate").is_none());
    let plain = s.client().get(s.url("/ui/auth/current")).send().unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert!(plain.headers().get("www-authenticate").is_some());
}
