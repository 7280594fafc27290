"""Speed-ups for the studio's runner, attached from outside as job hooks (never as runner branches).

`SpeedPlan` (plan.py) builds them from settings; each module holds one lever: the attention
backend (attention.py), our 8-bit attention kernel (int8_attention.py), regional compile
(compile.py), FP8 linears (fp8.py), step caching for "turbo" (turbo.py) and the step-distilled
LoRA of "fast" mode (fast.py). Importing any of them touches no GPU and compiles nothing.
"""

from __future__ import annotations

from typing import Any

import torch


def experts(pipe: Any) -> list:
    """The pipeline's distinct denoising transformers (one or two experts), skipping absent ones."""
    found = [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]
    return [m for i, m in enumerate(found) if all(m is not other for other in found[:i])]


def gpu() -> torch.device | None:
    """The CUDA device speed-ups target, or None without one.

    Not the experts' current device: a memory plan that swaps experts keeps them on the CPU between jobs.
    """
    return torch.device("cuda") if torch.cuda.is_available() else None
