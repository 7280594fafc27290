"""Part 2 of the bench: stock diffusers and the studio's runner end to end, on shortened schedules.

Both run the same pipeline object on the same card in the same process: stock first (diffusers'
`WanPipeline.__call__` with default settings, everything resident), then the studio's
`PipelineRunner` with a memory plan and the speed hooks. Three steps cover both experts at
shift 12 (two high-noise steps, one low-noise step): the first step carries warm-up or compile,
the later ones are steady. `bench.compose` turns these into 40-step figures.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from studio.jobhooks import JobHook
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner

from .timing import peak_gb, reset_peak, sync

PROMPT = "a red fox running through fresh snow at dawn, cinematic, detailed fur"
NEGATIVE = MODELS["wan2.2-t2v-a14b"].negative_prompt
GUIDANCE = (4.0, 3.0)


def stock(pipe, width: int, height: int, steps: int, seed: int = 0, frames: int = 81) -> dict[str, Any]:
    """diffusers' own call, decode included; per-step times from a synchronising step callback."""
    clock, step_seconds = [0.0], []

    def on_step_end(_pipe, i, t, tensors):
        sync()
        now = time.perf_counter()
        step_seconds.append(now - clock[0])
        clock[0] = now
        return {}

    reset_peak()
    sync()
    start = clock[0] = time.perf_counter()
    with torch.inference_mode():
        pipe(
            prompt=PROMPT, negative_prompt=NEGATIVE, height=height, width=width, num_frames=frames,
            num_inference_steps=steps, guidance_scale=GUIDANCE[0], guidance_scale_2=GUIDANCE[1],
            generator=torch.Generator("cpu").manual_seed(seed), output_type="np", callback_on_step_end=on_step_end,
        )
    sync()
    total = time.perf_counter() - start
    return dict(
        runner="stock diffusers WanPipeline", width=width, height=height, steps=steps, step_seconds=step_seconds,
        after_last_step_s=total - sum(step_seconds), total_s=total, peak_gb=peak_gb(),
        note="step 1 also holds text encoding and latent set-up; after_last_step_s is VAE decode + post-processing",
    )


def ours(pipe, hooks: Sequence[JobHook], width: int, height: int, steps: int, mode: str = "quality",
         seed: int = 0, prepare=None, frames: int = 81) -> dict[str, Any]:
    """The studio's runner with the given hooks; previews on every step, as the UI runs it."""
    request = GenerationRequest.create(
        MODELS["wan2.2-t2v-a14b"], PROMPT, width=width, height=height, frames=frames, steps=steps, seed=seed, mode=mode,
        guidance_scale=GUIDANCE[0], guidance_scale_2=GUIDANCE[1],
    )
    request = prepare(request) if prepare else request
    events: list[tuple[float, str, int | None]] = []
    start = time.perf_counter()

    def emit(event) -> None:
        events.append((time.perf_counter() - start, type(event).__name__, getattr(event, "step", None)))

    reset_peak()
    result = PipelineRunner(pipe, hooks=hooks).run("bench", request, PROMPT, NEGATIVE, emit=emit)
    previews = [t for t, kind, _ in events if kind == "Preview"]
    return dict(
        runner="studio PipelineRunner", mode=mode, width=width, height=height, steps=request.steps,
        guidance=(request.guidance_scale, request.guidance_scale_2), step_seconds=result.step_seconds,
        timings=result.timings, previews=result.previews, preview_cost_ratio=result.preview_cost_ratio,
        first_preview_s=previews[0] if previews else None, peak_gb=peak_gb(),
    )


class LatentTap:
    """Keeps the latent the VAE decodes (its first layer's input), to compare runs on the final latent."""

    def __init__(self, vae) -> None:
        self.latent: torch.Tensor | None = None
        self._handle = vae.post_quant_conv.register_forward_pre_hook(self._keep)

    def _keep(self, module, args) -> None:
        self.latent = args[0].detach().float().clone()

    def close(self) -> None:
        self._handle.remove()


def random_lora(model: torch.nn.Module, rank: int = 32, seed: int = 0) -> Path:
    """A diffusers-format LoRA over every block linear (what a Lightning LoRA touches), small random factors."""
    from safetensors.torch import save_file

    gen = torch.Generator(device="cpu").manual_seed(seed)
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith("blocks."):
            state[f"transformer.{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=gen) * 0.01
            state[f"transformer.{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=gen) * 0.01
    path = Path(tempfile.mkdtemp()) / "lora.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in state.items()}, str(path))
    return path


def move_to_cpu(pipe) -> float:
    """Put every model back on the CPU, as `load_pipeline` leaves it for a memory plan; returns seconds."""
    started = time.perf_counter()
    pipe.to("cpu")
    torch.cuda.empty_cache()
    return time.perf_counter() - started
