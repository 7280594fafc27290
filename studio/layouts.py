"""What a memory plan is, as plain data: where the weights live, how they are stored, how the VAE decodes.

A layout is named `placement[+fp8][+vae-tiling]`; this module lists the twelve layouts, parses
their names and knows the out-of-memory ladder between them. It imports no torch, so the doctor's
arithmetic (studio.planning) reasons over layouts without loading anything, and studio.memory's
`MemoryPlan` is a layout that also applies itself to a pipeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Self

from .errors import InvalidRequest

PLACEMENTS = ("resident", "expert-swap", "offload")
_DESCRIPTIONS = {
    "resident": "every model on the GPU",
    "expert-swap": "one model on the GPU at a time: text encoder while encoding, then each expert streamed in "
                   "block by block from pinned CPU memory",
    "offload": "blocks streamed from pinned CPU memory as they run (diffusers group offload with CUDA streams)",
}


@dataclass(frozen=True)
class PlanLayout:
    """One placement with its two modifiers: FP8 weight storage and tiled VAE decoding."""

    placement: str = "resident"
    fp8: bool = False
    vae_tiling: bool = False

    @property
    def name(self) -> str:
        return self.placement + ("+fp8" if self.fp8 else "") + ("+vae-tiling" if self.vae_tiling else "")

    @property
    def description(self) -> str:
        parts = [_DESCRIPTIONS[self.placement]]
        if self.fp8:
            parts.append("weights stored in FP8, computed in bf16")
        if self.vae_tiling:
            parts.append("VAE decodes in tiles")
        return "; ".join(parts)

    def lighter(self) -> Self | None:
        """The layout to retry with after running out of GPU memory, or None when this is the lightest."""
        if self.placement != "offload":
            following = PLACEMENTS[PLACEMENTS.index(self.placement) + 1]
            return dataclasses.replace(self, placement=following, vae_tiling=self.vae_tiling or following == "offload")
        if not (self.fp8 and self.vae_tiling):
            return dataclasses.replace(self, fp8=True, vae_tiling=True)
        return None


LAYOUTS: dict[str, PlanLayout] = {
    layout.name: layout
    for layout in (PlanLayout(p, fp8, tiling) for fp8 in (False, True) for p in PLACEMENTS for tiling in (False, True))
}


def parse_layout(name: str) -> PlanLayout:
    """A layout by name, its modifiers in any order; anything else is refused as a `memory_plan` value
    (where `auto`, which studio.memory resolves, is the other accepted choice)."""
    placement, *modifiers = str(name).split("+")
    if placement not in PLACEMENTS or not set(modifiers) <= {"fp8", "vae-tiling"} or len(set(modifiers)) != len(modifiers):
        raise InvalidRequest("memory_plan", name, f"choose auto or one of {', '.join(LAYOUTS)}")
    return PlanLayout(placement, fp8="fp8" in modifiers, vae_tiling="vae-tiling" in modifiers)
