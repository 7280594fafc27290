"""Joins one process to the GPU group and splits a loaded WanPipeline over it with diffusers' own engine.

Sequence splitting is diffusers' context parallelism (`ContextParallelConfig` + the transformer's
`enable_parallelism`, Ulysses and/or ring attention); CFG-parallel is `cfg.CfgParallel`. One
device mesh (cfg, ring, ulysses) holds both: diffusers gets its ("ring", "ulysses") part.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
from diffusers import ContextParallelConfig
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from ..errors import StudioError
from .cfg import CfgParallel
from .layout import Layout

# NVLink multicast can take a shared host's GPUs out of service: keep it off in NCCL, PyTorch and NVSHMEM.
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# Context-parallel backends that return the log-sum-exp ring attention merges with; best first (DESIGN.md).
RING_BACKENDS = ("_native_cudnn", "_native_flash")


def init_distributed(init_method: str, rank: int, world: int, *, local_rank: int, timeout_s: float) -> torch.device:
    """NCCL on GPUs (one per process), gloo on CPUs; returns this process's device."""
    os.environ.update(NO_MULTICAST)
    timeout = timedelta(seconds=timeout_s)
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl", init_method=init_method, rank=rank, world_size=world, timeout=timeout, device_id=device
        )
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world, timeout=timeout)
    return device


def build_mesh(layout: Layout, device: torch.device) -> DeviceMesh:
    return init_device_mesh(
        device.type, (layout.cfg, layout.ring, layout.ulysses), mesh_dim_names=("cfg", "ring", "ulysses")
    )


def attention_backend(layout: Layout, device: torch.device) -> str:
    """cuDNN (fastest here) or flash through SDPA, which diffusers can split either way; plain SDPA needs no ring."""
    if device.type == "cuda":
        from ..speed.attention import probe

        for backend in RING_BACKENDS:
            if probe(backend, device) is None:
                return backend
    if layout.ring > 1:
        raise StudioError(
            f"ring attention over {layout.ring} GPUs needs cuDNN or flash attention through PyTorch's SDPA, and "
            "neither runs here. Fix: use a GPU count whose split needs no ring (e.g. 2, 4 or 8 for Wan2.2)."
        )
    return "native"


def parallelize(pipe, layout: Layout, device: torch.device) -> CfgParallel:
    """Split `pipe`'s experts as `layout` says (every rank calls this, in the same order)."""
    if layout.context > 1 and torch.accelerator.device_count() == 0:
        raise StudioError(
            "context parallelism (Ulysses/ring attention) needs GPUs: diffusers places each rank on "
            "`rank % torch.accelerator.device_count()`, and this machine has no accelerator. "
            "Fix: run on GPUs, or use 2 processes here (prompt and negative-prompt passes in parallel)."
        )
    mesh = build_mesh(layout, device)
    backend = attention_backend(layout, device)
    for expert in _experts(pipe):
        expert.set_attention_backend(backend)
        if layout.context > 1:
            expert.enable_parallelism(
                config=ContextParallelConfig(ring_degree=layout.ring, ulysses_degree=layout.ulysses, mesh=mesh)
            )
    if layout.cfg == 1:
        return CfgParallel(None, 0)
    cfg = CfgParallel(mesh.get_group("cfg"), mesh.get_local_rank("cfg"))
    cfg.attach(_experts(pipe))
    return cfg


def _experts(pipe) -> list[torch.nn.Module]:
    return [expert for expert in (pipe.transformer, pipe.transformer_2) if expert is not None]
