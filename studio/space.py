"""Hugging Face Spaces: ZeroGPU attaches a GPU only inside functions wrapped by `spaces.GPU`.

Elsewhere (a workstation, a dedicated-GPU Space, CI) the wrapper is a no-op. The duration asked
of ZeroGPU is estimated from the request, so short jobs do not queue behind a worst-case reservation.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Callable, TypeVar

from .models import ModelSpec

F = TypeVar("F", bound=Callable)

# One expert forward on an H100 at full size, measured (DESIGN.md): 32,760 tokens 3.28 s, 75,600 tokens 12.3 s.
# Fitted as a*N + b*N^2 (linear layers grow with N, attention with N^2).
_B = (12.3 / 75_600 - 3.28 / 32_760) / (75_600 - 32_760)
_A = 3.28 / 32_760 - _B * 32_760
_A14B_PARAMS, _TI2V_PARAMS = 14.3, 5.0


def zero_gpu() -> bool:
    return bool(os.environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


def estimate_seconds(spec: ModelSpec, width: int, height: int, frames: int, steps: int, cfg: bool) -> float:
    """Denoising plus a fixed allowance for text encoding, VAE decode and MP4 writing, with 25 % headroom."""
    stride = 16 if spec.latent_channels == 48 else 8
    tokens = ((frames - 1) // 4 + 1) * (height // stride // 2) * (width // stride // 2)
    forward = _A * tokens + _B * tokens * tokens
    if spec.latent_channels == 48:
        forward *= _TI2V_PARAMS / _A14B_PARAMS
    return 1.25 * (steps * forward * (2 if cfg else 1) + 30.0)


def gpu_task(fn: F, duration: Callable[..., float]) -> F:
    """`spaces.GPU(duration=...)(fn)` on ZeroGPU, `fn` unchanged anywhere else."""
    if not zero_gpu():
        return fn
    import spaces

    return spaces.GPU(duration=duration)(fn)
