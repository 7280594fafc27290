"""Regional `torch.compile` of the repeated transformer block, once per process.

Compiling the one block class that repeats 40 times per expert (diffusers'
`compile_repeated_blocks`) costs a fraction of a whole-model compile and gives the same speed:
measured 12.0 -> 10.75 s per 720P forward on an H100 (DESIGN.md). Parameters are graph inputs,
so one graph serves all blocks of both experts and cond/uncond passes alike; `dynamic=False`
gives each resolution its own static graph, compiled at its first step and reused by every later
job. The first step of a new resolution therefore carries the compile time; the bench reports it
apart (first step minus a steady step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..jobhooks import JobHook
from . import experts, gpu

RECOMPILE_LIMIT = 64  # resolutions x attention backends x cache hooks each add graphs to the one block


@dataclass
class RegionalCompile(JobHook):
    """Compiles the experts' repeated blocks at the first job on a CUDA pipeline (CPU: nothing to gain)."""

    mode: str | None = None
    compiled: int = 0

    def on_job_start(self, pipe: Any, request: Any) -> None:
        for model in experts(pipe):
            if getattr(model, "_studio_compiled", False) or gpu() is None:
                continue  # marked on the model: a freshly loaded pipeline is compiled again
            configure_dynamo()
            model.compile_repeated_blocks(fullgraph=False, dynamic=False, mode=self.mode)
            model._studio_compiled = True
            self.compiled += 1

    def describe(self) -> str:
        return f"regional compile of {self.compiled} expert(s)" if self.compiled else "not compiled (no GPU)"


def configure_dynamo() -> None:
    """Room for the graphs the one block gets, and guards on module hooks: LoRA adapters are forward hooks on
    the blocks' linears (studio.loras.fusion), and by default a compiled block ignores hooks added after it was
    compiled, so a job's LoRAs would silently not apply."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
    if hasattr(config, "skip_nnmodule_hook_guards"):
        config.skip_nnmodule_hook_guards = False
