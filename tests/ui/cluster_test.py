"""The web UI on the 3-node cluster behind HAProxy (tests/e2e/run.sh, scenario ha, runs it against the appliance
containers): the HA guide's "Testing Your HA Configuration" done in a headless browser, a license batch added and
one license deleted on the Licenses page, a node killed and shown unavailable, and a session that outlives the node
that created it.

Env: LB_URL (HAProxy, with the context path), NODES ("n1=http://127.0.0.11:8081/artifactory n2=…"), ARCA_ADMIN_PW,
NEW_LICENSES (a file with two new keys, one per line), KILL_CMD and START_CMD (shell commands with {node}: kill a
node's arca-server for good / start it again), STALE_SECS (the cluster's stale period), SHOTS, AXE_JS.
Prints one line per step; any failure raises (exit status 1)."""

import os
import subprocess
import time

from kit import Context, browser, login

LB = os.environ["LB_URL"]
NODES = dict(item.split("=", 1) for item in os.environ["NODES"].split())
STALE_SECS = int(os.environ.get("STALE_SECS", "30"))


# The tables are redrawn every 5 s: read in one script call, never element by element (a row read while the page
# redraws is a stale element).
ROWS_JS = """return [...document.querySelectorAll(arguments[0] + ' tr')].map((tr) =>
    [tr.getAttribute(arguments[1]), tr.className, [...tr.querySelectorAll('td')].map((td) => td.textContent)]);"""


def node_rows(ctx):
    """{node id: (row classes, [cell texts])} of the High Availability table."""
    return {node: (classes, cells) for node, classes, cells in ctx.driver.execute_script(ROWS_JS, "#ha-rows", "data-node")}


def sign_in(ctx, url):
    ctx.url = url
    ctx.driver.get(url + "/ui/")
    login(ctx.driver, ctx.password)
    ctx.wait_css("#logout", f"the logged-in header on {url}")


def guide_step_1_to_3(ctx):
    """Each node's own UI: System Logs shows "HA Node ID", the footer shows the Enterprise license, no error banner."""
    for node, url in sorted(NODES.items()):
        sign_in(ctx, url)
        ctx.open("/admin/logs", "#logs-lines", f"cluster-{node}-system-logs" if node == "n1" else None)
        ctx.wait_text("#logs-lines", f"HA Node ID: '{node}'", f"the HA Node ID banner in {node}'s System Logs", 20)
        footer = ctx.wait_text("#footer", "Enterprise license", f"the license indicator at the bottom of {node}'s page")
        assert f"Node {node}" in footer, footer
        assert not ctx.find("#banner").is_displayed(), f"{node}: an error banner: {ctx.find('#banner').text!r}"
        print(f"ok {node} direct: System Logs shows HA Node ID: '{node}'; footer {footer!r}; no error banner")


def guide_step_4_to_6(ctx):
    """Through the load balancer: the High Availability table of all nodes, the Custom URL Base."""
    sign_in(ctx, LB)
    ctx.open("/admin/ha", "#ha-rows", "cluster-high-availability")
    ctx.wait(lambda d: len(node_rows(ctx)) == len(NODES) and all("RUNNING" in cells for _, cells in node_rows(ctx).values()),
             "every node RUNNING in the HA table")
    rows = node_rows(ctx)
    roles = {node: cells[5] for node, (_, cells) in rows.items()}
    assert roles == {"n1": "PRIMARY", "n2": "MEMBER", "n3": "MEMBER"}, roles
    for node, (_, cells) in rows.items():
        assert cells[2].rstrip("/") == NODES[node].rstrip("/"), f"{node}'s URL in the table: {cells[2]}"
    print(f"ok HA table through HAProxy: {sorted(rows)} RUNNING, roles {roles}")
    # every node's log from the one page through HAProxy (signed node-to-node calls behind it)
    for node in sorted(NODES):
        ctx.driver.get(f"{LB}/ui/#/admin/logs/{node}")
        ctx.wait_text("#logs-lines", f"HA Node ID: '{node}'", f"{node}'s log through HAProxy", 20)
    print(f"ok System Logs through HAProxy shows each node's own log: {sorted(NODES)}")
    ctx.open("/admin/general", "#general-facts dt", "cluster-general")
    value = ctx.find("#general-url").get_attribute("value")
    assert value.rstrip("/") == LB.rstrip("/"), f"Custom URL Base {value!r}, the load balancer is {LB}"
    print(f"ok Custom URL Base is the load balancer's URL: {value}")


def license_rows(ctx):
    """{license hash: [cell texts]} of the license pool (the first cell is the selection box's)."""
    return {h: cells for h, _, cells in ctx.driver.execute_script(ROWS_JS, "#licenses-rows", "data-license")}


def licenses(ctx):
    """A batch of two keys added on the Licenses page, one of them deleted."""
    ctx.open("/admin/licenses", "#licenses-rows", None)
    before = ctx.wait(lambda d: license_rows(ctx) or None, "the license pool")
    keys = open(os.environ["NEW_LICENSES"], encoding="utf-8").read().split()
    assert len(keys) == 2, keys
    ctx.find("#licenses-keys").send_keys("\n".join(keys))
    ctx.find("#licenses-save").click()
    ctx.wait(lambda d: len(ctx.find_all("#licenses-result li")) == 2, "a result for each of the two keys")
    results = [li.text for li in ctx.find_all("#licenses-result li")]
    print(f"ok batch of 2 keys: {results}")
    ctx.wait(lambda d: len(license_rows(ctx)) == len(before) + 2, "the two new licenses in the pool")
    free = [h for h, cells in license_rows(ctx).items() if cells[5] == "Not in use"]
    assert len(free) == 2, license_rows(ctx)
    ctx.shot("cluster-licenses")
    # select it (again if a redraw came between finding and clicking the box)
    ctx.wait(lambda d: d.execute_script(
        """const box = document.querySelector(`#licenses-rows tr[data-license="${arguments[0]}"] input[type=checkbox]`);
        if (box && !box.checked) box.click();
        return Boolean(box && box.checked);""", free[0]), f"license {free[0][:12]}… selected")
    ctx.find("#licenses-delete").click()
    ctx.wait(lambda d: free[0] not in license_rows(ctx) and len(license_rows(ctx)) == len(before) + 1,
             "the deleted license gone from the pool")
    print(f"ok license {free[0][:12]}… deleted: {[li.text for li in ctx.find_all('#licenses-result li')]}")


def login_by_script(ctx):
    """Logs in through HAProxy from the page's own script (as the form does) and tells which node made the session
    (its X-Arca-Node-Id)."""
    return ctx.driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const base = location.pathname.slice(0, location.pathname.lastIndexOf('/ui/'));
        fetch(base + '/ui/auth/logout', {method: 'POST', headers: {'X-Requested-With': 'XMLHttpRequest'}})
          .catch(() => null)
          .then(() => fetch(base + '/ui/auth/login', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest'},
              body: JSON.stringify({user: 'admin', password: arguments[0]})}))
          .then((r) => done(r.ok ? r.headers.get('x-arca-node-id') : 'HTTP ' + r.status))
          .catch((e) => done('error ' + e));""",
        ctx.password)


def node_killed(ctx):
    """The node that created the session is killed: the HA table shows it unavailable within the stale period, and
    the session goes on working through the other nodes."""
    ctx.driver.get(LB + "/ui/")
    ctx.wait_css("#logout", "the logged-in page")
    creator = login_by_script(ctx)
    assert creator in NODES, f"the login through HAProxy: {creator}"
    print(f"ok session made by {creator}")
    ctx.driver.get(LB + "/ui/#/admin/ha")
    ctx.wait(lambda d: len(node_rows(ctx)) == len(NODES), "the HA table")
    subprocess.run(os.environ["KILL_CMD"].format(node=creator), shell=True, check=True)
    killed = time.monotonic()
    print(f"ok {creator} killed (SIGKILL, not restarted)")
    try:
        # the page refreshes by itself every 5 s
        ctx.wait(lambda d: "unavailable" in node_rows(ctx).get(creator, ("", []))[0], f"{creator} shown Unavailable",
                 STALE_SECS + 20)
        took = time.monotonic() - killed
        state = node_rows(ctx)[creator][1][4]
        assert state == "Unavailable", state
        print(f"ok {creator} shown Unavailable {took:.0f} s after its death (stale period {STALE_SECS} s)")
        ctx.shot("cluster-node-unavailable")
        # the session made by the dead node still works: reload, still logged in, the API answers
        for _ in range(3):
            ctx.driver.get(LB + "/ui/#/admin/ha")
            ctx.wait_css("#logout", "still logged in after the death of the session's node")
            ctx.wait(lambda d: len(node_rows(ctx)) == len(NODES), "the HA table after the reload")
        served = ctx.driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            const base = location.pathname.slice(0, location.pathname.lastIndexOf('/ui/'));
            Promise.all([1, 2, 3, 4].map(() => fetch(base + '/ui/auth/current', {headers: {'X-Requested-With': 'XMLHttpRequest'}})
              .then((r) => r.status + ' ' + r.headers.get('x-arca-node-id'))))
              .then(done).catch((e) => done(['error ' + e]));""")
        assert all(s.startswith("200 ") and not s.endswith(creator) for s in served), served
        print(f"ok the session outlived {creator}: {served}")
    finally:
        subprocess.run(os.environ["START_CMD"].format(node=creator), shell=True, check=False)


def main():
    driver = browser(1280, 800)
    ctx = Context(driver, LB, os.environ["ARCA_ADMIN_PW"], os.environ["SHOTS"],
                  open(os.environ["AXE_JS"], encoding="utf-8").read())
    try:
        guide_step_1_to_3(ctx)
        guide_step_4_to_6(ctx)
        licenses(ctx)
        node_killed(ctx)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
