"""The dominant language of a prompt, as an ISO 639-1 code.

Script first (hangul -> ko, kana -> ja, Cyrillic -> ru, Han -> zh unless Japanese-only kanji say
ja), then, for the Latin alphabet, `latin.latin_language`. Only the languages the translators
handle are ever returned; anything else, and text without letters, is UNDETERMINED.

Mixed prompts: Chinese, Japanese or Korean text is the dominant language when it makes up at
least a third of the prompt, one CJK character counting as three Latin letters (a kana as two).
So "赛博朋克 city at night" is zh; the non-Chinese spans are still translated by the layer.
"""

from __future__ import annotations

import unicodedata

from .jargon import strip_protected
from .latin import latin_language
from .lexicon import JAPANESE_KANJI_WORDS, JAPANESE_ONLY_KANJI
from .scripts import script_weights

SUPPORTED_LANGUAGES = ("zh", "en", "ja", "ko", "fr", "de", "es", "ru", "it", "pt")
UNDETERMINED = "und"  # ISO 639-2 "undetermined": empty, emoji-only or an unsupported script
EAST_ASIAN_SHARE = 1 / 3
MAX_CHARS = 2000


def _looks_japanese(text: str) -> bool:
    """Kana-less Japanese: a kanji form Chinese never writes, or a Japanese-only kanji word."""
    return any(ch in JAPANESE_ONLY_KANJI for ch in text) or any(word in text for word in JAPANESE_KANJI_WORDS)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the dominant language ("zh" for Simplified and Traditional), or "und".

    Deterministic and fast (well under a millisecond for a typical prompt); never raises.
    """
    text = strip_protected(unicodedata.normalize("NFKC", text[:MAX_CHARS]))
    weights = script_weights(text)
    total = sum(weights.values())
    if not total:
        return UNDETERMINED
    east_asian = weights["han"] + weights["kana"] + weights["hangul"]
    if east_asian >= EAST_ASIAN_SHARE * total:
        if weights["hangul"] and weights["hangul"] >= weights["kana"]:
            return "ko"
        if weights["kana"] or _looks_japanese(text):
            return "ja"
        return "zh"
    if weights["latin"] >= max(weights["cyrillic"], weights["other"]):
        return latin_language(text)
    return "ru" if weights["cyrillic"] >= weights["other"] else UNDETERMINED
