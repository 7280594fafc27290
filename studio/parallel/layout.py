"""How N GPUs share one video: CFG groups x ring x Ulysses, and which requests split evenly.

With classifier-free guidance every step runs the transformer twice (prompt, negative prompt) on
the same latents, so two GPU groups can run one pass each and swap results: no communication
inside the forward, the cheapest split there is. Inside a group, diffusers' context parallelism
splits the sequence: Ulysses (all-to-all, heads must divide) first, ring attention for the
factor left over.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidRequest
from ..models import ModelSpec
from ..request import GenerationRequest


@dataclass(frozen=True)
class Layout:
    """`cfg` groups (1 or 2), each of `ring` x `ulysses` ranks; rank = (cfg, ring, ulysses) row-major."""

    cfg: int = 1
    ring: int = 1
    ulysses: int = 1

    @property
    def world(self) -> int:
        return self.cfg * self.ring * self.ulysses

    @property
    def context(self) -> int:
        """Ranks that share one transformer pass (the sequence is split this many ways)."""
        return self.ring * self.ulysses

    def describe(self) -> str:
        parts = []
        if self.cfg > 1:
            parts.append("prompt and negative-prompt passes on separate GPU groups")
        if self.ulysses > 1:
            parts.append(f"Ulysses attention over {self.ulysses} GPUs")
        if self.ring > 1:
            parts.append(f"ring attention over {self.ring} GPUs")
        return f"{self.world} GPUs: " + ", ".join(parts) if parts else "one GPU"


def plan_layout(world: int, heads: int, *, cfg: bool = True) -> Layout:
    """The split for `world` ranks of a transformer with `heads` attention heads.

    CFG groups when the world is even; then the largest Ulysses degree that divides both the
    group and the heads (40 for A14B: 8 GPUs -> 2 x Ulysses 4); ring attention takes the rest.
    """
    if world < 1:
        raise ValueError(f"world size must be at least 1, got {world}")
    groups = 2 if cfg and world % 2 == 0 else 1
    context = world // groups
    ulysses = max(d for d in range(1, context + 1) if context % d == 0 and heads % d == 0)
    return Layout(cfg=groups, ring=context // ulysses, ulysses=ulysses)


def tokens(spec: ModelSpec, width: int, height: int, frames: int) -> int:
    """Transformer sequence length: latent frames x patches (size_multiple = VAE stride x patch size)."""
    return ((frames - 1) // 4 + 1) * (height // spec.size_multiple) * (width // spec.size_multiple)


def check_request(layout: Layout, spec: ModelSpec, request: GenerationRequest) -> None:
    """Context parallelism splits the sequence evenly; name the setting that breaks that."""
    count = tokens(spec, request.width, request.height, request.frames)
    if count % layout.context:
        raise InvalidRequest(
            "width x height x frames", f"{request.width}x{request.height}x{request.frames}",
            f"{count:,} tokens do not split evenly over {layout.context} GPUs ({layout.describe()}); "
            "use an official size, or a frame count or size whose token count divides evenly",
        )
