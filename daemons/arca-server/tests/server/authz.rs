//! Users, groups, permission targets and tokens (`docs/security.md`): the authorization
//! matrix of every endpoint × (anonymous, reader, deployer, admin), and the rules around it
//! (token scopes, disabled users, propagation, lockout, anonymous grants, overwrite).

use super::*;

use reqwest::blocking::RequestBuilder;
use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";

/// Who calls: `None` is anonymous; `Some("admin")` uses the server's admin password.
type Caller = Option<&'static str>;

const CALLERS: [Caller; 4] = [None, Some("reader"), Some("deployer"), Some("admin")];

fn request(s: &Server, who: Caller, method: Method, path: &str) -> RequestBuilder {
    // the registry API is on the node's root, not under the context path
    let url = if path == "/v2" || path.starts_with("/v2/") {
        format!("http://{}:{}{path}", s.ip, s.port)
    } else {
        s.url(path)
    };
    let b = s.client().request(method, url);
    match who {
        None => b,
        Some("admin") => b.basic_auth("admin", Some(&s.password)),
        Some(u) => b.basic_auth(u, Some(PW)),
    }
}

/// An admin call with a JSON body that must answer `want`.
fn admin_json(s: &Server, method: Method, path: &str, body: Value, want: u16) {
    let r = request(s, Some("admin"), method.clone(), path)
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, want, "{method} {path}: {}", r.text().unwrap());
}

fn admin_deploy(s: &Server, path: &str, content: &str) {
    let r = s.put(path, content.to_string());
    assert_eq!(r.status(), StatusCode::CREATED, "deploy {path}");
}

/// A token of `user` (created by the admin), its secret and id.
fn token_for(s: &Server, user: &str, scope: &str) -> (String, String) {
    let before: Vec<String> = token_ids(s);
    let r = s
        .admin(Method::POST, s.url("/api/security/token"))
        .form(&[("username", user), ("scope", scope), ("expires_in", "600")])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    let id = token_ids(s)
        .into_iter()
        .find(|i| !before.contains(i))
        .unwrap();
    (body["access_token"].as_str().unwrap().to_string(), id)
}

fn token_ids(s: &Server) -> Vec<String> {
    s.json("/api/security/token")["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap().to_string())
        .collect()
}

/// Users `reader` (auto-joined to `readers`: read everywhere through `Anything`) and
/// `deployer` (also in `deployers`, which may deploy and delete in `libs`); repositories
/// `libs` and `other`; `libs/fixed/a.txt` with a property.
fn setup(s: &Server) {
    s.generic_repo("libs");
    s.generic_repo("other");
    admin_json(
        s,
        Method::PUT,
        "/api/security/users/reader",
        json!({"name": "reader", "email": "reader@example.com", "password": PW}),
        201,
    );
    admin_json(
        s,
        Method::PUT,
        "/api/security/groups/deployers",
        json!({"description": "may deploy to libs"}),
        201,
    );
    admin_json(
        s,
        Method::PUT,
        "/api/security/users/deployer",
        json!({"password": PW, "groups": ["readers", "deployers"]}),
        201,
    );
    admin_json(
        s,
        Method::PUT,
        "/api/v2/security/permissions/deploy-libs",
        json!({"name": "deploy-libs", "repo": {
            "repositories": ["libs"],
            "include-patterns": ["**"],
            "actions": {"groups": {"deployers": ["read", "write", "delete"]}}
        }}),
        201,
    );
    admin_deploy(s, "/libs/fixed/a.txt;colour=blue", "fixed content");
    // a virtual repository over both, deploying to libs; a remote one whose upstream is away
    s.create_repo(
        "all",
        json!({"rclass": "virtual", "packageType": "generic", "repositories": ["libs", "other"],
               "defaultDeploymentRepo": "libs"}),
    );
    s.create_repo(
        "mirror",
        json!({"rclass": "remote", "packageType": "generic", "url": "http://127.0.0.1:9/",
               "offline": true}),
    );
}

#[derive(Clone, Copy, Debug)]
enum Want {
    /// 2xx
    Allow,
    /// 401 with the challenge for anonymous, 403 for a user
    Deny,
    /// exactly this status
    Code(u16),
}

use Want::{Allow, Code, Deny};

/// As admin, PUT `body` to `<collection>gone-<u>` (201), for a row that deletes it; no `{x}`.
fn create_gone(s: &Server, u: &str, collection: &str, body: Value) -> String {
    admin_json(s, Method::PUT, &format!("{collection}gone-{u}"), body, 201);
    String::new()
}

/// Prepares what a row needs for one caller (as admin) and returns the value of `{x}`.
type Prep = fn(&Server, &str) -> String;

/// Makes a binary body for one caller (`{u}`): its content type and bytes.
type MakeUpload = fn(&str) -> (String, Vec<u8>);

struct Row {
    method: Method,
    /// `{u}`: the caller's name (anonymous: `anon`); `{x}`: what `prep` returned.
    path: &'static str,
    body: Option<&'static str>,
    form: bool,
    prep: Option<Prep>,
    /// A binary body (an upload) instead of `body`.
    upload: Option<MakeUpload>,
    want: [Want; 4],
}

fn row(method: Method, path: &'static str, want: [Want; 4]) -> Row {
    Row {
        method,
        path,
        body: None,
        form: false,
        prep: None,
        upload: None,
        want,
    }
}

impl Row {
    fn body(mut self, body: &'static str) -> Row {
        self.body = Some(body);
        self
    }
    fn form(mut self, body: &'static str) -> Row {
        self.body = Some(body);
        self.form = true;
        self
    }
    fn prep(mut self, prep: Prep) -> Row {
        self.prep = Some(prep);
        self
    }
    fn upload(mut self, make: MakeUpload) -> Row {
        self.upload = Some(make);
        self
    }
}

const READ: [Want; 4] = [Deny, Allow, Allow, Allow];
const WRITE: [Want; 4] = [Deny, Deny, Allow, Allow];
const ADMIN: [Want; 4] = [Deny, Deny, Deny, Allow];
/// Admin only, answering 201 Created.
const ADMIN_CREATES: [Want; 4] = [Deny, Deny, Deny, Code(201)];
const ANYONE: [Want; 4] = [Allow, Allow, Allow, Allow];
const USER: [Want; 4] = [Deny, Allow, Allow, Allow];
const SIGNED: [Want; 4] = [Code(401), Code(401), Code(401), Code(401)];

fn deploy_u(s: &Server, u: &str, name: &str) -> String {
    admin_deploy(s, &format!("/libs/{u}/{name}"), "prepared");
    String::new()
}

fn table() -> Vec<Row> {
    use Method as M;
    let fixed_sha = sha256_hex(b"fixed content");
    let checksum_path: &'static str =
        Box::leak(format!("/api/search/checksum?sha256={fixed_sha}").into_boxed_str());
    vec![
        // artifacts
        row(M::GET, "/libs/fixed/a.txt", READ),
        row(M::HEAD, "/libs/fixed/a.txt", READ),
        row(M::GET, "/libs/fixed/", READ),
        row(M::GET, "/libs/fixed/a.txt.sha256", READ),
        row(M::GET, "/", ANYONE),
        row(M::PUT, "/libs/{u}/new.txt", WRITE).body("new"),
        row(M::PUT, "/libs/{u}/dir/", WRITE),
        row(M::PUT, "/libs/{u}/over.txt", WRITE)
            .body("again")
            .prep(|s, u| deploy_u(s, u, "over.txt")),
        row(M::DELETE, "/libs/{u}/del.txt", WRITE).prep(|s, u| deploy_u(s, u, "del.txt")),
        row(M::DELETE, "/libs/{u}", WRITE).prep(|s, u| deploy_u(s, u, "tree/x.txt")),
        // virtual and remote repositories
        row(M::GET, "/all/fixed/a.txt", READ),
        row(M::GET, "/all/fixed/", READ),
        row(M::PUT, "/all/{u}/through-virtual.txt", WRITE).body("v"),
        row(M::DELETE, "/all/fixed/a.txt", [Deny, Deny, Deny, Code(405)]),
        row(
            M::GET,
            "/mirror/not-cached.txt",
            [Deny, Code(404), Code(404), Code(404)],
        ),
        row(M::GET, "/mirror-cache/", READ),
        row(
            M::PUT,
            "/mirror/x.txt",
            [Deny, Code(405), Code(405), Code(405)],
        )
        .body("x"),
        row(
            M::DELETE,
            "/mirror-cache/none.txt",
            [Deny, Deny, Deny, Code(404)],
        ),
        row(M::GET, "/api/storage/mirror-cache/", READ),
        // storage API
        row(M::GET, "/api/storage/libs/fixed/a.txt", READ),
        row(M::GET, "/api/storage/libs/fixed", READ),
        row(M::GET, "/api/storage/libs/fixed?list&deep=1", READ),
        row(
            M::GET,
            "/api/storage/libs/fixed?offset=0&limit=10&name=a",
            READ,
        ),
        row(M::GET, "/api/storage/libs/fixed/a.txt?properties", READ),
        row(M::PUT, "/api/storage/libs/{u}/p.txt?properties=k=v", WRITE)
            .prep(|s, u| deploy_u(s, u, "p.txt")),
        row(M::DELETE, "/api/storage/libs/{u}/q.txt?properties=k", WRITE)
            .prep(|s, u| deploy_u(s, u, "q.txt;k=v")),
        row(M::PATCH, "/api/metadata/libs/{u}/pm.txt", WRITE)
            .body(r#"{"props":{"k":"v","gone":null}}"#)
            .prep(|s, u| deploy_u(s, u, "pm.txt")),
        // search (filtered, never refused)
        row(M::GET, checksum_path, ANYONE),
        row(M::GET, "/api/search/artifact?name=a.txt", ANYONE),
        row(M::GET, "/api/search/gavc?a=a", ANYONE),
        row(M::GET, "/api/search/prop?k=v", ANYONE),
        row(M::GET, "/api/search/dates?from=0", ANYONE),
        row(M::GET, "/api/search/creation?from=0", ANYONE),
        row(M::GET, "/api/search/pattern?pattern=libs:**/*.txt", ANYONE),
        row(M::POST, "/api/search/aql", ANYONE).body(r#"items.find({"name":"a.txt"})"#),
        row(M::GET, "/api/storage/libs/fixed/a.txt?stats", READ),
        // builds: reading needs a user, uploading deploy permission somewhere, deleting admin
        row(M::PUT, "/api/build", [Deny, Deny, Code(204), Code(204)])
            .body(r#"{"name":"b","number":"1","started":"2026-12-07T10:00:00.000+0000"}"#),
        row(M::GET, "/api/build", USER),
        row(M::GET, "/api/build/b", USER),
        row(M::GET, "/api/build/b/1", USER),
        row(M::DELETE, "/api/build/gone-{u}?deleteAll=1", ADMIN).prep(|s, u| {
            let body = json!({"name": format!("gone-{u}"), "number": "1",
                "started": "2026-12-07T10:00:00.000+0000"});
            admin_json(s, Method::PUT, "/api/build", body, 204);
            String::new()
        }),
        // copy and move
        row(
            M::POST,
            "/api/copy/libs/{u}/c.txt?to=/libs/{u}/c2.txt",
            WRITE,
        )
        .prep(|s, u| deploy_u(s, u, "c.txt")),
        row(
            M::POST,
            "/api/move/libs/{u}/m.txt?to=/libs/{u}/m2.txt",
            WRITE,
        )
        .prep(|s, u| deploy_u(s, u, "m.txt")),
        // repositories
        row(M::GET, "/api/repositories", ANYONE),
        row(M::GET, "/api/repositories/libs", ADMIN),
        row(M::PUT, "/api/repositories/new-{u}", ADMIN)
            .body(r#"{"rclass":"local","packageType":"generic"}"#),
        row(M::POST, "/api/repositories/other", ADMIN).body(r#"{"description":"changed"}"#),
        row(M::DELETE, "/api/repositories/gone-{u}", ADMIN).prep(|s, u| {
            s.generic_repo(&format!("gone-{u}"));
            String::new()
        }),
        // users
        row(M::GET, "/api/security/users", ADMIN),
        row(M::GET, "/api/security/users/reader", ADMIN),
        row(M::PUT, "/api/security/users/new-{u}", ADMIN_CREATES)
            .body(r#"{"password":"Some-pass-word-1"}"#),
        row(M::POST, "/api/security/users/reader", ADMIN).body(r#"{"email":"reader@example.org"}"#),
        row(M::DELETE, "/api/security/users/gone-{u}", ADMIN)
            .prep(|s, u| create_gone(s, u, "/api/security/users/", json!({"password": PW}))),
        // groups
        row(M::GET, "/api/security/groups", ADMIN),
        row(M::GET, "/api/security/groups/deployers", ADMIN),
        row(M::PUT, "/api/security/groups/new-{u}", ADMIN_CREATES).body(r#"{"description":"new"}"#),
        row(M::POST, "/api/security/groups/deployers", ADMIN).body(r#"{"description":"changed"}"#),
        row(M::DELETE, "/api/security/groups/gone-{u}", ADMIN)
            .prep(|s, u| create_gone(s, u, "/api/security/groups/", json!({}))),
        // permission targets
        row(M::GET, "/api/v2/security/permissions", ADMIN),
        row(M::GET, "/api/v2/security/permissions/deploy-libs", ADMIN),
        row(
            M::PUT,
            "/api/v2/security/permissions/new-{u}",
            ADMIN_CREATES,
        )
        .body(r#"{"repo":{"repositories":["other"],"actions":{"users":{"nobody":["read"]}}}}"#),
        row(
            M::POST,
            "/api/v2/security/permissions/post-{u}",
            ADMIN_CREATES,
        )
        .body(r#"{"repo":{"repositories":["other"],"actions":{}}}"#),
        row(M::DELETE, "/api/v2/security/permissions/gone-{u}", ADMIN).prep(|s, u| {
            create_gone(
                s,
                u,
                "/api/v2/security/permissions/",
                json!({"repo": {"repositories": ["ANY"]}}),
            )
        }),
        // permission targets, v1 shape
        row(M::GET, "/api/security/permissions", ADMIN),
        row(M::GET, "/api/security/permissions/deploy-libs", ADMIN),
        row(M::PUT, "/api/security/permissions/v1-{u}", ADMIN_CREATES)
            .body(r#"{"repositories":["other"],"principals":{"users":{"nobody":["r"]}}}"#),
        row(M::DELETE, "/api/security/permissions/gone1-{u}", ADMIN).prep(|s, u| {
            let path = format!("/api/security/permissions/gone1-{u}");
            admin_json(s, Method::PUT, &path, json!({"repositories": ["ANY"]}), 201);
            String::new()
        }),
        // API keys: gone, for everyone
        row(M::GET, "/api/security/apiKey", [Code(410); 4]),
        row(M::DELETE, "/api/security/apiKey/{u}", [Code(410); 4]),
        // tokens
        row(M::POST, "/api/security/token", USER).form("expires_in=60"),
        row(M::GET, "/api/security/token", USER),
        row(M::POST, "/api/security/token/revoke", USER)
            .form("token={x}")
            .prep(|s, u| token_for(s, if u == "anon" { "admin" } else { u }, "").0),
        row(M::DELETE, "/api/security/token/{x}", USER)
            .prep(|s, u| token_for(s, if u == "anon" { "admin" } else { u }, "").1),
        // the npm registry API of a local npm repository (setup_npm)
        row(M::GET, "/api/npm/npmlibs/", READ),
        row(M::GET, "/api/npm/npmlibs/-/ping", READ),
        row(M::GET, "/api/npm/npmlibs/-/whoami", READ),
        // the legacy login checks the body's password (anonymous: the unknown user 'anon')
        row(
            M::PUT,
            "/api/npm/npmlibs/-/user/org.couchdb.user:{u}",
            [Code(401), Code(201), Code(201), Code(201)],
        )
        .body("{x}")
        .prep(|s, u| {
            let password = if u == "admin" {
                s.password.as_str()
            } else {
                PW
            };
            json!({"name": u, "password": password}).to_string()
        }),
        row(M::GET, "/api/npm/npmlibs/-/v1/search?text=fixed", READ),
        row(
            M::POST,
            "/api/npm/npmlibs/-/npm/v1/security/advisories/bulk",
            READ,
        )
        .body("{}"),
        row(
            M::POST,
            "/api/npm/npmlibs/-/npm/v1/security/audits/quick",
            READ,
        )
        .body("{}"),
        row(
            M::GET,
            "/api/npm/npmlibs/-/package/fixed-pkg/dist-tags",
            READ,
        ),
        row(
            M::PUT,
            "/api/npm/npmlibs/-/package/fixed-pkg/dist-tags/t-{u}",
            [Deny, Deny, Code(201), Code(201)],
        )
        .body("\"1.0.0\""),
        row(
            M::DELETE,
            "/api/npm/npmlibs/-/package/fixed-pkg/dist-tags/d-{u}",
            WRITE,
        )
        .prep(|s, u| {
            let r = s
                .put(
                    &format!("/api/npm/npmlibs/-/package/fixed-pkg/dist-tags/d-{u}"),
                    "\"1.0.0\"",
                )
                .status();
            assert_eq!(r, StatusCode::CREATED);
            String::new()
        }),
        row(M::GET, "/api/npm/npmlibs/fixed-pkg", READ),
        row(M::HEAD, "/api/npm/npmlibs/fixed-pkg", READ),
        row(M::GET, "/api/npm/npmlibs/@acme%2ffixed", READ),
        row(M::GET, "/api/npm/npmlibs/fixed-pkg/1.0.0", READ),
        row(
            M::GET,
            "/api/npm/npmlibs/fixed-pkg/-/fixed-pkg-1.0.0.tgz",
            READ,
        ),
        row(
            M::GET,
            "/api/npm/npmlibs/@acme/fixed/-/fixed-1.0.0.tgz",
            READ,
        ),
        // publish, deprecate (annotate), unpublish of a version, a tarball, a package (delete)
        row(
            M::PUT,
            "/api/npm/npmlibs/pub-{u}",
            [Deny, Deny, Code(201), Code(201)],
        )
        .body("{x}")
        .prep(|_, u| super::npm::publish_body(&format!("pub-{u}"), "1.0.0")),
        row(M::PUT, "/api/npm/npmlibs/depr-{u}", WRITE)
            .body("{x}")
            .prep(|s, u| {
                let name = format!("depr-{u}");
                let mut doc = npm_publish(s, &name, &["1.0.0"]);
                doc["versions"]["1.0.0"]["deprecated"] = json!("do not use");
                doc.to_string()
            }),
        row(M::PUT, "/api/npm/npmlibs/unp-{u}/-rev/1", WRITE)
            .body("{x}")
            .prep(|s, u| {
                let name = format!("unp-{u}");
                let mut doc = npm_publish(s, &name, &["1.0.0", "1.1.0"]);
                doc["versions"].as_object_mut().unwrap().remove("1.1.0");
                doc["dist-tags"] = json!({"latest": "1.0.0"});
                doc.to_string()
            }),
        row(
            M::DELETE,
            "/api/npm/npmlibs/gone-{u}/-/gone-{u}-1.0.0.tgz/-rev/1",
            WRITE,
        )
        .prep(|s, u| {
            npm_publish(s, &format!("gone-{u}"), &["1.0.0"]);
            String::new()
        }),
        // (without -rev/{rev}: npm's form carries the current _rev, checked before the delete)
        row(M::DELETE, "/api/npm/npmlibs/del-{u}", WRITE).prep(|s, u| {
            npm_publish(s, &format!("del-{u}"), &["1.0.0"]);
            String::new()
        }),
        // a plain deploy into an npm repository: refused after the permission check
        row(
            M::PUT,
            "/npmlibs/{u}/-/plain-1.0.0.tgz",
            [Deny, Deny, Code(409), Code(409)],
        )
        .body("x"),
        // the PyPI API of a local pypi repository (setup_pypi)
        // (redirected to the canonical URL, which the client follows; who gets the redirect
        // itself: pypi::who_may_upload_yank_and_read)
        row(M::GET, "/api/pypi/pylibs/simple", READ),
        row(M::GET, "/api/pypi/pylibs/simple/", READ),
        row(M::GET, "/api/pypi/pylibs/simple/fixed-pkg/", READ),
        row(M::HEAD, "/api/pypi/pylibs/simple/fixed-pkg/", READ),
        row(
            M::GET,
            "/api/pypi/pylibs/simple/fixed-pkg/?format=application/vnd.pypi.simple.v1%2Bjson",
            READ,
        ),
        row(M::GET, "/api/pypi/pylibs/simple/Fixed_Pkg", READ),
        row(
            M::GET,
            "/api/pypi/pylibs/packages/fixed-pkg/1.0/fixed_pkg-1.0-py3-none-any.whl",
            READ,
        ),
        row(
            M::HEAD,
            "/api/pypi/pylibs/packages/fixed-pkg/1.0/fixed_pkg-1.0-py3-none-any.whl",
            READ,
        ),
        row(
            M::GET,
            "/api/pypi/pylibs/packages/fixed-pkg/1.0/fixed_pkg-1.0-py3-none-any.whl.metadata",
            READ,
        ),
        // uploads (twine's POST, with and without the slash, and to /legacy/) need deploy
        row(M::POST, "/api/pypi/pylibs", WRITE)
            .upload(|u| super::pypi::upload_body(&format!("up-{u}"))),
        row(M::POST, "/api/pypi/pylibs/", WRITE)
            .upload(|u| super::pypi::upload_body(&format!("up-slash-{u}"))),
        row(M::POST, "/api/pypi/pylibs/legacy/", WRITE)
            .upload(|u| super::pypi::upload_body(&format!("up-legacy-{u}"))),
        // an existing file: replaced by who may delete there (the deployers here; without delete
        // it is a 409, pypi::an_existing_file_is_a_conflict_and_stays_as_it_was)
        row(M::POST, "/api/pypi/pylibs/", WRITE).upload(|_| super::pypi::upload_body("fixed-pkg")),
        // yanking (annotate, implied by deploy), of a version or of one file; un-yanking
        row(M::PUT, "/api/pypi/pylibs/yank/yk-{u}/1.0", WRITE).prep(|s, u| {
            pypi_upload(s, &format!("yk-{u}"));
            String::new()
        }),
        row(
            M::PUT,
            "/api/pypi/pylibs/yank/yf-{u}/1.0/yf_{u}-1.0-py3-none-any.whl",
            WRITE,
        )
        .body(r#"{"reason":"broken"}"#)
        .prep(|s, u| {
            pypi_upload(s, &format!("yf-{u}"));
            String::new()
        }),
        row(M::DELETE, "/api/pypi/pylibs/yank/uy-{u}/1.0", WRITE).prep(|s, u| {
            pypi_upload(s, &format!("uy-{u}"));
            let r = s
                .put(&format!("/api/pypi/pylibs/yank/uy-{u}/1.0"), "")
                .status();
            assert_eq!(r, StatusCode::OK);
            String::new()
        }),
        // deleting a file: the plain API's DELETE of its item (delete)
        row(
            M::DELETE,
            "/pylibs/pd-{u}/1.0/pd_{u}-1.0-py3-none-any.whl",
            WRITE,
        )
        .prep(|s, u| {
            pypi_upload(s, &format!("pd-{u}"));
            String::new()
        }),
        // a plain deploy into a pypi repository: refused after the permission check
        row(
            M::PUT,
            "/pylibs/{u}/1.0/plain-1.0.tar.gz",
            [Deny, Deny, Code(409), Code(409)],
        )
        .body("x"),
        // the registry API of a local docker repository `images` (setup_oci; who may pull what
        // through tokens, and token scopes: oci::challenge_token_scopes_and_where_a_token_counts)
        row(M::GET, "/v2/", USER),
        row(
            M::GET,
            "/v2/token?service=arca&scope=repository:images/fixed/app:pull",
            ANYONE,
        ),
        row(M::GET, "/v2/_catalog", ANYONE),
        row(M::GET, "/v2/images/fixed/app/tags/list", READ),
        row(M::GET, "/v2/images/fixed/app/manifests/1.0", READ),
        row(M::HEAD, "/v2/images/fixed/app/manifests/1.0", READ),
        row(M::GET, "/v2/images/fixed/app/manifests/{x}", READ)
            .prep(|_, _| oci_digest(oci_fixed_manifest())),
        row(M::GET, "/v2/images/fixed/app/blobs/{x}", READ).prep(|_, _| oci_digest(OCI_CONFIG)),
        row(M::HEAD, "/v2/images/fixed/app/blobs/{x}", READ).prep(|_, _| oci_digest(OCI_CONFIG)),
        row(M::GET, "/v2/images/fixed/app/referrers/{x}", READ)
            .prep(|_, _| oci_digest(oci_fixed_manifest())),
        row(M::GET, "/v2/images-all/fixed/app/manifests/1.0", READ),
        row(M::POST, "/v2/images/{u}/blobs/uploads/", WRITE),
        row(
            M::POST,
            "/v2/images/{u}/mono/blobs/uploads/?digest={x}",
            WRITE,
        )
        .body("{}")
        .prep(|_, _| oci_digest(OCI_CONFIG)),
        row(M::POST, "/v2/images-all/{u}/blobs/uploads/", WRITE),
        // an upload session is its starter's (the admin's here): others do not find it
        row(M::PATCH, "{x}", [Deny, Deny, Code(404), Allow])
            .body("chunk")
            .prep(oci_session),
        row(M::GET, "{x}", [Deny, Deny, Code(404), Code(204)]).prep(oci_session),
        row(M::DELETE, "{x}", [Deny, Deny, Code(404), Code(204)]).prep(oci_session),
        row(M::PUT, "/v2/images/{u}/manifests/1.0", WRITE)
            .body("{x}")
            .prep(|s, u| {
                oci_push_blob(s, &format!("images/{u}"), OCI_CONFIG.as_bytes());
                String::from_utf8(oci_fixed_manifest()).unwrap()
            }),
        row(M::DELETE, "/v2/images/{u}/manifests/1.0", WRITE)
            .prep(|s, u| oci_push_image(s, &format!("images/{u}"))),
        row(M::DELETE, "/v2/images/{u}/blobs/{x}", WRITE).prep(|s, u| {
            oci_push_blob(s, &format!("images/{u}"), b"deleted blob");
            oci_digest("deleted blob")
        }),
        // a plain deploy into a docker repository: refused after the permission check
        row(
            M::PUT,
            "/images/{u}/_blobs/plain",
            [Deny, Deny, Code(409), Code(409)],
        )
        .body("x"),
        // the web UI's files
        row(M::GET, "/ui/", ANYONE),
        row(M::GET, "/ui/app.js", ANYONE),
        // system
        row(M::GET, "/api/system/ping", ANYONE),
        row(M::GET, "/api/system/version", ANYONE),
        row(M::GET, "/api/v1/system/readiness", ANYONE),
        row(M::GET, "/api/v1/system/liveness", ANYONE),
        row(M::GET, "/api/system/storage", ADMIN),
        row(M::POST, "/api/system/storage/gc", ADMIN),
        row(M::GET, "/api/system/storage/scrub", ADMIN),
        // the admin's call starts a pass (202)
        row(M::POST, "/api/system/storage/scrub", ADMIN),
        row(M::GET, "/api/system/ha/nodes", ADMIN),
        row(M::GET, "/api/system/logs", ADMIN),
        row(
            M::GET,
            "/api/system/logs?level=WARN&q=x&after=1&limit=10",
            ADMIN,
        ),
        row(
            M::DELETE,
            "/api/system/ha/nodes/no-such-node",
            [Deny, Deny, Deny, Code(404)],
        ),
        row(M::GET, "/api/system/licenses", ADMIN),
        // Administration → General (an empty body clears the URL base: harmless here)
        row(M::GET, "/api/system/configuration/baseUrl", ADMIN),
        row(M::PUT, "/api/system/configuration/baseUrl", ADMIN).body(""),
        row(M::PUT, "/api/system/ha/configuration/baseUrl", SIGNED).body("{}"),
        row(M::GET, "/api/system/ha/self", SIGNED),
        row(
            M::GET,
            "/api/system/storage/binaries/0000000000000000000000000000000000000000000000000000000000000000",
            SIGNED,
        ),
    ]
}

/// A local npm repository `npmlibs` where the `deployers` may also delete, with `fixed-pkg`
/// and `@acme/fixed` 1.0.0.
fn setup_npm(s: &Server) {
    s.create_repo("npmlibs", json!({"rclass": "local", "packageType": "npm"}));
    admin_json(
        s,
        Method::PUT,
        "/api/v2/security/permissions/deploy-npm",
        json!({"name": "deploy-npm", "repo": {
            "repositories": ["npmlibs"],
            "actions": {"groups": {"deployers": ["read", "write", "delete"]}}
        }}),
        201,
    );
    npm_publish(s, "fixed-pkg", &["1.0.0"]);
    npm_publish(s, "@acme/fixed", &["1.0.0"]);
}

/// As admin, publish `versions` of `name` into `npmlibs`; the full packument after.
fn npm_publish(s: &Server, name: &str, versions: &[&str]) -> Value {
    let url = format!("/api/npm/npmlibs/{}", name.replace('/', "%2f"));
    for v in versions {
        let r = s
            .admin(Method::PUT, s.url(&url))
            .header("content-type", "application/json")
            .body(super::npm::publish_body(name, v))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "publish {name}@{v}");
    }
    s.json(&url)
}

/// A local pypi repository `pylibs` where the `deployers` may also delete, with `fixed-pkg`
/// 1.0 (a wheel).
fn setup_pypi(s: &Server) {
    s.create_repo("pylibs", json!({"rclass": "local", "packageType": "pypi"}));
    admin_json(
        s,
        Method::PUT,
        "/api/v2/security/permissions/deploy-pypi",
        json!({"name": "deploy-pypi", "repo": {
            "repositories": ["pylibs"],
            "actions": {"groups": {"deployers": ["read", "write", "delete"]}}
        }}),
        201,
    );
    pypi_upload(s, "fixed-pkg");
}

/// The config blob of the matrix's images.
const OCI_CONFIG: &str = "{}";

fn oci_digest(content: impl AsRef<[u8]>) -> String {
    format!("sha256:{}", sha256_hex(content.as_ref()))
}

/// An OCI image manifest of [`OCI_CONFIG`] and no layer.
fn oci_fixed_manifest() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": oci_digest(OCI_CONFIG)},
        "layers": []}))
    .unwrap()
}

/// As admin, push `content` as a blob of `name`.
fn oci_push_blob(s: &Server, name: &str, content: &[u8]) {
    let r = request(
        s,
        Some("admin"),
        Method::POST,
        &format!("/v2/{name}/blobs/uploads/?digest={}", oci_digest(content)),
    )
    .body(content.to_vec())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "blob of {name}");
}

/// As admin, push the fixed image as `name:1.0`; no `{x}`.
fn oci_push_image(s: &Server, name: &str) -> String {
    oci_push_blob(s, name, OCI_CONFIG.as_bytes());
    let r = request(
        s,
        Some("admin"),
        Method::PUT,
        &format!("/v2/{name}/manifests/1.0"),
    )
    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
    .body(oci_fixed_manifest())
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "image {name}");
    String::new()
}

/// As admin, start an upload session in `images/{u}`: its URL path.
fn oci_session(s: &Server, u: &str) -> String {
    let r = request(
        s,
        Some("admin"),
        Method::POST,
        &format!("/v2/images/{u}/blobs/uploads/"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.headers()["location"].to_str().unwrap().to_string()
}

/// A local docker repository `images` where the `deployers` may also delete, with the image
/// `fixed/app:1.0`, and a virtual `images-all` over it deploying to it.
fn setup_oci(s: &Server) {
    s.create_repo(
        "images",
        json!({"rclass": "local", "packageType": "docker"}),
    );
    s.create_repo(
        "images-all",
        json!({"rclass": "virtual", "packageType": "docker", "repositories": ["images"],
               "defaultDeploymentRepo": "images"}),
    );
    admin_json(
        s,
        Method::PUT,
        "/api/v2/security/permissions/deploy-images",
        json!({"name": "deploy-images", "repo": {
            "repositories": ["images", "images-all"],
            "actions": {"groups": {"deployers": ["read", "write", "delete"]}}
        }}),
        201,
    );
    oci_push_image(s, "images/fixed/app");
}

/// As admin, upload the tests' wheel of `name` 1.0 into `pylibs`.
fn pypi_upload(s: &Server, name: &str) {
    let (content_type, body) = super::pypi::upload_body(name);
    let r = s
        .admin(Method::POST, s.url("/api/pypi/pylibs/"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "upload {name}: {}",
        r.text().unwrap()
    );
}

#[test]
fn authorization_matrix_of_every_endpoint() {
    let (_dir, s) = fresh_server();
    setup(&s);
    setup_npm(&s);
    setup_pypi(&s);
    setup_oci(&s);
    let mut failures = Vec::new();
    for row in table() {
        for (i, who) in CALLERS.iter().enumerate() {
            let u = who.unwrap_or("anon");
            let x = row.prep.map(|p| p(&s, u)).unwrap_or_default();
            let path = row.path.replace("{u}", u).replace("{x}", &x);
            let mut b = request(&s, *who, row.method.clone(), &path);
            if let Some(body) = row.body {
                b = b.body(body.replace("{x}", &x));
                if row.form {
                    b = b.header("content-type", "application/x-www-form-urlencoded");
                } else if body.starts_with('{') {
                    b = b.header("content-type", "application/json");
                }
            }
            if let Some(make) = row.upload {
                let (content_type, bytes) = make(u);
                b = b.header("content-type", content_type).body(bytes);
            }
            let r = b.send().unwrap();
            let status = r.status().as_u16();
            let challenge = r.headers().contains_key("www-authenticate");
            let text = r.text().unwrap_or_default();
            let ok = match row.want[i] {
                Allow => (200..300).contains(&status),
                Deny if who.is_none() => status == 401 && challenge,
                Deny => status == 403,
                Code(c) => status == c,
            };
            if !ok {
                failures.push(format!(
                    "{} {path} as {u}: want {:?}, got {status}: {text}",
                    row.method, row.want[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What a denial says.
    let r = request(&s, Some("reader"), Method::PUT, "/libs/x/a.jar")
        .body("x")
        .send()
        .unwrap();
    let (status, message) = error_message(r);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(message, "User 'reader' may not deploy to libs/x/a.jar");

    // Lists are filtered, not refused.
    let keys = |who: Caller| -> Vec<String> {
        let v: Value = request(&s, who, Method::GET, "/api/repositories")
            .send()
            .unwrap()
            .json()
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(keys(None).is_empty());
    assert!(keys(Some("reader")).contains(&"libs".to_string()));
    let results = |who: Caller| -> usize {
        let v: Value = request(&s, who, Method::GET, "/api/search/artifact?name=a.txt")
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["results"].as_array().unwrap().len()
    };
    assert_eq!(results(None), 0);
    assert_eq!(results(Some("reader")), 1);

    // The user document never carries the hash; groups and realm are there.
    let user: Value = s.json("/api/security/users/reader");
    assert_eq!(user["name"], "reader");
    assert_eq!(user["email"], "reader@example.org");
    assert_eq!(user["realm"], "internal");
    assert_eq!(user["groups"], json!(["readers"]));
    assert!(!user.to_string().contains("argon2"), "{user}");
    assert!(user["lastLoggedIn"].is_string(), "{user}");
    let group: Value = s.json("/api/security/groups/deployers");
    assert_eq!(group["userNames"], json!(["deployer"]));
    let target: Value = s.json("/api/v2/security/permissions/deploy-libs");
    assert_eq!(
        target["repo"]["actions"]["groups"]["deployers"],
        json!(["read", "annotate", "write", "delete"])
    );
}

#[test]
fn security_api_validates_and_names_the_field() {
    let (_dir, s) = fresh_server();
    // Refused: (method, path, body, status, what the message names; "" = anything).
    let bob = "/api/security/users/bob";
    let target = "/api/v2/security/permissions/p";
    let fly = json!({"repo": {"repositories": ["ANY"], "actions": {"users": {"bob": ["fly"]}}}});
    #[rustfmt::skip]
    let refused = [
        (Method::PUT, bob, json!({"email": "b@x.io"}), 400, "'password'"),
        (Method::PUT, bob, json!({"password": PW, "groups": ["nope"]}), 400, "nope"),
        (Method::PUT, bob, json!({"name": "alice", "password": PW}), 400, "'name'"),
        (Method::POST, "/api/security/users/ghost", json!({"admin": true}), 404, ""),
        (Method::PUT, target, json!({}), 400, "'repo'"),
        (Method::PUT, target, fly.clone(), 400, "repo.actions.users.bob"),
        (Method::PUT, target, fly, 400, "fly"),
        (Method::PUT, target, json!({"repo": {"repositories": ["ANY THING"]}}), 400, "ANY THING"),
        // The anonymous user can't be given a password or deleted.
        (Method::POST, "/api/security/users/anonymous", json!({"password": PW}), 400, ""),
        (Method::DELETE, "/api/security/users/anonymous", json!({}), 400, ""),
    ];
    for (method, path, body, status, names) in refused {
        let what = format!("{method} {path} {body}");
        let (st, m) = error_message(s.admin(method, s.url(path)).json(&body).send().unwrap());
        assert_eq!(st.as_u16(), status, "{what}: {m}");
        assert!(m.contains(names), "{what}: {m}");
    }
    // Accepted, with the status each answers: POST creates only; a user created twice: 201 then 200.
    let ok =
        json!({"repo": {"repositories": ["ANY LOCAL"], "actions": {"users": {"bob": ["deploy"]}}}});
    #[rustfmt::skip]
    let accepted = [
        (Method::POST, target, ok.clone(), 201),
        (Method::POST, target, ok.clone(), 409),
        (Method::PUT, target, ok, 200),
        (Method::PUT, bob, json!({"password": PW}), 201),
        (Method::PUT, bob, json!({"email": "b@x.io"}), 200),
    ];
    for (method, path, body, status) in accepted {
        admin_json(&s, method, path, body, status);
    }
    // The replace kept the password and the auto-joined group.
    let r = request(&s, Some("bob"), Method::GET, "/api/repositories")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.json("/api/security/users/bob")["groups"],
        json!(["readers"])
    );
}

#[test]
fn tokens_scopes_disabled_users_propagation_and_anonymous_grants() {
    let (_dir, s) = fresh_server();
    setup(&s);

    // A token of the deployer scoped to `readers` reads but cannot deploy.
    let (scoped, _) = token_for(&s, "deployer", "member-of-groups:readers");
    let get = |auth: &str, path: &str| {
        s.get_with(path, |r| r.header("authorization", auth))
            .status()
    };
    assert_eq!(
        get(&format!("Bearer {scoped}"), "/libs/fixed/a.txt"),
        StatusCode::OK
    );
    let r = s
        .client()
        .put(s.url("/libs/scoped/a.txt"))
        .bearer_auth(&scoped)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The full-rights token of the same user deploys; bare (cargo) form works too.
    let (full, _) = token_for(&s, "deployer", "member-of-groups:*");
    let r = s
        .client()
        .put(s.url("/libs/full/a.txt"))
        .header("authorization", &full)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(get(&full, "/libs/fixed/a.txt"), StatusCode::OK);

    // Scopes are checked: unknown → 400 naming it; a group one is not in → 403; a scoped
    // token cannot mint a full one.
    let mint = |who: RequestBuilder, scope: &str| -> (StatusCode, String) {
        error_message(who.form(&[("scope", scope)]).send().unwrap())
    };
    let (st, m) = mint(
        request(&s, Some("deployer"), Method::POST, "/api/security/token"),
        "bogus:thing",
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(m.contains("bogus:thing"), "{m}");
    let (st, _) = mint(
        request(&s, Some("reader"), Method::POST, "/api/security/token"),
        "member-of-groups:deployers",
    );
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = mint(
        s.client()
            .post(s.url("/api/security/token"))
            .bearer_auth(&scoped),
        "member-of-groups:*",
    );
    assert_eq!(st, StatusCode::FORBIDDEN);
    let r = request(&s, Some("deployer"), Method::POST, "/api/security/token")
        .form(&[("scope", "member-of-groups:deployers")])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A permission change applies within 2 s: reader gets deploy on `other`.
    let put_other = |path: &str| {
        request(&s, Some("reader"), Method::PUT, path)
            .body("r")
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(put_other("/other/r/a.txt"), StatusCode::FORBIDDEN);
    admin_json(
        &s,
        Method::PUT,
        "/api/v2/security/permissions/reader-other",
        json!({"repo": {"repositories": ["other"], "actions": {"users": {"reader": ["write"]}}}}),
        201,
    );
    within(Duration::from_secs(2), "reader may deploy to other", || {
        put_other("/other/r/a.txt") == StatusCode::CREATED
    });
    // Deploy without delete: no overwrite (Maven metadata in Maven repositories excepted:
    // hardening::only_maven_metadata_may_be_overwritten_without_delete).
    let (st, m) = error_message(
        request(&s, Some("reader"), Method::PUT, "/other/r/a.txt")
            .body("again")
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(m.contains("overwrite other/r/a.txt"), "{m}");
    // A checksum file whose base file is absent is an ordinary file.
    assert_eq!(put_other("/other/r/b.txt.sha512"), StatusCode::CREATED);
    assert_eq!(put_other("/other/r/b.txt.sha512"), StatusCode::FORBIDDEN);
    // ... nor delete.
    let r = request(&s, Some("reader"), Method::DELETE, "/other/r/a.txt")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A disabled user gets 401, its tokens too.
    let (reader_token, _) = token_for(&s, "reader", "");
    admin_json(
        &s,
        Method::POST,
        "/api/security/users/reader",
        json!({"disabled": true}),
        200,
    );
    within(Duration::from_secs(2), "disabled reader refused", || {
        request(&s, Some("reader"), Method::GET, "/libs/fixed/a.txt")
            .send()
            .unwrap()
            .status()
            == StatusCode::UNAUTHORIZED
    });
    assert_eq!(
        get(&format!("Bearer {reader_token}"), "/libs/fixed/a.txt"),
        StatusCode::UNAUTHORIZED
    );

    // Anonymous reads where a permission target grants user `anonymous`.
    admin_deploy(&s, "/other/pub/f.txt", "public");
    let anon = || s.get_anonymous("/other/pub/f.txt").status();
    assert_eq!(anon(), StatusCode::UNAUTHORIZED);
    admin_json(
        &s,
        Method::PUT,
        "/api/v2/security/permissions/anon-pub",
        json!({"repo": {"repositories": ["other"], "include-patterns": ["pub/**"],
                        "actions": {"users": {"anonymous": ["read"]}}}}),
        201,
    );
    within(
        Duration::from_secs(2),
        "anonymous may read other/pub",
        || anon() == StatusCode::OK,
    );
    assert_eq!(
        s.get_anonymous("/other/r/a.txt").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn login_lockout_after_five_failures() {
    let dir = home();
    let s = Server::start_with(
        &dir.path().join("h"),
        &["arca.security.login.lockout.secs=2"],
    );
    s.generic_repo("libs");
    admin_json(
        &s,
        Method::PUT,
        "/api/security/users/victim",
        json!({"password": PW}),
        201,
    );
    let try_login = |password: &str| {
        s.get_with("/api/repositories", |r| {
            r.basic_auth("victim", Some(password))
        })
    };
    for _ in 0..5 {
        assert_eq!(try_login("wrong").status(), StatusCode::UNAUTHORIZED);
    }
    let r = try_login(PW);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(try_login(PW).status(), StatusCode::OK);
}
