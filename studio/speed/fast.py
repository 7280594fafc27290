"""Fast mode: a step-distilled (Lightning-style) LoRA fused into both experts, 4 steps, no CFG.

The LoRA is fused into the weights (W += scale · B·A, computed in FP32) rather than applied on
the fly, so a fast step costs exactly one plain forward; guidance 1.0 drops the unconditional
pass, so 4 steps are 4 forwards instead of 80. The low-rank factors are kept (a few hundred MB, in
CPU memory) so a later quality job can subtract the same product again; that round trip is exact up to one
BF16 rounding per weight. The LoRA library reads the file (studio.loras), so the original Wan,
ComfyUI/Kohya and diffusers key layouts all work. A separate file per expert is allowed
(Wan2.2 Lightning ships a high-noise and a low-noise LoRA).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailable, StudioError
from ..jobhooks import JobHook
from ..loras import fusion
from ..loras.files import inspect
from ..loras.hook import wanted
from ..loras.library import assign
from . import experts

FAST_STEPS = 4
FAST_GUIDANCE = 1.0


def fast_request(request: Any) -> Any:
    """The settings a step-distilled LoRA was trained for; other modes pass through unchanged."""
    if request.mode != "fast":
        return request
    guidance_2 = FAST_GUIDANCE if request.guidance_scale_2 is not None else None
    return dataclasses.replace(request, steps=FAST_STEPS, guidance_scale=FAST_GUIDANCE, guidance_scale_2=guidance_2)


@dataclass
class FastMode(JobHook):
    """Fuses the step-distilled LoRA at the first fast job and takes it out at the next job of another mode.

    The LoRA is STUDIO_FAST_LORA's file(s) when set, else the library's step-distilled entry (named
    lightx2v, lightning, 4step... or marked `"fast": true` in its sidecar). The fusion is the LoRA
    library's (studio.loras.fusion), under its own owner, so a job's own LoRAs and this one never undo
    each other; what is fused is kept on the pipeline, so a pipeline loaded afresh starts unfused.
    """

    lora: Path | None = None
    lora_2: Path | None = None  # for transformer_2; defaults to `lora`
    scale: float = 1.0
    library: Any = None  # a studio.loras.LoraLibrary to take the LoRA from when no path is set
    fuse_seconds: float = 0.0
    unfuse_seconds: float = 0.0
    fused_linears: int = 0

    def on_job_start(self, pipe: Any, request: Any) -> None:
        if getattr(request, "mode", "quality") == "fast":
            parts = [wanted(app) for app in self.applications(getattr(request, "model", ""), len(experts(pipe)))]
            report = fusion.sync(pipe, _OWNER, parts, adapters=False)
            if report.added or report.changed:
                self.fuse_seconds = report.seconds
            self.fused_linears = report.linears
        elif fusion.applied(pipe, _OWNER):
            self.unfuse_seconds = fusion.clear(pipe, _OWNER).seconds
            self.fused_linears = 0

    def chosen(self) -> str:
        """Which LoRA fast mode uses, in words; raises ModelUnavailable saying why there is none."""
        if self.lora is not None:
            both = f"{self.lora.name} + {self.lora_2.name}" if self.lora_2 else self.lora.name
            return f"{both} (STUDIO_FAST_LORA)"
        entry = self.library.distilled() if self.library is not None else None
        if entry is None:
            folders = ", ".join(map(str, self.library.folders)) if self.library is not None else "the LoRA library"
            raise ModelUnavailable(
                "fast mode needs a step-distilled LoRA and none is configured. Fix: put one (a Lightning / lightx2v "
                f"4-step LoRA, .safetensors) in {folders}, or set STUDIO_FAST_LORA to its path (two paths, "
                "comma-separated, for separate high- and low-noise LoRAs), or use the quality or turbo mode."
            )
        return f"{entry.name} (LoRA library)"

    def applications(self, model: str, count: int) -> list:
        """The LoRA's parts, each for its expert, at `scale`."""
        self.chosen()
        if self.lora is None:
            return self.library.applications(((self.library.distilled().name, self.scale, None),), model, count)
        paths = {"both": self.lora} if self.lora_2 is None else {"high": self.lora, "low": self.lora_2}
        apps = []
        for role, path in paths.items():
            if not Path(path).is_file():
                raise ModelUnavailable(
                    f"fast mode LoRA {str(path)!r} does not exist. Fix: point STUDIO_FAST_LORA at a step-distilled "
                    "Wan2.2 A14B LoRA (.safetensors), e.g. a Lightning 4-step LoRA."
                )
            try:
                lora = inspect(path)
            except StudioError as exc:  # a setting of the studio, not of the job: the studio's LoRA is unusable
                raise ModelUnavailable(f"the fast mode LoRA of STUDIO_FAST_LORA cannot be used: {exc}") from None
            apps += assign(Path(path).stem, role, lora, self.scale, self.scale, count)
        return apps

    def describe(self) -> str:
        return f"fast mode LoRA fused into {self.fused_linears} linears" if self.fused_linears else "fast mode LoRA not fused"


_OWNER = "fast"
