"""The one object that owns loaded pipelines: at most one model in memory at a time."""

from __future__ import annotations

import gc
import threading
from typing import Any

import torch

from .memory import SHAREABLE, MemoryPlan, get_plan, hand_over
from .models import SHARED_PARTS, ModelSpec, load_pipeline, resolve_model


class OneLoaded:
    """At most one model loaded under one plan, kept until another is asked for; subclasses say how to load
    (`_load`) and how to let go (`release`, which must also clear `_key` and `_loaded`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, str] | None = None
        self._loaded: tuple[ModelSpec, Any, MemoryPlan] | None = None

    def get(self, model: str, plan: str | MemoryPlan = "auto") -> tuple[ModelSpec, Any, MemoryPlan]:
        spec = resolve_model(model)[0]  # a bad model is refused before the loaded one is dropped
        plan = plan if isinstance(plan, MemoryPlan) else get_plan(plan, spec)
        with self._lock:
            if self._key == (model, plan.name) and self._loaded:
                return self._loaded
            self._hand_over(model, plan)
            self.release()
            self._loaded = self._load(model, plan)
            self._key = (model, plan.name)
            return self._loaded

    def _load(self, model: str, plan: MemoryPlan) -> tuple[ModelSpec, Any, MemoryPlan]:
        raise NotImplementedError

    def _hand_over(self, model: str, plan: MemoryPlan) -> None:
        """Before the loaded model is let go for `model`: keep what the next load can use (nothing by default)."""

    def release(self) -> None:
        raise NotImplementedError

    def loaded_plan(self) -> str | None:
        return self._loaded[2].name if self._loaded else None

    def plan_of(self, model: str) -> MemoryPlan | None:
        """The plan `model` is loaded under now, or None when it is not loaded."""
        return self._loaded[2] if self._loaded and self._key and self._key[0] == model else None


class PipelineStore(OneLoaded):
    """Loads a model's pipeline in this process and places it as its memory plan says.

    A switch between models with the same text encoder and VAE (T2V-A14B <-> I2V-A14B, tiny <-> tiny-i2v)
    keeps those (about 12 GB of umT5-XXL and VAE for A14B) and loads only the experts, when both plans are
    `resident` or `expert-swap` (memory.hand_over takes the old plan's hooks off). Group offload hooks the text
    encoder layer by layer; from or to an `offload` plan everything reloads.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shared: dict[str, Any] = {}

    def _hand_over(self, model: str, plan: MemoryPlan) -> None:
        if not self._loaded:
            return
        old_spec, old_pipe, old_plan = self._loaded
        spec = resolve_model(model)[0]
        if spec.encoders and spec.encoders == old_spec.encoders and {old_plan.placement, plan.placement} <= set(SHAREABLE):
            hand_over(old_pipe.text_encoder, old_pipe.vae)
            self._shared = {part: getattr(old_pipe, part) for part in SHARED_PARTS}

    def _load(self, model: str, plan: MemoryPlan) -> tuple[ModelSpec, Any, MemoryPlan]:
        shared, self._shared = self._shared, {}
        spec, pipe = load_pipeline(model, shared=shared)
        pipe.set_progress_bar_config(disable=True)
        plan.apply(pipe)
        return spec, pipe, plan

    def release(self) -> None:
        """Drop the loaded pipeline and give its memory back (before loading another, or after OOM)."""
        self._key, self._loaded = None, None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
