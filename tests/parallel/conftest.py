"""Multi-GPU tests run on CPU: gloo stands in for NCCL, two processes for two GPUs, the tiny model for Wan2.2."""

from __future__ import annotations

from typing import Callable

import pytest

from studio.models import MODELS
from studio.request import GenerationRequest

@pytest.fixture(autouse=True)
def _one_gpu_by_default(monkeypatch):
    monkeypatch.delenv("STUDIO_GPUS", raising=False)


@pytest.fixture(scope="session")
def tiny_request() -> Callable[..., GenerationRequest]:
    """A small, quick tiny-model request; keyword arguments override its settings."""

    def make(**values) -> GenerationRequest:
        settings = dict(width=256, height=256, frames=9, steps=4, seed=7, translate=False)
        return GenerationRequest.create(MODELS["tiny"], "a cat walking in the snow", **{**settings, **values})

    return make
