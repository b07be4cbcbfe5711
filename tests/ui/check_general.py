"""Administration → General on a single node: the Custom URL Base set through the page and seen in the page and the
REST API, an invalid value refused with the REST API's own message next to the field, cleared with Clear."""

PATH = "/api/system/configuration/baseUrl"
VALUE = "https://repo.example.com/artifactory"


def facts(ctx):
    """The facts list as {term: description}."""
    return ctx.driver.execute_script(
        "const out = {}; for (const dt of document.querySelectorAll('#general-facts dt')) "
        "out[dt.textContent] = dt.nextElementSibling.textContent; return out;")


def save(ctx, value):
    field = ctx.find("#general-url")
    field.clear()
    field.send_keys(value)
    ctx.find("#general-save").click()


def run(ctx):
    ctx.rest("PUT", PATH, b"")  # a known start: unset
    ctx.open("/admin/general", "#general-facts dt", "general")
    ctx.wait(lambda d: "not set" in facts(ctx).get("Configured", ""), "the URL base not set")
    base = facts(ctx)["Base URL of this page"]
    assert base == ctx.url, (base, ctx.url)
    print(f"ok general: not set, this page's base URL {base}")

    # set it: the answer in the status line, the facts show it, the REST API has it
    save(ctx, VALUE + "/")
    ctx.wait_text("#general-status", "successfully updated", "the saved message")
    ctx.wait(lambda d: facts(ctx).get("In use on this node") == VALUE, "the new URL base in use")
    assert facts(ctx)["Configured"] == VALUE, facts(ctx)
    assert "by admin" in facts(ctx)["Last change"], facts(ctx)
    assert ctx.find("#general-url").get_attribute("value") == VALUE, "the field shows the stored value"
    got = ctx.rest("GET", PATH)
    assert got["urlBase"] == VALUE and got["appliedUrlBase"] == VALUE, got
    print(f"ok set: {ctx.find('#general-status').text[:90]!r}")

    # an invalid value: the REST API's message next to the field, nothing saved
    save(ctx, "ftp://repo.example.com")
    message = ctx.wait_text("#general-url-error", "Invalid URL base", "the validation message")
    assert "scheme must be http or https" in message, message
    assert ctx.find("#general-url").get_attribute("aria-invalid") == "true"
    described = ctx.find("#general-url").get_attribute("aria-describedby")
    assert "general-url-error" in described, described
    assert ctx.rest("GET", PATH)["urlBase"] == VALUE, "nothing saved"
    ctx.axe("general-invalid")
    print(f"ok invalid: {message!r}")
    # typing again hides the message
    ctx.find("#general-url").send_keys("x")
    ctx.wait(lambda d: not ctx.find("#general-url-error").text, "the message gone while typing")

    # clear it
    ctx.find("#general-clear").click()
    ctx.wait_text("#general-status", "successfully cleared", "the cleared message")
    ctx.wait(lambda d: "not set" in facts(ctx).get("Configured", ""), "the URL base cleared")
    assert ctx.rest("GET", PATH)["urlBase"] == ""
    print("ok cleared")

    # the screenshot with a value set, at 1280x800 and at phone width; then unset again
    save(ctx, VALUE)
    ctx.wait(lambda d: facts(ctx).get("In use on this node") == VALUE, "the URL base set again")
    for name, (width, height) in (("general", (1280, 800)), ("general-phone", (390, 844))):
        ctx.driver.set_window_size(width, height)
        ctx.driver.get(ctx.url + "/ui/#/admin/general")
        ctx.driver.refresh()  # a fresh page: no status line of the last save
        ctx.wait(lambda d: facts(ctx).get("Configured") == VALUE, f"the page at {width} px")
        ctx.driver.execute_script("window.scrollTo(0, 0)")
        ctx.shot(name)
    ctx.driver.set_window_size(1280, 800)
    ctx.rest("PUT", PATH, b"")
