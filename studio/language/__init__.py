"""The language-aware layer: detect the prompt's language, send Chinese to the model.

Wan2.2's text encoder reads Chinese best. `detect_language` names the prompt's language;
`LanguageLayer(...).prepare(text)` returns a `PreparedPrompt` whose `model_prompt` keeps Chinese
spans and camera jargon verbatim and translates the rest with the chosen backend. Importing
this package loads no model and starts no thread.
"""

from .detect import detect_language
from .languages import SUPPORTED_LANGUAGES, UNDETERMINED
from .layer import LanguageLayer, PreparedPrompt, SpanResult
from .loading import TranslatorUnavailable
from .translators import Enricher, Translator, available_translators

__all__ = [
    "SUPPORTED_LANGUAGES",
    "UNDETERMINED",
    "Enricher",
    "LanguageLayer",
    "PreparedPrompt",
    "SpanResult",
    "Translator",
    "TranslatorUnavailable",
    "available_translators",
    "detect_language",
]
