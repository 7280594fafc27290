"""`SpeedPlan`: which speed-ups a studio process uses, built once and attached to every job.

Settings come from the environment (the service has no speed flags of its own yet):
STUDIO_ATTENTION (auto, cudnn, flash, efficient, native, int8, int8-pv16), STUDIO_COMPILE (1/0),
STUDIO_FP8 (1/0), STUDIO_TURBO (the step mask: slow, medium, fast, ultra), STUDIO_FAST_LORA (a path, or "high,low" paths; unset: the LoRA
library's step-distilled entry),
STUDIO_BF16_DECODE (the modes whose VAE decode runs in BF16, comma-separated: "fast" by default, "none"),
STUDIO_FAST_ATTENTION (the attention of fast jobs that leave it at "default": int8 unless set).
The hooks keep state across jobs (the chosen backend, the compiled blocks, the fused LoRA), so
the plan and its hooks live as long as the pipeline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidSetting
from ..jobhooks import JobHook
from .attention import CHOICES, AttentionBackend
from .compile import RegionalCompile
from .decode import MODES as DECODE_MODES
from .decode import Bf16Decode
from .fast import FastMode, fast_request
from .fp8 import Fp8Linears
from .turbo import DEFAULT_POLICY, POLICIES, StepCache


@dataclass
class SpeedPlan:
    attention: str = "auto"
    fast_attention: str = "int8"
    compile: bool = True
    fp8: bool = False
    turbo_policy: str = DEFAULT_POLICY
    fast_lora: tuple[Path | None, Path | None] = (None, None)
    bf16_decode: tuple[str, ...] = ("fast",)
    library: Any = None  # the studio's studio.loras.LoraLibrary: per-job LoRAs, and fast mode's when no path is set
    hooks: tuple[JobHook, ...] = field(init=False)

    def __post_init__(self) -> None:
        for name, value in (("STUDIO_ATTENTION", self.attention), ("STUDIO_FAST_ATTENTION", self.fast_attention)):
            if value not in CHOICES:
                raise InvalidSetting(f"{name}={value!r} is not an attention choice. Fix: one of {', '.join(CHOICES)}.")
        if self.turbo_policy not in POLICIES:
            raise InvalidSetting(f"STUDIO_TURBO={self.turbo_policy!r} is not a step mask. Fix: one of {', '.join(POLICIES)} "
                                 f"(fewest steps cached first).")
        unknown = sorted(set(self.bf16_decode) - set(DECODE_MODES))
        if unknown:
            raise InvalidSetting(f"STUDIO_BF16_DECODE names no mode {', '.join(map(repr, unknown))}. Fix: a comma-"
                                 f"separated list of {', '.join(DECODE_MODES)}, or none.")
        # Order matters: LoRAs are fused into BF16 weights before FP8 could replace them (with FP8 on, a job's own
        # LoRAs are adapters), and the attention backend and FP8 linears are in place before the blocks are compiled.
        from ..loras import LoraLibrary
        from ..loras.hook import JobLoras

        library = self.library if self.library is not None else LoraLibrary(())
        hooks: list[JobHook] = [FastMode(*self.fast_lora, library=library), JobLoras(library, adapters=self.fp8)]
        if self.fp8:
            hooks.append(Fp8Linears())
        hooks.append(AttentionBackend(self.attention, self.fast_attention))
        if self.compile:
            hooks.append(RegionalCompile())
        hooks.append(StepCache(self.turbo_policy))
        hooks.append(Bf16Decode(self.bf16_decode))
        self.hooks = tuple(hooks)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, library: Any = None) -> "SpeedPlan":
        env = os.environ if env is None else env
        loras = [Path(p.strip()) for p in env.get("STUDIO_FAST_LORA", "").split(",") if p.strip()]
        return cls(
            attention=env.get("STUDIO_ATTENTION", "auto"),
            fast_attention=env.get("STUDIO_FAST_ATTENTION", "int8"),
            compile=env.get("STUDIO_COMPILE", "1") != "0",
            fp8=env.get("STUDIO_FP8", "0") == "1",
            turbo_policy=env.get("STUDIO_TURBO", DEFAULT_POLICY),
            fast_lora=(loras[0] if loras else None, loras[1] if len(loras) > 1 else None),
            bf16_decode=tuple(m.strip() for m in env.get("STUDIO_BF16_DECODE", "fast").split(",")
                              if m.strip() and m.strip() != "none"),
            library=library,
        )

    @property
    def fast(self) -> FastMode:
        """Fast mode's hook: which LoRA it uses (`chosen()`)."""
        return next(hook for hook in self.hooks if isinstance(hook, FastMode))

    @property
    def turbo(self) -> StepCache:
        """Turbo mode's hook: its step-mask policy and the last job's masks."""
        return next(hook for hook in self.hooks if isinstance(hook, StepCache))

    def prepare(self, request: Any) -> Any:
        """Adjust a request to its mode's needs (fast: 4 steps, guidance 1.0)."""
        return fast_request(request)

    def describe(self) -> str:
        return "; ".join(hook.describe() for hook in self.hooks)

