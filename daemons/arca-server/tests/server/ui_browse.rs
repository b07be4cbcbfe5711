//! What the repository browser of the web UI needs from the storage API (`docs/ui.md`,
//! `docs/api.md`): folder info in pages (`offset`, `limit`, `name`, with `total` and
//! `hasMore`), in the reference's order, small and fast on a folder with 100k children, exact
//! under permissions; without the parameters the answer is the reference's.

use super::*;

use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";

/// `(uri, folder)` of each child of a folder info answer.
fn child_list(info: &Value) -> Vec<(String, bool)> {
    info["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["uri"].as_str().unwrap().to_string(),
                c["folder"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn get_as(s: &Server, user: &str, path: &str) -> Value {
    let r = s.get_with(path, |b| b.basic_auth(user, Some(PW)));
    assert_eq!(r.status(), StatusCode::OK, "GET {path} as {user}");
    r.json().unwrap()
}

/// GET `path` as the admin: the answer, its size in bytes and how long it took.
fn timed(s: &Server, path: &str) -> (Value, usize, Duration) {
    let started = Instant::now();
    let r = s.get(path);
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    let bytes = r.bytes().unwrap();
    let took = started.elapsed();
    (serde_json::from_slice(&bytes).unwrap(), bytes.len(), took)
}

#[test]
fn a_folder_of_100k_children_answers_a_page_small_and_fast() {
    let (dir, s) = fresh_server();
    s.generic_repo("big");
    let r = s.put("/big/many/first.txt", "the first file");
    assert_eq!(r.status(), StatusCode::CREATED);
    let sha256: String = hex::encode(sha2::Sha256::digest(b"the first file"));

    // 100k children straight into the database in one statement: 10 folders, then files that
    // share the binary of first.txt (named f-100000 … f-199989, so that names sort as numbers)
    let db = open_db(&dir.path().join("h"));
    let started = Instant::now();
    let inserted = db
        .write_blocking(move |c| {
            c.execute(
                "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 99999) \
                 INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, \
                   created_by, modified, modified_by, updated) \
                 SELECT 'big', 'many/' || CASE WHEN k < 10 THEN 'dir-' || k ELSE 'f-' || (k + 100000) END, \
                   'many', CASE WHEN k < 10 THEN 'dir-' || k ELSE 'f-' || (k + 100000) END, \
                   CASE WHEN k < 10 THEN 1 ELSE 0 END, CASE WHEN k < 10 THEN NULL ELSE ?1 END, \
                   0, 1700000000000 + k, 'seed', 1700000000000 + k, 'seed', 1700000000000 + k FROM n",
                arca_db::args![sha256],
            )
        })
        .unwrap();
    assert_eq!(inserted, 100_000);
    println!("seeded 100k children in {:?}", started.elapsed());
    let total = 100_001; // and first.txt

    // the first page: folders first, then files by name; the total; small and fast
    let (first, bytes, took) = timed(&s, "/api/storage/big/many?offset=0&limit=500");
    println!("first page: {bytes} bytes in {took:?}");
    let kids = child_list(&first);
    assert_eq!(kids.len(), 500);
    assert!(
        kids[..10].iter().all(|(_, folder)| *folder),
        "{:?}",
        &kids[..11]
    );
    assert_eq!(kids[0].0, "/dir-0");
    assert_eq!(kids[10], ("/f-100010".to_string(), false));
    assert_eq!(
        (first["total"].as_u64(), first["hasMore"].as_bool()),
        (Some(total), Some(true))
    );
    assert_eq!(
        (first["offset"].as_u64(), first["limit"].as_u64()),
        (Some(0), Some(500))
    );
    assert_eq!(first["path"], "/many");
    assert_eq!(first["children"][10]["size"], 14);
    assert!(
        first["children"][0].get("size").is_none(),
        "a folder has no size"
    );
    assert!(
        bytes < 128 * 1024,
        "a page of 500 children is {bytes} bytes"
    );
    assert!(
        took < Duration::from_secs(2),
        "the first page took {took:?}"
    );

    // the last page, deep in the folder, is as quick; then nothing more
    let (last, _, took_last) = timed(&s, "/api/storage/big/many?offset=99800&limit=500");
    println!("last page: {took_last:?}");
    let kids = child_list(&last);
    assert_eq!(kids.len(), 201);
    assert_eq!(kids.last().unwrap().0, "/first.txt");
    assert_eq!(last["hasMore"], false);
    assert!(
        took_last < Duration::from_secs(2),
        "the last page took {took_last:?}"
    );
    let (past, _, _) = timed(&s, "/api/storage/big/many?offset=200000&limit=500");
    assert_eq!(
        (child_list(&past).len(), past["total"].as_u64()),
        (0, Some(total))
    );

    // a name filter over the whole folder
    let (found, _, took_filter) = timed(&s, "/api/storage/big/many?name=F-19999&limit=500");
    println!("filtered: {took_filter:?}");
    let names: Vec<String> = child_list(&found).into_iter().map(|(u, _)| u).collect();
    assert_eq!(found["total"], 10, "{names:?}");
    assert_eq!(names.first().map(String::as_str), Some("/f-199990"));
    let (wild, _, _) = timed(&s, "/api/storage/big/many?name=dir-*&limit=3");
    assert_eq!(
        (wild["total"].as_u64(), child_list(&wild).len()),
        (Some(10), 3)
    );
    assert_eq!(wild["hasMore"], true);

    // without the parameters: the reference's answer, every child, no paging fields
    let (all, all_bytes, took_all) = timed(&s, "/api/storage/big/many");
    println!("unpaged: {all_bytes} bytes in {took_all:?}");
    let every = child_list(&all);
    assert_eq!(every.len(), total as usize);
    assert_eq!(every[..500], child_list(&first)[..]);
    assert!(
        all_bytes > 50 * bytes,
        "a page is a small part of the whole ({bytes} of {all_bytes})"
    );
    assert!(all.get("total").is_none() && all.get("hasMore").is_none());
    assert_eq!(
        all["children"][0].as_object().unwrap().len(),
        2,
        "uri and folder only"
    );
}

#[test]
fn pages_follow_the_reference_order_and_stay_exact_under_permissions() {
    let (_dir, s) = fresh_server();
    s.generic_repo("libs");
    for path in [
        "mix/b/x.txt",
        "mix/a/x.txt",
        "mix/e.txt",
        "mix/c.txt",
        "mix/d.secret",
        "top.txt",
    ] {
        assert_eq!(
            s.put(&format!("/libs/{path}"), path).status(),
            StatusCode::CREATED
        );
    }
    let admin_json = |method: Method, path: &str, body: Value| {
        let r = s.admin(method, s.url(path)).json(&body).send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.text().unwrap());
    };
    // carol reads libs but not the *.secret files: every child needs its own decision
    admin_json(
        Method::PUT,
        "/api/security/users/carol",
        json!({"password": PW, "groups": []}),
    );
    admin_json(
        Method::PUT,
        "/api/v2/security/permissions/carol-libs",
        json!({"name": "carol-libs", "repo": {
            "repositories": ["libs"], "include-patterns": ["**"], "exclude-patterns": ["**/*.secret"],
            "actions": {"users": {"carol": ["read"]}}
        }}),
    );
    // dave reads mix/a only: the folders on the way are listed, nothing else
    admin_json(
        Method::PUT,
        "/api/security/users/dave",
        json!({"password": PW, "groups": []}),
    );
    admin_json(
        Method::PUT,
        "/api/v2/security/permissions/dave-a",
        json!({"name": "dave-a", "repo": {
            "repositories": ["libs"], "include-patterns": ["mix/a/**"],
            "actions": {"users": {"dave": ["read"]}}
        }}),
    );

    // pages of 2, concatenated, are the unpaged answer (folders first, then by name)
    let pages = |user: Option<&str>, folder: &str| -> (Vec<(String, bool)>, u64) {
        let (mut out, mut offset) = (Vec::new(), 0);
        let total = loop {
            let path = format!("/api/storage/libs/{folder}?offset={offset}&limit=2");
            let page = match user {
                Some(u) => get_as(&s, u, &path),
                None => s.json(&path),
            };
            let kids = child_list(&page);
            offset += kids.len();
            out.extend(kids);
            if !page["hasMore"].as_bool().unwrap() {
                break page["total"].as_u64().unwrap();
            }
            assert!(offset < 100, "hasMore never ends");
        };
        assert_eq!(out.len() as u64, total);
        (out, total)
    };
    let unpaged = |user: Option<&str>, folder: &str| {
        let path = format!("/api/storage/libs/{folder}");
        child_list(&match user {
            Some(u) => get_as(&s, u, &path),
            None => s.json(&path),
        })
    };
    let entries = |list: &[(&str, bool)]| -> Vec<(String, bool)> {
        list.iter().map(|(u, f)| (u.to_string(), *f)).collect()
    };

    let (admin_mix, total) = pages(None, "mix");
    assert_eq!(
        admin_mix,
        entries(&[
            ("/a", true),
            ("/b", true),
            ("/c.txt", false),
            ("/d.secret", false),
            ("/e.txt", false)
        ])
    );
    assert_eq!(total, 5);
    assert_eq!(admin_mix, unpaged(None, "mix"));

    let (carol_mix, total) = pages(Some("carol"), "mix");
    assert_eq!(
        carol_mix,
        entries(&[
            ("/a", true),
            ("/b", true),
            ("/c.txt", false),
            ("/e.txt", false)
        ])
    );
    assert_eq!(total, 4, "the secret is not counted");
    assert_eq!(carol_mix, unpaged(Some("carol"), "mix"));
    let secret = get_as(&s, "carol", "/api/storage/libs/mix?name=.secret");
    assert_eq!(
        (secret["total"].as_u64(), child_list(&secret).len()),
        (Some(0), 0)
    );

    let (dave_root, _) = pages(Some("dave"), "");
    assert_eq!(dave_root, entries(&[("/mix", true)]));
    assert_eq!(dave_root, unpaged(Some("dave"), ""));
    let (dave_mix, total) = pages(Some("dave"), "mix");
    assert_eq!((dave_mix, total), (entries(&[("/a", true)]), 1));
    let (dave_a, _) = pages(Some("dave"), "mix/a");
    assert_eq!(dave_a, entries(&[("/x.txt", false)]));

    // the root of the repository pages too; a file's info ignores the parameters
    let root = s.json("/api/storage/libs?limit=1");
    assert_eq!(
        (child_list(&root), root["hasMore"].as_bool()),
        (entries(&[("/mix", true)]), Some(true))
    );
    let file = s.json("/api/storage/libs/top.txt?limit=1");
    assert!(file.get("children").is_none() && file["checksums"]["sha256"].is_string());

    // wrong parameters: 400 naming them
    for (query, names) in [
        ("limit=10001", "at most"),
        ("offset=-1", "'offset'"),
        ("limit=x", "'limit'"),
    ] {
        let r = s.get(&format!("/api/storage/libs/mix?{query}"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let text = r.text().unwrap();
        assert!(text.contains(names), "{query}: {text}");
    }
    // someone who may read nothing in the repository learns nothing about it
    assert_eq!(
        s.get_with("/api/storage/libs/mix?limit=1", |b| b
            .basic_auth("nobody", Some(PW)))
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
