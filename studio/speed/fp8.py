"""FP8 linears on Hopper/Ada: torchao's dynamic FP8 activations and weights with per-row scales.

Only worth it together with compile: eager FP8 is *slower* than BF16 (13.0 vs 12.0 s per 720P
forward on an H100), FP8 + regional compile is the fastest linear path (9.9 s). The weights are
stored in FP8, which halves each expert's linear weights in memory. The cost is accuracy: 8.1 %
relative L2 error of a whole forward against BF16 with random weights (DESIGN.md), so this lever
is opt-in, and it is applied once and for good (the BF16 weights are replaced).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..jobhooks import JobHook
from . import experts


def is_block_linear(module: torch.nn.Module, name: str) -> bool:
    """The transformer blocks' projections (attention and FFN), where the FLOPs are; not embeddings or heads."""
    return (
        isinstance(module, torch.nn.Linear) and name.startswith("blocks.")
        and module.in_features % 16 == 0 and module.out_features % 16 == 0
    )


def unavailable_reason(device: torch.device) -> str | None:
    """Why FP8 linears cannot run on `device` (where the weights are), or None when they can.

    torchao replaces the weight tensors, so the experts must stay resident: a memory plan that
    swaps them in and out of pinned CPU memory keeps its own handles to the BF16 weights.
    """
    if not torch.cuda.is_available():
        return "FP8 linears need a CUDA GPU"
    if device.type != "cuda":
        return "FP8 linears need the experts resident on the GPU (memory plan 'resident')"
    if torch.cuda.get_device_capability(device) < (8, 9):
        return "FP8 linears need compute capability 8.9 or newer (Ada, Hopper)"
    try:
        import torchao.quantization  # noqa: F401
    except ImportError:
        return "torchao is not installed (pip install torchao)"
    return None


@dataclass
class Fp8Linears(JobHook):
    """Quantizes the experts' block linears to FP8 at the first quality or turbo job on a capable GPU; says
    why when it cannot.

    Fast jobs are left in BF16: their LoRA is fused into the BF16 weights and subtracted again before the
    next job of another mode, which FP8 weights would make impossible (the pipeline would stay fused)."""

    skipped: str | None = None
    quantized: int = 0

    def on_job_start(self, pipe: Any, request: Any) -> None:
        if getattr(request, "mode", "quality") == "fast":
            return
        for model in experts(pipe):
            if getattr(model, "_studio_fp8", False):
                continue  # marked on the model: a freshly loaded pipeline is quantized again
            self.skipped = unavailable_reason(model.device)
            if self.skipped:
                return
            quantize_fp8(model)
            model._studio_fp8 = True
            self.quantized += 1

    def describe(self) -> str:
        return f"FP8 linears: {self.skipped}" if self.skipped else f"FP8 linears on {self.quantized} expert(s)"


def quantize_fp8(model: torch.nn.Module) -> None:
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    quantize_(model, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()), filter_fn=is_block_linear)
