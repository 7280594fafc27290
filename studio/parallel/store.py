"""`ParallelStore`: the service's pipeline store when the studio runs on several GPUs.

It has PipelineStore's interface, but what it hands out in place of a pipeline is a
`ParallelRunner` over a worker group that holds the model on every GPU; the studio process
itself loads no weights.
"""

from __future__ import annotations

import torch

from ..errors import InvalidRequest
from ..memory import MemoryPlan
from ..models import ModelSpec, resolve_model
from ..pipelines import OneLoaded
from .launcher import WorkerGroup
from .runner import ParallelRunner
from .worker import WorkerSpec


class ParallelStore(OneLoaded):
    """Starts a worker group for a model and plan on first use and keeps it until another is asked for."""

    def __init__(self, gpus: int, *, start_timeout_s: float = 1800.0, stall_timeout_s: float = 600.0) -> None:
        available = torch.cuda.device_count()
        if gpus < 2 or (available and gpus > available):
            where = f"this machine has {available} GPUs" if available else "without GPUs, CPU processes stand in"
            raise InvalidRequest("gpus", gpus, f"use 2 or more for a multi-GPU run ({where}); 1 runs in-process")
        super().__init__()
        self.gpus = gpus
        self.start_timeout_s = start_timeout_s
        self.stall_timeout_s = stall_timeout_s

    def _load(self, model: str, plan: MemoryPlan) -> tuple[ModelSpec, ParallelRunner, MemoryPlan]:
        spec, _ = resolve_model(model)
        group = WorkerGroup(
            WorkerSpec(model, plan, self.gpus, timeout_s=self.stall_timeout_s + 60.0),
            start_timeout_s=self.start_timeout_s, stall_timeout_s=self.stall_timeout_s,
        )
        group.start()
        return spec, ParallelRunner(group, spec), plan

    def release(self) -> None:
        """Stop the workers (before starting others, or after running out of memory)."""
        if self._loaded:
            self._loaded[1].group.stop()
        self._key, self._loaded = None, None
