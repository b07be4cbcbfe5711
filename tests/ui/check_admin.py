"""Administration → Repositories, Users, Groups, Permissions, Access tokens, Storage, driven as the admin; then a
non-admin user logged in through the form: the administration pages are neither offered nor served, and the token
page shows that user's own tokens only.

Every refusal checked here is the REST API's own message, compared with what the same request answers over REST.
No secret typed into a page (user and upstream passwords, tokens) may stay in the page source once it was used."""

import base64
import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import kit
from kit import EC, By

# how many extra repositories the list is timed with (UI_ADMIN_BULK; the 10k works, it only takes minutes
# to create through the API)
BULK = int(os.environ.get("UI_ADMIN_BULK", "1000"))

USER_PW = "Bob-Secret-Pass-42"
UPSTREAM_PW = "Upstream-Secret-77"
CAROL_PW = "Carol-Secret-Pass-9"


# ------------------------------------------------------------------ helpers

def rest_error(ctx, method, path, body=None):
    """The REST API's error message for a request that must be refused."""
    try:
        ctx.rest(method, path, body)
    except urllib.error.HTTPError as e:
        return json.loads(e.read().decode())["errors"][0]["message"]
    raise AssertionError(f"{method} {path} was not refused")


def go(ctx, hash_path, ready_css):
    """Shows #hash_path afresh (the page area emptied first, so ready_css is the new page's)."""
    target = f"{ctx.url}/ui/#{hash_path}"
    ctx.driver.execute_script("const m = document.getElementById('main'); if (m) m.replaceChildren();")
    if ctx.driver.current_url == target:
        ctx.driver.refresh()
    else:
        ctx.driver.get(target)
    return ctx.wait(EC.presence_of_element_located((By.CSS_SELECTOR, ready_css)), f"{ready_css} on #{hash_path}")


def type_into(ctx, css, text):
    field = ctx.wait_css(css, css)
    field.clear()
    if text:
        field.send_keys(text)
    return field


def click(ctx, css):
    ctx.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), f"{css} clickable").click()


def select(ctx, css, value):
    ctx.driver.execute_script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change'));", css, value)


def error_of(ctx, css, expected):
    """The page's error line shows exactly `expected` (the REST API's message)."""
    ctx.wait(lambda d: d.find_element(By.CSS_SELECTOR, css).text.strip(), f"the refusal in {css}")
    shown = ctx.find(css).text.strip()
    assert shown == expected, f"{css}: {shown!r}, the REST API says {expected!r}"
    return shown


def picture(ctx, name, top=True):
    """axe-core on the page as it is now, and its screenshot (from the top of the page unless top=False)."""
    if top:
        ctx.driver.execute_script("window.scrollTo(0, 0)")
    ctx.axe(name)
    ctx.shot(name)


def flash(ctx, css, text):
    return ctx.wait_text(css, text, f"'{text}' in {css}")


def no_secret(ctx, *secrets):
    source = ctx.driver.page_source
    for s in secrets:
        assert s not in source, "a secret is in the page source"


def confirm_delete(ctx, button_css, cancel_first=False):
    if cancel_first:
        click(ctx, button_css)
        ctx.wait_css("#confirm-dialog", "the confirmation dialog")
        click(ctx, "#confirm-no")
        ctx.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#confirm-dialog"), "the dialog gone after Cancel")
    click(ctx, button_css)
    ctx.wait_css("#confirm-dialog", "the confirmation dialog")
    click(ctx, "#confirm-yes")
    ctx.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#confirm-dialog"), "the dialog gone")


def login(ctx, user, password):
    kit.login(ctx.driver, password, user)
    ctx.wait_text("#who-name", user, f"logged in as {user}")


def logout(ctx):
    ctx.driver.get(ctx.url + "/ui/")
    click(ctx, "#logout")
    ctx.wait_css("#login-user", "the login form")


class Upstream:
    """A remote repository's upstream on the loopback: answers every GET, remembers the Basic credentials."""

    def __init__(self):
        seen = self.seen = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                auth = self.headers.get("Authorization", "")
                seen[self.path] = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else auth
                data = f"content of {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/files"

    def close(self):
        self.server.shutdown()


# ------------------------------------------------------------------ repositories

def repositories(ctx):
    upstream = Upstream()
    try:
        _repositories(ctx, upstream)
    finally:
        upstream.close()


def _repositories(ctx, upstream):
    # a local repository: an invalid key first, refused with the API's message
    go(ctx, "/admin/repositories/new/local", "#repo-form")
    ctx.axe("admin-repository-new")
    type_into(ctx, "#repo-key", "bad key!")
    click(ctx, "#repo-save")
    error_of(ctx, "#repo-error", rest_error(ctx, "PUT", "/api/repositories/bad%20key!", {"rclass": "local"}))
    print("ok an invalid repository key is refused with the API's message")
    # the Maven fields are offered for a maven repository only
    assert not ctx.find("#repo-maven").is_displayed()
    select(ctx, "#repo-packageType", "maven")
    assert ctx.find("#repo-maven").is_displayed(), "the Maven fields for a maven repository"
    select(ctx, "#repo-packageType", "generic")
    type_into(ctx, "#repo-key", "ui-libs-local")
    type_into(ctx, "#repo-description", "Libraries")
    click(ctx, "#repo-save")
    flash(ctx, "#repos-flash", "Successfully created repository 'ui-libs-local'")
    config = ctx.rest("GET", "/api/repositories/ui-libs-local")
    assert (config["rclass"], config["packageType"], config["description"]) == ("local", "generic", "Libraries"), config
    print("ok local repository created")

    # edit its description
    ctx.open("/admin/repositories/edit/ui-libs-local", "#repo-description", "admin-repository-edit")
    assert ctx.find("#repo-key").get_attribute("readonly") is not None, "the key is read-only on edit"
    type_into(ctx, "#repo-description", "Libraries built here")
    click(ctx, "#repo-save")
    flash(ctx, "#repos-flash", "update successfully")
    assert ctx.rest("GET", "/api/repositories/ui-libs-local")["description"] == "Libraries built here"
    print("ok description edited")

    # a remote repository: a bad URL refused, then created with credentials the page never shows again
    go(ctx, "/admin/repositories/new/remote", "#repo-form")
    ctx.axe("admin-repository-new-remote")
    type_into(ctx, "#repo-key", "ui-remote")
    type_into(ctx, "#repo-url", "ftp://example.org/x")
    click(ctx, "#repo-save")
    error_of(ctx, "#repo-error", rest_error(ctx, "PUT", "/api/repositories/ui-remote-x",
                                            {"rclass": "remote", "url": "ftp://example.org/x"}))
    type_into(ctx, "#repo-url", upstream.url)
    type_into(ctx, "#repo-username", "proxyuser")
    type_into(ctx, "#repo-password", UPSTREAM_PW)
    click(ctx, "#repo-save")
    flash(ctx, "#repos-flash", "Successfully created repository 'ui-remote'")
    no_secret(ctx, UPSTREAM_PW)
    assert ctx.rest("GET", "/ui-remote/a.txt").strip() == "content of /files/a.txt"
    assert upstream.seen["/files/a.txt"] == f"proxyuser:{UPSTREAM_PW}", upstream.seen
    # edited with the password field left empty: the stored password stays
    go(ctx, "/admin/repositories/edit/ui-remote", "#repo-password")
    assert ctx.find("#repo-password").get_attribute("value") in ("", None), "the password is never shown back"
    no_secret(ctx, UPSTREAM_PW)
    type_into(ctx, "#repo-description", "the loopback upstream")
    click(ctx, "#repo-offline")
    click(ctx, "#repo-offline")
    click(ctx, "#repo-save")
    flash(ctx, "#repos-flash", "update successfully")
    assert ctx.rest("GET", "/ui-remote/b.txt").strip() == "content of /files/b.txt"
    assert upstream.seen["/files/b.txt"] == f"proxyuser:{UPSTREAM_PW}", "the password was lost by an edit"
    print("ok remote repository created; its password is write-only and kept by an edit that leaves it empty")

    # a virtual repository: an unknown member refused, then the two as ordered members
    go(ctx, "/admin/repositories/new/virtual", "#repo-form")
    type_into(ctx, "#repo-key", "ui-virtual")
    type_into(ctx, "#repo-member-add", "no-such-repo")
    click(ctx, "#repo-member-add-button")
    click(ctx, "#repo-save")
    error_of(ctx, "#repo-error", rest_error(ctx, "PUT", "/api/repositories/ui-virtual-x",
                                            {"rclass": "virtual", "repositories": ["no-such-repo"]}))
    click(ctx, '[data-member="no-such-repo"] button[aria-label^="Remove"]')
    for key in ("ui-libs-local", "ui-remote"):
        type_into(ctx, "#repo-member-add", key)
        click(ctx, "#repo-member-add-button")
        ctx.wait_css(f'[data-member="{key}"]', f"{key} among the members")
    click(ctx, '[data-member="ui-remote"] button[aria-label^="Move ui-remote up"]')
    select(ctx, "#repo-defaultDeploymentRepo", "ui-libs-local")
    picture(ctx, "admin-repository-virtual")
    click(ctx, "#repo-save")
    flash(ctx, "#repos-flash", "Successfully created repository 'ui-virtual'")
    config = ctx.rest("GET", "/api/repositories/ui-virtual")
    assert config["repositories"] == ["ui-remote", "ui-libs-local"], config
    assert config["defaultDeploymentRepo"] == "ui-libs-local", config
    print("ok virtual repository created with ordered members and a default deployment repository")

    # the list, filtered, and a delete (Cancel first)
    ctx.open("/admin/repositories", "#repos-table-rows tr", "admin-repositories")
    type_into(ctx, "#repos-filter", "ui-virtual")
    ctx.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#repos-table-rows tr")) == 1, "the filtered list")
    confirm_delete(ctx, '[data-delete="ui-virtual"]', cancel_first=True)
    flash(ctx, "#repos-flash", "removed successfully")
    ctx.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-key="ui-virtual"]'), "the deleted row gone")
    assert all(r["key"] != "ui-virtual" for r in ctx.rest("GET", "/api/repositories"))
    print("ok virtual repository deleted after confirmation")

    # at phone width the form stays usable: nothing wider than the window
    ctx.driver.set_window_size(390, 844)
    go(ctx, "/admin/repositories/edit/ui-remote", "#repo-url")
    width = ctx.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the repository form is {width[0]} px wide in a {width[1]} px window"
    ctx.shot("admin-repository-edit-phone")
    ctx.driver.set_window_size(1280, 800)


def bulk_list(ctx):
    """The list with BULK more repositories: one call, the first rows at once, the filter as one types."""
    if BULK <= 0:
        return
    keys = [f"ui-bulk-{i:05d}" for i in range(BULK)]

    def put(key):
        for _ in range(20):
            try:
                return ctx.rest("PUT", f"/api/repositories/{key}", {"rclass": "local", "description": f"bulk {key}"})
            except urllib.error.HTTPError as e:
                if e.code != 503:
                    raise
                time.sleep(0.5)

    def delete(key):
        for _ in range(20):
            try:
                return ctx.rest("DELETE", f"/api/repositories/{key}")
            except urllib.error.HTTPError as e:
                if e.code != 503:
                    raise
                time.sleep(0.5)

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, keys))
    print(f"ok {BULK} repositories created over REST in {time.monotonic() - started:.1f} s")
    try:
        total = len(ctx.rest("GET", "/api/repositories"))
        # timed in the page (WebDriver's polling would add up to half a second): from the navigation to the count
        # of every repository, then one filter keystroke's redraw
        go(ctx, "/", "main h1")
        shown_ms = ctx.driver.execute_async_script(
            "const [hash, want, done] = arguments; const t0 = performance.now(); location.hash = hash;"
            "const tick = () => { const c = document.getElementById('repos-table-count');"
            "  if (c && c.textContent.startsWith(want)) done(performance.now() - t0); else setTimeout(tick, 5); };"
            "tick();", "#/admin/repositories", f"{total} repositories")
        rows = len(ctx.find_all("#repos-table-rows tr"))
        assert rows == min(200, total), f"{rows} rows drawn at once"
        wanted = sum("ui-bulk-0099" in k for k in keys)
        filter_ms, filtered = ctx.driver.execute_script(
            "const f = document.getElementById('repos-filter'); const t0 = performance.now(); f.value = arguments[0];"
            "f.dispatchEvent(new Event('input'));"
            "return [performance.now() - t0, document.querySelectorAll('#repos-table-rows tr').length];", "ui-bulk-0099")
        assert filtered == wanted, f"{filtered} rows match 'ui-bulk-0099', not {wanted}"
        print(f"ok list of {total} repositories shown in {shown_ms:.0f} ms ({rows} rows drawn), "
              f"a filter keystroke redrawn in {filter_ms:.0f} ms")
        assert shown_ms < 1000, f"the list of {total} repositories took {shown_ms:.0f} ms"
        assert filter_ms < 100, f"filtering {total} repositories took {filter_ms:.0f} ms"
        if BULK > 200:
            type_into(ctx, "#repos-filter", "ui-bulk")
            ctx.wait(lambda d: d.find_element(By.ID, "repos-table-more").is_displayed(), "Show more")
            click(ctx, "#repos-table-more")
            ctx.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#repos-table-rows tr")) == min(400, BULK),
                     "200 more rows")
    finally:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(delete, keys))


# ------------------------------------------------------------------ users, groups, permissions

def security(ctx):
    # a user: a bad name refused with the API's message, then created; its password never in the page
    go(ctx, "/admin/users/new", "#user-form")
    type_into(ctx, "#user-name", "bad name!")
    type_into(ctx, "#user-password", USER_PW)
    click(ctx, "#user-save")
    error_of(ctx, "#user-error", rest_error(ctx, "PUT", "/api/security/users/bad%20name!", {"password": USER_PW}))
    assert ctx.find("#user-password").get_attribute("value") in ("", None), "the password field is cleared"
    type_into(ctx, "#user-name", "ui-bob")
    type_into(ctx, "#user-email", "bob@example.org")
    type_into(ctx, "#user-password", USER_PW)
    click(ctx, '[data-group="readers"]')
    click(ctx, "#user-save")
    flash(ctx, "#users-flash", "User 'ui-bob' created")
    no_secret(ctx, USER_PW)
    user = ctx.rest("GET", "/api/security/users/ui-bob")
    assert (user["email"], user["admin"], user["groups"]) == ("bob@example.org", False, ["readers"]), user
    # edit: administrator flag on, the password left as it was
    go(ctx, "/admin/users/edit/ui-bob", "#user-admin")
    no_secret(ctx, USER_PW)
    click(ctx, "#user-admin")
    picture(ctx, "admin-users")
    click(ctx, "#user-save")
    flash(ctx, "#users-flash", "User 'ui-bob' updated")
    assert ctx.rest("GET", "/api/security/users/ui-bob")["admin"] is True
    basic = base64.b64encode(f"ui-bob:{USER_PW}".encode()).decode()
    request = urllib.request.Request(ctx.url + "/api/security/users/ui-bob", headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200, "ui-bob's password was kept and ui-bob is an administrator"
    # the signed-in admin can't delete itself: no Delete button on its row
    go(ctx, "/admin/users", '#users-table-rows tr[data-name="admin"]')
    assert not ctx.find_all('[data-delete="admin"]'), "a Delete button for the signed-in user"
    print("ok user created and edited; the password is never in the page")

    # a group with ui-bob as member; an unknown member refused with the API's message
    go(ctx, "/admin/groups/new", "#group-form")
    type_into(ctx, "#group-name", "ui-devs")
    type_into(ctx, "#group-description", "developers")
    type_into(ctx, "#group-members", "")
    type_into(ctx, "#group-member-add", "ui-bob")
    click(ctx, "#group-member-add-button")
    picture(ctx, "admin-groups")
    members = ctx.find("#group-members")
    assert members.get_attribute("value") == "ui-bob", members.get_attribute("value")
    members.send_keys("\nghost-user")
    click(ctx, "#group-save")
    error_of(ctx, "#group-error", rest_error(ctx, "PUT", "/api/security/groups/ui-devs-x", {"userNames": ["ghost-user"]}))
    type_into(ctx, "#group-members", "ui-bob")
    click(ctx, "#group-save")
    flash(ctx, "#groups-flash", "Group 'ui-devs' created")
    group = ctx.rest("GET", "/api/security/groups/ui-devs")
    assert (group["description"], group["userNames"]) == ("developers", ["ui-bob"]), group
    print("ok group created with its member")

    # a permission target: repositories, a user's and a group's actions
    go(ctx, "/admin/permissions/new", "#permission-form")
    type_into(ctx, "#permission-name", "ui-deploy")
    type_into(ctx, "#permission-repositories", "")
    type_into(ctx, "#permission-repo-add", "ui-libs-local")
    click(ctx, "#permission-repo-add-button")
    type_into(ctx, "#permission-add-user", "ui-bob")
    click(ctx, "#permission-add-user-button")
    type_into(ctx, "#permission-add-group", "ui-devs")
    click(ctx, "#permission-add-group-button")
    click(ctx, '[data-grant="user:ui-bob"] input[data-action="write"]')
    click(ctx, '[data-grant="group:ui-devs"] input[data-action="delete"]')
    picture(ctx, "admin-permissions", top=False)
    click(ctx, "#permission-save")
    flash(ctx, "#permissions-flash", "Permission target 'ui-deploy' created")
    target = ctx.rest("GET", "/api/v2/security/permissions/ui-deploy")["repo"]
    assert target["repositories"] == ["ui-libs-local"], target
    assert target["actions"]["users"] == {"ui-bob": ["read", "annotate", "write"]}, target
    assert target["actions"]["groups"] == {"ui-devs": ["read", "annotate", "write", "delete"]}, target
    # the name is taken: a second "new" with it is refused by the API (POST only creates)
    go(ctx, "/admin/permissions/new", "#permission-form")
    type_into(ctx, "#permission-name", "ui-deploy")
    click(ctx, "#permission-save")
    error_of(ctx, "#permission-error", rest_error(ctx, "POST", "/api/v2/security/permissions/ui-deploy",
                                                  {"repo": {"repositories": ["ANY"]}}))
    # edit: take write away from ui-bob (read stays), save
    go(ctx, "/admin/permissions/edit/ui-deploy", '[data-grant="user:ui-bob"]')
    click(ctx, '[data-grant="user:ui-bob"] input[data-action="annotate"]')
    click(ctx, "#permission-save")
    flash(ctx, "#permissions-flash", "Permission target 'ui-deploy' updated")
    target = ctx.rest("GET", "/api/v2/security/permissions/ui-deploy")["repo"]
    assert target["actions"]["users"] == {"ui-bob": ["read"]}, target
    print("ok permission target created and edited (actions imply the ones before them)")

    # delete the three through their lists
    for page, name, gone in (("permissions", "ui-deploy", "/api/v2/security/permissions/ui-deploy"),
                             ("groups", "ui-devs", "/api/security/groups/ui-devs"),
                             ("users", "ui-bob", "/api/security/users/ui-bob")):
        go(ctx, f"/admin/{page}", f'[data-delete="{name}"]')
        confirm_delete(ctx, f'[data-delete="{name}"]')
        flash(ctx, f"#{page}-flash", "removed successfully")
        try:
            ctx.rest("GET", gone)
            raise AssertionError(f"{gone} still there")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
    print("ok permission target, group and user deleted after confirmation")


# ------------------------------------------------------------------ tokens

def create_token(ctx, expires):
    type_into(ctx, "#token-expires", str(expires))
    click(ctx, "#token-create")
    ctx.wait(lambda d: d.find_element(By.ID, "token-value").get_attribute("value"), "the new token")
    return ctx.find("#token-value").get_attribute("value")


def bearer_status(ctx, token, path="/api/security/token"):
    request = urllib.request.Request(ctx.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def tokens(ctx):
    go(ctx, "/admin/tokens", "#token-form")
    before = {t["token_id"] for t in ctx.rest("GET", "/api/security/token")["tokens"]}
    token = create_token(ctx, 600)
    assert ctx.find("#token-new").is_displayed() and "will not be shown again" in ctx.find("#token-warning").text
    assert ctx.find("#token-value").get_attribute("readonly") is not None
    assert token not in ctx.driver.page_source, "the token is in the page's markup"
    assert bearer_status(ctx, token) == 200, "the new token does not work"
    (new_id,) = {t["token_id"] for t in ctx.rest("GET", "/api/security/token")["tokens"]} - before
    ctx.wait_css(f'[data-token="{new_id}"]', "the new token in the list")
    click(ctx, "#token-copy")
    ctx.wait_text("#token-copied", "Copied", "the copy button's answer")
    # shown once: the page shown again has no trace of it
    go(ctx, "/", "main h1")
    go(ctx, "/admin/tokens", f'[data-token="{new_id}"]')
    assert not ctx.find("#token-new").is_displayed()
    assert ctx.find("#token-value").get_attribute("value") == ""
    token_again = create_token(ctx, 300)
    picture(ctx, "admin-tokens")
    confirm_delete(ctx, f'[data-revoke="{new_id}"]')
    flash(ctx, "#tokens-flash", "Token revoked")
    ctx.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, f'[data-token="{new_id}"]'), "the revoked token gone")
    assert bearer_status(ctx, token) == 401, "a revoked token still works"
    assert bearer_status(ctx, token_again) == 200
    print("ok token created, shown once, copied, revoked")


# ------------------------------------------------------------------ storage

def storage(ctx):
    ctx.open("/admin/storage", "#storage-tiers li", "admin-storage")
    summary = ctx.rest("GET", "/api/system/storage")
    tiers = [li.text for li in ctx.find_all("#storage-tiers li")]
    assert " -> ".join(t.replace("→", "").strip() for t in tiers) == summary["chain"], (tiers, summary["chain"])
    # something for the collector: a file deployed and deleted (it goes once the grace period is over)
    ctx.rest("PUT", "/ui-libs-local/gc/me.txt", b"garbage " + str(time.time()).encode())
    ctx.rest("DELETE", "/ui-libs-local/gc/me.txt")
    click(ctx, "#storage-gc")
    ctx.wait_css("#storage-gc-facts", "the garbage collection's result")
    result = ctx.find("#storage-gc-facts").text
    assert "Binaries removed" in result and "Space freed" in result, result
    picture(ctx, "admin-storage")
    print(f"ok storage: chain {summary['chain']!r}; garbage collection ran: {result.splitlines()[:2]}")


# ------------------------------------------------------------------ a non-admin user

ADMIN_ONLY = ["/admin/repositories", "/admin/users", "/admin/groups", "/admin/permissions", "/admin/storage"]


def non_admin(ctx):
    ctx.rest("PUT", "/api/security/users/ui-carol", {"password": CAROL_PW})
    admin_token = ctx.rest("GET", "/api/security/token")["tokens"]
    try:
        logout(ctx)
        login(ctx, "ui-carol", CAROL_PW)
        links = [a.get_attribute("href").split("#", 1)[1] for a in ctx.find_all("#nav a")]
        assert not set(links) & set(ADMIN_ONLY), f"administration pages offered to a non-admin: {links}"
        assert "/admin/tokens" in links, links
        for path in ADMIN_ONLY:
            go(ctx, path, "main h1")
            ctx.wait_text("main h1", "Welcome", f"#{path} refused (the home page instead)")
            assert not ctx.find_all("main table"), f"#{path} shows a table to a non-admin"
        status = ctx.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {headers: {'X-Requested-With': 'XMLHttpRequest'}}).then((r) => done(r.status));",
            ctx.url + "/api/security/users")
        assert status == 403, f"the API answered {status} to the non-admin's session"
        print("ok a non-admin is offered no administration page, and the API refuses its session (403)")

        go(ctx, "/admin/tokens", "#token-form")
        assert ctx.find("#token-username").get_attribute("readonly") is not None
        # what the API refuses a non-admin is refused on the page with its message
        type_into(ctx, "#token-expires", "0")
        click(ctx, "#token-create")
        carol = base64.b64encode(f"ui-carol:{CAROL_PW}".encode()).decode()
        request = urllib.request.Request(ctx.url + "/api/security/token", data=b"expires_in=0", method="POST",
                                         headers={"Authorization": f"Basic {carol}"})
        try:
            urllib.request.urlopen(request)
            raise AssertionError("a non-admin created a non-expiring token")
        except urllib.error.HTTPError as e:
            expected = json.loads(e.read().decode())["errors"][0]["message"]
        error_of(ctx, "#token-error", expected)
        token = create_token(ctx, 3600)
        rows = ctx.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#tokens-table-rows tr"), "ui-carol's tokens")
        subjects = {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows}
        assert subjects == {"ui-carol"}, f"a non-admin sees the tokens of {subjects}"
        assert all(not ctx.find_all(f'[data-token="{t["token_id"]}"]') for t in admin_token)
        confirm_delete(ctx, "[data-revoke]")
        flash(ctx, "#tokens-flash", "Token revoked")
        assert bearer_status(ctx, token) == 401
        print("ok a non-admin creates and revokes its own tokens, sees no one else's")
    finally:
        logout(ctx)
        login(ctx, "admin", ctx.password)
        ctx.rest("DELETE", "/api/security/users/ui-carol")


def leftovers(ctx):
    """What an interrupted earlier run against the same server left (the test script's server is fresh)."""
    for path in ("/api/repositories/ui-virtual", "/api/repositories/ui-remote", "/api/repositories/ui-libs-local",
                 "/api/v2/security/permissions/ui-deploy", "/api/security/groups/ui-devs",
                 "/api/security/users/ui-bob", "/api/security/users/ui-carol"):
        try:
            ctx.rest("DELETE", path)
        except urllib.error.HTTPError as e:
            assert e.code in (400, 404), f"DELETE {path}: {e.code}"


def run(ctx):
    leftovers(ctx)
    repositories(ctx)
    security(ctx)
    tokens(ctx)
    storage(ctx)
    bulk_list(ctx)
    non_admin(ctx)
    for key in ("ui-remote", "ui-libs-local"):
        ctx.rest("DELETE", f"/api/repositories/{key}")
