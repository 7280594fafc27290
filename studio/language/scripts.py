"""Which writing system each character belongs to.

Script is the strongest and cheapest language signal a prompt has: hangul is Korean, kana is
Japanese, Thai script is Thai. Detection and span splitting both start from it. Letters outside
Han, kana, hangul, Cyrillic and Latin are named by their Unicode script ("arabic", "devanagari",
"thai", "greek", "hebrew" ...).
"""

from __future__ import annotations

import unicodedata
from collections import Counter

Script = str  # "han", "kana", "hangul", "cyrillic", "latin", or another Unicode script in lower case

# Rough information per character, in Latin letters: a Han character or a hangul syllable is about a
# morpheme (three letters), a kana about a syllable (two). Used to weigh scripts in mixed prompts.
WEIGHTS: dict[str, float] = {"han": 3.0, "kana": 2.0, "hangul": 3.0}  # every other script: 1.0

_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
_KANA = ((0x3040, 0x309F), (0x30A0, 0x30FA), (0x30FC, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9D))
_HANGUL = ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
_HAN_MARKS = "\u3005\u3007"  # 々 (iteration mark) and 〇 count as Han


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def char_script(ch: str) -> Script | None:
    """The script of one character, or None when it is not a letter (digit, punctuation, emoji)."""
    code = ord(ch)
    if _within(code, _HAN) or ch in _HAN_MARKS:
        return "han"
    if _within(code, _KANA):
        return "kana"
    if _within(code, _HANGUL):
        return "hangul"
    if not ch.isalpha():
        return None
    if 0x0400 <= code <= 0x052F:
        return "cyrillic"
    if code < 0x0250 or 0x1E00 <= code <= 0x1EFF:
        return "latin"
    return unicodedata.name(ch, "OTHER").split()[0].lower()


def script_weights(text: str) -> Counter[str]:
    """Weighted letter count per script (see WEIGHTS); empty for text without letters."""
    counts: Counter[str] = Counter()
    for ch in text:
        script = char_script(ch)
        if script is not None:
            counts[script] += WEIGHTS.get(script, 1.0)
    return counts


def dominant_script(text: str) -> str | None:
    """The script with the largest weight in `text`, None when it has no letters."""
    weights = script_weights(text)
    return max(weights, key=weights.__getitem__) if weights else None
