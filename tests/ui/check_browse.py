"""Artifacts → Repositories and Search: the issue's single-node flow in the browser. A repository is created over REST,
a file is deployed through the page's file picker and another by a (synthetic) drop, browsed to by clicking, its
checksums compared with Python's, a property set, the file copied, moved, found by name and by checksum, deleted;
every step is checked over REST too. Then a folder of 20,000 children: its first page shows quickly, "more" and the
name filter work. Screenshots: deploy, artifact, search, browse (and browse-phone)."""

import hashlib
import os
import sqlite3
import subprocess
import tempfile
import time
import urllib.error

from kit import EC, By
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.support.ui import Select

REPO = "ui-files"
MAVEN = "ui-maven"
MANY = 20_000
# the large folder's first page, from the start of a fresh load of the UI until its rows are in the page (the
# page's user-timing mark; loopback, debug build: ~300 ms here)
FIRST_PAGE_MS = 1000


def go(ctx, hash_path, ready_css, name=None):
    """Loads the UI afresh at #hash_path (a real page load: timing, axe-core, screenshot `name` through ctx.open)."""
    ctx.driver.get("about:blank")
    return ctx.open(hash_path, ready_css, name)


def link_with(css, text):
    """A wait condition: the link with exactly `text` among `css` (False while the list is being redrawn)."""
    def find(d):
        try:
            return next((a for a in d.find_elements(By.CSS_SELECTOR, css) if a.text.strip() == text), False)
        except StaleElementReferenceException:
            return False
    return find


def click_link(ctx, css, text):
    """Clicks the link with exactly `text` among `css` once it shows (again if the list was redrawn meanwhile)."""
    for _ in range(3):
        try:
            ctx.wait(link_with(css, text), f"the link {text!r} in {css}").click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"the link {text!r} in {css} kept being redrawn")


def wait_text(ctx, css, text, what, timeout=10):
    """Until the element's text contains `text` (the element may be replaced meanwhile: pages re-render); the text."""
    def check(d):
        try:
            t = d.find_element(By.CSS_SELECTOR, css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return t if text in t else False
    return ctx.wait(check, what, timeout)


def type_into(ctx, css, text):
    field = ctx.wait_css(css, css)
    field.clear()
    field.send_keys(text)
    return field


def status_of(ctx, path):
    try:
        ctx.rest("GET", f"/api/storage/{path}")
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def seed_children(repo, folder, count, sha256):
    """`count` files straight into the node's database (one INSERT, as tests/bench/aql.sh does): 20,000 deploys
    over REST would take a minute per browser. The names f-100000… sort as numbers; they share a known binary."""
    home = os.environ.get("ARCA_HOME_DIR")
    assert home, "ARCA_HOME_DIR (exported by tests/lib/arca.sh's arca_start) names the node's home"
    sql = ("WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < {last}) "
           "INSERT INTO items (repo, path, parent, name, folder, sha256, size, created, created_by, modified, "
           "modified_by, updated) SELECT '{repo}', '{folder}/f-' || (k + 100000), '{folder}', 'f-' || (k + 100000), 0, "
           "'{sha}', 0, 1700000000000 + k, 'seed', 1700000000000 + k, 'seed', 1700000000000 + k FROM n"
           ).format(last=count - 1, repo=repo, folder=folder, sha=sha256)
    props = {}
    props_file = os.path.join(home, "etc", "db.properties")
    if os.path.exists(props_file):
        with open(props_file, encoding="utf-8") as f:
            props = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
    if props.get("type") == "postgresql":
        # the node's database on the test server (ARCA_TEST_PG_URL has the credentials; db.properties's password is
        # encrypted once the node started), as tests/bench/aql.sh does
        server = os.environ["ARCA_TEST_PG_URL"].split("?")[0].rsplit("/", 1)[0]
        url = f"{server}/{props['url'].split('?')[0].rsplit('/', 1)[1]}"
        done = subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, f"psql: {done.stderr.strip()}"
    else:
        db = sqlite3.connect(os.path.join(home, "data", "arca.db"), timeout=30)
        with db:
            db.execute(sql)
        db.close()


def run(ctx):
    d = ctx.driver
    ctx.rest("PUT", f"/api/repositories/{REPO}",
             {"rclass": "local", "packageType": "generic", "description": "files deployed through the web UI"})
    ctx.rest("PUT", f"/api/repositories/{MAVEN}", {"rclass": "local", "packageType": "maven"})
    ctx.rest("PUT", f"/{REPO}/docs/readme.txt", b"Read me first.\n")
    ctx.rest("PUT", f"/{MAVEN}/org/acme/widget/1.2.0/widget-1.2.0.jar", b"not really a jar")

    # ---- deploy through the file picker, then by a drop
    go(ctx, f"/browse/{REPO}", "#deploy-file", "deploy")
    content = os.urandom(300_000) + b"arca web ui\n"
    name = f"ui-upload-{int(time.time())}.bin"
    sums = {k: hashlib.new(k, content).hexdigest() for k in ("sha256", "sha1", "md5")}
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, name)
        with open(local, "wb") as f:
            f.write(content)
        type_into(ctx, "#deploy-target", "releases/1.0")
        d.find_element(By.ID, "deploy-file").send_keys(local)
        ctx.wait_css(f'#deploy-progress li.done[data-file="{name}"]', "the deploy through the file picker")
    info = ctx.rest("GET", f"/api/storage/{REPO}/releases/1.0/{name}")
    assert info["checksums"]["sha256"] == sums["sha256"], info
    print(f"ok deployed {name} through the file picker ({len(content)} bytes)")

    d.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File([arguments[0]], arguments[1], {type: 'text/plain'}));
        const zone = document.getElementById('deploy-drop');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""", "dropped on the page\n", "dropped.txt")
    ctx.wait_css('#deploy-progress li.done[data-file="dropped.txt"]', "the deploy by drag and drop")
    assert ctx.rest("GET", f"/{REPO}/releases/1.0/dropped.txt") == "dropped on the page\n"
    ctx.wait(link_with("#browse-rows a", "releases"), "the new folder in the listing")
    d.execute_script("document.getElementById('deploy').scrollIntoView()")
    ctx.shot("deploy")
    print("ok deployed dropped.txt by drag and drop")

    # ---- browse to it by clicking; its checksums are Python's
    click_link(ctx, "#browse-rows a", "releases")
    click_link(ctx, "#browse-rows a", "1.0")
    wait_text(ctx, "#browse-status", "of 2 items", "the two files in releases/1.0")
    click_link(ctx, "#browse-rows a", name)
    for k, v in sums.items():
        shown = wait_text(ctx, f"#artifact-{k}", v[:8], f"the {k} on the page")
        assert shown == v, f"{k}: page {shown}, Python {v}"
    assert ctx.find("#artifact-download").get_attribute("href").endswith(f"/{REPO}/releases/1.0/{name}")
    assert "curl" in ctx.find("#snippet-0").text
    ctx.find("#copy-url").click()
    wait_text(ctx, "#artifact-status", "URL copied", "Copy URL")
    ctx.wait(link_with("#browse-tree a[aria-current='page']", "1.0"), "the tree marking releases/1.0")
    assert len(ctx.find_all("#browse-tree a[aria-current='page']")) == 1
    print(f"ok browsed to {name}: sha256, sha1 and md5 equal Python's")

    # ---- a property
    type_into(ctx, "#prop-key", "qa.status")
    type_into(ctx, "#prop-value", "passed,reviewed")
    ctx.find("#prop-save").click()
    ctx.wait_css('#props-rows tr[data-key="qa.status"]', "the property on the page")
    props = ctx.rest("GET", f"/api/storage/{REPO}/releases/1.0/{name}?properties")["properties"]
    assert props == {"qa.status": ["passed", "reviewed"]}, props
    go(ctx, f"/browse/{REPO}/releases/1.0/{name}", '#props-rows tr[data-key="qa.status"]', "artifact")
    print("ok property set and shown")

    # ---- copy, then move the copy
    type_into(ctx, "#transfer-target", f"{REPO}/copies/{name}")
    ctx.find("#copy-button").click()
    wait_text(ctx, "#actions-status", "completed successfully", "the copy")
    assert status_of(ctx, f"{REPO}/copies/{name}") == 200
    ctx.find("#transfer-landed").click()
    wait_text(ctx, "#artifact-path", f"copies/{name}", "the copy's page")
    type_into(ctx, "#transfer-target", f"{REPO}/moved/")
    ctx.find("#move-button").click()
    moved_path = f"moved/{name}"
    wait_text(ctx, "#artifact-path", moved_path, "the moved file's page")
    assert status_of(ctx, f"{REPO}/copies/{name}") == 404
    assert status_of(ctx, f"{REPO}/{moved_path}") == 200
    print(f"ok copied to copies/{name}, moved to {moved_path}")

    # ---- search by name and by checksum
    go(ctx, "/search", "#search-query")
    type_into(ctx, "#search-query", name[:-4])
    ctx.find("#search-submit").click()
    ctx.wait_css(f'#search-rows tr[data-path="{REPO}/releases/1.0/{name}"]', "the file found by name")
    found = {r.get_attribute("data-path") for r in ctx.find_all("#search-rows tr")}
    assert found == {f"{REPO}/releases/1.0/{name}", f"{REPO}/{moved_path}"}, found
    Select(ctx.find("#search-kind")).select_by_value("checksum")
    type_into(ctx, "#search-query", sums["md5"])
    ctx.find("#search-submit").click()
    ctx.wait_css(f'#search-rows tr[data-path="{REPO}/{moved_path}"]', "the file found by MD5")
    type_into(ctx, "#search-query", sums["sha256"])
    ctx.find("#search-submit").click()
    wait_text(ctx, "#search-status", "2 file(s) found", "both files found by SHA-256")
    ctx.axe("search")
    ctx.shot("search")
    type_into(ctx, "#search-query", "not-hex")
    ctx.find("#search-submit").click()
    shown = wait_text(ctx, "#search-status", "hex", "the REST API's refusal of a bad checksum")
    assert "not 64 hex characters" in shown, shown
    print("ok found by name and by checksum (MD5, SHA-256); a bad checksum is the API's message")

    # ---- delete, from the search result's page
    go(ctx, "/search/checksum/" + sums["sha256"], f'#search-rows tr[data-path="{REPO}/{moved_path}"]')
    click_link(ctx, f'#search-rows tr[data-path="{REPO}/{moved_path}"] a', moved_path.split("/")[-1])
    ctx.wait_css("#delete-button", "the moved file's page").click()
    ctx.wait_css("#confirm-no", "the confirmation dialog").click()
    assert status_of(ctx, f"{REPO}/{moved_path}") == 200, "deleted after Cancel"
    ctx.find("#delete-button").click()
    ctx.wait_css("#confirm-yes", "the confirmation dialog").click()
    ctx.wait(lambda dr: dr.current_url.endswith(f"#/browse/{REPO}/moved") or dr.current_url.endswith(f"#/browse/{REPO}"),
             "the folder after the delete")
    assert status_of(ctx, f"{REPO}/{moved_path}") == 404
    print(f"ok deleted {moved_path}")

    # ---- the client snippet of a Maven repository
    go(ctx, f"/browse/{MAVEN}/org/acme/widget/1.2.0/widget-1.2.0.jar", "#snippet-0")
    snippet = ctx.find("#snippet-0").text
    assert "<groupId>org.acme</groupId>" in snippet and "<artifactId>widget</artifactId>" in snippet, snippet
    assert f"<id>{MAVEN}</id>" in ctx.find("#snippet-1").text
    print("ok Maven <dependency> and settings.xml snippets")

    # ---- a folder of 20,000 children: pages of 500, quick
    ctx.rest("PUT", f"/{REPO}/many/first.txt", b"the first file\n")
    seed_children(REPO, "many", MANY, hashlib.sha256(b"the first file\n").hexdigest())
    go(ctx, f"/browse/{REPO}/many", "#browse-rows tr", "browse")
    status = wait_text(ctx, "#browse-status", "of 20,001 items", "the large folder's count")
    rows = len(ctx.find_all("#browse-rows tr"))
    ms = d.execute_script("const m = performance.getEntriesByName('arca:browse:children'); return m.length ? m[0].startTime : -1;")
    print(f"ok a folder of {MANY + 1} children: its first page ({rows} rows) shows {ms:.0f} ms after the navigation started; {status}")
    assert rows == 500, rows
    assert 0 < ms < FIRST_PAGE_MS, f"the first page of {MANY} children showed after {ms:.0f} ms"
    ctx.find("#browse-more").click()
    ctx.wait(lambda dr: len(dr.find_elements(By.CSS_SELECTOR, "#browse-rows tr")) == 1000, "the second page")
    started = time.monotonic()
    type_into(ctx, "#browse-filter", "f-11999")
    wait_text(ctx, "#browse-status", "Showing 10 of 10", "the filtered children")
    print(f"ok 'more' shows 1000 rows; the filter finds 10 of {MANY} in {(time.monotonic() - started) * 1000:.0f} ms")

    # ---- a phone-width window: the same page, one column
    d.set_window_size(390, 844)
    go(ctx, f"/browse/{REPO}/releases/1.0", "#browse-rows tr")
    ctx.wait_css("#deploy-file", "the deploy at phone width")
    ctx.shot("browse-phone")
    d.set_window_size(1280, 800)
