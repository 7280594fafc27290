"""LanguageLayer: from the prompt as typed to the text the video model's encoder reads.

detect the language -> split into spans -> translate the foreign spans (Chinese and protected
tokens pass verbatim) -> optionally enrich -> join. The result says what happened and why, so
the UI can show and let the user edit it, and history can record it. Failing to translate is
never an error: the prompt goes as typed, with a notice that names the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from .cache import CacheLimits, TranslationCache
from .detect import detect_language
from .languages import SUPPORTED_LANGUAGES, UNDETERMINED
from .loading import TranslatorUnavailable
from .scripts import dominant_script
from .spans import Span, split_spans
from .translators import Enricher, Translator, make_translator

_SENTENCE_ENDS = tuple("，,。.!！?？;；、")
# The most text one prepare() reads: a prompt at generate's bound (4,000 characters, studio.request) inside a
# preset's style of up to 4,000. Past it the text is sent as typed, unread: detecting and translating grow
# with the length, and a megabyte cost minutes of CPU that every other visitor waited behind.
MAX_CHARS = 8000


@dataclass(frozen=True)
class SpanResult:
    """One span: as typed, its language, what goes to the model, and whether a translator wrote it.

    kind: "chinese" (verbatim), "text" (translated), "keep" (punctuation, emoji, 4K, 35mm ...),
    "enrichment" (details the qwen translator added; `text` is empty).
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
    ) -> None:
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

    def prepare(self, text: str, *, translate: bool = True) -> PreparedPrompt:
        """The prompt for the text encoder; `translate=False` sends it as typed (the language is still detected)."""
        started = perf_counter()
        if len(text) > self.max_chars:
            notice = (f"The prompt is {len(text):,} characters; the language layer reads at most {self.max_chars:,}, "
                      "so it is sent as typed, untranslated. Fix: shorten the prompt.")
            return self._result(text, UNDETERMINED, [SpanResult(text, UNDETERMINED, text, False, "text")], started,
                                notice)
        language = detect_language(text)
        spans = split_spans(text, han_is_chinese=language not in ("ja", "ko"))
        foreign = any(span.kind == "text" for span in spans)
        enrich = self.enrich and language != UNDETERMINED
        if not translate or self.translator is None or not (foreign or enrich):
            return self._result(text, language, _span_results(spans, {}, {}, language), started)
        key = TranslationCache.key(self.backend, self.model_id, text, self.enrich)
        if (hit := self._cache.get(key)) is not None:
            spans_done = [SpanResult(**span) for span in hit["spans"]]
            return self._result(text, hit["language"], spans_done, started, hit["notice"], cached=True)
        try:
            results, notice = self._translate(language, spans, enrich)
        except TranslatorUnavailable as exc:
            return self._result(text, language, _span_results(spans, {}, {}, language), started, str(exc))
        prepared = self._result(text, language, results, started, notice)
        if prepared.translated:
            self._cache.put(key, _cacheable(prepared))
        return prepared

    def _translate(self, language: str, spans: list[Span], enrich: bool) -> tuple[list[SpanResult], str | None]:
        """Translate the text spans, one batch per source language; enrich if asked."""
        assert self.translator is not None
        foreign = [i for i, span in enumerate(spans) if span.kind == "text"]
        sources = dict(zip(foreign, _source_languages(language, [spans[i] for i in foreign])))
        outputs: dict[int, str] = {}
        for source in sorted(set(sources.values()) - {UNDETERMINED}):
            group = [i for i in foreign if sources[i] == source]
            outputs.update(zip(group, self.translator.translate([spans[i].text for i in group], source)))
        results = _span_results(spans, sources, outputs, language)
        if enrich:
            results.append(self._enrichment(results))
        notices = []
        if UNDETERMINED in sources.values():
            notices.append(
                f"Some of the prompt is in a language the translators do not handle (they handle "
                f"{', '.join(SUPPORTED_LANGUAGES)}); that part is sent as typed."
            )
        if outputs and self.translator.notice:
            notices.append(self.translator.notice)
        return results, " ".join(notices) or None

    def _enrichment(self, results: list[SpanResult]) -> SpanResult:
        assert isinstance(self.translator, Enricher)
        base = "".join(r.output for r in results)
        separator = "" if base.rstrip().endswith(_SENTENCE_ENDS) else "，"
        return SpanResult("", "zh", separator + self.translator.enrich(base), True, "enrichment")

    def _result(
        self, text: str, language: str, results: list[SpanResult], started: float,
        notice: str | None = None, cached: bool = False,
    ) -> PreparedPrompt:
        return PreparedPrompt(
            original=text, language=language, model_prompt="".join(r.output for r in results),
            translated=any(r.translated for r in results), spans=tuple(results), backend=self.backend,
            model_id=self.model_id, seconds=perf_counter() - started, notice=notice, cached=cached,
        )


def _source_languages(language: str, spans: list[Span]) -> list[str]:
    """The language of each text span, detected once per script ("東京の夜景, 4K, cinematic": ja, en).

    Text spans hold Han only in Japanese or Korean prompts, so Han-only text detected as Chinese
    ("夜景") takes the prompt's language.
    """
    scripts = [dominant_script(span.text) for span in spans]
    by_script = {}
    for script in set(scripts):
        detected = detect_language(" ".join(span.text for span, other in zip(spans, scripts) if other == script))
        by_script[script] = language if detected == "zh" else detected
    return [by_script[script] for script in scripts]


def _span_results(
    spans: list[Span], sources: dict[int, str], outputs: dict[int, str], language: str
) -> list[SpanResult]:
    """SpanResults in order; a span without an entry in `outputs` goes to the model as typed."""
    def span_language(i: int, span: Span) -> str:
        return {"chinese": "zh", "keep": UNDETERMINED}.get(span.kind) or sources.get(i, language)

    return [
        SpanResult(span.text, span_language(i, span), outputs.get(i, span.text), i in outputs, span.kind)
        for i, span in enumerate(spans)
    ]


def _cacheable(prepared: PreparedPrompt) -> dict[str, Any]:
    """What a later run can reuse: everything except timing and identity fields the key already holds."""
    data = prepared.to_dict()
    return {name: data[name] for name in ("language", "model_prompt", "spans", "notice")}
