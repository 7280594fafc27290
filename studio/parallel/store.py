"""`ParallelStore`: the service's pipeline store when the studio runs on several GPUs.

It has PipelineStore's interface, but what it hands out in place of a pipeline is a
`ParallelRunner` over a worker group that holds the model on every GPU; the studio process
itself loads no weights.
"""

from __future__ import annotations

import threading

import torch

from ..errors import InvalidRequest
from ..memory import MemoryPlan, get_plan
from ..models import ModelSpec, resolve_model
from .launcher import WorkerGroup
from .runner import ParallelRunner
from .worker import WorkerSpec


class ParallelStore:
    """Starts a worker group for a model and plan on first use and keeps it until another is asked for."""

    def __init__(self, gpus: int, *, start_timeout_s: float = 1800.0, stall_timeout_s: float = 600.0) -> None:
        available = torch.cuda.device_count()
        if gpus < 2 or (available and gpus > available):
            where = f"this machine has {available} GPUs" if available else "without GPUs, CPU processes stand in"
            raise InvalidRequest("gpus", gpus, f"use 2 or more for a multi-GPU run ({where}); 1 runs in-process")
        self.gpus = gpus
        self.start_timeout_s = start_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._loaded: tuple[ModelSpec, ParallelRunner, MemoryPlan] | None = None

    def get(self, model: str, plan: str | MemoryPlan = "auto") -> tuple[ModelSpec, ParallelRunner, MemoryPlan]:
        spec, _ = resolve_model(model)
        plan = plan if isinstance(plan, MemoryPlan) else get_plan(plan, spec)
        with self._lock:
            if self._key == (model, plan.name) and self._loaded:
                return self._loaded
            self.release()
            group = WorkerGroup(
                WorkerSpec(model, plan, self.gpus, timeout_s=self.stall_timeout_s + 60.0),
                start_timeout_s=self.start_timeout_s, stall_timeout_s=self.stall_timeout_s,
            )
            group.start()
            self._key, self._loaded = (model, plan.name), (spec, ParallelRunner(group, spec), plan)
            return self._loaded

    def loaded_plan(self) -> str | None:
        return self._loaded[2].name if self._loaded else None

    def plan_of(self, model: str) -> MemoryPlan | None:
        """The plan `model` is loaded under now, or None when it is not loaded."""
        return self._loaded[2] if self._loaded and self._key and self._key[0] == model else None

    def release(self) -> None:
        """Stop the workers (before starting others, or after running out of memory)."""
        if self._loaded:
            self._loaded[1].group.stop()
        self._key, self._loaded = None, None
