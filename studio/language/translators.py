"""The translator backends by name: what each one is, and how to build one.

A translator is anything with `name`, `model_id`, `notice` (shown with every result, or None) and
`translate(texts, source) -> texts in Chinese`; one that can also `enrich(prompt)` supports
enrich mode. Building one loads nothing: models load on the first `translate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from .m2m100 import M2M100, M2M100Translator
from .marian import EN_ZH, MUL_EN, MarianTranslator
from .qwen import QWEN, QwenTranslator
from .tiny_translator import TINY_MODEL_ID, TinyTranslator


class Translator(Protocol):
    """Turns texts in one source language into Chinese; loads its model on first use."""

    name: str
    model_id: str
    notice: str | None

    def translate(self, texts: list[str], source: str) -> list[str]: ...


@runtime_checkable
class Enricher(Protocol):
    """A translator that can also add lighting, shot and motion details to a Chinese prompt."""

    def enrich(self, prompt: str) -> str: ...


CATALOG: dict[str, dict[str, str | None]] = {
    "marian": {
        "model_id": EN_ZH,
        "licence": "Apache-2.0",
        "description": f"OPUS-MT, ~300 MB, fast on CPU; English direct, other languages via English ({MUL_EN}).",
    },
    "m2m100": {
        "model_id": M2M100,
        "licence": "MIT",
        "description": "One multilingual model (1.9 GB) from every supported language straight to Chinese.",
    },
    "qwen": {
        "model_id": QWEN,
        "licence": "Apache-2.0",
        "description": "Instruction LLM (3 GB) that rewrites the prompt in Chinese; can add lighting, shot, motion.",
    },
    "none": {
        "model_id": None,
        "licence": None,
        "description": "No translation: the prompt goes to the video model as typed.",
    },
    "tiny": {
        "model_id": TINY_MODEL_ID,
        "licence": "Apache-2.0 (built in code)",
        "description": "Random-weight MarianMT for tests and the tiny demo: proves the code path, not a translation.",
    },
}


def available_translators() -> list[dict[str, str | None]]:
    """Name, model id, licence and a one-line description of every backend, for menus and docs.

    NLLB-200 is not offered: its licence (CC-BY-NC-4.0) forbids commercial use.
    """
    return [{"name": name, **entry} for name, entry in CATALOG.items()]


def make_translator(
    name: str, *, model_id: str | None = None, device: str = "cpu", workdir: Path | None = None
) -> Translator | None:
    """The backend called `name` (None for "none"); `model_id` replaces its default model."""
    if name not in CATALOG:
        raise ValueError(f"translator: {name!r} is not a translator; choose one of {', '.join(CATALOG)}")
    if model_id is not None and name in ("none", "tiny"):
        raise ValueError(f"model_id: the {name!r} translator has no model to replace (got {model_id!r})")
    if name == "none":
        return None
    if name == "tiny":
        return TinyTranslator(workdir=workdir, device=device)
    backend = {"marian": MarianTranslator, "m2m100": M2M100Translator, "qwen": QwenTranslator}[name]
    return backend(device=device) if model_id is None else backend(model_id=model_id, device=device)
