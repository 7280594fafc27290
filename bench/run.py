"""`python -m bench.run PART --out DIR`: run one part of the bench, writing JSON as it goes.

Parts: `levers` (attention kernels, one expert forward per lever, text encoder, VAE, MP4,
previews), `e2e` (stock diffusers vs the studio's runner under model offload, the first session),
`kernels` (our 8-bit attention's variants), `quality` (stock vs ours, everything resident, 720P and
480P, then FP8 linears) and `modes` (fast mode and turbo).
`report` merges part files into `bench/results/<date>-<card>.json` with the composed figures.
Each section is guarded: a failure is recorded and the next section still runs, and sections
are skipped once `--budget` seconds have passed, so one call on a lent GPU always returns data.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import torch




def environment() -> dict[str, Any]:
    import diffusers

    info = {"torch": torch.__version__, "diffusers": diffusers.__version__, "python": platform.python_version()}
    for name in ("triton", "torchao", "transformers"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    try:
        from studio.speed import _int8_kernels

        info["int8_variant"] = dict(_int8_kernels.VARIANT)
    except ImportError:  # no Triton
        info["int8_variant"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(card=props.name, card_memory_gb=round(props.total_memory / 1e9, 1),
                    cudnn=torch.backends.cudnn.version())
    else:
        info["card"] = "cpu"
    return info


class Sections:
    """Runs named sections in order, saving everything to one JSON file after each."""

    only: tuple[str, ...] = ()  # when set (--only), sections whose names contain none of these are skipped

    def __init__(self, path: Path, budget_s: float) -> None:
        self.path, self.start, self.budget = path, time.perf_counter(), budget_s
        self.data: dict[str, Any] = {"environment": environment(), "sections": {}}

    @property
    def deadline(self) -> float:
        return self.start + self.budget

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        if self.only and not any(part in name for part in self.only):
            return None
        if time.perf_counter() > self.deadline:
            self.data["sections"][name] = {"skipped": "out of time in this run"}
            self.save()
            return None
        began = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            result = fn()
            self.data["sections"][name] = {"result": result, "seconds": time.perf_counter() - began}
        except Exception as exc:
            traceback.print_exc()
            result = None
            self.data["sections"][name] = {"failed": f"{type(exc).__name__}: {str(exc)[:500]}"}
        self.save()
        _free()
        return result

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=_plain))


def levers(out: Path, budget_s: float) -> dict:
    from . import levers as part

    device = torch.device("cuda")
    runs = Sections(out / "levers.json", budget_s)
    fp8, pv16 = _tuned_candidates()
    rows = runs.run("attention 720p", lambda: part.attention(device, 75_600, fp8, pv16)) or []
    best = {k: [c] if (c := part.best_config(rows, k)) else [] for k in ("studio_int8", "studio_int8_pv16")}
    runs.run("attention 480p", lambda: part.attention(device, 32_760, best["studio_int8"], best["studio_int8_pv16"]))
    runs.run("text encoder", lambda: part.text_encoding(device))
    runs.run("preview", lambda: part.preview_cost(device))
    runs.run("vae and mp4", lambda: part.decode_and_encode(device))
    runs.run("forward 720p", lambda: part.forward_levers(device, 1280, 720, runs.deadline))
    return runs.data


def e2e(out: Path, budget_s: float) -> dict:
    """Stock vs the runner at 720P (exact, 8-bit attention) and 480P, and fast mode, all under model offload.

    Everything resident (both experts + text encoder, 69 GB) runs out of memory at 720P on an
    80 GB H100 (first attempt, see BENCHMARKS.md), so both sides use diffusers' model CPU offload:
    one model on the GPU at a time, moved in when it runs.
    """
    from studio.jobhooks import JobHook
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile
    from studio.speed.fast import FastMode, fast_request
    from studio.speed.turbo import StepCache

    from . import e2e as part
    from . import fullsize, levers

    device = torch.device("cuda")
    runs = Sections(out / "e2e.json", budget_s)
    fp8, pv16 = _tuned_candidates()
    runs.run("attention 720p, FP8 accumulation promoted", lambda: levers.attention(device, 75_600, fp8, pv16[:1]))
    held: dict[str, Any] = {}

    def build() -> dict:
        began = time.perf_counter()
        held["pipe"] = fullsize.pipeline(device)
        built = time.perf_counter()
        held["pipe"].enable_model_cpu_offload()
        return dict(build_s=built - began, offload_setup_s=time.perf_counter() - built)

    if runs.run("build", build) is None:
        return runs.data
    pipe, compiled, fast, placement = held["pipe"], RegionalCompile(), FastMode(), JobHook()

    def hooks(attention: str) -> list:
        return [placement, fast, AttentionBackend(attention, fast_choice=attention), compiled, StepCache()]

    def fast_run() -> dict:
        fast.lora = part.random_lora(pipe.transformer)
        result = part.ours(pipe, hooks("auto"), 1280, 720, 4, mode="fast", prepare=fast_request)
        return dict(result, lora_fuse_s=fast.fuse_seconds)

    def quality_480p() -> dict:
        result = part.ours(pipe, hooks("auto"), 832, 480, 3)
        return dict(result, lora_unfuse_s=fast.unfuse_seconds)

    runs.run("stock 720p", lambda: part.stock(pipe, 1280, 720, 3))
    runs.run("stock 480p", lambda: part.stock(pipe, 832, 480, 3))
    runs.run("ours 720p exact", lambda: part.ours(pipe, hooks("auto"), 1280, 720, 3))
    runs.run("ours 720p int8 attention", lambda: part.ours(pipe, hooks("int8"), 1280, 720, 3))
    runs.run("fast 720p", fast_run)
    runs.run("ours 480p exact", quality_480p)
    return runs.data


# Kernel variants timed side by side: block sizes, launch options and the switches of
# `_int8_kernels.VARIANT`. Earlier sweeps (bench/results/2026-11-25-h100-s2/, -s3/ and -s4/) chose
# PROMOTE=128, found that Triton's own promotion made ptxas serialise every MMA (now done by hand),
# chose one K scale per 128 keys (K_TILE) and ruled out lazy rescaling, warp specialisation, the
# magic-number INT32 conversion, exp2 on the FMA units, more registers per program (occupancy), row
# sums on the tensor cores and the next block's QK issued before the softmax.
SWEEP = [
    dict(BLOCK_M=m, BLOCK_N=n, num_warps=w, num_stages=st, **switches)
    for m, n, w, st, switches in (
        (64, 128, 4, 3, {}),  # the kept kernel
        (64, 128, 4, 3, dict(K_TILE=False)),  # one K scale per key
        (64, 128, 4, 3, dict(PROMOTE=0)),  # FP8 P·V never promoted
        (128, 128, 8, 3, {}),
        (64, 64, 4, 3, {}),
        (64, 128, 4, 2, {}),
        (64, 128, 4, 4, {}),
    )
]
ERROR_BOUND = 0.02  # the bound on the attention output, held on structured inputs


def kernels(out: Path, budget_s: float) -> dict:
    """Every SWEEP variant against cuDNN at 720P; the fastest within the error bound again at 480P."""
    from . import levers as part

    device = torch.device("cuda")
    runs = Sections(out / "kernels.json", budget_s)
    rows = runs.run("attention 720p sweep", lambda: part.attention(device, 75_600, SWEEP, [])) or []
    within = [r for r in rows if r["kernel"] == "studio_int8" and r.get("error_structured", 1.0) < ERROR_BOUND]
    if within:
        best = min(within, key=lambda r: r["seconds"])["config"]
        runs.data["best_720p"] = best
        runs.run("attention 480p best", lambda: part.attention(device, 32_760, [best], []))
    return runs.data


def _shared_pipeline(device: torch.device):
    """Full-size pipeline, one expert module serving as both (same compute per step, half the memory),
    everything resident: no offload or swap enters the per-step timings of either side."""
    from . import fullsize

    return fullsize.pipeline(device, shared_expert=True)


def quality(out: Path, budget_s: float) -> dict:
    """Stock diffusers vs the studio's runner in one process, 720P and 480P, turbo, then FP8 linears.

    720P runs 2 steps (1 = warm-up and compile, 2 = steady), 480P 3. Every "ours" run is the runner
    with previews on every step and the speed hooks a user selects (STUDIO_ATTENTION, STUDIO_FP8).
    """
    from studio.jobhooks import JobHook
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile
    from studio.speed.fp8 import Fp8Linears
    from studio.speed.turbo import StepCache

    from . import e2e as part

    device = torch.device("cuda")
    runs = Sections(out / "quality.json", budget_s)
    pipe = _shared_pipeline(device)
    compiled, fp8 = RegionalCompile(), Fp8Linears()

    def ours(attention: str, width: int, height: int, steps: int, with_fp8: bool = False) -> dict:
        if with_fp8 and not fp8.quantized:
            torch._dynamo.reset()  # blocks compiled over BF16 linears are compiled again over FP8 ones
        hooks = [JobHook(), *([fp8] if with_fp8 else []), AttentionBackend(attention), compiled]
        return part.ours(pipe, hooks, width, height, steps)

    runs.run("stock 720p", lambda: part.stock(pipe, 1280, 720, 2))
    runs.run("stock 480p", lambda: part.stock(pipe, 832, 480, 3))
    runs.run("ours 480p exact", lambda: ours("auto", 832, 480, 3))
    runs.run("ours 720p exact", lambda: ours("auto", 1280, 720, 2))
    runs.run("ours 720p int8 attention", lambda: ours("int8", 1280, 720, 2))
    runs.run("ours 480p int8 attention", lambda: ours("int8", 832, 480, 3))
    turbo = StepCache()
    hooks = [JobHook(), AttentionBackend("int8"), compiled, turbo]
    runs.run("turbo 480p (int8 attention)", lambda: turbo_against_exact(pipe, hooks, turbo))
    runs.run("ours 720p fp8 linears", lambda: ours("auto", 1280, 720, 2, with_fp8=True))
    runs.run("ours 720p fp8 linears + int8 attention", lambda: ours("int8", 1280, 720, 2, with_fp8=True))
    runs.run("ours 480p fp8 linears + int8 attention", lambda: ours("int8", 832, 480, 3, with_fp8=True))
    return runs.data


def exact(out: Path, budget_s: float) -> dict:
    """Issue 21, one call: the exact attention kernels on one 720P call (cuDNN, FlashAttention-4, FlashInfer's FA3,
    and ours 8-bit for scale), then stock diffusers against the runner with each exact backend that runs here,
    at 720P, in the same process; then turbo's computed and cached steps (cache-dit, a fixed mask) and where a
    compiled forward's time goes. `--only` picks sections (the kernels, "stock", "ours", "turbo", "profile")."""
    from studio.jobhooks import JobHook
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile

    from . import e2e as part
    from . import levers

    device = torch.device("cuda")
    runs = Sections(out / "exact.json", budget_s)
    backends = ("_native_cudnn", "studio_fa4", "studio_flashinfer")
    runs.run("attention 720p exact kernels", lambda: levers.attention(
        device, 75_600, [None], [], exact=backends))
    pipe = _shared_pipeline(device)
    compiled = RegionalCompile()
    runs.run("stock 720p", lambda: part.stock(pipe, 1280, 720, 2))
    for choice in ("fa4", "flashinfer", "cudnn"):
        def one(choice: str = choice) -> dict:
            attention = AttentionBackend(choice)
            result = part.ours(pipe, [JobHook(), attention, compiled], 1280, 720, 2)
            return dict(result, backend=attention.chosen, rejected=attention.rejected)

        runs.run(f"ours 720p {choice}", one)
    runs.run("turbo 720p (cached steps)", lambda: turbo_steps(pipe, compiled))
    runs.run("profile 720p forward", lambda: levers.profile_forward(pipe.transformer, device))
    return runs.data


def turbo_steps(pipe, compiled, width: int = 1280, height: int = 720) -> dict:
    """A 5-step turbo job with the mask 1,1,0,0,1 (steps 3 and 4 cached): a computed step's and a cached step's
    seconds under cache-dit, to compose each policy's 40-step time; the exact backend is the studio's auto."""
    from studio.speed.attention import AttentionBackend
    from studio.speed.turbo import StepCache

    from . import e2e as part

    class Fixed(StepCache):
        def masks(self, pipe, request):
            return [[1, 1, 0, 0, 1]]

    attention = AttentionBackend("auto")
    result = part.ours(pipe, [attention, compiled, Fixed()], width, height, 5, mode="turbo")
    return dict(result, backend=attention.chosen, mask=[1, 1, 0, 0, 1])


def modes(out: Path, budget_s: float) -> dict:
    """The VAE decode in FP32 and in BF16 (the fast-mode default), then fast mode at 720P run whole:
    a first job (fuse, compile), then warm jobs with our 8-bit attention and with cuDNN's."""
    from studio.jobhooks import JobHook
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile
    from studio.speed.decode import Bf16Decode
    from studio.speed.fast import FastMode, fast_request

    from . import e2e as part

    device = torch.device("cuda")
    runs = Sections(out / "modes.json", budget_s)
    pipe = _shared_pipeline(device)
    runs.run("vae decode 720p fp32 vs bf16", lambda: decode_precision(pipe, device))
    fast, compiled, decode = FastMode(), RegionalCompile(), Bf16Decode()

    def fast_job(attention: str, seed: int) -> dict:
        hooks = [JobHook(), fast, AttentionBackend(attention, fast_choice=attention), compiled, decode]
        return part.ours(pipe, hooks, 1280, 720, 4, mode="fast", prepare=fast_request, seed=seed)

    def fast_run() -> dict:
        fast.lora = part.random_lora(pipe.transformer)
        first = fast_job("int8", 0)  # fuse + compile + autotune
        return dict(first_job=first, int8=fast_job("int8", 1), lora_fuse_s=fast.fuse_seconds)

    runs.run("fast 720p", fast_run)
    runs.run("exact attention fast 720p", lambda: fast_job("auto", 2))  # the same warm job on the exact kernel
    return runs.data


def decode_precision(pipe, device: torch.device, width: int = 1280, height: int = 720) -> dict:
    """One latent decoded in FP32 and under the BF16 hook: times (second call each) and the frames' difference."""
    import numpy as np

    from studio.runner import decode_latents
    from studio.speed.decode import Bf16Decode

    from . import fullsize
    from .timing import repeat

    latents = torch.randn(fullsize.latent_shape(width, height), device=device)
    fp32, fp32_times = repeat(lambda: decode_latents(pipe, latents), 2, device)
    hook, job = Bf16Decode(), SimpleNamespace(mode="fast")
    hook.on_job_start(pipe, job)
    try:
        bf16, bf16_times = repeat(lambda: decode_latents(pipe, latents), 2, device)
    finally:
        hook.on_job_end(pipe)
    diff = np.abs(bf16.astype(np.int16) - fp32.astype(np.int16))
    return dict(fp32_s=fp32_times[-1], bf16_s=bf16_times[-1], mean_abs_diff_levels=float(diff.mean()),
                max_abs_diff_levels=int(diff.max()), what="8-bit levels; random VAE weights decode noise")


def turbo_against_exact(pipe, hooks: list, turbo, width: int = 832, height: int = 480, steps: int = 8) -> dict:
    """The same job exact and with step caching; times of both and the final latent's relative error."""
    from studio.speed.int8_attention import relative_error

    from . import e2e as part

    tap = part.LatentTap(pipe.vae)
    exact = part.ours(pipe, hooks, width, height, steps)
    exact_latent = tap.latent
    cached = part.ours(pipe, hooks, width, height, steps, mode="turbo")
    tap.close()
    return dict(exact=exact, turbo=cached, policy=turbo.policy, masks=turbo.last_masks,
                final_latent_error=relative_error(tap.latent, exact_latent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("part", choices=PARTS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=520.0, help="seconds after which sections are skipped")
    parser.add_argument("--only", default="", help="comma-separated parts of section names to run (default: all)")
    parser.add_argument("--int8-variant", type=Path, help="a kernels.json: its best_720p switches become the kernel's")
    args = parser.parse_args(argv)
    if args.int8_variant:
        best = json.loads(args.int8_variant.read_text()).get("best_720p")
        print(f"int8 kernel variant: {use_variant(best) if best else 'no best_720p in the sweep, defaults kept'}")
    Sections.only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    PARTS[args.part](args.out, args.budget)
    return 0


PARTS = {"levers": levers, "e2e": e2e, "kernels": kernels, "quality": quality, "modes": modes, "exact": exact}


def _tuned_candidates() -> tuple[list[dict], list[dict]]:
    """The autotuner's candidate configs of the FP8 and the BF16 P·V kernels, as plain dicts."""
    from studio.speed import _int8_kernels
    from studio.speed.int8_attention import config_dict

    return tuple([config_dict(c) for c in configs] for configs in (_int8_kernels.FP8_CONFIGS, _int8_kernels.PV16_CONFIGS))


def use_variant(config: dict) -> dict:
    """Make a sweep's winning numerics switches the kernel's for this process (block sizes stay autotuned)."""
    from studio.speed import _int8_kernels

    _int8_kernels.VARIANT.update({k: v for k, v in config.items() if k in _int8_kernels.VARIANT})
    return dict(_int8_kernels.VARIANT)


def _free() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _plain(value: Any) -> Any:
    if isinstance(value, (Path, torch.dtype, torch.device)):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
