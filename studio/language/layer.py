"""LanguageLayer: from the prompt as typed to the text the video model's encoder reads.

detect the language -> split into spans -> translate the foreign spans (Chinese and protected
tokens pass verbatim) -> optionally enrich -> join. The result says what happened and why, so
the UI can show and let the user edit it, and history can record it. Failing to translate is
never an error: the prompt goes as typed, with a notice that names the fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from .cache import CacheLimits, TranslationCache
from .detect import detect_language
from .languages import COVERAGE, SUPPORTED_LANGUAGES, UNDETERMINED, language_name, translator_for
from .loading import TranslatorUnavailable
from .scripts import dominant_script
from .spans import Span, is_name, split_spans
from .summary import describe
from .translators import Enricher, Translator, make_translator

_SENTENCE_ENDS = tuple("，,。.!！?？;；、")
# The most text one prepare() reads: a prompt at generate's bound (4,000 characters, studio.request) inside a
# preset's style of up to 4,000. Past it the text is sent as typed, unread: detecting and translating grow
# with the length, and a megabyte cost minutes of CPU that every other visitor waited behind.
MAX_CHARS = 8000
FOREIGN_SPANS = ("translate", "keep")


@dataclass(frozen=True)
class SpanResult:
    """One span: as typed, its language, what goes to the model, and whether a translator wrote it.

    kind: "chinese" (verbatim), "text" (translated, or kept where the user asks), "keep" (punctuation, emoji, 4K,
    35mm ...), "name" (a name, brand or loanword in Latin letters inside a Chinese, Japanese or Korean prompt,
    kept as typed), "enrichment" (details the qwen translator added; `text` is empty).
    """

    text: str
    language: str
    output: str
    translated: bool
    kind: str


@dataclass(frozen=True)
class PreparedPrompt:
    """What the layer made of one prompt; `model_prompt` is the concatenation of the spans' outputs."""

    original: str
    language: str
    model_prompt: str
    translated: bool
    spans: tuple[SpanResult, ...]
    backend: str
    model_id: str | None
    seconds: float
    notice: str | None = None
    cached: bool = False
    summary: str = ""  # what was done, in words a user can check ("Chinese and English: Chinese kept, ...")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (spans as a list of dicts) for history, metadata and the API."""
        return {**asdict(self), "spans": [asdict(span) for span in self.spans]}


class LanguageLayer:
    """Detects the prompt's language and translates non-Chinese text to Chinese with one backend.

    translator: "marian", "m2m100", "qwen", "none", "tiny" (see `available_translators()`), or a
    Translator object. cache_dir: where the disk cache (and the tiny model's tokenizer files) live;
    None keeps the cache in memory only. model_id replaces the backend's default model (a hub id
    or a local folder). enrich (qwen only) appends lighting, shot and motion details. cache_limits bounds
    the cache (entries and bytes, memory and disk); text longer than max_chars is sent as typed, unread.
    foreign_spans: what happens to the parts of a Chinese prompt in another language (a quoted 「ありがとう」, an
    English phrase): "translate" (default) or "keep" them as typed. Chinese always reaches the model verbatim.
    """

    def __init__(
        self,
        translator: str | Translator = "tiny",
        *,
        cache_dir: Path | None = None,
        device: str = "cpu",
        model_id: str | None = None,
        enrich: bool = False,
        cache_limits: CacheLimits = CacheLimits(),
        max_chars: int = MAX_CHARS,
        foreign_spans: str = "translate",
    ) -> None:
        if foreign_spans not in FOREIGN_SPANS:
            raise ValueError(f"foreign_spans: {foreign_spans!r} is not one of {', '.join(FOREIGN_SPANS)}")
        self.foreign_spans = foreign_spans
        if isinstance(translator, str):
            self.backend = translator
            self.translator = make_translator(translator, model_id=model_id, device=device, workdir=cache_dir)
        else:
            self.backend, self.translator = translator.name, translator
        if enrich and not isinstance(self.translator, Enricher):
            raise ValueError(f"enrich: only the qwen translator can enrich prompts, not {self.backend!r}")
        self.enrich = enrich
        self.model_id = None if self.translator is None else self.translator.model_id
        self.max_chars = max_chars
        self._cache = TranslationCache(cache_dir, cache_limits)

    def prepare(self, text: str, *, translate: bool = True, subject: str | None = None,
                keep: Sequence[str] = ()) -> PreparedPrompt:
        """The prompt for the text encoder; `translate=False` sends it as typed (the language is still detected).

        subject: the user's own words when `text` wraps them in a preset's style: the language and the summary are
        about them, not about the style's words (which are still translated: "Chinese, sent as typed; the preset's
        style translated with marian").
        keep: phrases the model must read as typed wherever they appear (a LoRA's trigger words: translated, the
        LoRA would never see them).
        """
        started = perf_counter()
        if len(text) > self.max_chars:
            notice = (f"The prompt is {len(text):,} characters; the language layer reads at most {self.max_chars:,}, "
                      "so it is sent as typed, untranslated. Fix: shorten the prompt.")
            whole = [SpanResult(text, UNDETERMINED, text, False, "text")]
            return self._result(subject, text, UNDETERMINED, whole, started, notice,
                                reason=f"longer than {self.max_chars:,} characters")
        language = detect_language(subject if subject and subject.strip() else text)
        spans = _phrases_kept(_names_kept(_split(text, language, subject), language), keep)
        sources = _source_languages(language, spans)
        foreign = any(span.kind == "text" for span in spans)
        enrich = self.enrich and language != UNDETERMINED
        reason = ("translation turned off" if not translate else "no translator chosen" if self.translator is None
                  else "kept as you chose" if language == "zh" and self.foreign_spans == "keep" else None)
        if reason or not (foreign or enrich):
            return self._result(subject, text, language, _span_results(spans, sources, {}, language), started,
                                reason=reason)
        uncovered = f"{self.backend} does not translate it" if _uncovered(sources, self._covered()) else None
        keyed = text if subject is None else f"{text}\x00{subject}"  # the subject decides the language
        keyed += "".join(f"\x01{phrase}" for phrase in sorted(set(keep)))  # so do the phrases kept
        key = TranslationCache.key(self.backend, self.model_id, keyed, self.enrich)
        if (hit := self._cache.get(key)) is not None:
            spans_done = [SpanResult(**span) for span in hit["spans"]]
            return self._result(subject, text, hit["language"], spans_done, started, hit["notice"], cached=True,
                                reason=uncovered)
        try:
            results, notice = self._translate(language, spans, sources, enrich)
        except TranslatorUnavailable as exc:
            return self._result(subject, text, language, _span_results(spans, sources, {}, language), started, str(exc),
                                reason=f"the {self.backend} translator is not installed")
        prepared = self._result(subject, text, language, results, started, notice, reason=uncovered)
        if prepared.translated:
            self._cache.put(key, _cacheable(prepared))
        return prepared

    def _translate(
        self, language: str, spans: list[Span], sources: dict[int, str], enrich: bool
    ) -> tuple[list[SpanResult], str | None]:
        """Translate the text spans, one batch per source language the translator covers; enrich if asked."""
        assert self.translator is not None
        covered = self._covered()
        outputs: dict[int, str] = {}
        for source in sorted(set(sources.values()) & covered):
            group = [i for i in sources if sources[i] == source]
            outputs.update(zip(group, self.translator.translate([spans[i].text for i in group], source)))
        results = _span_results(spans, sources, outputs, language)
        if enrich:
            results.append(self._enrichment(results))
        notices = []
        if UNDETERMINED in sources.values():
            notices.append(
                f"Some of the prompt is in a language the translators do not handle (they handle "
                f"{len(SUPPORTED_LANGUAGES)} languages); that part is sent as typed."
            )
        notices += [_uncovered_notice(self.backend, code) for code in _uncovered(sources, covered)]
        if outputs and self.translator.notice:
            notices.append(self.translator.notice)
        return results, " ".join(notices) or None

    def _covered(self) -> frozenset[str]:
        """The languages this backend translates (a Translator object of its own: all the layer detects)."""
        return COVERAGE.get(self.backend, frozenset(SUPPORTED_LANGUAGES))

    def _enrichment(self, results: list[SpanResult]) -> SpanResult:
        assert isinstance(self.translator, Enricher)
        base = "".join(r.output for r in results)
        separator = "" if base.rstrip().endswith(_SENTENCE_ENDS) else "，"
        return SpanResult("", "zh", separator + self.translator.enrich(base), True, "enrichment")

    def _result(
        self, subject: str | None, text: str, language: str, results: list[SpanResult], started: float,
        notice: str | None = None, cached: bool = False, reason: str | None = None,
    ) -> PreparedPrompt:
        summary = _summary(language, results, self.backend, reason, subject)
        if any(r.kind == "enrichment" for r in results):
            summary += f"; lighting, shot and motion details added by {self.backend}"
        return PreparedPrompt(
            original=text, language=language, model_prompt="".join(r.output for r in results),
            translated=any(r.translated for r in results), spans=tuple(results), backend=self.backend,
            model_id=self.model_id, seconds=perf_counter() - started, notice=notice, cached=cached, summary=summary,
        )


def _names_kept(spans: list[Span], language: str) -> list[Span]:
    """In a Chinese, Japanese or Korean prompt, Latin names, brands and loanwords (iPhone, vlog) are kept as typed."""
    if language not in ("zh", "ja", "ko"):
        return spans
    return [Span("name", span.text) if span.kind == "text" and is_name(span.text) else span for span in spans]


def _phrases_kept(spans: list[Span], keep: Sequence[str]) -> list[Span]:
    """Each phrase of `keep` (any case) becomes a span of its own that goes to the model as typed; what is left of a
    text span around it stays text, or is kept when it has no letters (", ")."""
    phrases = sorted({phrase.strip() for phrase in keep if phrase and phrase.strip()}, key=len, reverse=True)
    if not phrases:
        return spans
    pattern = re.compile("|".join(re.escape(phrase) for phrase in phrases), re.IGNORECASE)
    out: list[Span] = []
    for span in spans:
        if span.kind != "text":
            out.append(span)
            continue
        start = 0
        for found in pattern.finditer(span.text):
            out.extend(_rest(span.text[start:found.start()]))
            out.append(Span("name", found.group(0)))
            start = found.end()
        out.extend(_rest(span.text[start:]))
    return out


def _rest(piece: str) -> list[Span]:
    """A piece beside a kept phrase: its words are text, the punctuation and spaces at its ends are kept (the
    seams "…, wtrclr style, …" survive translation)."""
    match = re.fullmatch(r"(\W*)(.*?)(\W*)", piece, re.DOTALL)
    lead, words, trail = match.groups() if match else ("", piece, "")
    return [span for span in (Span("keep", lead), Span("text", words), Span("keep", trail)) if span.text]


def _source_languages(language: str, spans: list[Span]) -> dict[int, str]:
    """The language of each text span by index, detected once per script ("東京の夜景, 4K, cinematic": ja, en).

    Text spans hold Han only in Japanese or Korean prompts, so Han-only text detected as Chinese
    ("夜景") takes the prompt's language.
    """
    foreign = {i: dominant_script(span.text) for i, span in enumerate(spans) if span.kind == "text"}
    by_script = {}
    for script in set(foreign.values()):
        detected = detect_language(" ".join(spans[i].text for i, other in foreign.items() if other == script))
        by_script[script] = language if detected == "zh" else detected
    return {i: by_script[script] for i, script in foreign.items()}


def _typed(subject: str | None) -> str:
    """The user's words as a preset's template holds them (presets.Preset.apply tidies the seams)."""
    return " ".join((subject or "").split()).rstrip(",.;:，。；、 ")


def _split(text: str, language: str, subject: str | None) -> list[Span]:
    """Spans of `text`; the subject's own words (inside a preset's style) never share a span with the style."""
    han_is_chinese = language not in ("ja", "ko")
    typed = _typed(subject)
    start = text.find(typed) if typed else -1
    if start < 0:
        return split_spans(text, han_is_chinese=han_is_chinese)
    pieces = (text[:start], typed, text[start + len(typed):])
    return [span for piece in pieces if piece for span in split_spans(piece, han_is_chinese=han_is_chinese)]


def _summary(language: str, results: list[SpanResult], backend: str, reason: str | None, subject: str | None) -> str:
    """describe() of the user's own words; with a preset's style around them, a word on what became of the style."""
    if not subject:
        return describe(language, results, backend, reason)
    typed = _typed(subject)
    start = "".join(r.text for r in results).find(typed) if typed else -1
    if start < 0:
        return describe(language, results, backend, reason)
    mine, style, position = [], [], 0
    for r in results:
        inside = start <= position < start + len(typed) or (r.kind == "enrichment")
        (mine if inside else style).append(r)
        position += len(r.text)
    summary = describe(language, [r for r in mine if r.kind != "enrichment"], backend, reason)
    if any(r.translated for r in style):
        summary += f"; the preset's style translated with {backend}"
    return summary


def _uncovered_notice(backend: str, code: str) -> str:
    suggestion = translator_for(code)
    fix = (f"Fix: choose the {suggestion} translator, which translates it." if suggestion
           else "No translator here translates it.")
    return f"The {backend} translator does not translate {language_name(code)}, so that part is sent as typed. {fix}"


def _uncovered(sources: dict[int, str], covered: frozenset[str]) -> list[str]:
    """The detected languages of the text spans that the translator does not translate."""
    return sorted(set(sources.values()) - covered - {UNDETERMINED})


def _span_results(
    spans: list[Span], sources: dict[int, str], outputs: dict[int, str], language: str
) -> list[SpanResult]:
    """SpanResults in order; a span without an entry in `outputs` goes to the model as typed."""
    def span_language(i: int, span: Span) -> str:
        return {"chinese": "zh", "keep": UNDETERMINED, "name": UNDETERMINED}.get(span.kind) or sources.get(i, language)

    return [
        SpanResult(span.text, span_language(i, span), outputs.get(i, span.text), i in outputs, span.kind)
        for i, span in enumerate(spans)
    ]


def _cacheable(prepared: PreparedPrompt) -> dict[str, Any]:
    """What a later run can reuse: everything except timing and identity fields the key already holds."""
    data = prepared.to_dict()
    return {name: data[name] for name in ("language", "model_prompt", "spans", "notice")}
