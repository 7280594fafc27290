"""The `m2m100` translator: facebook/m2m100_418M (MIT), one model from each of our languages to Chinese.

Better than the Marian pivot for languages far from English (ja, ko, ru), at 1.9 GB and a few
seconds per prompt on CPU.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from .loading import load_pretrained
from .seq2seq import translate_batch

M2M100 = "facebook/m2m100_418M"
_SOURCE_LOCK = threading.Lock()  # the shared tokenizer carries the source language as state


@dataclass(frozen=True)
class M2M100Translator:
    """Any supported language -> Chinese, the source language set on the shared tokenizer."""

    model_id: str = M2M100
    device: str = "cpu"
    name: ClassVar[str] = "m2m100"
    notice: ClassVar[str | None] = None

    def translate(self, texts: list[str], source: str) -> list[str]:
        model, tokenizer = load_pretrained(
            "M2M100ForConditionalGeneration", "M2M100Tokenizer", self.model_id, self.device
        )
        with _SOURCE_LOCK:
            tokenizer.src_lang = source
            outputs = translate_batch(model, tokenizer, texts, forced_bos_token_id=tokenizer.get_lang_id("zh"))
        # transformers 5 does not count the "__zh__" language token as special when decoding.
        return [output.replace(tokenizer.get_lang_token("zh"), "").strip() for output in outputs]
