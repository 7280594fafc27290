"""What a hostile tester broke (issue 23, items 6, 7, 11, 12, 13), one test per kind of defect.

6: every text input is bounded at the edge and the translation caches are bounded; 7: Gradio's temp copies are
deleted; 11: user text renders as text; 12: one line with the fix, never a traceback or a raw Python message;
13: the page never shows an absolute path.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from markdown_it import MarkdownIt

from studio.config import StudioConfig
from studio.errors import InvalidRequest, InvalidSetting
from studio.language.cache import CacheLimits, TranslationCache
from studio.language.layer import LanguageLayer
from studio.models import resolve_model
from studio.presets import InvalidPreset, import_preset
from studio.request import MAX_PROMPT_CHARS, GenerationRequest
from studio.ui import formatting as fmt

from .conftest import cli_many

HOSTILE = ("![x](http://attacker.example/pixel.png) <img src=http://attacker.example/a.png> "
           "[click](javascript:alert(1)) **bold** _it_ `code` # heading\n- item &amp; <b>b</b>")


class CountingTranslator:
    """A Translator that writes "译" for every text and counts what it was asked."""

    name, model_id, notice = "counting", "counting/1", None

    def __init__(self) -> None:
        self.calls = 0

    def translate(self, texts: list[str], source: str) -> list[str]:
        self.calls += 1
        return ["译" * min(len(text), 50) for text in texts]


# --- 6: bounded inputs and caches --------------------------------------------------------------

def test_language_panel_refuses_a_prompt_over_the_generate_bound():
    """A 10 MB prompt in the language panel: one line saying it is too long, nothing detected or translated."""
    from studio.ui.create import _language

    def never(*_a, **_k):
        raise AssertionError("the panel must not prepare a prompt over the bound")

    started = time.perf_counter()
    info, model_prompt, notice, auto, *_ = _language(SimpleNamespace(prepare_prompt=never), "a cat " * 1_700_000,
                                                     "", False)
    assert time.perf_counter() - started < 1.0
    assert re.search(r"10,200,000 characters.*at most 4,000 characters.*shorten it", _shown(info))
    assert model_prompt["value"] == "" and auto == ""
    # At the bound it is prepared as usual.
    prepared = {"language": "en", "translated": False, "model_prompt": "ok", "backend": "none"}
    info, model_prompt, *_ = _language(SimpleNamespace(prepare_prompt=lambda *a, **k: prepared),
                                       "a" * MAX_PROMPT_CHARS, "", False)
    assert model_prompt["value"] == "ok" and "English" in info and "sent as typed" in info


def test_language_layer_reads_a_bounded_amount_of_text(tmp_path):
    translator = CountingTranslator()
    layer = LanguageLayer(translator, cache_dir=tmp_path)
    started = time.perf_counter()
    prepared = layer.prepare("a cat walking " * 100_000)
    assert time.perf_counter() - started < 1.0
    assert translator.calls == 0 and not prepared.translated and "Fix: shorten the prompt" in prepared.notice
    assert not (tmp_path / "translations.sqlite3").exists()


def test_translation_cache_is_bounded_in_entries_and_bytes(tmp_path):
    limits = CacheLimits(memory_entries=3, memory_bytes=10_000, disk_entries=5, disk_bytes=3_000)
    layer = LanguageLayer(CountingTranslator(), cache_dir=tmp_path, cache_limits=limits)
    for i in range(12):
        assert layer.prepare(f"a cat number {i} walking in the snow").translated
    cache = layer._cache
    entries, size = cache.disk_usage()
    assert len(cache) <= 3 and 0 < entries <= 5 and size <= 3_000
    fresh = TranslationCache(tmp_path, limits)  # the newest survive on disk, the oldest were evicted
    newest = TranslationCache.key("counting", "counting/1", "a cat number 11 walking in the snow", False)
    oldest = TranslationCache.key("counting", "counting/1", "a cat number 0 walking in the snow", False)
    assert fresh.get(newest) is not None and fresh.get(oldest) is None
    # Bytes bind too: a few long prompts evict older ones even below the entry bound.
    small = TranslationCache(tmp_path / "bytes", CacheLimits(disk_entries=100, disk_bytes=4_000, memory_bytes=4_000))
    for i in range(10):
        small.put(f"k{i}", {"model_prompt": "译" * 300})
    assert small.disk_usage()[1] <= 4_000 and small.disk_usage()[0] < 10
    assert small._memory_bytes <= 4_000


# --- 7 and 13: the served page -----------------------------------------------------------------

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from studio.service import Studio
    from studio.ui import build_app

    outputs = tmp_path_factory.mktemp("page") / "outputs"
    studio = Studio(StudioConfig(model="tiny", outputs=outputs, translator="none"))
    return build_app(studio), outputs, studio


def test_gradio_temp_copies_are_deleted(page):
    app, *_ = page
    frequency, age = app.delete_cache
    assert 0 < frequency <= 3600 and 0 < age <= 24 * 3600


def test_config_never_shows_the_absolute_outputs_path(page):
    from studio.ui.system_tab import _text

    app, outputs, studio = page
    config = json.dumps(app.get_config_file(), ensure_ascii=False, default=str)
    shown = _text(studio, measure=False)  # the System tab, as each page load reads it
    for text in (config, shown):
        assert str(outputs.resolve()) not in text and str(outputs.parent) not in text
    assert "**Outputs and history:** `outputs`" in shown


def test_shown_folder_is_never_absolute(tmp_path, monkeypatch):
    from studio.ui.system_tab import shown_folder

    monkeypatch.chdir(tmp_path)
    assert shown_folder(tmp_path / "out" / "a") == "out/a"
    assert shown_folder(Path("/srv/secret/outputs")) == "outputs"
    assert shown_folder(Path("../../etc")) == "etc"


# --- 11: user text renders as text ---------------------------------------------------------------

def _rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def _shown(markdown: str) -> str:
    """The text a viewer reads."""
    import html as entities

    return entities.unescape(re.sub(r"<[^>]+>", "", _rendered(markdown))).strip()


@pytest.mark.parametrize("text", [HOSTILE, "a\\*b\\", "<script>alert(1)</script>", "1. list\n> quote", "http://x.example"])
def test_plain_renders_as_typed(text):
    html = _rendered(fmt.plain(text))
    assert not re.search(r"<(img|a|em|strong|code|h\d|li|script|b|blockquote|ol)\b", html), html
    assert _shown(fmt.plain(text)) == " ".join(text.split())


def test_history_details_language_panel_and_preset_info_render_prompts_as_text():
    from studio.presets import Preset
    from studio.ui.create import _describe, _language

    job = {"prompt": HOSTILE, "model_prompt": HOSTILE + " 译", "status": "failed", "seed": 1, "model": "tiny",
           "error_message": HOSTILE, "notices": [HOSTILE], "request": {"preset": "x"}}
    preset = Preset(name="x", title="![t](http://attacker.example/t.png)", description=HOSTILE, prompt="{prompt}",
                    negative_prompt=None, settings={}, thumbnail=None, order=1, source="user")

    def refuse(*_a, **_k):
        raise InvalidRequest("prompt", HOSTILE, "it is refused")

    panel = _language(SimpleNamespace(prepare_prompt=refuse), "a cat", "", False)[0]
    noticed = _language(SimpleNamespace(prepare_prompt=lambda *a, **k: {
        "language": "en", "translated": False, "model_prompt": "x", "notice": HOSTILE}), "a cat", "", False)[2]
    for markdown in (fmt.job_details(job), _describe(preset), panel, noticed["value"]):
        html = _rendered(markdown)
        assert "<img" not in html and "<a " not in html and "<b>" not in html, html
    # Gallery captions are text in Gradio (escaped by the Svelte component): they stay as typed.
    assert "![x]" in fmt.history_caption({"prompt": "![x](http://a.example/p.png)", "status": "done"})


# --- 12: one line with the fix -------------------------------------------------------------------

def test_settings_are_checked_when_the_studio_starts():
    with pytest.raises(InvalidSetting, match=r"translator: 'klingon' is not a translator.*Fix: choose auto or one of"):
        StudioConfig(translator="klingon")
    with pytest.raises(InvalidSetting, match=r"memory plan: 'bogus' is not a memory plan.*Fix: choose auto or"):
        StudioConfig(memory_plan="bogus")
    assert StudioConfig(memory_plan="offload+fp8").memory_plan == "offload+fp8"


@pytest.mark.parametrize("given, expect", [
    ({"seed": "9" * 5000}, r"seed: '<5,000 characters: 9+…>' is not allowed; it must be a whole number"),
    ({"seed": 10**5000}, r"seed: '<a number of about 5,001 digits>' .*whole number from 0"),
    ({"guidance_scale": 10**5000}, r"guidance_scale: '<a number of about 5,001 digits>' .*from 0 to 20"),
    ({"model_prompt": {"text": "x"}}, r"model_prompt: '<dict>' is not allowed; it must be text"),
    ({"negative_prompt": ["x"]}, r"negative_prompt: '<list>' is not allowed; it must be text"),
])
def test_request_names_absurd_values_without_python_messages(given, expect):
    spec, _ = resolve_model("tiny")
    with pytest.raises(InvalidRequest) as raised:
        GenerationRequest.create(spec, "a cat walking", **given)
    message = str(raised.value)
    assert re.search(expect, message) and "inf" not in message and len(message) < 300, message


@pytest.mark.parametrize("document, expect", [
    ('{"version": 1, "name": "a", "prompt": "{prompt}", "order": ' + "9" * 5000 + "}", r"more than 4,300 digits"),
    ('{"version": 1, "name": "b", "title": "T\\ud800", "prompt": "{prompt}"}', r"lone surrogate"),
    ('{"version": 1, "name": "c", "prompt": "{prompt}"}\ud800', r"lone surrogate"),
])
def test_imported_preset_with_unreadable_values(document, expect, tmp_path):
    with pytest.raises(InvalidPreset, match=expect + r".*Fix: "):
        import_preset(document, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_answers_bad_settings_and_storage_with_one_line(tmp_path):
    """Each run exits 2 with one "error:" line naming the problem and the fix; --out DIR is refused before work."""
    (tmp_path / "a-folder").mkdir()
    unopenable = tmp_path / "unopenable"
    (unopenable / "history.sqlite").mkdir(parents=True)
    generate = ("generate", "--model", "tiny", "--prompt", "a cat", "--no-translate", "--width", "256",
                "--height", "256", "--frames", "5", "--steps", "1")
    runs = {
        "--translator klingon": (("generate", "--model", "tiny", "--prompt", "a cat", "--translator", "klingon"), {}),
        "STUDIO_TRANSLATOR": (("generate", "--model", "tiny", "--prompt", "a cat"), {"STUDIO_TRANSLATOR": "klingon"}),
        "STUDIO_MEMORY_PLAN": (generate, {"STUDIO_MEMORY_PLAN": "bogus"}),
        "STUDIO_LOG_LEVEL": (("history",), {"STUDIO_LOG_LEVEL": "bogus"}),
        "--out folder": ((*generate, "--out", str(tmp_path / "a-folder")), {}),
        "unopenable history": (("--outputs", str(unopenable), "history"), {}),
    }
    expect = {
        "--translator klingon": r"translator: 'klingon' is not a translator.*Fix: choose auto or one of",
        "STUDIO_TRANSLATOR": r"translator: 'klingon' is not a translator \(STUDIO_TRANSLATOR",
        "STUDIO_MEMORY_PLAN": r"memory plan: 'bogus' is not a memory plan \(STUDIO_MEMORY_PLAN.*Fix:",
        "STUDIO_LOG_LEVEL": r"STUDIO_LOG_LEVEL: 'bogus' is not a log level. Fix: set it to one of DEBUG",
        "--out folder": r"out: .*a-folder' is not allowed; it is a folder; name the MP4 file",
        "unopenable history": r"history.sqlite.*\. Fix: ",
    }
    started = time.perf_counter()
    results = cli_many(tmp_path, runs, workers=3)
    for name, done in results.items():
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (name, done.returncode, done.stderr)
        assert lines[0].startswith("error: ") and "Traceback" not in done.stderr, (name, done.stderr)
        assert re.search(expect[name], lines[0]), (name, lines[0])
    assert not list((tmp_path / "a-folder").iterdir())  # nothing was written: refused before the job
    assert time.perf_counter() - started < 120
