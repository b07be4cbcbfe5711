"""Administration → High Availability and Licenses on a single node."""

from kit import By


def run(ctx):
    ctx.open("/admin/ha", "#ha-rows", "high-availability")
    rows = ctx.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#ha-rows tr"), "a node in the HA table")
    cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
    assert "RUNNING" in cells, f"the node is not RUNNING: {cells}"
    print(f"ok HA table: {len(rows)} node(s), {cells[:5]}")

    ctx.open("/admin/licenses", "#licenses-rows", "licenses")
    status = ctx.wait_text("#licenses-status", "license(s)", "the license pool")
    print(f"ok licenses: {status}")

    # a phone-width window: the same page stays usable
    ctx.driver.set_window_size(390, 844)
    ctx.driver.get(ctx.url + "/ui/#/admin/ha")
    ctx.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#ha-rows tr"), "the HA table at phone width")
    ctx.shot("high-availability-phone")
    ctx.driver.set_window_size(1280, 800)
