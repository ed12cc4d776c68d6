"""Review, Embedding map and Export in a real headless Chromium: a decision clicked in the browser lands in SQLite."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest

from helpers import launch_chromium
from inn_core.views.embedding import EMBEDDING_FILE
from inn_core.views.review import export_run

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def open_page(tab, url: str, heading: str, *, timeout_ms: int = 30_000) -> None:
    tab.goto(url)
    tab.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=timeout_ms)


def assert_no_exception(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0, tab.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for(predicate, *, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def open_sample_number(tab, *, timeout_ms: int = 30_000) -> int:
    heading = tab.get_by_role("heading", name=re.compile(r"^Sample #\d+$")).first
    heading.wait_for(timeout=timeout_ms)
    return int(heading.inner_text().strip().removeprefix("Sample #"))


def test_review_decision_clicked_in_the_browser_lands_in_sqlite(dashboard_server, page):
    url, store, run_id = dashboard_server
    started = time.monotonic()
    open_page(page, f"{url}/review", "Review")
    sample = open_sample_number(page)
    opened_in = time.monotonic() - started
    # The open sample's neighbour paths (one chart: a strip and a curve per neighbour) and the grid.
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stPlotlyChart"] .main-svg image').count() >= 5
    page.locator('[class*="st-key-review_open_"] button').nth(9).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stImage"]').count() >= 10
    assert_no_exception(page)
    shot(page, "review")

    page.get_by_role("button", name=re.compile(r"^Keep '")).click()
    decision = wait_for(lambda: store.current_decisions(run_id).get(sample), what=f"a decision on sample {sample}")
    assert decision.decision == "keep"
    # The next sample opened by itself.
    wait_for(lambda: open_sample_number(page) != sample, what="the next sample to open")
    page.get_by_text(f"Sample #{sample} kept (saved).").wait_for(timeout=10_000)
    assert_no_exception(page)
    shot(page, "review-after-decision")
    assert opened_in < 30, f"the review page took {opened_in:.1f} s to show a sample"


def test_embedding_map_computes_once_and_draws(dashboard_server, page):
    url, store, run_id = dashboard_server
    open_page(page, f"{url}/embedding", "Embedding map")
    # Nothing computes until asked; the first map compiles UMAP in the server (numba): allow minutes.
    page.get_by_role("button", name="Compute the map").click()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=240_000)
    page.locator(".js-plotly-plot .scatterlayer, .js-plotly-plot canvas").first.wait_for(timeout=30_000)
    assert store.has_file(run_id, EMBEDDING_FILE)
    page.get_by_text("Colour by").wait_for()
    assert_no_exception(page)
    shot(page, "embedding")

    # Lasso round the left half of the map (the lasso from the chart's toolbar), then send the selection to Review.
    area = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)  # the toolbar shows on hover
    page.locator('[data-testid="stPlotlyChart"] .modebar-btn[data-title="Lasso Select"]').first.click()
    x, y, w, h = area["x"], area["y"], area["width"], area["height"]
    corners = [
        (x + 0.02 * w, y + 0.02 * h),
        (x + 0.5 * w, y + 0.02 * h),
        (x + 0.5 * w, y + 0.98 * h),
        (x + 0.02 * w, y + 0.98 * h),
        (x + 0.02 * w, y + 0.03 * h),
    ]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
        for step in range(1, 11):
            page.mouse.move(x0 + (x1 - x0) * step / 10, y0 + (y1 - y0) * step / 10)
    page.mouse.up()
    send = page.get_by_role("button", name=re.compile(r"^Review \d+ selected$"))
    send.wait_for(timeout=30_000)
    count = int(re.search(r"\d+", send.inner_text()).group())
    assert 0 < count < 200
    shot(page, "embedding-selection")
    send.click()
    page.get_by_role("heading", name=f"{count} samples · selection from the map").wait_for(timeout=30_000)
    assert_no_exception(page)


def test_embedding_single_click_shows_the_image(dashboard_server, page):
    url, store, run_id = dashboard_server
    open_page(page, f"{url}/embedding", "Embedding map")
    if page.get_by_role("button", name="Compute the map").count():
        page.get_by_role("button", name="Compute the map").click()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=240_000)
    # A single click on a point shows that sample's image beside the map.
    page.locator(".js-plotly-plot").first.wait_for()
    time.sleep(1.0)  # the WebGL trace draws after the plot div appears
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, trace = gd._fullData[gd._fullData.length - 1];
        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [box.left + xa.l2p(trace.x[0]), box.top + ya.l2p(trace.y[0])];
    }""")
    page.mouse.click(x, y)
    heading = page.get_by_role("heading", name=re.compile(r"^Sample #\d+$")).first
    heading.wait_for(timeout=30_000)
    page.locator('[data-testid="stImage"]').first.wait_for(timeout=30_000)
    shot(page, "embedding-click")


def test_export_offers_the_files_export_run_writes(dashboard_server, page):
    url, store, run_id = dashboard_server
    # Independent of test order: make sure there is a decision to export.
    if not store.current_decisions(run_id):
        store.record_decision(run_id, 0, "drop", note="browser test")
    open_page(page, f"{url}/export", "Export")
    page.get_by_role("heading", name="Downloads").wait_for()
    assert_no_exception(page)
    shot(page, "export")
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile(r"^Cleaned labels")).click()
    downloaded = Path(info.value.path()).read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        expected = export_run(store, run_id, folder)["cleaned_labels"].read_bytes()
    assert downloaded == expected
    assert b"keep" in downloaded or b"drop" in downloaded
