"""Load a translation model once per process, from local files unless downloads are allowed.

The layer does not download by default (STUDIO_DOWNLOAD=1 or a Hugging Face Space turns it on): on a machine without the weights (offline, CI, a fresh Space) a
download attempt means 20+ seconds of retries before the same failure. Loading reads the Hugging
Face cache or a local folder and fails in milliseconds with TranslatorUnavailable, whose message
names the model and the fix. Models live in a process-wide table, so every LanguageLayer shares
them; the first load happens on first use, never at import.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

from ..errors import ModelUnavailable

T = TypeVar("T")

_LOADED: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


class TranslatorUnavailable(ModelUnavailable):
    """A translator's weights are not on this machine (or do not load); the message says how to fix it."""

    def __init__(self, model_id: str, problem: str) -> None:
        self.model_id = model_id
        super().__init__(
            f"translation model {model_id} {problem}; sending your prompt as typed. "
            f"Fix: run `hf download {model_id}`, or choose another translator."
        )


def load_once(key: tuple[str, ...], build: Callable[[], T]) -> T:
    """`build()` the first time `key` is asked for, the same object afterwards (thread-safe)."""
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = build()
        return _LOADED[key]


def load_pretrained(model_class: str, tokenizer_class: str, model_id: str, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) of transformers classes named by string, from local files, in eval mode on `device`."""

    def build() -> tuple[Any, Any]:
        import torch
        import transformers

        try:  # the model first: when nothing is there, it fails with a plain OSError
            model = getattr(transformers, model_class).from_pretrained(
                model_id, local_files_only=_local_only(), dtype=torch.float32 if device == "cpu" else torch.bfloat16
            )
            tokenizer = getattr(transformers, tokenizer_class).from_pretrained(
                model_id, local_files_only=_local_only()
            )
        except Exception as exc:  # OSError when absent; ValueError/ImportError/safetensors errors when broken
            raise TranslatorUnavailable(model_id, _problem(exc)) from exc
        return model.to(device).eval(), tokenizer

    return load_once((model_class, model_id, device), build)


def _local_only() -> bool:
    """Download only where asked (STUDIO_DOWNLOAD=1) or on a Hugging Face Space, which has a network."""
    return os.environ.get("STUDIO_DOWNLOAD", "1" if os.environ.get("SPACE_ID") else "0") != "1"


def _problem(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return "is not available offline (not in the Hugging Face cache)"
    first_line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"could not be loaded ({type(exc).__name__}: {first_line})"
