"""detect_language: accuracy on the shared dev set and on our held-out-style set, determinism, edges, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from studio.language import SUPPORTED_LANGUAGES, UNDETERMINED, detect_language

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "lang_dev.tsv"
DEV_SET = _SHARED if _SHARED.exists() else Path(__file__).with_name("data") / "lang_dev.tsv"  # a copy travels with the repo
HELD_OUT = Path(__file__).with_name("heldout.tsv")


def _rows(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text("utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _accuracy(name: str, rows: list[tuple[str, str]]) -> float:
    wrong = [(expected, text, detect_language(text)) for expected, text in rows if detect_language(text) != expected]
    accuracy = 1 - len(wrong) / len(rows)
    print(f"\n{name}: {len(rows) - len(wrong)}/{len(rows)} = {accuracy:.1%}")
    for expected, text, got in wrong:
        print(f"  expected {expected}, got {got}: {text}")
    return accuracy


def test_dev_set_accuracy(record_property) -> None:
    accuracy = _accuracy("lang_dev.tsv", _rows(DEV_SET))
    record_property("figure", f"language detection on lang_dev.tsv: {accuracy:.1%}")
    assert accuracy >= 0.98


def test_held_out_style_accuracy(record_property) -> None:
    rows = _rows(HELD_OUT)
    assert {language for language, _ in rows} == set(SUPPORTED_LANGUAGES)
    accuracy = _accuracy("heldout.tsv", rows)
    record_property("figure", f"language detection on heldout.tsv ({len(rows)} rows): {accuracy:.1%}")
    assert accuracy >= 0.98


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sunset", "en"), ("cat", "en"), ("a panda", "en"), ("8K, ultra detailed", "en"), ("HDR, 4K, epic", "en"),
        ("Schmetterling", "de"), ("mariposa", "es"), ("papillon", "fr"), ("farfalla", "it"), ("borboleta", "pt"),
        ("雪山", "zh"), ("烟花", "zh"), ("龍舟競渡，鼓聲震天", "zh"), ("金魚", "zh"),
        ("花火", "ja"), ("桜", "ja"), ("雨の窓", "ja"), ("ラーメン", "ja"),
        ("불꽃놀이", "ko"), ("Фейерверк над городом", "ru"),
    ],
)
def test_short_prompts_that_fool_plain_langdetect(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("赛博朋克 city at night", "zh"),  # the Chinese part is over a third of the prompt
        ("一只熊猫 playing guitar on the stage", "zh"),
        ("cinematic lighting，古城墙下的夜市", "zh"),
        ("a samurai 在樱花雨中拔刀", "zh"),
        ("超现实主义 painting of a whale in the sky", "zh"),
        ("a photo of the 長城 at dawn with soft morning light", "en"),  # a Chinese name in an English prompt
        ("東京の夜景, cinematic", "ja"),
        ("서울 야경, 4K", "ko"),
    ],
)
def test_mixed_prompts(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "🎆🎇✨", "12345", "4K, 35mm, f/1.8", "!!!", "Ένα γατάκι", "مرحبا"])
def test_no_supported_language_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_deterministic() -> None:
    rows = _rows(HELD_OUT)
    first = [detect_language(text) for _, text in rows]
    assert [detect_language(text) for _, text in rows] == first


def test_under_50_ms_per_prompt() -> None:
    detect_language("warm up: Un chat sur la plage")  # loads langdetect's profiles once
    texts = [text for _, text in _rows(HELD_OUT)] + ["a white crane taking off from a misty lake, " * 40]
    worst = 0.0
    for text in texts:
        started = time.perf_counter()
        detect_language(text)
        worst = max(worst, time.perf_counter() - started)
    print(f"\nslowest detection: {worst * 1000:.2f} ms")
    assert worst < 0.05
