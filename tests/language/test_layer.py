"""LanguageLayer.prepare end to end: pass-through, the tiny translator, caching and the offline fallback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from studio.language import LanguageLayer, PreparedPrompt, available_translators
from studio.language.marian import MarianTranslator
from studio.language.tiny_translator import TINY_NOTICE


@pytest.fixture
def tiny(tmp_path: Path) -> LanguageLayer:
    return LanguageLayer("tiny", cache_dir=tmp_path)


@pytest.mark.parametrize("text", ["一只猫在窗台上睡觉", "龍舟競渡，鼓聲震天", "雪山", "城市夜景，4K，HDR"])
def test_chinese_is_never_touched(tiny: LanguageLayer, text: str) -> None:
    prepared = tiny.prepare(text)
    assert (prepared.language, prepared.model_prompt, prepared.translated, prepared.notice) == ("zh", text, False, None)


def test_tiny_translator_end_to_end(tiny: LanguageLayer) -> None:
    prepared = tiny.prepare("a white crane taking off from a misty lake, 4K, 35mm")
    assert prepared.language == "en" and prepared.translated and prepared.backend == "tiny"
    assert isinstance(prepared.model_prompt, str) and prepared.model_prompt.endswith(", 4K, 35mm")
    assert prepared.model_prompt != prepared.original
    assert prepared.notice == TINY_NOTICE and "random weights" in prepared.notice
    [text_span] = [span for span in prepared.spans if span.kind == "text"]
    assert text_span.translated and text_span.language == "en" and text_span.output
    assert "".join(span.output for span in prepared.spans) == prepared.model_prompt


def test_tiny_translator_is_deterministic(tmp_path: Path) -> None:
    first = LanguageLayer("tiny", cache_dir=tmp_path / "a").prepare("Feuerwerk über der Stadt")
    second = LanguageLayer("tiny", cache_dir=tmp_path / "b").prepare("Feuerwerk über der Stadt")
    assert first.model_prompt == second.model_prompt and not second.cached


def test_mixed_prompt_keeps_chinese_spans_and_order(tiny: LanguageLayer) -> None:
    prepared = tiny.prepare("一只熊猫 playing guitar on the stage, 4K")
    kinds = [(span.kind, span.language, span.translated) for span in prepared.spans]
    assert kinds == [("chinese", "zh", False), ("keep", "und", False), ("text", "en", True), ("keep", "und", False)]
    assert prepared.model_prompt.startswith("一只熊猫 ") and prepared.model_prompt.endswith(", 4K")
    assert prepared.language == "zh" and prepared.translated


def test_each_script_is_translated_from_its_own_language(tiny: LanguageLayer) -> None:
    japanese = tiny.prepare("東京の夜景, 4K, cinematic lighting")
    assert japanese.language == "ja"
    assert [(span.text, span.language) for span in japanese.spans if span.kind == "text"] == [
        ("東京の夜景", "ja"), ("cinematic lighting", "en"),
    ]
    chinese = tiny.prepare("一只猫 sleeping on a sofa，一只狗 лежит на ковре")
    assert [(span.text, span.language) for span in chinese.spans if span.kind == "text"] == [
        ("sleeping on a sofa", "en"), ("лежит на ковре", "ru"),
    ]


def test_kept_phrases_reach_the_model_as_typed_with_their_seams(tiny: LanguageLayer) -> None:
    """A LoRA's trigger words (`keep`) are never translated, in any case, with the punctuation around them."""
    plain = tiny.prepare("a fox in the snow, wtrclr style, soft light")
    kept = tiny.prepare("a fox in the snow, WTRCLR Style, soft light", keep=["wtrclr style"])
    assert "wtrclr" not in plain.model_prompt.lower() and plain.translated
    assert ", WTRCLR Style, " in kept.model_prompt and kept.translated
    assert "1 name or brand kept as typed" in kept.summary
    assert tiny.prepare("a fox in the snow, wtrclr style, soft light").model_prompt == plain.model_prompt, (
        "the cache keeps the two apart")


def test_translate_false_passes_through(tiny: LanguageLayer) -> None:
    prepared = tiny.prepare("Un robot marche dans une ville futuriste", translate=False)
    assert (prepared.language, prepared.model_prompt, prepared.translated) == (
        "fr", "Un robot marche dans une ville futuriste", False,
    )


def test_none_backend_passes_through() -> None:
    prepared = LanguageLayer("none").prepare("puppy yawning")
    assert (prepared.language, prepared.model_prompt, prepared.translated, prepared.backend) == (
        "en", "puppy yawning", False, "none",
    )


@pytest.mark.parametrize("text", ["", "   ", "🎆🎇✨"])
def test_nothing_to_translate(tiny: LanguageLayer, text: str) -> None:
    prepared = tiny.prepare(text)
    assert (prepared.language, prepared.model_prompt, prepared.translated) == ("und", text, False)
    assert prepared.notice is None


def test_unsupported_language_is_sent_as_typed_with_a_notice(tiny: LanguageLayer) -> None:
    prepared = tiny.prepare("ድመት በመስኮት ላይ")  # Amharic: a script the detector does not route
    assert (prepared.language, prepared.model_prompt, prepared.translated) == ("und", "ድመት በመስኮት ላይ", False)
    assert prepared.summary == "Language not recognised, sent as typed"


def test_memory_cache_hit(tiny: LanguageLayer) -> None:
    first = tiny.prepare("a fox in the snow")
    second = tiny.prepare("a fox in the snow")
    assert not first.cached and second.cached
    assert second.model_prompt == first.model_prompt and second.spans == first.spans
    assert second.seconds < 0.05


def test_disk_cache_is_read_by_another_layer(tmp_path: Path) -> None:
    first = LanguageLayer("tiny", cache_dir=tmp_path).prepare("dolphins jumping out of the water")
    assert (tmp_path / "translations.sqlite3").exists()
    again = LanguageLayer("tiny", cache_dir=tmp_path).prepare("dolphins jumping out of the water")
    assert again.cached and again.model_prompt == first.model_prompt and again.notice == first.notice


def test_cache_is_keyed_by_backend(tmp_path: Path) -> None:
    LanguageLayer("tiny", cache_dir=tmp_path).prepare("a red kite over the hills")
    assert not LanguageLayer("none", cache_dir=tmp_path).prepare("a red kite over the hills").cached


def test_offline_fallback_names_the_model_and_the_fix(tmp_path: Path) -> None:
    model_id = "studio-tests/no-such-translator-model"
    layer = LanguageLayer("marian", cache_dir=tmp_path, model_id=model_id)
    started = time.perf_counter()
    prepared = layer.prepare("a lighthouse in a storm")
    assert time.perf_counter() - started < 30  # no network retries: local files only
    assert (prepared.model_prompt, prepared.translated, prepared.language) == ("a lighthouse in a storm", False, "en")
    assert model_id in prepared.notice and f"hf download {model_id}" in prepared.notice
    assert not layer.prepare("a lighthouse in a storm").cached  # failures are not cached: a download fixes them


@pytest.mark.parametrize("backend", ["marian", "m2m100", "qwen"])
def test_every_backend_fails_soft_without_weights(tmp_path: Path, backend: str) -> None:
    layer = LanguageLayer(backend, cache_dir=tmp_path, model_id=f"studio-tests/missing-{backend}")
    prepared = layer.prepare("a cat on the roof")
    assert not prepared.translated and prepared.model_prompt == "a cat on the roof" and prepared.backend == backend
    assert f"hf download studio-tests/missing-{backend}" in prepared.notice


def test_marian_names_the_missing_pivot_model(tmp_path: Path) -> None:
    translator = MarianTranslator(model_id="studio-tests/missing-en-zh", pivot_model_id="studio-tests/missing-mul-en")
    prepared = LanguageLayer(translator, cache_dir=tmp_path).prepare("un chat sur la plage")
    assert not prepared.translated and "hf download studio-tests/missing-mul-en" in prepared.notice


def test_to_dict_is_json(tiny: LanguageLayer) -> None:
    prepared = tiny.prepare("一只熊猫 playing guitar")
    data = json.loads(json.dumps(prepared.to_dict(), ensure_ascii=False))
    fields = {"original", "language", "model_prompt", "translated", "spans", "backend", "seconds", "notice", "cached"}
    assert fields <= set(data)
    assert data["spans"][0] == {
        "text": "一只熊猫", "language": "zh", "output": "一只熊猫", "translated": False, "kind": "chinese",
    }
    with pytest.raises(AttributeError):
        prepared.model_prompt = "changed"  # type: ignore[misc]
    assert isinstance(prepared, PreparedPrompt)


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="'deepl' is not a translator"):
        LanguageLayer("deepl")
    with pytest.raises(ValueError, match="only the qwen translator can enrich"):
        LanguageLayer("marian", enrich=True)
    with pytest.raises(ValueError, match="no model to replace"):
        LanguageLayer("none", model_id="x/y")


def test_available_translators() -> None:
    catalog = {entry["name"]: entry for entry in available_translators()}
    assert set(catalog) == {"marian", "m2m100", "qwen", "none", "tiny"}
    assert catalog["marian"]["model_id"] == "Helsinki-NLP/opus-mt-en-zh"
    assert catalog["m2m100"]["model_id"] == "facebook/m2m100_418M" and catalog["m2m100"]["licence"] == "MIT"
    assert catalog["qwen"]["model_id"] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert all(entry["description"] for entry in catalog.values())
