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
    assert {language for language, _ in rows} <= set(SUPPORTED_LANGUAGES)
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


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "🎆🎇✨", "12345", "4K, 35mm, f/1.8", "!!!", "ᚠᚢᚦᚨᚱᚲ", "ꦧꦱꦗꦮ"])
def test_no_supported_language_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_deterministic() -> None:
    rows = _rows(HELD_OUT)
    first = [detect_language(text) for _, text in rows]
    assert [detect_language(text) for _, text in rows] == first


def test_under_50_ms_per_prompt() -> None:
    texts = [text for _, text in _rows(HELD_OUT)] + ["a white crane taking off from a misty lake, " * 40]
    for text in texts:  # warm-up: langdetect's profiles and lingua's models load once, on first use
        detect_language(text)
    worst = 0.0
    for text in texts:  # each prompt's best of three: the detector's cost, not another process's time slice
        times = []
        for _ in range(3):
            started = time.perf_counter()
            detect_language(text)
            times.append(time.perf_counter() - started)
        worst = max(worst, min(times))
    print(f"\nslowest detection: {worst * 1000:.2f} ms")
    assert worst < 0.05


DEV25 = Path(__file__).with_name("data") / "dev25.tsv"
MIXED25 = Path(__file__).with_name("data") / "mixed25.tsv"


def _first_two(path: Path) -> list[tuple[str, str]]:
    return [(row[0], row[1].split("\t")[0]) for row in _rows(path)]


def test_issue_20_set_chinese_vs_not_and_exact_language(record_property) -> None:
    rows = _first_two(DEV25) + _first_two(MIXED25)
    assert len(rows) >= 480 and len({language for language, _ in rows}) >= 25
    got = [detect_language(text) for _, text in rows]
    chinese = sum((g == "zh") == (e == "zh") for g, (e, _) in zip(got, rows)) / len(rows)
    exact = _accuracy("dev25.tsv + mixed25.tsv", rows)
    record_property("figure", f"issue 20 set ({len(rows)} rows): Chinese vs not {chinese:.1%}, exact {exact:.1%}")
    assert chinese >= 0.995
    assert exact >= 0.95


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("居酒屋里下班的上班族在干杯", "zh"), ("日式料理店的寿司师傅在捏寿司", "zh"), ("樱花の季节，少女在树下读书", "zh"),
        ("一个女孩微笑着说「ありがとう」", "zh"), ("韩剧里男主角深情地说「사랑해」", "zh"), ("一隻白鷺在稻田上空飛翔", "zh"),
        ("夏天の西瓜，冰镇汽水", "zh"), ("達人級的咖啡拉花，特寫", "zh"), ("新宿駅", "ja"), ("抹茶とお団子", "ja"),
        ("桜吹雪", "ja"), ("東京駅", "ja"), ("東京の夜景", "ja"), ("a girl whispers 「ありがとう」 and walks away", "en"),
        ("قطة نائمة على الشاطئ", "ar"), ("समुद्र तट पर सोती हुई बिल्ली", "hi"), ("แมวนอนบนชายหาด", "th"),
        ("con bướm", "vi"), ("Kedi plajda uyuyor", "tr"), ("Kot śpi na plaży", "pl"), ("Een kat op het strand", "nl"),
        ("En katt på stranden", "sv"), ("Кіт спить на пляжі", "uk"), ("Kočka spí na pláži", "cs"),
        ("Μια γάτα στην παραλία", "el"), ("חתול ישן על החוף", "he"), ("گربه در ساحل خوابیده", "fa"),
        ("kanak-kanak bermain di padang", "ms"), ("anak-anak bermain di lapangan", "id"),
    ],
)
def test_issue_20_cases(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_under_1_ms_per_prompt_on_the_issue_20_set(record_property) -> None:
    texts = [text for _, text in _first_two(DEV25)]
    for text in texts:  # warm-up: lingua loads a script's models on first use
        detect_language(text)
    started = time.perf_counter()
    for text in texts:
        detect_language(text)
    mean = (time.perf_counter() - started) / len(texts)
    record_property("figure", f"detection: {mean * 1000:.3f} ms per prompt on dev25.tsv")
    print(f"\nmean detection time: {mean * 1000:.3f} ms per prompt")
    assert mean < 0.005  # the target is 1 ms (0.3-0.5 ms measured on an idle CPU); 5x leaves room for a loaded machine


def test_supported_languages_are_what_the_detector_can_name() -> None:
    from lingua import Language
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    from studio.language.detect import SCRIPT_LANGUAGE, SHARED_SCRIPTS

    named = set(SCRIPT_LANGUAGE.values()) | {code for codes in SHARED_SCRIPTS.values() for code in codes.split()}
    assert named | {"zh", "ja", "ko"} == set(SUPPORTED_LANGUAGES)
    lingua = {language.iso_code_639_1.name.lower() for language in Language.all()} | {"no"}
    assert set(SUPPORTED_LANGUAGES) <= set(FAIRSEQ_LANGUAGE_CODES["m2m100"])
    assert set(SUPPORTED_LANGUAGES) - lingua == {"lo", "km", "my", "si", "no"} - lingua  # scripts of their own
