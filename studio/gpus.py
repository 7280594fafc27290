"""What this machine has: its CUDA cards (name, memory, compute capability, driver, copy bandwidths,
the attention kernels that run), its host memory, or a card described with --assume-gpu.

`detect_gpus` reads each card and, when measuring, times two short copies and probes PyTorch's
attention kernels; everything else here is plain data. Importing this module does not touch CUDA
(torch is imported by the functions that read the cards). Sizes are GB of 2^30 bytes, as
torch.cuda reports them.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InvalidRequest

GiB = 2**30


@dataclass(frozen=True)
class GpuInfo:
    """One card as the doctor sees it; `free_gb`, versions and bandwidths are None when not read."""

    name: str
    total_gb: float
    compute_capability: tuple[int, int]
    index: int = 0
    free_gb: float | None = None
    driver: str | None = None
    cuda: str | None = None
    d2d_gb_s: float | None = None
    h2d_gb_s: float | None = None
    attention: dict[str, Any] = field(default_factory=dict)
    assumed: bool = False

    @property
    def bf16(self) -> bool:
        """Native bf16 math (Ampere and later); Wan's weights and activations are bf16."""
        return self.compute_capability >= (8, 0)

    @property
    def fp8(self) -> bool:
        """FP8 tensor cores (Ada, Hopper and later). FP8 *storage* with bf16 math works on any card."""
        return self.compute_capability >= (8, 9)

    @property
    def budget_gb(self) -> float:
        """Memory a job may plan for: the card less its CUDA context and allocator slack, or what is free."""
        budget = self.total_gb - max(1.0, 0.04 * self.total_gb)
        return budget if self.free_gb is None else min(budget, self.free_gb - 0.5)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        major, minor = self.compute_capability
        data.update(
            compute_capability=f"{major}.{minor}", bf16=self.bf16, fp8=self.fp8, budget_gb=round(self.budget_gb, 1)
        )
        return data


def host_memory_gb() -> float | None:
    """This machine's RAM in GB (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    except (ValueError, OSError, AttributeError):
        return None


def parse_assume_gpu(text: str) -> GpuInfo:
    """"RTX 4090,24,8.9" -> a described card: name, memory in GB, compute capability."""
    usage = 'use "NAME,GB,CC", e.g. "RTX 4090,24,8.9"'
    parts = [p.strip() for p in str(text).rsplit(",", 2)]
    if len(parts) != 3 or not parts[0]:
        raise InvalidRequest("--assume-gpu", text, usage)
    name, memory, capability = parts
    try:
        total = float(memory)
    except ValueError:
        raise InvalidRequest("--assume-gpu", text, f"memory {memory!r} must be a number of GB; {usage}") from None
    if not 1 <= total <= 2048:
        raise InvalidRequest("--assume-gpu", text, f"memory must be 1 to 2048 GB; {usage}")
    major, dot, minor = capability.partition(".")
    if not (major.isdigit() and minor.isdigit() and dot) or not 3 <= int(major) <= 20:
        raise InvalidRequest(
            "--assume-gpu", text, f"compute capability {capability!r} must look like 8.9 (major.minor); {usage}"
        )
    return GpuInfo(name=name, total_gb=total, compute_capability=(int(major), int(minor)), assumed=True)


def detect_gpus(measure: bool = True) -> list[GpuInfo]:
    """Every CUDA card with its memory and capabilities; `measure` adds timed copies and an attention probe."""
    import torch

    if not torch.cuda.is_available():
        return []
    driver = _driver_version()
    backends = _attention_libraries()
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        capability = (props.major, props.minor)
        d2d = h2d = None
        attention = dict(backends, **_sdpa_backends(index, capability, probe=measure))
        if measure:
            d2d, h2d = _bandwidth(index)
            torch.cuda.empty_cache()  # give back the copy buffers
        gpus.append(GpuInfo(
            name=props.name, total_gb=round(total / GiB, 2), compute_capability=capability, index=index,
            free_gb=round(free / GiB, 2), driver=driver, cuda=torch.version.cuda, d2d_gb_s=d2d, h2d_gb_s=h2d,
            attention=attention,
        ))
    return gpus


def _driver_version() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # NVML missing or unreadable: the driver version is informative only
        return None


def _bandwidth(index: int, mib: int = 256, repeats: int = 5) -> tuple[float, float]:
    """Device-to-device (bytes read + written) and pinned host-to-device GB/s, timed with CUDA events."""
    import torch

    device = torch.device("cuda", index)
    nbytes = mib * 2**20
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).random_()
    dst = torch.empty_like(src)
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True).random_()

    def timed(copy) -> float:
        copy()  # warm-up
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.device(device):
            start.record()
            for _ in range(repeats):
                copy()
            end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000 / repeats

    d2d = 2 * nbytes / timed(lambda: dst.copy_(src)) / GiB
    h2d = nbytes / timed(lambda: dst.copy_(host, non_blocking=True)) / GiB
    return round(d2d, 1), round(h2d, 1)


def _sdpa_backends(index: int, capability: tuple[int, int], probe: bool) -> dict[str, bool | None]:
    """Which of PyTorch's attention kernels run here: a tiny bf16 call per backend when probing."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    names = {"sdpa_cudnn": SDPBackend.CUDNN_ATTENTION, "sdpa_flash": SDPBackend.FLASH_ATTENTION,
             "sdpa_efficient": SDPBackend.EFFICIENT_ATTENTION}
    if not probe:
        return {name: None for name in names}
    found = {}
    q = torch.randn(1, 2, 256, 128, device=torch.device("cuda", index), dtype=torch.bfloat16)
    for name, backend in names.items():
        try:
            with sdpa_kernel(backend):
                torch.nn.functional.scaled_dot_product_attention(q, q, q)
            torch.cuda.synchronize(index)
            found[name] = True
        except RuntimeError:
            found[name] = False
    return found


def _attention_libraries() -> dict[str, str | None]:
    """Attention libraries a user may have installed: their versions when they import, else None."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for key, module, dist in (("flash_attn", "flash_attn", "flash-attn"),
                              ("flash_attn_3", "flash_attn_interface", "flash-attn-3"),
                              ("flash_attn_4", "flash_attn.cute", "flash-attn-4"),
                              ("flashinfer", "flashinfer", "flashinfer-python"),
                              ("sageattention", "sageattention", "sageattention")):
        try:
            imported = importlib.import_module(module)
        except Exception:  # absent, or built for another torch/CUDA: either way not usable
            found[key] = None
            continue
        try:
            found[key] = version(dist)
        except PackageNotFoundError:
            found[key] = getattr(imported, "__version__", None)  # a bare namespace (FA4 ships flash_attn.cute only) is no FA2
    return found
