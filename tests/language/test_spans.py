"""split_spans: Chinese kept whole, foreign text isolated, jargon protected, nothing lost or reordered."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.language.jargon import PROTECTED
from studio.language.spans import split_spans

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mixed_dev.tsv"
MIXED_DEV = _SHARED if _SHARED.exists() else Path(__file__).with_name("data") / "mixed_dev.tsv"  # a copy travels with the repo
MIXED = [
    "一只熊猫 playing guitar on the stage",
    "cinematic lighting，古城墙下的夜市",
    "超现实主义 painting of a whale in the sky",
    "a samurai 在樱花雨中拔刀",
    "赛博朋克 city at night, 4K, HDR",
]


def _kinds(text: str, **options: bool) -> list[tuple[str, str]]:
    return [(span.kind, span.text) for span in split_spans(text, **options)]


@pytest.mark.parametrize("text", MIXED)
def test_spans_rebuild_the_prompt(text: str) -> None:
    assert "".join(span.text for span in split_spans(text)) == text


def test_mixed_dev_rows_keep_every_han_character_in_chinese_spans() -> None:
    rows = [line for line in MIXED_DEV.read_text("utf-8").splitlines() if line and not line.startswith("#")]
    for row in rows:
        spans = split_spans(row)
        assert "".join(span.text for span in spans) == row
        chinese = "".join(span.text for span in spans if span.kind == "chinese")
        assert [ch for ch in row if "\u4e00" <= ch <= "\u9fff"] == [ch for ch in chinese if "\u4e00" <= ch <= "\u9fff"]
        assert any(span.kind == "text" for span in spans)


def test_mixed_prompt_spans_in_order() -> None:
    assert _kinds("一只熊猫 playing guitar on the stage, 4K") == [
        ("chinese", "一只熊猫"), ("keep", " "), ("text", "playing guitar on the stage"), ("keep", ", 4K"),
    ]
    assert _kinds("cinematic lighting，古城墙下的夜市") == [
        ("text", "cinematic lighting"), ("keep", "，"), ("chinese", "古城墙下的夜市"),
    ]


def test_chinese_punctuation_stays_inside_one_chinese_span() -> None:
    assert _kinds("龍舟競渡，鼓聲震天") == [("chinese", "龍舟競渡，鼓聲震天")]


@pytest.mark.parametrize(
    "token", ["4K", "8K", "35mm", "HDR", "f/1.8", "60fps", "1080p", "16:9", "ISO 800", "1/250s", "24 fps", "3D"]
)
def test_camera_jargon_is_protected(token: str) -> None:
    spans = split_spans(f"a fox in the snow, {token}, golden hour")
    assert ("keep", f", {token}, ") in [(span.kind, span.text) for span in spans]
    assert PROTECTED.fullmatch(token)


def test_jargon_next_to_chinese_is_cut_out() -> None:
    assert _kinds("4K画质的城市夜景") == [("keep", "4K"), ("chinese", "画质的城市夜景")]


def test_plain_numbers_and_words_stay_in_the_text() -> None:
    assert _kinds("a woman holding 3 cats") == [("text", "a woman holding 3 cats")]
    assert not PROTECTED.search("A CAT ON THE ROOF")  # capitals alone are not jargon


def test_japanese_prompt_is_one_text_span() -> None:
    assert _kinds("未来都市を歩くロボット, 4K", han_is_chinese=False) == [
        ("text", "未来都市を歩くロボット"), ("keep", ", 4K"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "🎆🎇"])
def test_nothing_to_translate(text: str) -> None:
    assert all(span.kind == "keep" for span in split_spans(text))
