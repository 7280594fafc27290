"""Turbo mode: skip most of a denoising forward when it would barely change (step caching).

diffusers' FirstBlockCache runs the first transformer block every step and, when its residual
moved less than `threshold` (relative mean absolute change) since the last full forward, reuses
the cached residual of the remaining 39 blocks. The hooks are attached for a turbo job and removed
after it, so quality jobs stay exact. (diffusers' MagCache is not used: it needs a magnitude-ratio
curve calibrated on the real checkpoint, and its hook counts steps per model, so with Wan2.2's two
experts each would need its own curve over its own share of the steps.) Quality cost: the skipped steps reuse stale residuals; the bench measures
the final latent's error against the exact run (on random weights, which do not reproduce a real
trajectory: the real model's skip rate and error must be measured on the real weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jobhooks import JobHook
from . import experts

DEFAULT_THRESHOLD = 0.1


@dataclass
class StepCache(JobHook):
    """Attaches step caching to both experts for jobs whose `mode` is "turbo", and removes it afterwards."""

    threshold: float = DEFAULT_THRESHOLD
    _attached: list = field(default_factory=list, repr=False)

    def on_job_start(self, pipe: Any, request: Any) -> None:
        if getattr(request, "mode", "quality") != "turbo":
            return
        from diffusers.hooks import FirstBlockCacheConfig

        for model in experts(pipe):
            model.enable_cache(FirstBlockCacheConfig(threshold=self.threshold))
            self._attached.append(model)

    def on_job_end(self, pipe: Any) -> None:
        while self._attached:
            self._attached.pop().disable_cache()

    def describe(self) -> str:
        return f"turbo: FirstBlockCache, threshold {self.threshold:g}"
