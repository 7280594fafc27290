"""Speed-ups for the studio's runner, attached from outside as job hooks (never as runner branches).

`SpeedPlan` (plan.py) builds them from settings; each module holds one lever: the attention
backend (attention.py), our 8-bit attention kernel (int8_attention.py), regional compile
(compile.py), FP8 linears (fp8.py), step caching for "turbo" (turbo.py) and the step-distilled
LoRA of "fast" mode (fast.py). Importing any of them touches no GPU and compiles nothing.
"""

from __future__ import annotations

from typing import Any


def experts(pipe: Any) -> list:
    """The pipeline's denoising transformers (one or two experts), skipping absent ones."""
    return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]
