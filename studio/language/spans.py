"""Cut a prompt into spans: Chinese to keep, foreign text to translate, and tokens to keep as written.

"一只熊猫 playing guitar on the stage, 4K" becomes
  chinese "一只熊猫" | keep " " | text "playing guitar on the stage" | keep ", " | keep "4K".
Joining the spans' outputs in order rebuilds the prompt, so order and punctuation survive
translation, and a translator never sees (nor can change) a Chinese span or a protected token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .jargon import PROTECTED
from .scripts import char_script

SpanKind = Literal["chinese", "text", "keep"]

_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3005\u3007]"
# Chinese punctuation, full-width forms, spaces and digits may sit inside one Chinese span.
_HAN_GLUE = r"[\s\u3000-\u3004\u3008-\u303f\uff01-\uff0f\uff1a-\uff20\u00b7\u2014\u2026\u201c\u201d0-9]"
_CHINESE = re.compile(rf"{_HAN}+(?:{_HAN_GLUE}*{_HAN}+)*")


@dataclass(frozen=True)
class Span:
    """A piece of the prompt as typed, and what the layer does with it."""

    kind: SpanKind
    text: str


def _is_letter(ch: str) -> bool:
    return char_script(ch) is not None


def _split_other(piece: str) -> list[Span]:
    """Text between Chinese spans and protected tokens: translatable core, kept edges."""
    letters = [i for i, ch in enumerate(piece) if _is_letter(ch)]
    if not letters:
        return [Span("keep", piece)] if piece else []
    start, end = letters[0], letters[-1] + 1
    while start > 0 and piece[start - 1].isdigit():  # "3 cats": the number belongs to the text
        start -= 1
    spans = [Span("keep", piece[:start]), Span("text", piece[start:end]), Span("keep", piece[end:])]
    return [span for span in spans if span.text]


def split_spans(text: str, *, han_is_chinese: bool = True) -> list[Span]:
    """Spans of `text` in order; their texts concatenate to `text`.

    With `han_is_chinese=False` (a Japanese or Korean prompt) Han characters are ordinary text
    to translate, not Chinese to keep.
    """
    pattern = re.compile(f"{PROTECTED.pattern}|{_CHINESE.pattern}" if han_is_chinese else PROTECTED.pattern)
    spans: list[Span] = []
    position = 0
    for match in pattern.finditer(text):
        spans += _split_other(text[position : match.start()])
        kind: SpanKind = "keep" if PROTECTED.fullmatch(match.group()) else "chinese"
        spans.append(Span(kind, match.group()))
        position = match.end()
    spans += _split_other(text[position:])
    return _merge_keeps(spans)


def _merge_keeps(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if merged and span.kind == "keep" and merged[-1].kind == "keep":
            merged[-1] = Span("keep", merged[-1].text + span.text)
        else:
            merged.append(span)
    return merged
