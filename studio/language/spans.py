"""Cut a prompt into spans: Chinese to keep, foreign text to translate, and tokens to keep as written.

"一只熊猫 playing guitar on the stage, 4K" becomes
  chinese "一只熊猫" | keep " " | text "playing guitar on the stage" | keep ", " | keep "4K".
Joining the spans' outputs in order rebuilds the prompt, so order and punctuation survive
translation, and a translator never sees (nor can change) a Chinese span or a protected token.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from .jargon import PROTECTED
from .lexicon import LATIN_LOANWORDS
from .scripts import char_script

SpanKind = Literal["chinese", "text", "keep", "name"]

_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3005\u3007]"
_KANA = r"[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]"
_HANGUL = r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"
# Chinese punctuation (not the corner brackets, which quote), full-width forms, spaces, digits and a decorative の
# may sit inside one Chinese span.
_HAN_GLUE = (r"[\s\u3000-\u3004\u3008-\u300b\u3010-\u303f\uff01-\uff0f\uff1a-\uff20\u00b7\u2014\u2026"
             r"\u201c\u201d0-9の]")
_CHINESE = re.compile(rf"{_HAN}+(?:{_HAN_GLUE}*{_HAN}+)*")
# Japanese or Korean inside a Chinese (or any) prompt: a quotation that holds kana or hangul, whole; else a run of
# kana (with the kanji between its kana: お誕生日おめでとう) or of hangul words.
_QUOTED_CJK = rf"(?<=[「『“\"])[^」』”\"]*?(?:{_KANA}|{_HANGUL})[^」』”\"]*(?=[」』”\"])"
_FOREIGN_CJK = re.compile(rf"{_QUOTED_CJK}|{_KANA}+(?:{_HAN}+{_KANA}+)*|{_HANGUL}+(?:\s+{_HANGUL}+)*")
_LATIN_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


@dataclass(frozen=True)
class Span:
    """A piece of the prompt as typed, and what the layer does with it."""

    kind: SpanKind
    text: str


def _is_letter(ch: str) -> bool:
    """A letter, or a vowel sign or tone mark on one (Devanagari ै, Thai ่): part of the word it sits on."""
    return char_script(ch) is not None or unicodedata.category(ch).startswith("M")


_CLAUSE_BREAK = re.compile(r"([，。；！？、]+)")  # Chinese punctuation ends a part: "vlog，Taylor Swift" is two


def _split_other(piece: str) -> list[Span]:
    """Text between Chinese spans and protected tokens: translatable cores, kept edges and Chinese punctuation."""
    if _CLAUSE_BREAK.search(piece):
        parts = _CLAUSE_BREAK.split(piece)
        return [span for i, part in enumerate(parts)
                for span in ([Span("keep", part)] if i % 2 else _split_other(part))]
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
    pattern = _WITH_CHINESE if han_is_chinese else _WITHOUT_CHINESE
    spans: list[Span] = []
    position = 0
    for match in pattern.finditer(text):
        spans += _split_other(text[position : match.start()])
        kind: SpanKind = "keep" if match.lastgroup == "keep" else "text" if match.lastgroup == "foreign" else "chinese"
        spans.append(Span(kind, match.group()))
        position = match.end()
    spans += _split_other(text[position:])
    return _merge_keeps(spans)


_CJK = rf"(?:{_HAN}|{_KANA}|{_HANGUL})"
# In a Japanese or Korean prompt, its own text runs (Han included) apart from Latin and other scripts.
_WITHOUT_CHINESE = re.compile(
    rf"(?P<keep>{PROTECTED.pattern})|(?P<foreign>{_CJK}+(?:(?:{_HAN_GLUE}|[「」『』])*{_CJK}+)*)"
)
_WITH_CHINESE = re.compile(
    f"(?P<keep>{PROTECTED.pattern})|(?P<foreign>{_FOREIGN_CJK.pattern})|(?P<chinese>{_CHINESE.pattern})"
)


def is_name(text: str) -> bool:
    """Latin text a Chinese (or Japanese, Korean) prompt keeps as typed: names, brands, loanwords.

    Every word has a capital (iPhone, KTV, Taylor Swift) or is a loanword Chinese writes in Latin letters (vlog,
    cosplay); one ordinary lower-case word makes it a phrase in a language, to translate ("cinematic lighting").
    """
    words = _LATIN_WORD.findall(text)
    return bool(words) and all(
        char_script(word[0]) == "latin" and (word.lower() in LATIN_LOANWORDS or any(ch.isupper() for ch in word))
        for word in words
    )


def _merge_keeps(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if merged and span.kind == "keep" and merged[-1].kind == "keep":
            merged[-1] = Span("keep", merged[-1].text + span.text)
        else:
            merged.append(span)
    return merged
