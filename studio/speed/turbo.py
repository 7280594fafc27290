"""Turbo mode: skip most of a denoising forward when it would barely change (step caching).

diffusers' FirstBlockCache runs the first transformer block every step and, when its residual
moved less than `threshold` (relative mean absolute change) since the last full forward, reuses
the cached residual of the remaining 39 blocks. MagCache decides from a per-step magnitude-ratio
curve instead; that curve is checkpoint-specific (calibrated on the real weights), so it is used
only when one is supplied. The hooks are attached for a turbo job and removed after it, so
quality jobs stay exact. Quality cost: the skipped steps reuse stale residuals; the bench measures
the final latent's error against the exact run (on random weights, which do not reproduce a real
trajectory: the real model's skip rate and error must be measured on the real weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..jobhooks import JobHook
from . import experts

DEFAULT_THRESHOLD = 0.1


def cache_config(threshold: float, mag_ratios: Sequence[float] | None, steps: int):
    """FirstBlockCache, or MagCache when a calibrated magnitude-ratio curve is given."""
    if mag_ratios is not None:
        from diffusers.hooks import MagCacheConfig

        return MagCacheConfig(threshold=threshold, mag_ratios=list(mag_ratios), num_inference_steps=steps)
    from diffusers.hooks import FirstBlockCacheConfig

    return FirstBlockCacheConfig(threshold=threshold)


@dataclass
class StepCache(JobHook):
    """Attaches step caching to both experts for jobs whose `mode` is "turbo", and removes it afterwards."""

    threshold: float = DEFAULT_THRESHOLD
    mag_ratios: Sequence[float] | None = None
    _attached: list = field(default_factory=list, repr=False)

    def on_job_start(self, pipe: Any, request: Any) -> None:
        if getattr(request, "mode", "quality") != "turbo":
            return
        for model in experts(pipe):
            model.enable_cache(cache_config(self.threshold, self.mag_ratios, request.steps))
            self._attached.append(model)

    def on_job_end(self, pipe: Any) -> None:
        while self._attached:
            self._attached.pop().disable_cache()

    def describe(self) -> str:
        kind = "MagCache" if self.mag_ratios is not None else "FirstBlockCache"
        return f"turbo: {kind}, threshold {self.threshold:g}"
