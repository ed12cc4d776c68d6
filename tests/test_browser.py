"""Every page of the dashboard in a real headless Chromium: heading, a drawn plotly chart, no exception.

The server is ``streamlit run dashboard/app.py`` on 127.0.0.1 over a copy of the tiny finished run
(the ``dashboard_server`` fixture). Screenshots land in ``test-artifacts/screenshots``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import launch_chromium

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"

#: (URL path, heading, whether the page draws a plotly chart for the tiny run). Streamlit derives a
#: page's URL path from its file name; the default page lives at the root. The embedding map is
#: computed on request: the test presses its button first.
PAGES = [
    ("", "The consistency effect", True),
    ("new_experiment", "New experiment", True),
    ("auc", "AUC across epochs", True),
    ("histograms", "Score histograms", True),
    ("robust", "Robust training", False),
    ("review", "Review", False),
    ("embedding", "Embedding map", True),
    ("export", "Export", False),
]
CHART = ".js-plotly-plot, [data-testid='stPlotlyChart']"
# Pages train a toy or load a run on first open; the shared CPU can be slow.
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def browser_page(dashboard_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            yield context.new_page(), dashboard_server[0]
        finally:
            context.close()
            browser.close()


@pytest.mark.parametrize("path, heading, has_chart", PAGES, ids=[p[0] or "consistency" for p in PAGES])
def test_page_renders_in_chromium(browser_page, path, heading, has_chart):
    page, url = browser_page
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    if path == "embedding":
        page.get_by_role("button", name="Compute the map").click(timeout=TIMEOUT_MS)
    if has_chart:
        page.locator(CHART).first.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert page.locator(".js-plotly-plot .main-svg").count() > 0
    # Let the script finish its run before judging it.
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=TIMEOUT_MS,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{path or 'consistency'}.png"), full_page=True)
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert page.title() != ""
