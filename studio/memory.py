"""Memory plans: where a pipeline's models live while a job runs.

A plan is a small frozen object that applies itself to a pipeline through diffusers' own
mechanisms (ModelHook pre-forward hooks, group offloading, layerwise casting, VAE tiling) and
cleans up through the JobHook callbacks; the runner never branches on it. Plans are named
`placement[+fp8][+vae-tiling]` (names, descriptions and the fallback ladder are plain data in
studio.layouts; `auto` asks studio.planning for this card):

- `resident`: every model on the GPU; fastest when it fits.
- `expert-swap`: one big model on the GPU at a time. The text encoder is there only while it
  encodes; each expert streams in block by block from pinned CPU memory on a side CUDA stream,
  each block's compute waiting only for that block's copy, so a swap costs one block's copy
  (~30 ms for A14B) instead of a 27 GB stall; the VAE decodes with no expert resident.
- `offload`: diffusers' block-level group offload with CUDA streams (next block prefetched).
- `+fp8`: the transformers' weights stored in FP8 e4m3 and cast to bf16 layer by layer (diffusers
  layerwise casting): half their bytes, some quality loss. The cast needs no FP8 tensor cores, so
  it works on any card.
- `+vae-tiling`: the VAE decodes in tiles (2.2 GB instead of more than 22 GB for the float32 VAE
  at 720P, 2.4x slower).

`lighter()` is the out-of-memory fallback: resident -> expert-swap -> offload+vae-tiling ->
offload+fp8+vae-tiling. Without CUDA every plan places everything on the CPU and its logic (hooks,
swaps) still runs, so tests exercise it on the tiny model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import torch
from diffusers.hooks import HookRegistry, ModelHook, apply_group_offloading

from .gpus import detect_gpus
from .jobhooks import JobHook
from .layouts import LAYOUTS, PlanLayout, parse_layout
from .models import ModelSpec
from .planning import choose_plan

_HOOK = "studio_expert_swap"
_SLAB_BYTES = 2**31


@dataclass(frozen=True)
class MemoryPlan(PlanLayout, JobHook):
    """How a pipeline is placed: a layout (studio.layouts: its name, description and `lighter()`) that
    applies itself; immutable and shared, its per-pipeline state lives on the pipeline."""

    def apply(self, pipe) -> None:
        """Place a freshly loaded pipeline (weights on the CPU) as this plan says."""
        device = _device()
        if self.fp8:
            _store_in_fp8(pipe)
        if self.vae_tiling:
            pipe.vae.enable_tiling()
        if self.placement == "resident":
            pipe.to(device)
        elif self.placement == "expert-swap":
            pipe._studio_swap = ExpertSwap(pipe, device)
            _compute_on(pipe, device)
        else:
            _group_offload(pipe, device)

    def on_text_encoded(self, pipe) -> None:
        swap = getattr(pipe, "_studio_swap", None)
        if swap is not None:  # the text encoder leaves; the first expert starts streaming in behind it
            swap.bring(swap.experts[0])

    def on_job_end(self, pipe) -> None:
        swap = getattr(pipe, "_studio_swap", None)
        if swap is not None:  # between jobs only the VAE stays on the GPU, whatever the outcome
            swap.evict_all()


PLANS: dict[str, MemoryPlan] = {name: MemoryPlan(**dataclasses.asdict(layout)) for name, layout in LAYOUTS.items()}


def get_plan(name: str, spec: ModelSpec | None = None, size: tuple[int, int] | None = None, frames: int | None = None) -> MemoryPlan:
    """A plan by name (modifiers in any order), or `auto`: the doctor's choice for this model, size and GPU."""
    if name == "auto":
        return _auto(spec, size, frames)
    return MemoryPlan(**dataclasses.asdict(parse_layout(name)))


def _auto(spec: ModelSpec | None, size: tuple[int, int] | None, frames: int | None) -> MemoryPlan:
    """No GPU or a tiny model: resident. Else the plan `planning.choose_plan` picks for the card's full memory
    (not what is free now: the studio's own loaded model is counted there)."""
    if spec is None or spec.tiny or not torch.cuda.is_available():
        return PLANS["resident"]
    gpu = dataclasses.replace(detect_gpus(measure=False)[0], free_gb=None)
    choice = choose_plan(spec, size or spec.default_size, gpu, frames)
    return get_plan(choice.plan or "offload+fp8+vae-tiling")


SHAREABLE = ("resident", "expert-swap")  # placements that let go of a text encoder and VAE another pipeline keeps


def hand_over(text_encoder: torch.nn.Module, vae: torch.nn.Module) -> None:
    """Free a text encoder and VAE of their plan, for the next pipeline's plan to place (a T2V <-> I2V switch keeps
    them). Under `resident` they are plain modules already; expert-swap's hooks come off (between jobs its
    weights are the pinned host copies, which the next swap takes as they are). Tiling is off until the next
    plan asks for it."""
    for module in [*text_encoder.modules(), *vae.modules()]:
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None:
            registry.remove_hook(_HOOK, recurse=False)
    vae.disable_tiling()


def _compute_on(pipe, device: torch.device) -> None:
    """Tell the pipeline where it computes. diffusers infers it from where the first model's weights
    are, which under expert-swap is the CPU between uses: latents, timesteps and token ids would be
    made there and meet GPU weights. A subclass of the pipeline's own class answers with `device`."""
    base = type(pipe)
    pipe.__class__ = type(base.__name__, (base,), {"_execution_device": property(lambda self: device)})


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensors(modules: Iterable[torch.nn.Module]) -> list[torch.Tensor]:
    """Parameters and buffers of the modules, each once (tied weights appear once)."""
    seen: dict[int, torch.Tensor] = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            seen.setdefault(id(tensor), tensor)
    return list(seen.values())


def pin_weights(modules: Iterable[torch.nn.Module]) -> None:
    """Move weights into page-locked host memory, packed into 2 GiB slabs (no-op without CUDA).

    Pinned memory makes host-to-device copies asynchronous and twice as fast. PyTorch's pinned
    allocator rounds each request up to a power of two (a 142 MB FFN weight takes 256 MB, +46 % for
    an A14B expert); packing into power-of-two slabs wastes only slab tails. diffusers' group offload
    finds such weights already pinned and uses them as they are, without a second copy.
    """
    if not torch.cuda.is_available():
        return
    slab, used = None, _SLAB_BYTES
    for tensor in _tensors(modules):
        if tensor.is_pinned():
            continue
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > _SLAB_BYTES:
            tensor.data = tensor.data.pin_memory()
            continue
        if used + nbytes > _SLAB_BYTES:
            slab, used = torch.empty(_SLAB_BYTES, dtype=torch.uint8, pin_memory=True), 0
        view = slab[used : used + nbytes].view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor.data)
        tensor.data = view
        used += -(-nbytes // 512) * 512  # keep every tensor 512-byte aligned


def _store_in_fp8(pipe) -> None:
    """FP8 e4m3 storage, bf16 compute, through diffusers layerwise casting (its defaults keep norms and
    embeddings exact). The text encoder stays bf16: it runs once a job and its error would reach every step."""
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name, None)
        if model is not None:
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=model.dtype)


def _group_offload(pipe, device: torch.device) -> None:
    """Group offload with prefetch on a CUDA stream: experts block by block, the text encoder layer by layer
    (it has no block list at its top level, so block level would move all 10.6 GB at once).

    record_stream stays off: with it the CPU may queue many blocks ahead, each holding its weights on
    the GPU, which breaks a tight memory cap; without it each block waits for the previous one (~1 %).
    """
    models = [m for m in (pipe.text_encoder, pipe.transformer, getattr(pipe, "transformer_2", None)) if m is not None]
    pin_weights(models)
    stream = device.type == "cuda"
    offload = dict(onload_device=device, offload_device=torch.device("cpu"), use_stream=stream)
    apply_group_offloading(pipe.text_encoder, offload_type="leaf_level", **offload)
    for model in models[1:]:
        model.enable_group_offload(offload_type="block_level", num_blocks_per_group=1, **offload)
    pipe.vae.to(device)


class _Arrival(ModelHook):
    """Before a module (or block) runs: bring its model onto the GPU if needed, then make the compute
    stream wait for this group's copy (a GPU-side wait; the CPU does not block).

    A model's own hook also moves its tensor inputs to the GPU: callers such as diffusers'
    `encode_prompt` ask the model where its weights are, and between uses that is the CPU.
    The hook stays outside torch.compile's graphs (as diffusers' own group-offload hooks do): traced
    into a compiled block, its CUDA stream and event crashed the process (segfault in Dynamo's
    user-object store, torch 2.11, H100) on the first compiled step.
    """

    def __init__(self, swap: "ExpertSwap", model: torch.nn.Module | None) -> None:
        super().__init__()
        self.swap = swap
        self.model = model  # set on a model's top-level hook only
        self.event: torch.cuda.Event | None = None

    @torch.compiler.disable()
    def pre_forward(self, module, *args, **kwargs):
        if self.model is not None:
            self.swap.bring(self.model)
            args, kwargs = _to_device((args, kwargs), self.swap.device)
        if self.event is not None:
            torch.cuda.current_stream(self.swap.device).wait_event(self.event)
            self.event = None
        return args, kwargs


def _to_device(value, device: torch.device):
    """Tensors anywhere in nested tuples, lists and dicts, moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value


class _Departure(ModelHook):
    """Before the VAE decoder runs: no expert needs the GPU any more."""

    def __init__(self, swap: "ExpertSwap") -> None:
        super().__init__()
        self.swap = swap

    def pre_forward(self, module, *args, **kwargs):
        self.swap.evict_all()
        return args, kwargs


class ExpertSwap:
    """The expert-swap plan's state for one pipeline: pinned host copies, the side stream, what is on the GPU.

    Each big model (text encoder, transformer, transformer_2) is split into groups: its own top-level
    weights, then one group per block of its first-level ModuleLists. Loading copies the groups in
    order on the side stream and records one event per group; `_Arrival` hooks make compute wait per
    group, so block 0 computes while blocks 1..39 are still arriving.
    """

    def __init__(self, pipe, device: torch.device) -> None:
        self.device = device
        self.experts = [m for m in (pipe.transformer, getattr(pipe, "transformer_2", None)) if m is not None]
        models = [pipe.text_encoder, *self.experts]
        self.names = {id(pipe.text_encoder): "text_encoder", id(pipe.transformer): "transformer"}
        if len(self.experts) > 1:
            self.names[id(self.experts[1])] = "transformer_2"
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.on_gpu: list[torch.nn.Module] = []
        self.moves: list[str] = []
        pin_weights(models)
        self.host = {id(t): t.data for t in _tensors(models)}
        self.groups = {id(model): self._hook_groups(model) for model in models}
        pipe.vae.to(device)
        HookRegistry.check_if_exists_or_initialize(pipe.vae.decoder).register_hook(_Departure(self), _HOOK)

    def _hook_groups(self, model: torch.nn.Module) -> list[tuple[_Arrival, list[torch.Tensor]]]:
        blocks = [block for child in model.children() if isinstance(child, torch.nn.ModuleList) for block in child]
        in_blocks = {id(t) for t in _tensors(blocks)}
        groups = [(model, [t for t in _tensors([model]) if id(t) not in in_blocks], model)]
        groups += [(block, _tensors([block]), None) for block in blocks]
        hooked = []
        for module, tensors, entry in groups:
            hook = _Arrival(self, entry)
            HookRegistry.check_if_exists_or_initialize(module).register_hook(hook, _HOOK)
            hooked.append((hook, tensors))
        return hooked

    def bring(self, model: torch.nn.Module) -> None:
        """Make `model` the one on the GPU: evict the other (free: the host copy is kept), stream this one in."""
        if any(m is model for m in self.on_gpu):
            return
        self.evict_all()
        with torch.inference_mode(False):  # plain tensors: parameters must not become inference tensors
            if self.stream is None:
                for _, tensors in self.groups[id(model)]:
                    for tensor in tensors:
                        tensor.data = self.host[id(tensor)].to(self.device)
            else:
                self._stream_in(model)
        self.on_gpu.append(model)
        self.moves.append(f"{self.names[id(model)]} in")

    def _stream_in(self, model: torch.nn.Module) -> None:
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self.stream):
            for hook, tensors in self.groups[id(model)]:
                for tensor in tensors:
                    moved = self.host[id(tensor)].to(self.device, non_blocking=True)
                    moved.record_stream(compute)  # freed later on compute's timeline, not the side stream's
                    tensor.data = moved
                hook.event = torch.cuda.Event()
                hook.event.record(self.stream)

    def evict_all(self) -> None:
        """Point every resident weight back at its host copy; the GPU memory is freed without a copy."""
        for model in self.on_gpu:
            for hook, tensors in self.groups[id(model)]:
                hook.event = None
                for tensor in tensors:
                    tensor.data = self.host[id(tensor)]
            self.moves.append(f"{self.names[id(model)]} out")
        self.on_gpu = []

