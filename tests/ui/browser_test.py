"""The web UI in headless Chromium (tests/clients/ui.sh starts arca and gives ARCA_URL, ARCA_ADMIN_PW, SHOTS,
AXE_JS). Prints one line per step; any failure raises (exit status 1)."""

import json
import os
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["ARCA_URL"]
PASSWORD = os.environ["ARCA_ADMIN_PW"]
SHOTS = os.environ["SHOTS"]
AXE = open(os.environ["AXE_JS"], encoding="utf-8").read()
INTERACTIVE_MS = 300


def browser(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", f"--window-size={width},{height}", "--disable-gpu"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def wait(driver, condition, what, timeout=10):
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except Exception as e:
        raise AssertionError(f"{what}: not there after {timeout} s; page: {driver.find_element(By.TAG_NAME, 'main').text!r}") from e


def axe(driver, page):
    """No serious or critical accessibility violation on the page."""
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations)).catch((e) => done([{impact: 'critical', id: String(e), nodes: []}]));"
    )
    bad = [v for v in result if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{page}: axe-core: " + json.dumps([(v["id"], v.get("impact"), [n.get("target") for n in v.get("nodes", [])][:3]) for v in bad])
    print(f"ok axe {page}: {len(result)} minor violation(s)")


def interactive_ms(driver):
    return driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.domInteractive : -1;"
    )


def shot(driver, name):
    path = os.path.join(SHOTS, f"{name}.png")
    driver.save_screenshot(path)
    print(f"ok screenshot {path}")


def login(driver, password):
    wait(driver, EC.visibility_of_element_located((By.ID, "login-user")), "the login form")
    user = driver.find_element(By.ID, "login-user")
    user.clear()
    user.send_keys("admin")
    field = driver.find_element(By.ID, "login-password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, "login-submit").click()


def main():
    driver = browser(1280, 800)
    try:
        driver.get(URL + "/ui/")
        login_ms = interactive_ms(driver)
        wait(driver, EC.visibility_of_element_located((By.ID, "login-user")), "the login form")
        print(f"ok login page interactive in {login_ms:.0f} ms")
        assert 0 <= login_ms < INTERACTIVE_MS, f"login page interactive in {login_ms} ms"
        axe(driver, "login")
        shot(driver, "login")

        login(driver, "wrong password")
        wait(driver, lambda d: d.find_element(By.ID, "login-error").text, "the refusal of a wrong password")
        print(f"ok wrong password refused: {driver.find_element(By.ID, 'login-error').text!r}")

        login(driver, PASSWORD)
        wait(driver, EC.visibility_of_element_located((By.ID, "logout")), "the logged-in header")
        assert driver.find_element(By.ID, "who-name").text == "admin"
        print("ok logged in")
        axe(driver, "home")
        shot(driver, "home")

        for page, table, name in (("#/admin/ha", "ha-rows", "high-availability"), ("#/admin/licenses", "licenses-rows", "licenses")):
            started = time.monotonic()
            driver.get(URL + "/ui/" + page)
            wait(driver, EC.presence_of_element_located((By.ID, table)), f"the table of {page}")
            print(f"ok {page} loaded in {(time.monotonic() - started) * 1000:.0f} ms (interactive {interactive_ms(driver):.0f} ms)")
            assert interactive_ms(driver) < INTERACTIVE_MS, f"{page}: interactive in {interactive_ms(driver)} ms"
            if table == "ha-rows":
                rows = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ha-rows tr"), "a node in the HA table")
                cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
                assert "RUNNING" in cells, f"the node is not RUNNING: {cells}"
                print(f"ok HA table: {len(rows)} node(s), {cells[:5]}")
            else:
                wait(driver, lambda d: "license(s)" in d.find_element(By.ID, "licenses-status").text, "the license pool")
                print(f"ok licenses: {driver.find_element(By.ID, 'licenses-status').text}")
            axe(driver, name)
            shot(driver, name)

        # a phone-width window: the same pages stay usable
        driver.set_window_size(390, 844)
        driver.get(URL + "/ui/#/admin/ha")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ha-rows tr"), "the HA table at phone width")
        shot(driver, "high-availability-phone")

        driver.set_window_size(1280, 800)
        driver.get(URL + "/ui/")
        wait(driver, EC.element_to_be_clickable((By.ID, "logout")), "the logout button").click()
        wait(driver, EC.visibility_of_element_located((By.ID, "login-user")), "the login form after logout")
        cookie = driver.get_cookie("ARCA_SESSION")
        request = urllib.request.Request(URL + "/ui/auth/current")
        if cookie:
            request.add_header("Cookie", f"ARCA_SESSION={cookie['value']}")
        try:
            urllib.request.urlopen(request)
            raise AssertionError("the session still works after logout")
        except urllib.error.HTTPError as e:
            assert e.code == 401, e.code
        print("ok logged out, the session is gone")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
