//! Listings streamed a page at a time (`docs/api.md`): folder info without paging, `?list`
//! (`deep`, `listFolders`, `depth`) and the HTML index of a folder with more children than one
//! internal page (1000) are complete, in order, printed as the whole document would be, and
//! filtered by the caller's permissions inside every page.

use super::*;

use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";

/// More than two internal pages of files, and more than one of folders.
const FILES: usize = 2_500;
const FOLDERS: usize = 1_200;

/// A repository `wide` with folder `big`: folders `d-10000` … `d-11199` (`d-10000` holds
/// `inner.txt`), files `f-10000.txt` … `f-12499.txt` (3 bytes each) and `first.txt`.
fn seeded_server() -> (tempfile::TempDir, Server) {
    let (dir, s) = fresh_server();
    s.generic_repo("wide");
    for path in ["big/first.txt", "big/d-10000/inner.txt"] {
        assert_eq!(
            s.put(&format!("/wide/{path}"), "abc").status(),
            StatusCode::CREATED
        );
    }
    let sha256 = hex::encode(sha2::Sha256::digest(b"abc"));
    let db = open_db(&dir.path().join("h"));
    let inserted = db
        .write_blocking(move |c| {
            let folders = c.execute(
                "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?1) \
                 INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, \
                   created_by, modified, modified_by, updated) \
                 SELECT 'wide', 'big/d-' || (10000 + k), 'big', 'd-' || (10000 + k), 1, NULL, 0, \
                   1700000000000, 'seed', 1700000000000, 'seed', 1700000000000 FROM n",
                arca_db::args![FOLDERS as i64 - 1],
            )?;
            let files = c.execute(
                "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < ?1) \
                 INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, \
                   created_by, modified, modified_by, updated) \
                 SELECT 'wide', 'big/f-' || (10000 + k) || '.txt', 'big', \
                   'f-' || (10000 + k) || '.txt', 0, ?2, 3, \
                   1700000000000, 'seed', 1700000000000, 'seed', 1700000000000 FROM n",
                arca_db::args![FILES as i64 - 1, sha256],
            )?;
            Ok::<_, arca_db::DbError>(folders + files)
        })
        .unwrap();
    assert_eq!(inserted, FOLDERS - 1 + FILES);
    (dir, s)
}

/// Every child of `big` as `(name, folder)`, in listing order (folders first, then by name).
fn every_child() -> Vec<(String, bool)> {
    let folders = (0..FOLDERS).map(|k| (format!("d-{}", 10000 + k), true));
    let mut files: Vec<(String, bool)> = (0..FILES)
        .map(|k| (format!("f-{}.txt", 10000 + k), false))
        .chain([("first.txt".to_string(), false)])
        .collect();
    files.sort();
    folders.chain(files).collect()
}

/// What erin may not read: files ending in `7.txt` and folders ending in `5`.
fn hidden_from_erin(name: &str) -> bool {
    name.ends_with("7.txt") || (name.starts_with("d-") && name.ends_with('5'))
}

/// GET as `user` (`None`: admin): the body, checked to be exactly what serde's pretty printer
/// prints for it (the shape of every JSON answer of the API).
fn get_json(s: &Server, user: Option<&str>, path: &str) -> Value {
    let r = match user {
        Some(u) => s.get_with(path, |b| b.basic_auth(u, Some(PW))),
        None => s.get(path),
    };
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    let text = r.text().unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        text,
        serde_json::to_string_pretty(&value).unwrap(),
        "{path}: printed differently"
    );
    value
}

fn get_html(s: &Server, user: Option<&str>, path: &str) -> String {
    let r = match user {
        Some(u) => s.get_with(path, |b| b.basic_auth(u, Some(PW))),
        None => s.get(path),
    };
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    r.text().unwrap()
}

/// `(uri, folder)` of each entry of `list` (`children` or `files`).
fn entries(answer: &Value, list: &str) -> Vec<(String, bool)> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {answer}"))
        .iter()
        .map(|c| {
            (
                c["uri"].as_str().unwrap().to_string(),
                c["folder"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The link texts of an HTML index, without `../`.
fn html_names(html: &str) -> Vec<String> {
    html.lines()
        .filter_map(|l| l.split_once("\">").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once("</a>").map(|(name, _)| name.to_string()))
        .filter(|n| n != "../")
        .collect()
}

fn check_listings(s: &Server, user: Option<&str>) {
    let shown = |name: &str| user.is_none() || !hidden_from_erin(name);
    let children: Vec<(String, bool)> = every_child()
        .into_iter()
        .filter(|(n, _)| shown(n))
        .collect();
    let who = user.unwrap_or("admin");

    // folder info: every child, as the paged answers concatenated (read by other queries)
    let info = get_json(s, user, "/api/storage/wide/big");
    let expected: Vec<(String, bool)> = children
        .iter()
        .map(|(n, f)| (format!("/{n}"), *f))
        .collect();
    assert_eq!(entries(&info, "children"), expected, "{who}");
    assert_eq!(info["path"], "/big");
    assert_eq!(info["repo"], "wide");
    assert!(info.get("total").is_none());
    let mut paged = Vec::new();
    for offset in (0..expected.len() + 1000).step_by(1000) {
        let page = get_json(
            s,
            user,
            &format!("/api/storage/wide/big?offset={offset}&limit=1000"),
        );
        paged.extend(entries(&page, "children"));
    }
    assert_eq!(paged, expected, "{who}: pages");

    // ?list: the files of the folder; with listFolders the folders first
    let files: Vec<(String, bool)> = expected.iter().filter(|(_, f)| !f).cloned().collect();
    let list = get_json(s, user, "/api/storage/wide/big?list");
    assert_eq!(entries(&list, "files"), files, "{who}: list");
    let f0 = &list["files"][0];
    assert_eq!(
        (f0["size"].as_i64(), f0["sha1"].is_string()),
        (Some(3), true)
    );
    let with_folders = get_json(s, user, "/api/storage/wide/big?list&listFolders=1");
    assert_eq!(
        entries(&with_folders, "files"),
        expected,
        "{who}: listFolders"
    );

    // ?list&deep=1: everything below, in path order
    let mut below: Vec<(String, bool)> = expected.clone();
    below.push(("/d-10000/inner.txt".to_string(), false));
    below.sort();
    let deep = get_json(s, user, "/api/storage/wide/big?list&deep=1&listFolders=1");
    assert_eq!(entries(&deep, "files"), below, "{who}: deep");
    let deep_files = get_json(s, user, "/api/storage/wide/big?list&deep=1");
    let below_files: Vec<(String, bool)> = below.iter().filter(|(_, f)| !f).cloned().collect();
    assert_eq!(
        entries(&deep_files, "files"),
        below_files,
        "{who}: deep files"
    );
    let shallow = get_json(
        s,
        user,
        "/api/storage/wide/big?list&deep=1&depth=1&includeRootPath=1",
    );
    let mut rooted = vec![("/".to_string(), true)];
    rooted.extend(files.iter().cloned());
    rooted.sort_by(|a, b| (a.0 != "/", &a.0).cmp(&(b.0 != "/", &b.0)));
    assert_eq!(entries(&shallow, "files"), rooted, "{who}: depth=1");

    // the HTML index: the same children, in the same order
    let html = get_html(s, user, "/wide/big/");
    let names: Vec<String> = children
        .iter()
        .map(|(n, f)| format!("{n}{}", if *f { "/" } else { "" }))
        .collect();
    assert_eq!(html_names(&html), names, "{who}: html");
    assert!(html.contains("<a href=\"") && html.contains("../</a>"));
    assert!(html.ends_with("</pre>\n</body></html>\n"));
}

#[test]
fn listings_of_a_folder_larger_than_a_page_are_complete_and_in_order() {
    let (_dir, s) = seeded_server();
    check_listings(&s, None);
    // an empty folder and the repository's root
    let r = s.admin(Method::PUT, s.url("/wide/empty/")).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let empty = get_json(&s, None, "/api/storage/wide/empty");
    assert_eq!(empty["children"], json!([]));
    assert_eq!(
        get_json(&s, None, "/api/storage/wide/empty?list&deep=1")["files"],
        json!([])
    );
    assert!(html_names(&get_html(&s, None, "/wide/empty/")).is_empty());
    let root = get_json(&s, None, "/api/storage/wide/");
    assert_eq!(
        entries(&root, "children"),
        [("/big".to_string(), true), ("/empty".to_string(), true)]
    );
    let everything = get_json(&s, None, "/api/storage/wide/?list&deep=1");
    assert_eq!(everything["files"].as_array().unwrap().len(), FILES + 2);
}

#[test]
fn permissions_filter_inside_every_streamed_page() {
    let (_dir, s) = seeded_server();
    let admin_json = |method: Method, path: &str, body: Value| {
        let r = s.admin(method, s.url(path)).json(&body).send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.text().unwrap());
    };
    admin_json(
        Method::PUT,
        "/api/security/users/erin",
        json!({"password": PW, "groups": []}),
    );
    admin_json(
        Method::PUT,
        "/api/v2/security/permissions/erin-wide",
        json!({"name": "erin-wide", "repo": {
            "repositories": ["wide"], "include-patterns": ["**"],
            "exclude-patterns": ["**/*7.txt", "big/d-*5", "big/d-*5/**"],
            "actions": {"users": {"erin": ["read"]}}
        }}),
    );
    check_listings(&s, Some("erin"));
}
