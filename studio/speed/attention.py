"""Pick the attention kernel at the first job from what actually works on this machine.

A backend is only chosen after a small probe call through diffusers' own dispatcher agrees with
exact attention, so a missing package, an old cuDNN or a card without FP8 falls through to the
next candidate instead of failing a job. Measured at 75,600 tokens: on one H100 (DESIGN.md) cuDNN 585,
FlashAttention-2 366, memory-efficient 183 TFLOP/s — hence cuDNN before flash; on one H200 (issue 21)
FlashAttention-4 662, FlashInfer's FA3 637, cuDNN 567 — hence those two first when installed.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ..jobhooks import JobHook
from . import exact_attention, experts, gpu

log = logging.getLogger("studio.speed")

# User-facing choice -> diffusers backends to try, best first.
CHOICES: dict[str, tuple[str, ...]] = {
    "auto": ("studio_fa4", "studio_flashinfer", "_flash_3", "_native_cudnn", "_native_flash", "native"),
    "fa4": ("studio_fa4", "_native_cudnn", "native"),
    "flashinfer": ("studio_flashinfer", "_native_cudnn", "native"),
    "cudnn": ("_native_cudnn", "native"),
    "flash": ("_native_flash", "native"),
    "efficient": ("_native_efficient", "native"),
    "native": ("native",),
    "int8": ("sage", "studio_int8", "_native_cudnn", "native"),
    "int8-pv16": ("studio_int8_pv16", "_native_cudnn", "native"),
}
EXACT = {"studio_fa4", "studio_flashinfer", "_flash_3", "_native_cudnn", "_native_flash", "_native_efficient", "native"}
NAMES = {  # what the System tab calls a chosen backend
    "studio_fa4": "FlashAttention-4", "studio_flashinfer": "FlashInfer FA3", "_flash_3": "FlashAttention-3",
    "_native_cudnn": "cuDNN", "_native_flash": "FlashAttention-2 in PyTorch", "studio_int8": "ours, 8-bit",
    "studio_int8_pv16": "ours, 8-bit Q·K", "sage": "SageAttention",
}
_PROBE_TOLERANCE = {True: 0.01, False: 0.05}  # exact backends / 8-bit ones (relative L2 on random input)


def _installed(backend: str) -> bool:
    if backend in exact_attention.BACKENDS:
        return exact_attention.installed(backend)
    if backend == "_flash_3":
        return importlib.util.find_spec("flash_attn_interface") is not None
    if backend == "sage":  # SageAttention 2+ has CUDA kernels (8-bit P·V); 1.x on PyPI is slower than cuDNN
        try:
            from importlib.metadata import version

            return int(version("sageattention").split(".")[0]) >= 2
        except Exception:
            return False
    return True


def probe(backend: str, device: torch.device, head_dim: int = 128) -> str | None:
    """None when `backend` runs here and matches exact attention on a small random input, else why not."""
    if not _installed(backend):
        return "not installed"
    if backend.startswith("studio_int8"):
        from .int8_attention import register_backends

        register_backends()
    if backend in exact_attention.BACKENDS:
        exact_attention.register_backends()
    try:
        from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

        gen = torch.Generator(device="cpu").manual_seed(0)
        q, k, v = (torch.randn(1, 256, 2, head_dim, generator=gen).to(device, torch.bfloat16) for _ in range(3))
        out = dispatch_attention_fn(q, k, v, backend=AttentionBackendName(backend))
        ref = torch.nn.functional.scaled_dot_product_attention(*(x.double().transpose(1, 2) for x in (q, k, v)))
        error = float((out.double() - ref.transpose(1, 2)).norm() / ref.norm())
    except Exception as exc:  # any failure means: not this one
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    if not error < _PROBE_TOLERANCE[backend in EXACT]:
        return f"error {error:.3g} against exact attention"
    return None


@dataclass
class AttentionBackend(JobHook):
    """Sets the first working backend of the job's choice on the experts: the request's `attention`,
    or, when the request says "default", the studio's own `choice` — `fast_choice` for fast-mode jobs,
    which already trade exactness for time (a 4-step distilled LoRA), so 8-bit attention is their
    default. Each choice is probed once."""

    choice: str = "auto"
    fast_choice: str = "int8"
    chosen: str | None = None  # the backend of the latest job
    last_choice: str | None = None  # the choice it came from
    rejected: dict[str, str] = field(default_factory=dict)
    _resolved: dict[str, str] = field(default_factory=dict, repr=False)
    _applied: dict[int, str] = field(default_factory=dict, repr=False)  # pipeline id -> backend on its experts

    def __post_init__(self) -> None:
        for choice in (self.choice, self.fast_choice):
            if choice not in CHOICES:
                raise ValueError(f"attention {choice!r} is not one of {', '.join(CHOICES)}")

    def on_job_start(self, pipe: Any, request: Any) -> None:
        models = experts(pipe)
        if not models:
            return
        asked = getattr(request, "attention", "default")
        if asked in (None, "default"):
            asked = self.fast_choice if getattr(request, "mode", "quality") == "fast" else self.choice
        choice = self.last_choice = asked
        if choice not in self._resolved:
            self._resolved[choice] = self._choose(gpu(), models[0].config.attention_head_dim, choice)
        self.chosen = self._resolved[choice]
        if self._applied.get(id(pipe)) != self.chosen:
            for model in models:
                model.set_attention_backend(self.chosen)
            self._applied[id(pipe)] = self.chosen

    def _choose(self, device: torch.device | None, head_dim: int, choice: str) -> str:
        if device is None:
            return "native"
        for backend in CHOICES[choice]:
            reason = probe(backend, device, head_dim)
            if reason is None:
                return backend
            self.rejected[backend] = reason
            log.info("attention backend %s not used: %s", backend, reason)
        return "native"

    def describe(self) -> str:
        chosen = f"{self.chosen} ({NAMES[self.chosen]})" if self.chosen in NAMES else self.chosen or "not chosen yet"
        return f"attention {chosen} (studio setting: {self.choice}, {self.fast_choice} for fast jobs)"
