"""The plan arithmetic: for a model, a video size and a card, which memory plan runs and what it peaks at.

`choose_plan` is a pure function from (model, resolution, card description) to a plan with its
arithmetic written out, so the same reasoning serves the doctor's report (studio.doctor), the `auto`
memory plan (studio.memory) and the tests (on described cards). Nothing here reads the machine.

Sizes are GB of 2^30 bytes, as torch.cuda reports them. The estimates rest on figures measured on
one H100 (../shared/DESIGN.md): one A14B expert holds 26.7 GB of bf16 weights and peaks at 34.8 GB
in a 720P·81-frame forward, so activations are 8.1 GB at 75,600 tokens; a tiled VAE decode of that
video peaks at 2.2 GB. The untiled decode of the studio's float32 VAE is taken as 24 GB at 720P:
under a 24 GB cap it ran out of memory (bench/memory_plans.py, BENCHMARKS.md), and scaled to 480P
(10.4 GB) it reproduces stock diffusers' measured 75.1 GB peak with everything resident.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .errors import InvalidRequest
from .gpus import GiB, GpuInfo
from .layouts import LAYOUTS, PlanLayout, parse_layout
from .models import ModelSpec

RESOLUTIONS = ("480P", "720P")
ASSUMED_H2D_GB_S = 25.0  # PCIe 4.0 x16 from pinned memory, when nothing was measured
ASSUMED_D2D_GB_S = 1500.0
_REF_TOKENS = 75_600  # A14B at 1280x720, 81 frames: 21 x 45 x 80 patches
_REF_PIXEL_FRAMES = 1280 * 720 * 81
_UNTILED_DECODE_GB = 24.0  # float32 VAE, 1280x720x81, untiled: a lower bound, see the module docstring
_OFFLOAD_BLOCK_S = 0.03  # per block and forward: 13.3 s/step offloaded vs 12.0 s resident (H100, two runs)
_SPEED_EXPONENT = 1.55  # forward time ~ tokens^1.55: 12.0 s at 75,600 tokens, 3.28 s at 32,760 (H100, cuDNN)


@dataclass(frozen=True)
class Footprint:
    """What one model needs on a GPU, from parameter counts and the H100 measurements above."""

    expert_gb: float  # bf16 weights of one transformer
    experts: int
    layers: int
    ffn_dim: int
    vae_down: int  # VAE spatial stride times the transformer patch (16 for A14B, 32 for TI2V-5B)
    forward_s: float  # one forward at _REF_TOKENS-equivalent work on an H100 (cuDNN attention)
    text_gb: float = 5.7e9 * 2 / GiB  # umT5-XXL, 5.7B parameters in bf16
    text_leaf_gb: float = 256_384 * 4096 * 2 / GiB  # its token embedding, the largest layer offload moves at once
    vae_gb: float = 0.5  # Wan VAE weights in float32, resident in every plan
    encodes_video: bool = False  # I2V-A14B: the VAE encodes a whole conditioning video (the image, then zeros)

    def host_gb(self, fp8: bool) -> float:
        """Host memory a load needs: every weight in bf16 on the CPU (then pinned by the swap and offload
        plans), the experts' FP8 copies beside them while `+fp8` casts, and ~8 GB for the process.
        Measured on the H100 machine: 104 GB in use with A14B pinned and cast to FP8 (estimate 99)."""
        weights = self.experts * self.expert_gb + self.text_gb + self.vae_gb
        return weights + (self.experts * self.expert_gb / 2 if fp8 else 0.0) + 8.0

    def tokens(self, width: int, height: int, frames: int) -> int:
        return ((frames - 1) // 4 + 1) * (height // self.vae_down) * (width // self.vae_down)

    def activations_gb(self, tokens: int) -> float:
        """8.1 GB at 75,600 tokens for A14B; other models scaled by tokens x FFN width (its largest tensor)."""
        return (34.8 - 26.7) * tokens / _REF_TOKENS * self.ffn_dim / 13824

    def decode_gb(self, width: int, height: int, frames: int, tiled: bool) -> float:
        if tiled:
            return 2.2
        return _UNTILED_DECODE_GB * width * height * frames / _REF_PIXEL_FRAMES

    def decode_s(self, width: int, height: int, frames: int, tiled: bool) -> float:
        return (12.0 if tiled else 5.0) * width * height * frames / _REF_PIXEL_FRAMES

    def forward_seconds(self, tokens: int) -> float:
        return self.forward_s * (tokens / _REF_TOKENS) ** _SPEED_EXPONENT


FOOTPRINTS: dict[str, Footprint] = {
    # 40 layers, dim 5120, ffn 13824: 14.3B parameters per expert; measured 26.7 GB in bf16.
    "wan2.2-t2v-a14b": Footprint(expert_gb=26.7, experts=2, layers=40, ffn_dim=13824, vae_down=16, forward_s=12.0),
    # 30 layers, dim 3072, ffn 14336: ~5B parameters. Its Wan2.2 VAE was not measured here: the Wan2.1
    # VAE's decode figures are scaled by pixels x frames (an estimate).
    # I2V-A14B: the T2V-A14B experts with 36 input channels instead of 16 (+0.4 M parameters each); before
    # denoising its VAE encodes the start image followed by frames-1 zero frames. That encode was not measured:
    # it is taken to peak like the decode of the same video (the same float32 VAE over the same pixels), an
    # estimate that bench/i2v.py measures on a GPU.
    "wan2.2-i2v-a14b": Footprint(expert_gb=26.7, experts=2, layers=40, ffn_dim=13824, vae_down=16, forward_s=12.0,
                                 encodes_video=True),
    "wan2.2-ti2v-5b": Footprint(
        expert_gb=5.0e9 * 2 / GiB, experts=1, layers=30, ffn_dim=14336, vae_down=32, forward_s=12.0 * 5.0 / 14.3,
    ),
}


@dataclass(frozen=True)
class Estimate:
    """One plan's expected peak and speed on one card, with the phases that make the peak."""

    plan: str
    peak_gb: float
    relative_speed: float
    phases: dict[str, float]

    def line(self, budget: float) -> str:
        phases = ", ".join(f"{k} {v:.1f}" for k, v in self.phases.items())
        verdict = "fits" if self.peak_gb <= budget else "does not fit"
        return f"{self.plan}: {phases} -> peak {self.peak_gb:.1f} GB, {verdict} in {budget:.1f}; speed {self.relative_speed:.3f}"


@dataclass(frozen=True)
class PlanChoice:
    """The doctor's answer for one model and resolution on one card."""

    runs: bool
    plan: str | None
    peak_gb_estimate: float | None
    relative_speed: float | None
    arithmetic: str
    notes: tuple[str, ...] = ()
    budget_gb: float | None = None
    alternatives: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        data["alternatives"] = list(self.alternatives)
        return data


def resolution_size(spec: ModelSpec, resolution: str | tuple[int, int]) -> tuple[int, int]:
    """"720P" -> the model's landscape 720P size (1280x720 or 1280x704), "480P" -> 832x480."""
    if not isinstance(resolution, str):
        return tuple(resolution)  # type: ignore[return-value]
    key = resolution.upper()
    if key == "720P":
        return max(spec.official_sizes)
    if key == "480P":
        return (832, 480)
    raise InvalidRequest("resolution", resolution, "use 480P, 720P or a (width, height) pair")


def estimate(
    plan_name: str, foot: Footprint, size: tuple[int, int], frames: int, steps: int, gpu: GpuInfo
) -> Estimate:
    """Peak memory by phase (text encoding, denoising, VAE decode) and speed relative to `resident`."""
    plan = parse_layout(plan_name)
    width, height = size
    tokens = foot.tokens(width, height, frames)
    weight = foot.expert_gb / (2 if plan.fp8 else 1)
    block = weight / foot.layers
    rest = 0.01 * weight  # embeddings, time/text projections and head outside the blocks
    act = foot.activations_gb(tokens)
    decode = foot.decode_gb(width, height, frames, plan.vae_tiling)
    if plan.placement == "resident":
        phases = {"text": foot.experts * weight + foot.text_gb + foot.vae_gb,
                  "denoise": foot.experts * weight + foot.text_gb + foot.vae_gb + act,
                  "decode": foot.experts * weight + foot.text_gb + decode}
    elif plan.placement == "expert-swap":
        phases = {"text": foot.text_gb + foot.vae_gb, "denoise": weight + foot.vae_gb + act + block, "decode": decode}
    else:  # the text encoder layer by layer (two layers in flight), the experts block by block
        phases = {"text": 2 * foot.text_leaf_gb + foot.vae_gb, "denoise": foot.vae_gb + 2 * block + rest + act,
                  "decode": decode}
    if foot.encodes_video:  # after the text encoder's turn, before the first step: what is resident, plus the encode
        held = {"resident": foot.experts * weight + foot.text_gb, "expert-swap": weight}.get(plan.placement, 0.0)
        phases = {"text": phases["text"], "image": held + decode, **{k: phases[k] for k in ("denoise", "decode")}}
    return Estimate(
        plan_name, round(max(phases.values()), 1), _relative_speed(plan, foot, size, frames, steps, gpu, tokens),
        {k: round(v, 1) for k, v in phases.items()},
    )


def _relative_speed(
    plan: PlanLayout, foot: Footprint, size, frames: int, steps: int, gpu: GpuInfo, tokens: int
) -> float:
    """Job time of `resident` over this plan's, on H100 compute times (slower cards hide transfers better)."""
    h2d = gpu.h2d_gb_s or ASSUMED_H2D_GB_S
    d2d = gpu.d2d_gb_s or ASSUMED_D2D_GB_S
    forwards = steps * 2  # classifier-free guidance: two forwards per step
    forward = foot.forward_seconds(tokens)
    untiled = foot.decode_s(*size, frames, tiled=False)
    base = forwards * forward + untiled
    weight = foot.expert_gb / (2 if plan.fp8 else 1)
    block = weight / foot.layers
    extra = foot.decode_s(*size, frames, tiled=True) - untiled if plan.vae_tiling else 0.0
    if plan.fp8:  # layerwise casting reads 1 byte and writes 2 per weight, every forward
        extra += forwards * foot.expert_gb / 2 * 3 / d2d
    if plan.placement == "expert-swap":  # text encoder in, first block of each expert; the rest streams behind compute
        extra += (foot.text_gb + foot.experts * 2 * block) / h2d + foot.experts * max(0.0, weight / h2d - forward)
    elif plan.placement == "offload":  # per forward: first block, the unpinned rest, a sync per block
        per_forward = block / h2d + 0.01 * weight / (h2d / 2) + max(0.0, weight / h2d - forward) + foot.layers * _OFFLOAD_BLOCK_S
        extra += forwards * per_forward + foot.text_gb / h2d
    return round(base / (base + extra), 3)


def choose_plan(
    spec: ModelSpec, resolution: str | tuple[int, int], gpu: GpuInfo, frames: int | None = None,
    host_gb: float | None = None,
) -> PlanChoice:
    """The fastest plan that fits, preferring bf16 weights; 8-bit only when no bf16 plan fits.
    With `host_gb` (this machine's RAM) it also says when loading would not fit in host memory."""
    if spec.tiny:
        return PlanChoice(True, "resident", 0.1, 1.0, "tiny model: a few MB of weights, everything stays resident.",
                          budget_gb=round(gpu.budget_gb, 1))
    foot = FOOTPRINTS[spec.name]
    size = resolution_size(spec, resolution)
    frames = frames or spec.default_frames
    budget = gpu.budget_gb
    estimates = [estimate(name, foot, size, frames, spec.steps, gpu) for name in LAYOUTS]
    fitting = [e for e in estimates if e.peak_gb <= budget]
    exact = [e for e in fitting if not LAYOUTS[e.plan].fp8]
    pool = exact or fitting
    chosen = max(pool, key=lambda e: e.relative_speed) if pool else None
    arithmetic = _arithmetic(spec, foot, size, frames, gpu, estimates, chosen)
    notes = _notes(gpu, chosen, estimates, budget) + _host_notes(spec, foot, chosen, host_gb)
    alternatives = tuple(
        {"plan": e.plan, "peak_gb_estimate": e.peak_gb, "relative_speed": e.relative_speed, "fits": e.peak_gb <= budget}
        for e in sorted(estimates, key=lambda e: e.peak_gb)
    )
    if not gpu.bf16:
        notes = (f"{gpu.name} (compute {gpu.compute_capability[0]}.{gpu.compute_capability[1]}) has no bf16 math; "
                 "Wan2.2 needs compute capability 8.0 or newer.",) + notes
        chosen = None
    if chosen is None:
        lightest = min(estimates, key=lambda e: e.peak_gb)
        return PlanChoice(False, None, lightest.peak_gb, None, arithmetic, notes, round(budget, 1), alternatives)
    return PlanChoice(True, chosen.plan, chosen.peak_gb, chosen.relative_speed, arithmetic, notes, round(budget, 1),
                      alternatives)


def _arithmetic(spec, foot: Footprint, size, frames, gpu: GpuInfo, estimates, chosen) -> str:
    width, height = size
    tokens = foot.tokens(width, height, frames)
    act = foot.activations_gb(tokens)
    experts = f"{foot.experts} experts x " if foot.experts > 1 else ""
    lines = [
        f"card: {gpu.total_gb:.1f} GB - context and slack = budget {gpu.budget_gb:.1f} GB"
        + (f" (free {gpu.free_gb:.1f})" if gpu.free_gb is not None else ""),
        f"weights: {experts}{foot.expert_gb:.1f} GB bf16 transformer ({foot.layers} blocks of {foot.expert_gb / foot.layers:.2f}); "
        f"umT5-XXL 5.7B x 2 B = {foot.text_gb:.1f} GB (largest layer {foot.text_leaf_gb:.1f}); VAE {foot.vae_gb:.1f} GB; "
        "+fp8 halves the transformer bytes",
        f"activations: {width}x{height}x{frames} = {tokens:,} tokens; 34.8 - 26.7 = 8.1 GB measured at 75,600 "
        f"(A14B, 720P, one expert) x {tokens:,}/75,600"
        + (f" x FFN {foot.ffn_dim}/13824" if foot.ffn_dim != 13824 else "") + f" = {act:.1f} GB",
        f"VAE decode (float32): {_UNTILED_DECODE_GB:.0f} GB untiled (did not fit a 24 GB cap) / 2.2 GB tiled at "
        f"1280x720x81, scaled by pixels x frames = {foot.decode_gb(width, height, frames, False):.1f} / 2.2 GB",
        f"speed: {spec.steps} steps x 2 forwards (CFG) at ~{foot.forward_seconds(tokens):.1f} s (H100) + decode; transfers at "
        f"{gpu.h2d_gb_s or ASSUMED_H2D_GB_S:.0f} GB/s host-to-device"
        + ("" if gpu.h2d_gb_s else " (assumed, not measured)"),
        "phases in GB (text encoding, " + ("the start video's VAE encode, " if foot.encodes_video else "")
        + "denoising, decode):",
    ]
    shown = [e for e in estimates if "+" not in e.plan or (chosen and e.plan == chosen.plan)]
    lines += [f"  {e.line(gpu.budget_gb)}" for e in shown]
    lines.append(f"chosen: {chosen.plan}" if chosen else "chosen: none fits this card")
    return "\n".join(lines)


def _notes(gpu: GpuInfo, chosen: Estimate | None, estimates: list[Estimate], budget: float) -> tuple[str, ...]:
    notes = []
    if chosen is None:
        lightest = min(estimates, key=lambda e: e.peak_gb)
        notes.append(f"even the lightest plan ({lightest.plan}) needs about {lightest.peak_gb:.1f} GB and this card "
                     f"offers {budget:.1f} GB: choose a lower resolution, fewer frames or TI2V-5B")
    elif "fp8" in chosen.plan:
        notes.append("no bf16 plan fits, so weights are stored in FP8 (computed in bf16): some quality loss")
        if not gpu.fp8:
            notes.append("FP8 storage with bf16 math works on this card although it has no FP8 tensor cores")
    faster_fp8 = [e for e in estimates if "fp8" in e.plan and e.peak_gb <= budget
                  and chosen is not None and e.relative_speed > chosen.relative_speed]
    if chosen is not None and "fp8" not in chosen.plan and faster_fp8:
        best = max(faster_fp8, key=lambda e: e.relative_speed)
        notes.append(f"{best.plan} would also fit ({best.peak_gb:.1f} GB, speed {best.relative_speed:.3f}) "
                     "but stores weights in FP8; bf16 is preferred for quality")
    return tuple(notes)


def _host_notes(spec: ModelSpec, foot: Footprint, chosen: Estimate | None, host_gb: float | None) -> tuple[str, ...]:
    if host_gb is None or chosen is None:
        return ()
    needs = foot.host_gb(fp8="fp8" in chosen.plan)
    if needs <= host_gb:
        return ()
    return (f"loading {spec.title} with {chosen.plan} needs about {needs:.0f} GB of host memory (all weights in "
            f"bf16{', plus their FP8 copies while casting' if 'fp8' in chosen.plan else ''}) and this machine has "
            f"{host_gb:.0f} GB: add RAM or swap, or choose a smaller model",)

