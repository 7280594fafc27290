"""Issue 20: mixed prompts decided span by span, names kept, the user's choice for foreign spans, coverage, the summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studio.language import LanguageLayer

MIXED25 = Path(__file__).with_name("data") / "mixed25.tsv"
_EDGES = " \t，,。.!！?？;；、¡¿「」『』“”\"'"


def _rows() -> list[tuple[str, str, list[tuple[str, str]]]]:
    rows = []
    for line in MIXED25.read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            language, prompt, spans = line.split("\t")
            rows.append((language, prompt, [tuple(part.strip().split(":", 1)) for part in spans.split("|")]))
    return rows


def _decisions(prepared) -> list[tuple[str, str]]:
    """(what happened, text) per span with letters: zh kept, name kept, or the language it was read as."""
    decisions = []
    for span in prepared.spans:
        text = span.text.strip(_EDGES)
        if span.kind == "chinese":
            decisions.append(("zh", text))
        elif span.kind == "name" or (span.kind == "text" and span.language == "und"):
            decisions.append(("name", text))
        elif span.kind == "text":
            decisions.append((span.language, text))
    return decisions


@pytest.fixture(scope="module")
def layer() -> LanguageLayer:
    return LanguageLayer("none")  # span decisions only: no translator needed


class Recorder:
    """A translator that writes 译文 and records the source codes it was asked for: fast, for routing tests."""

    name, model_id, notice = "recorder", "recorder", None

    def __init__(self) -> None:
        self.sources: list[str] = []

    def translate(self, texts: list[str], source: str) -> list[str]:
        self.sources.append(source)
        return ["译文"] * len(texts)


def test_every_chinese_span_reaches_the_model_verbatim(tmp_path: Path, record_property) -> None:
    layer = LanguageLayer(Recorder(), cache_dir=tmp_path)
    rows = [row for row in _rows() if row[0] == "zh"]
    for _, prompt, expected in rows:
        prepared = layer.prepare(prompt)
        assert prepared.language == "zh"
        for code, text in expected:
            if code == "zh":
                assert text in prepared.model_prompt, (prompt, text, prepared.model_prompt)
    record_property("figure", f"Chinese spans verbatim in {len(rows)} mixed Chinese prompts: all")


def test_span_by_span_decisions_on_the_mixed_set(layer: LanguageLayer, record_property) -> None:
    rows = _rows()
    assert len(rows) >= 70
    right, wrong = 0, []
    for _, prompt, expected in rows:
        got = _decisions(layer.prepare(prompt))
        right += got == expected
        if got != expected:
            wrong.append((prompt, expected, got))
    share = right / len(rows)
    print(f"\nmixed25.tsv: {right}/{len(rows)} prompts with every span decided as written = {share:.1%}")
    for prompt, expected, got in wrong:
        print(f"  {prompt}\n    expected {expected}\n    got      {got}")
    record_property("figure", f"mixed prompts decided span by span as expected: {share:.1%}")
    assert share >= 0.9


def test_quoted_japanese_and_korean_are_translated_or_kept_as_the_user_chooses(tmp_path: Path) -> None:
    prompt = "一个女孩微笑着说「ありがとう」，男孩回答「사랑해」"
    translated = LanguageLayer("tiny", cache_dir=tmp_path).prepare(prompt)
    assert translated.language == "zh" and translated.model_prompt.startswith("一个女孩微笑着说「")
    assert "ありがとう" not in translated.model_prompt and "사랑해" not in translated.model_prompt
    assert translated.summary == ("Chinese, Japanese and Korean: Chinese kept, 1 Japanese part translated, "
                                  "1 Korean part translated with tiny")
    kept = LanguageLayer("tiny", cache_dir=tmp_path, foreign_spans="keep").prepare(prompt)
    assert kept.model_prompt == prompt and not kept.translated
    assert kept.summary.startswith("Chinese, Japanese and Korean: Chinese kept, 1 Japanese part kept as typed")
    with pytest.raises(ValueError, match="foreign_spans"):
        LanguageLayer("tiny", foreign_spans="drop")


def test_names_brands_and_loanwords_inside_chinese_are_kept(tmp_path: Path) -> None:
    prepared = LanguageLayer("tiny", cache_dir=tmp_path).prepare("用iPhone拍摄的街头vlog，Taylor Swift风格")
    assert prepared.model_prompt == "用iPhone拍摄的街头vlog，Taylor Swift风格" and not prepared.translated
    assert prepared.summary == "Chinese, sent as typed; 3 names or brands kept as typed"
    phrase = LanguageLayer("tiny", cache_dir=tmp_path).prepare("一只熊猫 playing guitar on the stage")
    assert phrase.model_prompt.startswith("一只熊猫 ") and "playing" not in phrase.model_prompt
    assert phrase.summary == "Chinese and English: Chinese kept, 1 English part translated with tiny"


@pytest.mark.parametrize(
    ("prompt", "summary"),
    [
        ("一只熊猫在竹林里吃竹子", "Chinese, sent as typed"),
        ("龍舟競渡，鼓聲震天", "Chinese, sent as typed"),
        ("夕暮れの海辺を歩く二人", "Japanese, translated to Chinese with tiny"),
        ("قطة نائمة على الشاطئ", "Arabic, translated to Chinese with tiny"),
    ],
)
def test_summary_says_what_was_done(tmp_path: Path, prompt: str, summary: str) -> None:
    assert LanguageLayer("tiny", cache_dir=tmp_path).prepare(prompt).summary == summary


def test_routing_passes_each_language_its_own_source_code(tmp_path: Path) -> None:
    recorder = Recorder()
    layer = LanguageLayer(recorder, cache_dir=tmp_path)
    for prompt in ("Kedi plajda uyuyor", "एक बिल्ली समुद्र तट पर सो रही है", "แมวนอนบนชายหาด", "Een kat op het strand"):
        assert layer.prepare(prompt).model_prompt == "译文"
    assert recorder.sources == ["tr", "hi", "th", "nl"]


def test_a_language_the_translator_does_not_cover_names_the_one_to_install(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    prepared = LanguageLayer("qwen", model_id=str(tiny_qwen_dir), cache_dir=tmp_path).prepare("En katt på stranden")
    assert prepared.language == "sv" and prepared.model_prompt == "En katt på stranden" and not prepared.translated
    assert re.search(r"qwen translator does not translate Swedish.*choose the marian translator", prepared.notice)
    assert prepared.summary == "Swedish, sent as typed (qwen does not translate it)"


def test_with_a_preset_the_report_is_about_the_users_prompt(tmp_path: Path) -> None:
    from studio.config import StudioConfig
    from studio.service import Studio

    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="tiny"))
    prepared = studio.prepare_prompt("一只猫在窗台上睡觉", preset="cinematic")
    assert prepared["language"] == "zh" and "一只猫在窗台上睡觉" in prepared["model_prompt"]
    assert prepared["summary"] == "Chinese, sent as typed; the preset's style translated with tiny"
    as_typed = studio.prepare_prompt("a cat asleep on the windowsill", preset="cinematic", translate=False)
    assert as_typed["language"] == "en" and as_typed["summary"] == "English, sent as typed (translation turned off)"


def test_the_studio_setting_keeps_foreign_spans_and_refuses_a_bad_value(tmp_path: Path, monkeypatch) -> None:
    from studio.config import StudioConfig
    from studio.errors import InvalidSetting
    from studio.service import Studio

    monkeypatch.setenv("STUDIO_FOREIGN_SPANS", "keep")
    studio = Studio(StudioConfig.from_env(model="tiny", outputs=tmp_path / "outputs", translator="tiny"))
    prepared = studio.prepare_prompt("一个女孩微笑着说「ありがとう」")
    assert prepared["model_prompt"] == "一个女孩微笑着说「ありがとう」" and not prepared["translated"]
    with pytest.raises(InvalidSetting, match="STUDIO_FOREIGN_SPANS.*translate.*keep"):
        StudioConfig(model="tiny", foreign_spans="drop")


def test_the_notice_names_the_smallest_translator_that_covers_a_language() -> None:
    from studio.language.languages import COVERAGE, SUPPORTED_LANGUAGES, translator_for

    assert translator_for("sv") == "marian" and translator_for("lg") == "m2m100" and translator_for("xx") is None
    assert all(translator_for(code) for code in SUPPORTED_LANGUAGES)  # every detected language has a translator
    assert set(COVERAGE["qwen"]) <= set(SUPPORTED_LANGUAGES) and set(COVERAGE["marian"]) <= set(SUPPORTED_LANGUAGES)
