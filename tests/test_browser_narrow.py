"""Every page at 800 px wide in a real headless Chromium: the sidebar collapses and nothing breaks."""

from __future__ import annotations

import re

import pytest

from helpers import launch_chromium

pytestmark = pytest.mark.browser

PAGES = [
    ("", "The consistency effect"),
    ("new_experiment", "New experiment"),
    ("auc", "AUC across epochs"),
    ("histograms", "Score histograms"),
    ("robust", "Robust training"),
    ("review", "Review"),
    ("embedding", "Embedding map"),
    ("export", "Export"),
]


@pytest.fixture(scope="module")
def narrow_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        context = chromium.new_context(viewport={"width": 800, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()
            chromium.close()


def test_every_page_is_usable_at_800_px(dashboard_server, narrow_page):
    url, _, _ = dashboard_server
    tab = narrow_page
    for path, heading in PAGES:
        tab.goto(f"{url}/{path}")
        tab.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=60_000)
        tab.wait_for_timeout(1500)
        assert tab.locator('[data-testid="stException"]').count() == 0, path
        sidebar = tab.locator('[data-testid="stSidebar"]')
        box = sidebar.bounding_box() if sidebar.count() else None
        assert box is None or box["x"] + box["width"] <= 1, f"the sidebar stays open on /{path}: {box}"
        # Nothing runs off the right edge of the window.
        overflow = tab.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"/{path} is {overflow} px wider than the window"
        tab.screenshot(path=f"/tmp/narrow-{path or 'home'}.png", full_page=True)


def test_review_buttons_keep_their_labels_at_800_px(dashboard_server, narrow_page):
    url, _, _ = dashboard_server
    tab = narrow_page
    tab.goto(f"{url}/review")
    tab.get_by_role("heading", name=re.compile(r"^Sample #\d+$")).first.wait_for(timeout=60_000)
    keep = tab.get_by_role("button", name=re.compile(r"^Keep '")).first
    keep.wait_for(timeout=30_000)
    box = keep.bounding_box()
    text_width = keep.evaluate(
        "b => { const r = document.createRange(); r.selectNodeContents(b); return r.getBoundingClientRect().width; }"
    )
    assert box["width"] >= 60 and text_width <= box["width"] + 1, (box, text_width)
    # A label that wraps per letter is many lines tall.
    assert box["height"] < 80, box
