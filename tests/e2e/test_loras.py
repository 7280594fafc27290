"""LoRAs through the served studio: the API's `loras` parameter, what the job records, a bad name refused
in one line while the studio keeps serving, and the Create tab's LoRA panel in a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client
from PIL import Image

from studio.tiny import build_tiny_pipeline
from tests.loras import makers

from .conftest import Server
from .test_browser import ARGS, CHROMIUM

FAST = dict(resolution="832x480", duration=0.3, steps=2, seed=4, randomize_seed=False, as_typed=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-studio")
    tiny = build_tiny_pipeline("tiny")
    makers.write(root / "outputs" / "loras" / "ink.safetensors", makers.state(makers.factors(tiny.transformer), "kohya"),
                 {"modelspec.trigger_phrase": "inkwash"})
    Image.new("RGB", (64, 64), (20, 20, 20)).save(root / "outputs" / "loras" / "ink.png")
    server = Server(root)
    yield server
    server.stop()


def test_generate_with_a_lora_over_the_api(served):
    client = Client(served.url, verbose=False)
    assert "loras" in json.dumps(client.view_api(return_format="dict", print_info=False))
    status, _, video, details, _ = client.predict(prompt="a fox", loras="ink:0.7", api_name="/generate", **FAST)
    assert video and Path(video["video"] if isinstance(video, dict) else video).exists()
    sidecars = sorted(Path(served.outputs, "videos").glob("*.json"))
    recorded = json.loads(sidecars[-1].read_text())["loras"]
    assert recorded[0]["name"] == "ink" and recorded[0]["strength"] == 0.7 and len(recorded[0]["files"][0]["sha256"]) == 64


def test_an_unknown_lora_is_one_clear_error_and_the_studio_keeps_serving(served):
    client = Client(served.url, verbose=False)
    with pytest.raises(Exception, match="did you mean ink"):
        client.predict(prompt="a fox", loras="inky", api_name="/generate", **FAST)
    assert client.predict(prompt="a fox", api_name="/generate", **FAST)[2]


def test_the_lora_panel_picks_a_lora_and_adds_its_trigger_words(served):
    sync_api = pytest.importorskip("playwright.sync_api")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(served.url, wait_until="load")
        page.wait_for_selector("#prompt textarea")
        page.fill("#prompt textarea", "a fox in the snow")
        page.locator("#advanced").click()
        page.locator("#lora_panel").click()
        assert "ink" in page.inner_text("#lora_info") and "rank 4" in page.inner_text("#lora_info")
        page.locator("#lora_pick input").click()
        page.locator("#lora_pick input").fill("in")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('#loras textarea, #loras input').value === 'ink:1.0'")
        page.click("#lora_triggers")
        page.wait_for_function("() => document.querySelector('#prompt textarea').value.endsWith('inkwash')")
        page.fill("#loras textarea", "")
        page.locator("#lora_gallery .thumbnail-item").first.click()  # the picture beside ink.safetensors
        page.wait_for_function("() => document.querySelector('#loras textarea').value === 'ink:1.0'")
        browser.close()
