"""One sentence that says what the layer did, in words a user can check against the prompt.

"Chinese, sent as typed"; "Chinese and English: Chinese kept, 2 English parts translated";
"Japanese, translated to Chinese with m2m100". The panel, the CLI's JSON and history all show it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from .languages import UNDETERMINED, language_name


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _parts(count: int, name: str, done: str) -> str:
    return f"{count} {name} part{'s' if count > 1 else ''} {done}"


def describe(language: str, spans: Iterable[Any], backend: str, reason: str | None = None) -> str:
    """The sentence for a prepared prompt: its languages, what was kept, what was translated, with what.

    spans: SpanResults (text, language, translated, kind); reason: why untranslated text was sent as typed.
    """
    spans = [span for span in spans if span.kind in ("chinese", "text", "name")]
    names = sum(span.kind == "name" for span in spans)
    words = [span for span in spans if span.kind != "name"]
    if not words:
        return "No words to translate, sent as typed" if not names else f"{_names(names)}, sent as typed"
    order = [language] + [span.language for span in words if span.language != language]
    languages = list(dict.fromkeys(code for code in order if any(span.language == code for span in words)))
    translated = Counter(span.language for span in words if span.translated)
    kept = Counter(span.language for span in words if not span.translated and span.kind == "text")
    suffix = f" ({reason})" if reason and kept else ""
    extra = f"; {_names(names)} kept as typed" if names else ""
    if len(languages) == 1:
        name = language_name(languages[0]) if languages[0] != UNDETERMINED else "Language not recognised"
        if translated:
            return f"{name}, translated to Chinese with {backend}{extra}"
        return f"{name}, sent as typed{suffix}{extra}"
    parts = ["Chinese kept"] if any(span.kind == "chinese" for span in words) else []
    for code in languages:
        if code == "zh":
            continue
        if translated[code]:
            parts.append(_parts(translated[code], language_name(code), "translated"))
        if kept[code]:
            parts.append(_parts(kept[code], language_name(code), "kept as typed"))
    with_backend = f" with {backend}" if translated else ""
    heads = [language_name(code) if code != UNDETERMINED else "an unrecognised language" for code in languages]
    return f"{_join(heads)}: {', '.join(parts)}{with_backend}{suffix}{extra}"


def _names(count: int) -> str:
    return f"{count} name{'s' if count > 1 else ''} or brand{'s' if count > 1 else ''}"
