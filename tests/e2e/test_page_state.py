"""The page an artist keeps open all day (issue 17), in Chromium: what it lists survives a reload, what it shows is
what will happen, and a phone never scrolls sideways."""

from __future__ import annotations

import json

from tests.e2e.test_browser import _open, browser  # noqa: F401  (the module's browser fixture)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_a_saved_preset_is_listed_after_a_reload_and_export_downloads_the_selected_one(browser, server, artifacts):
    page = _open(browser, server, 1440, 900)
    page.locator("#my_presets").click()
    page.fill("#preset_save_name textarea, #preset_save_name input", "Reload survivor")
    page.locator("#preset_save").click()
    page.wait_for_function("() => document.querySelector('#preset input').value === 'Reload survivor'", timeout=30_000)
    page.reload(wait_until="load")
    page.wait_for_selector("#prompt textarea")
    page.locator("#preset input").click()
    # The page reads the presets when it loads (a moment after the prompt box is there).
    page.get_by_role("option", name="Reload survivor").wait_for(timeout=30_000)
    page.get_by_role("option", name="Anime").click()
    page.wait_for_timeout(1500)
    page.locator("#my_presets").click()
    with page.expect_download() as download:
        page.locator("#preset_export").click()
    assert json.loads(open(download.value.path(), encoding="utf-8").read())["name"] == "anime", (
        "Export downloads the preset selected now, on its first click")
    page.close()


def test_a_preset_pick_says_what_it_changed_and_undo_restores_it(browser, server, artifacts):
    page = _open(browser, server, 1440, 900)
    page.fill("#duration input[type=number]", "1.5")
    page.locator("#duration input[type=number]").press("Enter")
    page.wait_for_function("() => document.querySelector('#settings_summary').innerText.includes('25 frames')")
    page.locator("#presets .thumbnail-item").nth(3).click()  # Anime: its own negative prompt, the model's duration
    page.wait_for_selector("#preset_changes_row:not(.hidden)", timeout=30_000)
    said = page.inner_text("#preset_changes")
    assert "Anime" in said and "duration 1.5 s → 0.56 s" in said and "negative prompt replaced" in said, said
    assert "Template:" in page.inner_text("#preset_info") and "Negative:" in page.inner_text("#preset_info")
    assert page.locator("#presets .thumbnail-item.selected").count() == 1, "the chosen card is marked"
    page.screenshot(path=str(artifacts / "studio-1440x900-preset-changes.png"))
    page.locator("#preset_undo").click()
    page.wait_for_function("() => document.querySelector('#settings_summary').innerText.includes('25 frames')",
                           timeout=30_000)
    page.locator("#advanced").click()
    assert page.input_value("#preset input") == "No style" and page.input_value("#negative_prompt textarea") == ""
    page.close()


def test_a_hand_edit_is_kept_and_a_typed_duration_out_of_range_is_named(browser, server, artifacts):
    page = _open(browser, server, 1440, 900)
    page.fill("#prompt textarea", "a red fox in the snow")
    page.wait_for_function("() => document.querySelector('#model_prompt textarea').value.length > 0", timeout=30_000)
    page.fill("#model_prompt textarea", "my own words for the model")
    page.fill("#prompt textarea", "a red fox in deep snow at dawn")
    page.wait_for_selector("#model_prompt_restore", state="visible", timeout=30_000)
    assert page.input_value("#model_prompt textarea") == "my own words for the model"
    assert "edited by you" in page.inner_text("#model_prompt")
    page.locator("#model_prompt_restore").click()
    page.wait_for_function("() => document.querySelector('#model_prompt textarea').value !== 'my own words for the model'")
    page.locator("#as_typed input").check()
    page.wait_for_function("() => document.querySelector('#model_prompt textarea').disabled", timeout=30_000)
    box = page.locator("#duration input[type=number]")
    box.fill("99")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#settings_summary').innerText.includes('Duration 99 s')")
    assert "Fix: choose a duration" in page.inner_text("#settings_summary")
    assert page.locator(".error").count() == 0, "no bare Error pill"
    page.screenshot(path=str(artifacts / "studio-1440x900-duration-99.png"))
    page.close()


def test_no_tab_scrolls_sideways_on_a_phone_even_while_a_job_runs(browser, server, artifacts):
    page = browser.new_page(**PHONE)
    page.goto(server.url, wait_until="load")
    page.wait_for_selector("#prompt textarea")
    page.fill("#prompt textarea", "a very long prompt about a lighthouse keeper who walks along the cliffs at dusk "
              "while gulls circle overhead and the beam sweeps across the grey sea")
    page.locator("#generate").click()
    page.wait_for_selector("#preview img", state="attached", timeout=60_000)
    page.locator("#preview").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    preview = page.locator("#preview img").bounding_box()
    assert preview and preview["width"] >= 300 and preview["height"] >= 120, f"the live preview is a strip: {preview}"
    assert _sideways(page) == 0, "Create scrolls sideways while a job runs"
    page.screenshot(path=str(artifacts / "studio-390x844-running.png"))
    for tab in ("History", "System"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(1500)
        assert _sideways(page) == 0, f"{tab} scrolls sideways on a phone"
        page.screenshot(path=str(artifacts / f"studio-390x844-{tab.lower()}.png"))
    assert "What each model needs on a GPU" in page.inner_text("#doctor") and "Translation:" in page.inner_text("#doctor")
    page.close()


def test_saving_over_a_preset_asks_first_and_replaces_on_the_second_click(browser, server, artifacts):
    """Issue 23, item 5, as a user meets it: the same name again turns Save into "Replace “…”?"; a new name is a
    new question, and only the click on "Replace" replaces."""
    page = _open(browser, server, 1440, 900)
    name = "#preset_save_name textarea, #preset_save_name input"
    asks = "() => document.querySelector('#preset_save').innerText.includes('Replace')"
    page.locator("#my_presets").click()
    page.fill(name, "水墨 夜")
    page.locator("#preset_save").click()
    page.wait_for_function("() => document.querySelector('#preset input').value === '水墨 夜'", timeout=30_000)
    page.locator("#preset_save").click()
    page.wait_for_function(asks, timeout=30_000)
    assert page.inner_text("#preset_save") == "Replace “水墨 夜”?"
    page.screenshot(path=str(artifacts / "studio-1440x900-replace-preset.png"))
    page.fill(name, "水墨 夜 2")
    page.wait_for_function(f"() => !({asks})()")
    page.fill(name, "水墨 夜")
    page.locator("#preset_save").click()
    page.wait_for_function(asks, timeout=30_000)
    page.locator("#preset_save").click()
    page.wait_for_function(f"() => !({asks})()", timeout=30_000)
    saved = [p for p in (server.outputs / "presets").glob("*.json") if "水墨 夜" in p.read_text(encoding="utf-8")]
    assert len(saved) == 1, "replaced in place, never saved twice"
    page.close()


def test_turbo_says_how_many_steps_it_computes_before_the_job(browser, server, artifacts):
    """Its step mask is fixed before the job starts, so the settings line states it, and follows the step count."""
    page = _open(browser, server, 1440, 900)
    page.locator("#advanced").click()
    page.get_by_label("Turbo (step caching)").check()
    page.wait_for_function("() => document.querySelector('#settings_summary').innerText.includes('turbo:')",
                           timeout=30_000)
    assert "steps computed in full" in page.inner_text("#settings_summary")
    box = page.locator("#steps input[type=number]")
    box.fill("40")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#settings_summary').innerText.includes('24 of 40 steps')",
                           timeout=30_000)
    page.wait_for_function("() => document.querySelector('#mode').innerText.includes('Turbo with these settings: 24 of "
                           "40 steps computed in full')", timeout=30_000)  # said where the choice is made, too
    page.locator("#mode").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "studio-1440x900-turbo.png"))
    page.get_by_label("Quality", exact=True).check()
    page.wait_for_function("() => !document.querySelector('#settings_summary').innerText.includes('turbo:')",
                           timeout=30_000)
    page.close()
