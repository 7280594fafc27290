"""The `marian` translator: Helsinki-NLP OPUS-MT models (Apache-2.0, about 300 MB each, fast on CPU).

English goes straight to Chinese with opus-mt-en-zh. The other languages pivot through English:
opus-mt-mul-en first, then opus-mt-en-zh. A pivot loses a little nuance, but it keeps the backend
small (two models instead of nine) and every OPUS-MT pair from our languages into Chinese would
otherwise be a separate download of uneven quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .loading import load_pretrained
from .seq2seq import translate_batch

EN_ZH = "Helsinki-NLP/opus-mt-en-zh"
MUL_EN = "Helsinki-NLP/opus-mt-mul-en"
SIMPLIFIED_CHINESE = ">>cmn_Hans<<"  # opus-mt-en-zh serves several Chinese variants: ask for Simplified


def marian_translate(loaded: tuple[Any, Any], texts: list[str], **generate_kwargs: Any) -> list[str]:
    """Translate with a (MarianMTModel, MarianTokenizer) pair, adding the target-language token it needs."""
    model, tokenizer = loaded
    if SIMPLIFIED_CHINESE in tokenizer.supported_language_codes:
        texts = [f"{SIMPLIFIED_CHINESE} {text}" for text in texts]
    return translate_batch(model, tokenizer, texts, **generate_kwargs)


@dataclass(frozen=True)
class MarianTranslator:
    """English -> Chinese directly; other languages -> English -> Chinese."""

    model_id: str = EN_ZH
    pivot_model_id: str = MUL_EN
    device: str = "cpu"
    name: ClassVar[str] = "marian"
    notice: ClassVar[str | None] = None

    def translate(self, texts: list[str], source: str) -> list[str]:
        if source != "en":
            texts = marian_translate(self._load(self.pivot_model_id), texts)
        return marian_translate(self._load(self.model_id), texts)

    def _load(self, model_id: str) -> tuple[Any, Any]:
        return load_pretrained("MarianMTModel", "MarianTokenizer", model_id, self.device)
