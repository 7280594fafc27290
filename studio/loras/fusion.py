"""Applying a set of LoRAs to a pipeline's experts, and taking them off again, changing only what differs.

Two ways, chosen per pipeline:
- fused: W += strength · scale · B·A, computed in FP32 where the weight lives, written back in the
  weight's dtype. A step then costs exactly one plain forward. Taking it off subtracts the same
  product, which returns every weight within one rounding of its dtype (one BF16 ulp on the real
  models). Every switch writes each weight it changes once (all its parts summed in FP32 first), so
  a long run of switches can drift by about one rounding per switch; the original weights are not
  kept (a second copy of both A14B experts would cost 57 GB). Only plain float weights on a plan
  that keeps them in place can be fused.
- adapters: a forward hook per linear adds strength · scale · (x·Aᵀ)·Bᵀ to its output, the way PEFT's
  LoRA layers do. The weights are never touched, so this is what plans that stream the weights from
  CPU copies (expert-swap, offload) or store them in FP8 use: fusing there would rewrite tens of GB
  of CPU weights per switch, or cannot be undone. A step costs two rank-r matmuls per linear more.

What is applied lives on the pipeline (`_studio_loras`), keyed by owner (the job's LoRAs, fast
mode's), so a reloaded pipeline starts clean and owners never undo each other's parts. Switching
sets only touches the parts that differ; a changed strength is fused as the difference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from diffusers.hooks.group_offloading import _is_group_offload_enabled

from ..errors import ModelUnavailable
from ..speed import experts as pipe_experts
from ..speed import gpu

_STATE = "_studio_loras"
Factors = dict[str, tuple[torch.Tensor, torch.Tensor, float]]  # module -> (A, B, alpha / rank)


@dataclass
class Part:
    """One file's factors on one expert: the linears it changes and how (fused, or its adapter hooks)."""

    strength: float
    layers: list[tuple[torch.nn.Linear, torch.Tensor, torch.Tensor, float]]
    hooks: list[Any] | None = None  # adapter hook handles; None when fused

    @property
    def fused(self) -> bool:
        return self.hooks is None


@dataclass
class Wanted:
    """One part a job wants: `key` identifies file, keys and expert; `factors` reads them when needed."""

    key: tuple
    expert: int
    strength: float
    factors: Callable[[], Factors]


@dataclass
class SyncReport:
    """What one switch did and what it cost."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    kept: int = 0
    linears: int = 0
    seconds: float = 0.0
    method: str = "fused"


def uses_adapters(pipe: Any) -> bool:
    """Whether the pipeline's plan keeps its own copies of the weights (streamed from CPU) or stores them in
    FP8: then LoRAs are applied as adapters, never fused."""
    if getattr(pipe, "_studio_swap", None) is not None:
        return True
    for model in pipe_experts(pipe):
        if _is_group_offload_enabled(model):
            return True
        if any(not _plain(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)):
            return True
    return False


def _plain(weight: torch.Tensor) -> bool:
    return type(weight.data) is torch.Tensor and weight.dtype in (torch.float32, torch.bfloat16, torch.float16)


def applied(pipe: Any, owner: str) -> dict[tuple, Part]:
    return {key[1:]: part for key, part in getattr(pipe, _STATE, {}).items() if key[0] == owner}


def sync(pipe: Any, owner: str, wanted: list[Wanted], *, adapters: bool | None = None) -> SyncReport:
    """Make `owner`'s applied parts exactly `wanted`: remove, re-weigh and add only what differs.

    `adapters` None: as the pipeline's plan needs (`uses_adapters`); False: fuse or fail (fast mode).
    """
    started = time.perf_counter()
    state: dict[tuple, Part] = getattr(pipe, _STATE, None) or {}
    setattr(pipe, _STATE, state)
    method_adapters = uses_adapters(pipe) if adapters is None else adapters
    report = SyncReport(method="adapters" if method_adapters else "fused")
    wanted_keys = {(owner, *w.key): w for w in wanted}
    changes: dict[int, tuple[torch.nn.Linear, list]] = {}  # every fused change of one linear, written in one rounding
    for key in [k for k in state if k[0] == owner and k not in wanted_keys]:
        _remove(state.pop(key), changes)
        report.removed += 1
    models = pipe_experts(pipe)
    for key, want in wanted_keys.items():
        part = state.get(key)
        if part is not None and part.strength == want.strength:
            report.kept += 1
            continue
        if part is not None and part.fused and not method_adapters:
            _collect(changes, part.layers, want.strength - part.strength)  # only the difference
            part.strength = want.strength
            report.changed += 1
            continue
        if part is not None:
            _remove(state.pop(key), changes)
            report.changed += 1
        else:
            report.added += 1
        layers = _layers(models[min(want.expert, len(models) - 1)], want.factors(), fuse=not method_adapters)
        part = Part(want.strength, layers)
        if method_adapters:
            part.hooks = _attach(layers, want.strength)
        else:
            _collect(changes, layers, want.strength)
        state[key] = part
    _fuse(changes)
    report.linears = sum(len(p.layers) for k, p in state.items() if k[0] == owner)
    report.seconds = time.perf_counter() - started
    return report


def clear(pipe: Any, owner: str) -> SyncReport:
    return sync(pipe, owner, [])


def _layers(model: torch.nn.Module, factors: Factors, *, fuse: bool) -> list:
    modules = dict(model.named_modules())
    layers = []
    for name, (down, up, scale) in factors.items():
        linear = modules.get(name)
        if not isinstance(linear, torch.nn.Linear):
            raise ModelUnavailable(f"the LoRA changes {name!r}, which is not a linear layer of this model. Fix: "
                                   "choose a LoRA made for this model (`python -m studio loras` lists them)")
        if fuse and not _plain(linear.weight):
            raise ModelUnavailable(
                f"cannot fuse a LoRA into {name!r}: its weights are not plain BF16/FP32 (FP8 linears replace them). "
                "Fix: turn FP8 linears off (STUDIO_FP8=0)."
            )
        layers.append((linear, down, up, scale))
    return layers


def _collect(changes: dict, layers: list, strength: float) -> None:
    for linear, down, up, scale in layers:
        changes.setdefault(id(linear), (linear, []))[1].append((down, up, strength * scale))


@torch.no_grad()
def _fuse(changes: dict) -> None:
    """W += Σ strength · scale · B·A in FP32, one linear at a time and rounded once, wherever each weight lives now
    (a plan may have moved it): a set fused and later removed returns each weight within one rounding."""
    for linear, terms in changes.values():
        weight = linear.weight
        delta = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        for down, up, coefficient in terms:
            delta.addmm_(up.to(weight.device, torch.float32), down.to(weight.device, torch.float32), alpha=coefficient)
        weight.copy_((weight.float() + delta).to(weight.dtype))


def _attach(layers: list, strength: float) -> list:
    device = gpu()
    handles = []
    for linear, down, up, scale in layers:
        dtype = linear.weight.dtype if linear.weight.dtype in (torch.float32, torch.bfloat16, torch.float16) else torch.bfloat16
        handles.append(linear.register_forward_hook(_Adapter(down.to(device or "cpu", dtype), up.to(device or "cpu", dtype),
                                                             strength * scale)))
    return handles


class _Adapter:
    """output + s · (x·Aᵀ)·Bᵀ: a LoRA layer beside a linear, as PEFT computes it."""

    def __init__(self, down: torch.Tensor, up: torch.Tensor, scale: float) -> None:
        self.down, self.up, self.scale = down, up, scale

    def __call__(self, module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        if self.down.device != x.device:
            self.down, self.up = self.down.to(x.device), self.up.to(x.device)
        lora = F.linear(F.linear(x.to(self.down.dtype), self.down), self.up)
        return output + (self.scale * lora).to(output.dtype)


def _remove(part: Part, changes: dict) -> None:
    if part.fused:
        _collect(changes, part.layers, -part.strength)
    else:
        for handle in part.hooks:
            handle.remove()
