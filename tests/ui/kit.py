"""What the browser tests share: the headless Chromium, waits, axe-core, navigation timing, screenshots.

A check module (check_*.py) has `run(ctx)`; `ctx` is a Context: the logged-in driver on the node's UI and the
helpers below. browser_test.py runs them in order."""

import json
import os
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

INTERACTIVE_MS = 300

__all__ = ["By", "EC", "Context", "browser", "login", "wait"]


def browser(width, height):
    """Headless Chromium through chromedriver; with UI_BROWSER=firefox, headless Firefox ESR through geckodriver
    (GECKODRIVER: its path)."""
    if os.environ.get("UI_BROWSER") == "firefox":
        from selenium.webdriver.firefox.service import Service as FirefoxService

        options = webdriver.FirefoxOptions()
        options.add_argument("-headless")
        options.binary_location = "/usr/bin/firefox-esr"
        # the closed network: no update, telemetry or safe-browsing calls
        for key, value in (("app.update.enabled", False), ("datareporting.policy.dataSubmissionEnabled", False),
                           ("browser.safebrowsing.malware.enabled", False), ("network.captive-portal-service.enabled", False)):
            options.set_preference(key, value)
        driver = webdriver.Firefox(service=FirefoxService(executable_path=os.environ["GECKODRIVER"]), options=options)
        driver.set_window_size(width, height)
        return driver
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", f"--window-size={width},{height}", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def login(driver, password, user="admin"):
    """Fills and sends the login form (the page must show it or be about to)."""
    wait(driver, EC.visibility_of_element_located((By.ID, "login-user")), "the login form")
    field = driver.find_element(By.ID, "login-user")
    field.clear()
    field.send_keys(user)
    field = driver.find_element(By.ID, "login-password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, "login-submit").click()


def wait(driver, condition, what, timeout=10):
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except Exception as e:
        try:
            page = driver.find_element(By.TAG_NAME, "main").text
        except Exception:  # noqa: BLE001 - the page itself may be gone
            page = "?"
        raise AssertionError(f"{what}: not there after {timeout} s; page: {page[:2000]!r}") from e


class Context:
    def __init__(self, driver, url, password, shots, axe_js):
        self.driver = driver
        self.url = url
        self.password = password
        self.shots = shots
        self.axe_js = axe_js

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition, what, timeout=10):
        return wait(self.driver, condition, what, timeout)

    def wait_css(self, css, what, timeout=10):
        """The first visible element matching css."""
        return wait(self.driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), what, timeout)

    def wait_text(self, css, text, what, timeout=10):
        """Until the element's text contains `text`; returns the text."""
        return wait(self.driver, lambda d: (t := d.find_element(By.CSS_SELECTOR, css).text) and text in t and t, what, timeout)

    def axe(self, page):
        """No serious or critical accessibility violation on the page."""
        self.driver.execute_script(self.axe_js)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations))"
            ".catch((e) => done([{impact: 'critical', id: String(e), nodes: []}]));"
        )
        bad = [v for v in result if v.get("impact") in ("serious", "critical")]
        assert not bad, f"{page}: axe-core: " + json.dumps(
            [(v["id"], v.get("impact"), [n.get("target") for n in v.get("nodes", [])][:3]) for v in bad])
        print(f"ok axe {page}: {len(result)} minor violation(s)")

    def interactive_ms(self):
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n ? n.domInteractive : -1;")

    def shot(self, name):
        path = os.path.join(self.shots, f"{name}.png")
        self.driver.save_screenshot(path)
        print(f"ok screenshot {path}")

    def open(self, hash_path, ready_css, name, timeout=10):
        """Loads the UI afresh at #hash_path, waits for ready_css (present, maybe empty), checks the navigation timing (interactive in
        under 300 ms) and axe-core, and takes the screenshot `name` (None: none). Returns the time until ready_css showed."""
        started = time.monotonic()
        self.driver.get(f"{self.url}/ui/#{hash_path}")
        self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, ready_css)), f"{ready_css} on #{hash_path}", timeout)
        ready_ms = (time.monotonic() - started) * 1000
        interactive = self.interactive_ms()
        print(f"ok #{hash_path}: ready in {ready_ms:.0f} ms (interactive {interactive:.0f} ms)")
        assert 0 <= interactive < INTERACTIVE_MS, f"#{hash_path}: interactive in {interactive} ms"
        self.axe(name or hash_path)
        if name:
            self.shot(name)
        return ready_ms

    def session_cookie(self):
        cookie = self.driver.get_cookie("ARCA_SESSION")
        return cookie["value"] if cookie else None

    def rest(self, method, path, body=None, headers=None):
        """A REST call as the admin with Basic auth (for set-up and for checking what the page did)."""
        import base64

        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        token = base64.b64encode(f"admin:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if body is not None and not isinstance(body, bytes):
            request.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text
