"""A deep link in a real headless Chromium: ?run=…&sample=… opens that sample on Review, the URL follows
the next one after a keyboard-shortcut decision, and the app shows no Deploy button."""

from __future__ import annotations

import re
import time

import pytest
from test_browser_review import assert_no_exception, open_sample_number, shot, wait_for

from helpers import launch_chromium
from inn_core.views.review import flagged_samples

pytestmark = pytest.mark.browser


@pytest.fixture()
def tab():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            context = chromium.new_context(viewport={"width": 1500, "height": 1100})
            yield context.new_page()
        finally:
            chromium.close()


def test_a_deep_link_opens_the_sample_and_the_url_follows(dashboard_server, tab):
    url, store, run_id = dashboard_server
    target = int(flagged_samples(store, run_id)["index"].tolist()[3])
    tab.goto(f"{url}/review?run={run_id}&sample={target}")
    assert open_sample_number(tab) == target
    assert_no_exception(tab)
    # toolbarMode = "minimal" (.streamlit/config.toml, read from the repository root): no Deploy button.
    tab.get_by_role("heading", name="Review", exact=True).first.wait_for()
    assert tab.locator('[data-testid="stAppDeployButton"]').count() == 0
    shot(tab, "review-deep-link")

    # The shortcut exists once the Keep button is drawn: a first visit can still show skeletons.
    tab.get_by_role("button", name=re.compile(r"Keep '")).first.wait_for(state="visible", timeout=90_000)
    tab.get_by_role("heading", name=f"Sample #{target}").click()  # focus the page, not an input
    tab.keyboard.press("k")  # Keep's shortcut
    decision = wait_for(
        lambda: store.current_decisions(run_id).get(target), timeout=45, what=f"a decision on sample {target}"
    )
    assert decision.decision == "keep"
    wait_for(lambda: open_sample_number(tab) != target, what="the next sample to open")
    following = open_sample_number(tab)
    wait_for(lambda: re.search(rf"[?&]sample={following}(&|$)", tab.url), what=f"the URL to name sample {following}")
    assert f"run={run_id}" in tab.url
    time.sleep(0.5)
    assert_no_exception(tab)
