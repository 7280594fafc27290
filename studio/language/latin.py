"""Which Latin-script language (en, fr, de, es, it, pt) a prompt is written in.

langdetect's Detector samples n-grams at random until one language passes 99.999 %, so on a one- or
two-word prompt a single odd trigram decides ("cat" -> it, "sunset" -> fr) and no prior survives
the resampling. Here each n-gram of langdetect's own profiles is counted once (naive Bayes, hence
deterministic without a seed), and the cues that carry short prompts are added: known words,
letters only some languages use (ß, ñ, ã, œ ...), English suffixes, and a prior for English, the
usual language of prompt jargon.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.utils.ngram import NGram

from .lexicon import LATIN_LANGUAGES, known_words

NGRAM_WEIGHT = 0.4  # n-gram log-likelihoods are many and correlated: damp them
KNOWN_WORD_BONUS = 6.0  # per word found in a language's word list
LETTER_BONUS = 2.0  # per letter that only some languages use
ENGLISH_SUFFIX_BONUS = 3.0  # -ing / -ed / -ly on a word no other list knows
ENGLISH_PRIOR = 2.0
MAX_CHARS = 1000  # enough to decide; keeps detection well under a millisecond per prompt

_LETTERS = {
    "ß": "de", "ä": "de", "ö": "de", "ü": "de", "ñ": "es", "¿": "es", "¡": "es", "ã": "pt", "õ": "pt",
    "œ": "fr", "î": "fr", "û": "fr", "ë": "fr", "ï": "fr", "ù": "fr", "è": "fr it", "ò": "it", "ì": "it",
    "à": "fr it pt", "ç": "fr pt", "ê": "fr pt", "â": "fr pt", "ô": "fr pt", "á": "es pt", "í": "es pt",
    "ó": "es pt it", "ú": "es pt", "é": "fr es pt it",
}
_ENGLISH_SUFFIXES = ("ing", "ed", "ly")
_WORD = re.compile(r"[^\W\d_]+")


@cache
def _ngram_table() -> dict[str, list[float]]:
    """n-gram -> probability per language, from the profiles shipped inside langdetect."""
    factory = DetectorFactory()
    factory.load_json_profile([(Path(PROFILES_DIRECTORY) / code).read_text("utf-8") for code in LATIN_LANGUAGES])
    return factory.word_lang_prob_map


def _ngram_scores(text: str) -> list[float]:
    table = _ngram_table()
    scores = [0.0] * len(LATIN_LANGUAGES)
    grams = NGram()
    for ch in f" {text} ":
        grams.add_char(ch)
        for n in (1, 2, 3):
            gram = grams.get(n)
            probabilities = table.get(gram) if gram else None
            if probabilities:
                for i, p in enumerate(probabilities):
                    scores[i] += math.log(1e-4 + p)
    return scores


def _variants(word: str) -> set[str]:
    """The word and its likely singular/masculine forms (cats -> cat, gatti -> gatto, Katzen -> Katze)."""
    forms = {word}
    for suffix in ("s", "es", "x", "n", "en", "e", "er", "i"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.add(word[: -len(suffix)])
    if len(word) > 3 and word[-1] in "ie":
        forms.update((word[:-1] + "o", word[:-1] + "a"))
    return forms


def reads_as_english(text: str) -> bool:
    """Every word is in the English word list, or a plural or inflection of one ("a panda", "tigers")."""
    words = _WORD.findall(text.lower())
    return bool(words) and all(_variants(word) & known_words("en") for word in words)


def latin_language(text: str) -> str:
    """The most likely of LATIN_LANGUAGES for text written in the Latin alphabet."""
    text = text[:MAX_CHARS].lower()
    words = _WORD.findall(text)
    if reads_as_english(text):
        return "en"  # every word reads as English ("a panda", "tiger"): the prior decides
    scores = [NGRAM_WEIGHT * s for s in _ngram_scores(text)]
    scores[0] += ENGLISH_PRIOR
    for word in words:
        forms = _variants(word)
        known = [i for i, code in enumerate(LATIN_LANGUAGES) if forms & known_words(code)]
        for i in known:
            scores[i] += KNOWN_WORD_BONUS
        if not known and len(word) >= 5 and word.endswith(_ENGLISH_SUFFIXES):
            scores[0] += ENGLISH_SUFFIX_BONUS
    for ch in text:
        for code in _LETTERS.get(ch, "").split():
            scores[LATIN_LANGUAGES.index(code)] += LETTER_BONUS
    return LATIN_LANGUAGES[max(range(len(scores)), key=scores.__getitem__)]
