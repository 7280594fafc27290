"""The languages the layer names, and which translator covers which.

A language is detected only when a translator can do something with it: the codes below are the
languages lingua (the detector) knows that m2m100 or Qwen2.5 translate, plus four that have a script
of their own (lo, km, my, si). Codes are m2m100's (ISO 639-1; Norwegian is "no"), so m2m100 gets
the right source code as it is; Qwen gets the language's name; Marian's pivot (opus-mt-mul-en)
takes what its model card lists.
"""

from __future__ import annotations

NAMES: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian", "bn": "Bengali",
    "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Khmer", "ko": "Korean", "lg": "Ganda", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian",
    "mk": "Macedonian", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese", "nl": "Dutch",
    "no": "Norwegian", "pa": "Punjabi", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sr": "Serbian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tl": "Tagalog", "tn": "Tswana", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "xh": "Xhosa", "yo": "Yoruba", "zh": "Chinese", "zu": "Zulu",
}
SUPPORTED_LANGUAGES = tuple(NAMES)
UNDETERMINED = "und"  # ISO 639-2 "undetermined": empty, emoji-only, or a language no translator handles

# facebook/m2m100_418M's language codes (transformers' FAIRSEQ_LANGUAGE_CODES["m2m100"]) that we detect.
M2M100_LANGUAGES = frozenset(SUPPORTED_LANGUAGES)
# Qwen2.5's model card and the Qwen2 report: Chinese, English and 27 more languages.
QWEN_LANGUAGES = frozenset(
    "zh en de fr es pt it nl ru cs pl ar fa he tr ja ko vi th id ms lo my km tl hi bn ur".split()
)
# Helsinki-NLP/opus-mt-mul-en's source languages (its model card), as our codes; English needs no pivot.
MARIAN_LANGUAGES = frozenset(
    "en af ar az be bg bn bs ca cs cy da de el es et fa fi fr ga gu he hi hr hu hy id is it ja ka kk km ko lo lt lv"
    " mk mn mr ms my nl no pa pl pt ro ru si sk sl so sq sr sv sw ta th tl tn tr uk ur vi xh yo zh zu".split()
)
COVERAGE: dict[str, frozenset[str]] = {"marian": MARIAN_LANGUAGES, "m2m100": M2M100_LANGUAGES, "qwen": QWEN_LANGUAGES}
# The translator to suggest when the chosen one does not cover a language: smallest first.
SUGGESTION_ORDER = ("marian", "m2m100", "qwen")


def language_name(code: str | None) -> str:
    """"Japanese" for "ja"; "an unrecognised language" for und or None."""
    return NAMES.get(code or UNDETERMINED, "an unrecognised language")


def translator_for(code: str) -> str | None:
    """The smallest backend that translates `code`, for a notice that names what to install."""
    return next((name for name in SUGGESTION_ORDER if code in COVERAGE[name]), None)
