"""The citizen's page paints from itself in Chromium: its stylesheet is inlined and applied under the
Content-Security-Policy (the ``new_page`` fixture fails on any violation), nothing but the deferred
script is fetched after it, and an inline style that is not the stylesheet is refused."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser

BACKGROUND = "rgb(244, 244, 241)"  # app.css: body{background:var(--bg)}, --bg:#f4f4f1


@pytest.fixture
def window(make):
    unit = make.unit(name="不动产登记窗口", window_no="12")
    campaign = make.campaign(units=[unit])
    make.commit()
    return campaign.campaign_units[0].short_code


def test_the_inlined_stylesheet_applies_and_only_the_script_follows(live_server, phone, window):
    requested: list[str] = []
    phone.on("request", lambda r: requested.append(r.url))
    phone.goto(f"{live_server}/s/{window}", wait_until="load")
    assert phone.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND
    assert phone.evaluate("document.styleSheets.length") == 1
    assert phone.evaluate("document.styleSheets[0].ownerNode.tagName") == "STYLE"
    paths = [re.sub(r"^http://[^/]+", "", url) for url in requested]
    assert len(paths) == 2 and paths[0] == f"/s/{window}", paths
    assert re.fullmatch(r"/static/js/questionnaire\.[0-9a-f]{10}\.js", paths[1]), paths


def test_an_injected_style_is_refused(live_server, browser, window):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{live_server}/s/{window}", wait_until="load")
        assert violations == []  # the page's own block is allowed
        page.evaluate("""() => {
            const style = document.createElement('style');
            style.textContent = 'body{background:rgb(255, 0, 0)}';
            document.head.appendChild(style);
            document.querySelector('main').setAttribute('style', 'display:none');
        }""")
        page.wait_for_timeout(100)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND
        assert page.evaluate("getComputedStyle(document.querySelector('main')).display") != "none"
        assert len(violations) == 2 and all("style-src" in v for v in violations), violations
    finally:
        context.close()
