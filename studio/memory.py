"""Memory plans: how a pipeline's parts are placed on the GPU.

A plan is a small object that applies itself to a pipeline through diffusers' own mechanisms;
the runner never branches on it. `lighter()` names the plan to fall back to after an
out-of-memory error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .jobhooks import JobHook


@dataclass(frozen=True)
class MemoryPlan(JobHook):
    """Everything on one device: the fastest plan when it fits."""

    name: str = "resident"
    description: str = "every model on the GPU"

    def apply(self, pipe) -> None:
        pipe.to(_device())

    def lighter(self) -> "MemoryPlan | None":
        return None


PLANS: dict[str, MemoryPlan] = {"resident": MemoryPlan()}


def get_plan(name: str) -> MemoryPlan:
    if name == "auto":
        return PLANS["resident"]
    if name not in PLANS:
        from .errors import InvalidRequest

        raise InvalidRequest("memory_plan", name, f"choose auto or one of {', '.join(PLANS)}")
    return PLANS[name]


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
