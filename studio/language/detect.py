"""The dominant language of a prompt, as an ISO 639-1 code.

Script first: Han, kana and hangul go to `cjk.cjk_language` (Chinese vs Japanese vs Korean), a script
only one supported language writes (Thai, Greek, Hebrew, Bengali ...) names it, and a shared script
(Latin, Cyrillic, Arabic, Devanagari) goes to lingua, restricted to the supported languages that
write it. lingua measured best on short and mixed prompts (bench/language_eval.py). For Latin text,
letters only one language writes decide first (Vietnamese ơ, Polish ł, Czech ř); when lingua names one of
`latin.latin_language`'s six languages, or a prompt of up to three words holds a known prompt word,
that function (word lists, an English prior) decides among its six ("cat" is English, not Romanian);
Indonesian vs Malay goes by the words that differ, Indonesian when none does.
Only languages a translator handles are returned (languages.SUPPORTED_LANGUAGES); anything else,
and text without letters, is UNDETERMINED.

Mixed prompts: the text outside quotations decides; Chinese, Japanese or Korean is the dominant
language when it makes up at least a third of it, one CJK character counting as three Latin letters
(a kana as two). So "赛博朋克 city at night" is zh; the other spans are still translated by the layer.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any

from .cjk import cjk_language, frame
from .jargon import strip_protected
from .languages import UNDETERMINED
from .latin import latin_language, reads_as_english
from .lexicon import INDONESIAN_ONLY, LATIN_LANGUAGES, MALAY_ONLY, known_words
from .scripts import script_weights

EAST_ASIAN_SHARE = 1 / 3
MAX_CHARS = 2000
LINGUA_CHARS = 160  # lingua's cost grows with the text; a prompt's first sentence or two decides its language
HIGH_ACCURACY_CHARS = 50  # lingua's high-accuracy mode (1- to 5-grams) for short text, trigrams (10x faster) past it
# The languages people write prompts in most (issue 20's list): lingua's confidence in any other is weighed down,
# so a one-word prompt is not taken for Tswana or Yoruba because one trigram fits it a little better.
COMMON_LANGUAGES = frozenset("en fr de es it pt ru ar hi vi tr pl nl id sv uk cs fa ms".split())
RARE_LANGUAGE_WEIGHT = 0.2
SHORT_WORDS = 3  # up to this many words, the lexicon's prompt words decide among its six languages
# Letters only one supported language writes: decisive on prompts too short for n-grams ("Kot śpi na plaży").
_OWN_LETTERS = {
    **dict.fromkeys("đơưĐƠƯ" + "".join(chr(code) for code in range(0x1EA0, 0x1EFA)), "vi"),
    **dict.fromkeys("łśźżŁŚŹŻ", "pl"), **dict.fromkeys("řůŘŮ", "cs"),
}
# Scripts one supported language writes.
SCRIPT_LANGUAGE = {
    "thai": "th", "greek": "el", "hebrew": "he", "bengali": "bn", "gujarati": "gu", "gurmukhi": "pa", "tamil": "ta",
    "georgian": "ka", "armenian": "hy", "lao": "lo", "khmer": "km", "myanmar": "my", "sinhala": "si",
}
# Scripts several supported languages write: lingua chooses among them.
SHARED_SCRIPTS = {
    "latin": "af az bs ca cs cy da de en es et fi fr ga hr hu id is it lg lt lv ms nl no pl pt ro sk sl so sq sv sw"
             " tl tn tr vi xh yo zu",
    "cyrillic": "be bg kk mk mn ru sr uk",
    "arabic": "ar fa ur",
    "devanagari": "hi mr",
}
_LINGUA_CODES = {"no": "NB"}  # lingua names Norwegian Bokmål; m2m100 says "no"


@cache
def _lingua(script: str, high_accuracy: bool) -> Any:
    """A lingua detector for the languages of one shared script, built on first use (models load lazily).

    High-accuracy mode reads 1- to 5-gram models: for all 38 Latin-script languages that is 14 s and 800 MB on
    first use, so it covers the common languages only (rarer ones are weighed down anyway); the trigram
    detector for longer text covers them all and loads in about a second.
    """
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    languages = SHARED_SCRIPTS[script].split()
    common = [code for code in languages if code in COMMON_LANGUAGES]
    chosen = common if high_accuracy and len(common) >= 2 else languages
    codes = [getattr(IsoCode639_1, _LINGUA_CODES.get(code, code.upper())) for code in chosen]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    return (builder if high_accuracy else builder.with_low_accuracy_mode()).build()


def _lingua_language(script: str, text: str) -> str:
    """lingua's most likely language, languages outside COMMON_LANGUAGES weighed down."""
    values = _lingua(script, len(text) <= HIGH_ACCURACY_CHARS).compute_language_confidence_values(text)
    weighted = {}
    for value in values:
        code = value.language.iso_code_639_1.name.lower()
        weighted[{"nb": "no"}.get(code, code)] = value.value * (1 if code in COMMON_LANGUAGES else RARE_LANGUAGE_WEIGHT)
    return max(weighted, key=weighted.__getitem__) if weighted and max(weighted.values()) > 0 else UNDETERMINED


def _latin_language(text: str) -> str:
    """A language's own letters, short prompts of known prompt words by the lexicon, the rest by lingua."""
    if own := next((_OWN_LETTERS[ch] for ch in text if ch in _OWN_LETTERS), None):
        return own
    words = text.lower().split()
    if reads_as_english(text):
        return "en"  # "a fox in the snow": every word is English; lingua's models need not even load
    code = _lingua_language("latin", text)
    known = any(word in known_words(code) for word in words for code in LATIN_LANGUAGES)
    short_and_known = len(words) <= SHORT_WORDS and known
    if code in LATIN_LANGUAGES or short_and_known:
        return latin_language(text)  # "cat", "farfalla": word lists and the English prior beat n-grams here
    if code in ("id", "ms"):
        malay, indonesian = (sum(word in lexicon for word in words) for lexicon in (MALAY_ONLY, INDONESIAN_ONLY))
        return "ms" if malay > indonesian else "id"
    return code


def _shared_script_language(script: str, text: str) -> str:
    text = text[:LINGUA_CHARS]  # a prompt's first sentence or two decide; reading more only costs time
    return _latin_language(text) if script == "latin" else _lingua_language(script, text)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the dominant language ("zh" for Simplified and Traditional), or "und".

    Deterministic and fast (well under a millisecond for a typical prompt); never raises.
    """
    text = frame(strip_protected(unicodedata.normalize("NFKC", text[:MAX_CHARS])))
    weights = script_weights(text)
    total = sum(weights.values())
    if not total:
        return UNDETERMINED
    if weights["han"] + weights["kana"] + weights["hangul"] >= EAST_ASIAN_SHARE * total:
        return cjk_language(text)
    script = max((s for s in weights if s not in ("han", "kana", "hangul")), key=weights.__getitem__)
    if script in SHARED_SCRIPTS:
        return _shared_script_language(script, text)
    return SCRIPT_LANGUAGE.get(script, UNDETERMINED)

