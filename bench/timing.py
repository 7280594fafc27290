"""Small timing helpers shared by the bench parts: synchronised wall clocks and peak memory."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch


def sync(device: torch.device | None = None) -> None:
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: torch.device | None = None) -> tuple[Any, float]:
    """(result, seconds) with the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def repeat(fn: Callable[[], Any], runs: int, device: torch.device | None = None) -> tuple[Any, list[float]]:
    """Run `runs` times; the last result and every time."""
    times, out = [], None
    for _ in range(runs):
        out, seconds = timed(fn, device)
        times.append(seconds)
    return out, times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb() -> float | None:
    """Peak memory allocated by PyTorch since the last reset, in GB (1e9 bytes); None without CUDA."""
    return torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None
