"""A real browser (Debian's Chromium driven by Playwright) using the studio like an artist."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def _open(browser, server, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(server.url, wait_until="load")
    page.wait_for_selector("#prompt textarea")
    return page


def _video_state(page) -> dict:
    return page.evaluate(
        "() => { const v = document.querySelector('#result video');"
        " return v ? {ready: v.readyState, duration: v.duration, error: v.error && v.error.code} : null; }"
    )


def test_type_pick_a_preset_generate_watch_and_cancel(browser, server, artifacts):
    page = _open(browser, server, 1440, 900)
    page.fill("#prompt textarea", "a paper boat drifting down a rainy street")
    page.wait_for_function(
        "() => document.querySelector('#model_prompt textarea').value.length > 0", timeout=30_000
    )
    assert "English" in page.inner_text("#language_info")

    page.locator("#presets .thumbnail-item").nth(1).click()  # the first style after "No style"
    page.wait_for_function("() => document.querySelector('#preset_info').innerText.includes('Cinematic')")
    page.wait_for_function(
        "() => document.querySelector('#model_prompt textarea').value.length > 0"
    )
    page.screenshot(path=str(artifacts / "studio-1440x900-compose.png"), full_page=True)

    page.click("#generate")
    page.wait_for_selector("#preview img", timeout=120_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#result video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=180_000,
    )
    state = _video_state(page)
    assert state["ready"] >= 1 and state["duration"] > 0 and not state["error"]
    assert "Done" in page.inner_text("#status")
    page.screenshot(path=str(artifacts / "studio-1440x900-result.png"), full_page=True)

    page.locator("#advanced").click()
    page.locator("#steps input[type=number]").fill("40")
    page.locator("#steps input[type=number]").press("Enter")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Step')", timeout=120_000)
    page.wait_for_selector("#preview img", timeout=120_000)  # this run's first preview (the start cleared the last)
    page.click("#cancel")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Cancelled')")
    assert page.locator("#preview img").count() == 1  # the last preview stays
    page.screenshot(path=str(artifacts / "studio-1440x900-cancelled.png"), full_page=True)
    page.close()


def test_phone_layout_and_history(browser, server, artifacts):
    page = _open(browser, server, 390, 844)
    page.screenshot(path=str(artifacts / "studio-390x844.png"), full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width} px wide)"
    page.click("#tab_history-button") if page.locator("#tab_history-button").count() else page.get_by_role(
        "tab", name="History").click()
    page.wait_for_selector("#history_gallery .thumbnail-item", timeout=30_000)
    page.locator("#history_gallery .thumbnail-item").first.click()
    page.wait_for_function("() => document.querySelector('#history_details').innerText.includes('seed')")
    page.screenshot(path=str(artifacts / "studio-390x844-history.png"), full_page=True)
    page.close()


def test_reload_mid_job_reattaches_and_another_visitor_sees_the_queue(browser, server, artifacts):
    """A job belongs to the studio: reloading the page finds it again with its progress and preview, then shows
    its result; another visitor (its own browser storage) sees it in the queue, not as theirs."""
    artist = browser.new_context(viewport={"width": 1440, "height": 900})
    page = artist.new_page()
    page.goto(server.url, wait_until="load")
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "a lantern festival over a river, slow pan")
    page.locator("#advanced").click()
    page.locator("#steps input[type=number]").fill("60")
    page.locator("#steps input[type=number]").press("Enter")
    page.click("#generate")
    page.wait_for_selector("#preview img", timeout=120_000)

    page.reload(wait_until="load")
    page.wait_for_selector("#preview img", timeout=60_000)  # the latest preview, at once after the reload
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Step')", timeout=60_000)
    page.wait_for_function("() => (document.querySelector('#queue_table')?.innerText || '').includes('yours')",
                           timeout=30_000)
    page.screenshot(path=str(artifacts / "studio-1440x900-reattached.png"), full_page=True)

    visitor = browser.new_context(viewport={"width": 390, "height": 844})
    other = visitor.new_page()
    other.goto(server.url, wait_until="load")
    other.wait_for_function("() => (document.querySelector('#queue_table')?.innerText || '').includes('lantern')",
                            timeout=30_000)
    assert "yours" not in other.inner_text("#queue_table")
    assert "Ready" in other.inner_text("#status") and other.locator("#preview img").count() == 0
    other.screenshot(path=str(artifacts / "studio-390x844-queue-of-others.png"), full_page=True)
    visitor.close()

    page.wait_for_function(  # the re-attached page ends with the job's result, as if it had never left
        "() => { const v = document.querySelector('#result video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=240_000,
    )
    assert "Done" in page.inner_text("#status") and "lantern" in page.inner_text("#job_info")
    page.screenshot(path=str(artifacts / "studio-1440x900-reattached-done.png"), full_page=True)
    artist.close()


def test_generate_is_in_reach_and_ctrl_enter_starts_a_job(browser, server, artifacts):
    """Generate is inside a 1440x900 window on load (it stays at the bottom while settings scroll by), and
    Ctrl+Enter in the prompt starts a job; fast mode is not offered without its LoRA."""
    page = _open(browser, server, 1440, 900)
    box = page.locator("#generate").bounding_box()
    assert box and box["y"] + box["height"] <= 900, f"Generate is below the fold at {box}"
    page.locator("#advanced").click()
    assert "Fast (4-step LoRA)" not in page.inner_text("#mode") and "STUDIO_FAST_LORA" in page.inner_text("#mode")
    box = page.locator("#generate").bounding_box()
    assert box and box["y"] + box["height"] <= 900, f"with Advanced open, Generate left the window: {box}"
    page.fill("#prompt textarea", "a paper lantern rising, ctrl+enter")
    page.locator("#prompt textarea").press("Control+Enter")
    page.wait_for_function("() => (document.querySelector('#job_info')?.innerText || '').includes('ctrl+enter')",
                           timeout=60_000)
    page.screenshot(path=str(artifacts / "studio-1440x900-ctrl-enter.png"))
    page.close()


def test_language_panel_says_what_was_done_with_a_mixed_prompt(browser, server, artifacts):
    """Issue 20: a Chinese prompt quoting Japanese keeps its Chinese and says so in the panel."""
    page = _open(browser, server, 1440, 900)
    page.fill("#prompt textarea", "一个女孩微笑着说「ありがとう」")
    page.wait_for_function(
        "() => document.querySelector('#language_info').innerText.includes('Chinese kept')", timeout=30_000
    )
    assert "Chinese and Japanese: Chinese kept, 1 Japanese part translated" in page.inner_text("#language_info")
    assert page.input_value("#model_prompt textarea").startswith("一个女孩微笑着说「")
    page.screenshot(path=str(artifacts / "language-panel-mixed.png"))
    page.close()
