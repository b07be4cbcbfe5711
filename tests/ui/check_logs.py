"""Administration → System Logs on a single node: the node's log with its "HA Node ID" start-up banner, the level
and text filters, Follow appending new lines."""

import time

from kit import By


def lines(ctx):
    return ctx.find_all("#logs-lines .log-line")


def levels(ctx):
    return {line.find_element(By.CSS_SELECTOR, ".log-level").text for line in lines(ctx)}


def run(ctx):
    nodes = ctx.rest("GET", "/api/system/ha/nodes")
    node_id = nodes[0]["id"] if len(nodes) == 1 else None  # a single node: the one serving the page

    ctx.open("/admin/logs", "#logs-lines .log-line", "system-logs")
    banner = ctx.wait_text("#logs-banner", "HA Node ID", "the start-up banner above the log")
    if node_id:
        assert f"HA Node ID: '{node_id}'" in banner, banner
    ctx.wait(lambda d: any("HA Node ID" in line.text for line in lines(ctx)), "the HA Node ID line in the log")
    options = [o.text for o in ctx.find_all("#logs-node option")]
    assert any("this node" in o for o in options), options
    print(f"ok system logs: {len(lines(ctx))} line(s), banner {banner[:80]!r}, nodes {options}")

    # level: WARN and above (the first start warns about the new master key)
    level = ctx.find("#logs-level")
    level.find_element(By.CSS_SELECTOR, "option[value='WARN']").click()
    ctx.wait(lambda d: lines(ctx) and levels(ctx) <= {"WARN", "ERROR"}, "only WARN and ERROR lines")
    assert any("master key" in line.text for line in lines(ctx)), [line.text for line in lines(ctx)]
    print(f"ok level filter: {len(lines(ctx))} WARN/ERROR line(s)")
    level.find_element(By.CSS_SELECTOR, "option[value='']").click()

    # text: case ignored, in the message or the target
    text = ctx.find("#logs-text")
    text.send_keys("ha node id")
    ctx.wait(lambda d: len(lines(ctx)) == 1 and "HA Node ID" in lines(ctx)[0].text, "one line with the text")
    print("ok text filter: the banner line alone")
    text.clear()
    text.send_keys("repository created")
    ctx.wait(lambda d: ctx.find("#logs-empty").is_displayed() or not lines(ctx), "no line before the repository exists")

    # Follow: a new line appears without reloading the page
    ctx.find("#logs-follow").click()
    ctx.rest("PUT", "/api/repositories/logs-follow-" + str(int(time.time())), {"rclass": "local", "packageType": "generic"})
    ctx.wait(lambda d: any("repository created" in line.text for line in lines(ctx)), "the new line while following",
             timeout=15)
    ctx.find("#logs-follow").click()
    text.clear()
    print("ok follow: the new line appended")

    # a phone-width window
    ctx.driver.set_window_size(390, 844)
    ctx.driver.get(ctx.url + "/ui/#/admin/logs")
    ctx.wait(lambda d: lines(ctx), "the log at phone width")
    ctx.wait_text("#logs-banner", "HA Node ID", "the banner at phone width")
    ctx.shot("system-logs-phone")
    ctx.driver.set_window_size(1280, 800)
