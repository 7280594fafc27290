"""Fast mode: a step-distilled (Lightning-style) LoRA fused into both experts, 4 steps, no CFG.

The LoRA is fused into the weights (W += scale · B·A, computed in FP32) rather than applied on
the fly, so a fast step costs exactly one plain forward; guidance 1.0 drops the unconditional
pass, so 4 steps are 4 forwards instead of 80. The low-rank factors are kept (a few hundred MB, in
CPU memory) so a later quality job can subtract the same product again; that round trip is exact up to one
BF16 rounding per weight. diffusers' `lora_state_dict` reads the file, so the original Wan,
ComfyUI/Kohya and diffusers key layouts all work. A separate file per expert is allowed
(Wan2.2 Lightning ships a high-noise and a low-noise LoRA).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelUnavailable
from ..jobhooks import JobHook
from . import experts

FAST_STEPS = 4
FAST_GUIDANCE = 1.0


def fast_request(request: Any) -> Any:
    """The settings a step-distilled LoRA was trained for; other modes pass through unchanged."""
    if request.mode != "fast":
        return request
    guidance_2 = FAST_GUIDANCE if request.guidance_scale_2 is not None else None
    return dataclasses.replace(request, steps=FAST_STEPS, guidance_scale=FAST_GUIDANCE, guidance_scale_2=guidance_2)


def lora_factors(path: Path, prefix: str = "transformer.") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{module name: (A [r, in], B [out, r])} from a LoRA file, alpha/rank already folded in by diffusers."""
    from diffusers import WanPipeline

    if not Path(path).is_file():
        raise ModelUnavailable(
            f"fast mode LoRA {str(path)!r} does not exist. Fix: point STUDIO_FAST_LORA at a step-distilled "
            "Wan2.2 A14B LoRA (.safetensors), e.g. a Lightning 4-step LoRA."
        )
    state = WanPipeline.lora_state_dict(str(path))
    factors = {}
    for key, down in state.items():
        if key.endswith(".lora_A.weight") and key.startswith(prefix):
            name = key[len(prefix) : -len(".lora_A.weight")]
            up = state.get(f"{prefix}{name}.lora_B.weight")
            if up is not None:
                factors[name] = (down, up)
    if not factors:
        raise ModelUnavailable(f"{path} holds no LoRA factors for the transformer (no lora_A/lora_B pairs).")
    return factors


_FUSED = "_studio_fast_lora"  # the fused factors live on the pipeline they changed, and go with it


@dataclass
class FastMode(JobHook):
    """Fuses the LoRA at the first fast job and unfuses it at the next job of another mode.

    What was fused is kept on the pipeline, not here: a pipeline loaded afresh (another model, a
    lighter memory plan after running out of memory) starts unfused, and dropping it frees the factors.
    """

    lora: Path | None = None
    lora_2: Path | None = None  # for transformer_2; defaults to `lora`
    scale: float = 1.0
    fuse_seconds: float = 0.0
    unfuse_seconds: float = 0.0
    fused_linears: int = 0

    def on_job_start(self, pipe: Any, request: Any) -> None:
        wants = getattr(request, "mode", "quality") == "fast"
        fused = getattr(pipe, _FUSED, None)
        if wants and not fused:
            self._fuse(pipe)
        elif not wants and fused:
            self._unfuse(pipe, fused)

    def _unfuse(self, pipe: Any, fused: list) -> None:
        """Subtract the fused product again, wherever the weights live now."""
        started = time.perf_counter()
        self._apply(fused, -1.0)
        setattr(pipe, _FUSED, None)
        self.fused_linears = 0
        self.unfuse_seconds = time.perf_counter() - started

    def _fuse(self, pipe: Any) -> None:
        if self.lora is None:
            raise ModelUnavailable(
                "fast mode needs a step-distilled LoRA and none is configured. Fix: set STUDIO_FAST_LORA to its "
                ".safetensors path (two paths, comma-separated, for separate high- and low-noise LoRAs), or use "
                "the quality or turbo mode."
            )
        started = time.perf_counter()
        fused = []
        paths = (self.lora, self.lora_2 or self.lora)
        for model, path in zip(experts(pipe), paths):
            modules = dict(model.named_modules())
            for name, (down, up) in lora_factors(path).items():
                linear = modules.get(name)
                if not isinstance(linear, torch.nn.Linear) or type(linear.weight.data) is not torch.Tensor:
                    raise ModelUnavailable(
                        f"cannot fuse the fast-mode LoRA into {name!r}: it is not a plain linear layer (FP8 linears "
                        "replace the BF16 weights). Fix: turn FP8 linears off (STUDIO_FP8=0) to use fast mode."
                    )
                fused.append((linear, down.float(), up.float()))
        self._apply(fused, +1.0)
        setattr(pipe, _FUSED, fused)
        self.fused_linears = len(fused)
        self.fuse_seconds = time.perf_counter() - started

    @torch.no_grad()
    def _apply(self, fused: list, sign: float) -> None:
        """W ± scale·B·A where W lives now: a memory plan may have moved it since the LoRA was fused."""
        for linear, down, up in fused:
            weight = linear.weight
            delta = up.to(weight.device) @ down.to(weight.device)
            weight.copy_((weight.float() + sign * self.scale * delta).to(weight.dtype))

    def describe(self) -> str:
        return f"fast mode LoRA fused into {self.fused_linears} linears" if self.fused_linears else "fast mode LoRA not fused"
