"""One batched `generate()` call for encoder-decoder translators (Marian, M2M100).

transformers 5 has no translation pipeline; this is the few lines it used to hide. Beam width
and the like come from each checkpoint's own generation config, as its authors set them.
"""

from __future__ import annotations

from typing import Any


def output_budget(input_tokens: int) -> int:
    """Most tokens a translation of `input_tokens` tokens may take.

    A translated prompt is never this long; the cap ends a degenerate repetition loop (a damaged
    or random-weight model) in seconds instead of minutes.
    """
    return 2 * input_tokens + 16


def translate_batch(model: Any, tokenizer: Any, texts: list[str], **generate_kwargs: Any) -> list[str]:
    """Translate `texts` in one padded batch; extra kwargs go to `model.generate` (e.g. forced_bos_token_id)."""
    import torch

    inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(model.device)
    options = {"max_new_tokens": output_budget(inputs["input_ids"].shape[1]), **generate_kwargs}
    with torch.inference_mode():
        output = model.generate(**inputs, **options)
    return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
