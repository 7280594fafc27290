"""The one object that owns loaded pipelines: at most one model in memory at a time."""

from __future__ import annotations

import gc
import threading

import torch

from .memory import MemoryPlan, get_plan
from .models import ModelSpec, load_pipeline, resolve_model


class PipelineStore:
    """Loads a model under a memory plan on first use and keeps it until another is asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._loaded: tuple[ModelSpec, object, MemoryPlan] | None = None

    def get(self, model: str, plan: str | MemoryPlan = "auto") -> tuple[ModelSpec, object, MemoryPlan]:
        plan = plan if isinstance(plan, MemoryPlan) else get_plan(plan, resolve_model(model)[0])
        with self._lock:
            if self._key == (model, plan.name) and self._loaded:
                return self._loaded
            self.release()
            spec, pipe = load_pipeline(model)
            pipe.set_progress_bar_config(disable=True)
            plan.apply(pipe)
            self._key, self._loaded = (model, plan.name), (spec, pipe, plan)
            return self._loaded

    def loaded_plan(self) -> str | None:
        return self._loaded[2].name if self._loaded else None

    def plan_of(self, model: str) -> MemoryPlan | None:
        """The plan `model` is loaded under now, or None when it is not loaded."""
        return self._loaded[2] if self._loaded and self._key and self._key[0] == model else None

    def release(self) -> None:
        """Drop the loaded pipeline and give its memory back (before loading another, or after OOM)."""
        self._key, self._loaded = None, None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
