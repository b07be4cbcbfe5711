"""The web UI in headless Chromium (tests/clients/ui.sh starts arca and gives ARCA_URL, ARCA_ADMIN_PW, SHOTS,
AXE_JS). Logs in, runs every check module below in order (each `run(ctx)`, see kit.py), logs out. Prints one line
per step; any failure raises (exit status 1). UI_CHECKS=ha,logs runs only those modules."""

import importlib
import os
import urllib.error
import urllib.request

from kit import EC, By, Context, browser, login

# the check modules (tests/ui/check_NAME.py), in the order they run
CHECKS = ["ha", "logs", "admin", "browse", "general"]


def main():
    driver = browser(1280, 800)
    ctx = Context(driver, os.environ["ARCA_URL"], os.environ["ARCA_ADMIN_PW"], os.environ["SHOTS"],
                  open(os.environ["AXE_JS"], encoding="utf-8").read())
    wanted = [c for c in os.environ.get("UI_CHECKS", "").split(",") if c] or CHECKS
    try:
        driver.get(ctx.url + "/ui/")
        login_ms = ctx.interactive_ms()
        ctx.wait_css("#login-user", "the login form")
        print(f"ok login page interactive in {login_ms:.0f} ms")
        assert 0 <= login_ms < 300, f"login page interactive in {login_ms} ms"
        ctx.axe("login")
        ctx.shot("login")

        login(driver, "wrong password")
        ctx.wait(lambda d: d.find_element(By.ID, "login-error").text, "the refusal of a wrong password")
        print(f"ok wrong password refused: {driver.find_element(By.ID, 'login-error').text!r}")

        login(driver, ctx.password)
        ctx.wait_css("#logout", "the logged-in header")
        assert driver.find_element(By.ID, "who-name").text == "admin"
        print("ok logged in")
        ctx.axe("home")
        ctx.shot("home")

        for name in wanted:
            importlib.import_module(f"check_{name}").run(ctx)

        driver.set_window_size(1280, 800)
        driver.get(ctx.url + "/ui/")
        ctx.wait(EC.element_to_be_clickable((By.ID, "logout")), "the logout button").click()
        ctx.wait_css("#login-user", "the login form after logout")
        cookie = ctx.session_cookie()
        request = urllib.request.Request(ctx.url + "/ui/auth/current")
        if cookie:
            request.add_header("Cookie", f"ARCA_SESSION={cookie}")
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
