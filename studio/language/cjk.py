"""Chinese, Japanese or Korean: which one a Han/kana/hangul prompt is written in.

Han characters alone do not tell Chinese from Japanese: 寿司, 居酒屋, 写真 are everyday Chinese, and a
Chinese prompt may quote Japanese (「ありがとう」) or decorate with a single の ("樱花の季节"). So the
decision weighs evidence: kana (other than a decorative の) and Japanese-only kanji or kanji words
say Japanese; Simplified or Traditional forms Japanese never writes, and Chinese grammar characters
(的, 了, 在 ...) say Chinese. Text inside quotes is left out when the rest of the prompt has letters:
"她说「ありがとう」" is a Chinese sentence that quotes Japanese.
"""

from __future__ import annotations

import re
from functools import cache

from .lexicon import CHINESE_GRAMMAR_HAN, CHINESE_ONLY_HAN, JAPANESE_KANJI_WORDS, JAPANESE_ONLY_KANJI
from .scripts import char_script, script_weights

QUOTED = re.compile(r"「[^」]*」|『[^』]*』|“[^”]*”|\"[^\"]*\"|《[^》]*》")
DECORATIVE_KANA = "の"  # Chinese writers use it as a stylish 的
MIN_FRAME_LETTERS = 2


def frame(text: str) -> str:
    """The prompt without its quotations, unless that leaves (almost) nothing."""
    rest = QUOTED.sub(" ", text)
    return rest if sum(ch.isalpha() for ch in rest) >= MIN_FRAME_LETTERS else text


def _encodable(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@cache
def _han_sets() -> tuple[frozenset[str], frozenset[str]]:
    """(Chinese-only, Japanese-only) Han characters, from the national character sets Python's codecs carry.

    A character in GB2312 (Simplified) or Big5 (Traditional) but not in JIS X 0208 (Shift JIS) is one Japanese
    text does not use (车, 说, 镇); one in JIS X 0208 and in neither Chinese set is a Japanese form (駅, 桜, 気).
    The lexicon's hand lists add the old forms JIS X 0208 also holds (國, 气). Built once, in about 0.1 s.
    """
    han = [chr(code) for code in range(0x4E00, 0xA000)]
    japanese = {ch for ch in han if _encodable(ch, "shift_jis")}
    chinese = {ch for ch in han if _encodable(ch, "gb2312") or _encodable(ch, "big5")}
    return frozenset((chinese - japanese) | CHINESE_ONLY_HAN), frozenset((japanese - chinese) | JAPANESE_ONLY_KANJI)


def chinese_evidence(text: str) -> int:
    """How many characters say Chinese: forms Japanese never writes, and Chinese grammar characters."""
    chinese_only = _han_sets()[0]
    return sum(ch in chinese_only or ch in CHINESE_GRAMMAR_HAN for ch in text)


def japanese_evidence(text: str) -> bool:
    """Kana-less Japanese: a kanji form Chinese never writes, or a Japanese-only kanji word."""
    japanese_only = _han_sets()[1]
    return any(ch in japanese_only for ch in text) or any(word in text for word in JAPANESE_KANJI_WORDS)


def cjk_language(text: str) -> str:
    """"zh", "ja" or "ko" for text whose letters are mostly Han, kana or hangul."""
    weights = script_weights(text)
    if weights["hangul"] and weights["hangul"] >= weights["han"] + weights["kana"]:
        return "ko"
    kana = [ch for ch in text if char_script(ch) == "kana"]
    chinese = chinese_evidence(text)
    if not kana:
        return "ja" if japanese_evidence(text) and not chinese else "zh"
    if set(kana) == {DECORATIVE_KANA} and len(kana) <= 2:
        return "zh" if chinese else "ja"
    han = weights["han"] / 3
    return "zh" if chinese >= 2 or (chinese and han >= 2 * len(kana)) else "ja"
