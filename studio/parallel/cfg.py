"""CFG-parallel: the prompt pass on one GPU group, the negative-prompt pass on the other.

The stock WanPipeline calls each expert twice per step, inside `cache_context("cond")` and
`cache_context("uncond")`. Group 1 is given the two prompts swapped, so its "cond" call already
computes the negative-prompt pass; a diffusers hook on each expert then all-gathers both outputs
across the pair, returns the prompt pass to the "cond" call and serves the "uncond" call from
that exchange without computing. Every rank ends with the same two predictions, combines them
with the pipeline's own formula and takes identical scheduler steps.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, StateManager

from ..request import GenerationRequest

_HOOK = "studio_cfg_parallel"


class _NoState(BaseState):
    def reset(self) -> None:
        """Nothing per context: the hook only reads which call ("cond"/"uncond") is running."""


class _SplitPasses(ModelHook):
    _is_stateful = True  # so diffusers hands it the cache context of each call

    def __init__(self, owner: "CfgParallel") -> None:
        super().__init__()
        self.owner = owner
        self.context = StateManager(_NoState)
        self.uncond: torch.Tensor | None = None

    def new_forward(self, module: torch.nn.Module, *args, **kwargs):
        if not self.owner.active:
            return self.fn_ref.original_forward(*args, **kwargs)
        if self.context.context.name == "uncond":
            uncond, self.uncond = self.uncond, None
            return (uncond,)
        (own,) = self.fn_ref.original_forward(*args, **kwargs)  # the pipeline calls with return_dict=False
        passes = [torch.empty_like(own) for _ in range(2)]
        dist.all_gather(passes, own.contiguous(), group=self.owner.group)
        self.uncond = passes[1]
        return (passes[0],)

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.uncond = None
        return module


class CfgParallel:
    """Attached once to a pipeline's experts; `prompts()` arms it per job (only when guidance > 1)."""

    def __init__(self, group: dist.ProcessGroup | None, index: int) -> None:
        self.group = group
        self.index = index  # 0: prompt pass, 1: negative-prompt pass
        self.active = False

    def attach(self, experts: list[torch.nn.Module]) -> None:
        for expert in experts:
            HookRegistry.check_if_exists_or_initialize(expert).register_hook(_SplitPasses(self), _HOOK)

    def prompts(self, request: GenerationRequest, prompt: str, negative: str) -> tuple[str, str]:
        """What this rank encodes as (prompt, negative): swapped on the negative-prompt group."""
        self.active = request.guidance_scale > 1.0
        return (negative, prompt) if self.active and self.index == 1 else (prompt, negative)
