"""The Scenes tab in a real browser: the default storyboard of two shots becomes one playable video."""

from __future__ import annotations

import re

from studio.history import JOB_ID_PATTERN
from tests.e2e.test_browser import _open, browser  # noqa: F401  (the module's browser fixture)


def test_make_the_default_scene_and_see_each_shot(browser, server, artifacts):  # noqa: F811
    page = _open(browser, server, 1440, 900)
    page.click("#tab_scenes-button")
    page.wait_for_selector("#scene_shots")
    assert "fox" in page.inner_text("#scene_shots")
    page.click("#make_scene")
    page.wait_for_function(
        "() => { const v = document.querySelector('#scene_result video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=300_000,
    )
    assert "Scene done" in page.inner_text("#scene_status")
    page.wait_for_function("() => document.querySelectorAll('#scene_finished img').length === 2")
    assert re.fullmatch(JOB_ID_PATTERN, page.locator("#extend_job textarea").input_value())  # Extend continues it
    page.screenshot(path=str(artifacts / "scenes-1440x900.png"), full_page=True)
