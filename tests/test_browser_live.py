"""A run's status on the AUC page, followed live in a real headless Chromium: queued -> running -> done."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from helpers import launch_chromium

pytestmark = pytest.mark.browser


def picker_text(tab) -> str:
    # Streamlit's select box shows its choice as the value of a combobox input.
    return tab.locator('[data-testid="stSelectbox"] input').first.input_value()


def status_text(tab) -> str:
    shown = tab.get_by_text("Status:")
    return shown.first.inner_text() if shown.count() else ""


def wait_for_status(tab, status: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status_text(tab).startswith(f"Status: {status}"):
            return
        time.sleep(0.3)
    pytest.fail(f"the page still says {status_text(tab)!r} after {timeout} s, not 'Status: {status}'")


def test_the_auc_page_follows_a_run_from_queued_to_done(dashboard_server):
    from playwright.sync_api import sync_playwright

    url, store, finished = dashboard_server
    run_id = store.create_run(store.get_run(finished).config, name="live-label")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"{url}/auc?run={run_id}")
            tab.get_by_role("heading", name="AUC across epochs", exact=True).wait_for(timeout=60_000)
            wait_for_status(tab, "queued")
            # The picker names the run, not its status: a select box keeps an option's old text across reruns.
            assert picker_text(tab) == "live-label · digits, symmetric 40%"
            # A live process id, so the store does not take the run for a dead one.
            store.update_run(run_id, status="running", pid=os.getpid(), progress=0.5, phase="training")
            wait_for_status(tab, "running")
            for name in ("metrics.json", "data.json"):
                shutil.copy(store.run_dir(finished) / name, store.run_dir(run_id) / name)
            store.update_run(run_id, status="done", pid=None, progress=1.0)
            wait_for_status(tab, "done")
            tab.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=30_000)
        finally:
            browser.close()
