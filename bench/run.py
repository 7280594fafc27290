"""`python -m bench.run PART --out DIR`: run one part of the bench, writing JSON as it goes.

Parts: `levers` (attention kernels, one expert forward per lever, text encoder, VAE, MP4,
previews) and `e2e` (stock diffusers vs the studio's runner, shortened schedules, fast and turbo).
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
from typing import Any, Callable

import torch

from .timing import median, peak_gb, repeat, reset_peak


def environment() -> dict[str, Any]:
    import diffusers

    info = {"torch": torch.__version__, "diffusers": diffusers.__version__, "python": platform.python_version()}
    for name in ("triton", "torchao", "transformers"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(card=props.name, card_memory_gb=round(props.total_memory / 1e9, 1),
                    cudnn=torch.backends.cudnn.version())
    else:
        info["card"] = "cpu"
    return info


class Sections:
    """Runs named sections in order, saving everything to one JSON file after each."""

    def __init__(self, path: Path, budget_s: float) -> None:
        self.path, self.start, self.budget = path, time.perf_counter(), budget_s
        self.data: dict[str, Any] = {"environment": environment(), "sections": {}}

    @property
    def deadline(self) -> float:
        return self.start + self.budget

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
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
    from studio.speed import _int8_kernels

    from . import levers as part

    device = torch.device("cuda")
    runs = Sections(out / "levers.json", budget_s)
    fp8, pv16 = (_configs(c) for c in (_int8_kernels.FP8_CONFIGS, _int8_kernels.PV16_CONFIGS))
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
    from studio.speed import _int8_kernels
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile
    from studio.speed.fast import FastMode, fast_request
    from studio.speed.turbo import StepCache

    from . import e2e as part
    from . import fullsize, levers

    device = torch.device("cuda")
    runs = Sections(out / "e2e.json", budget_s)
    fp8, pv16 = (_configs(c) for c in (_int8_kernels.FP8_CONFIGS, _int8_kernels.PV16_CONFIGS))
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
        return [placement, fast, AttentionBackend(attention), compiled, StepCache()]

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


def finish(out: Path, budget_s: float) -> dict:
    """What the earlier calls did not reach: fast mode, 480P, turbo, FP8 linears.

    One expert module serves as both experts (same compute per step, half the memory), so the
    whole pipeline stays resident at 720P and no offload swap enters these timings.
    """
    from studio.jobhooks import JobHook
    from studio.speed.attention import AttentionBackend
    from studio.speed.compile import RegionalCompile
    from studio.speed.fast import FastMode, fast_request
    from studio.speed.fp8 import quantize_fp8
    from studio.speed.int8_attention import relative_error
    from studio.speed.turbo import StepCache

    from . import e2e as part
    from . import fullsize

    device = torch.device("cuda")
    runs = Sections(out / "finish.json", budget_s)
    pipe = fullsize.pipeline(device, shared_expert=True)
    compiled, fast, turbo = RegionalCompile(), FastMode(), StepCache()
    hooks = [JobHook(), fast, AttentionBackend("auto"), compiled, turbo]

    def fast_run() -> dict:
        fast.lora = part.random_lora(pipe.transformer)
        result = part.ours(pipe, hooks, 1280, 720, 4, mode="fast", prepare=fast_request)
        return dict(result, lora_fuse_s=fast.fuse_seconds)

    def quality_480p() -> dict:
        return part.ours(pipe, hooks, 832, 480, 3)

    def turbo_480p(steps: int = 6) -> dict:
        tap = part.LatentTap(pipe.vae)
        exact = part.ours(pipe, hooks, 832, 480, steps)
        exact_latent = tap.latent
        cached = part.ours(pipe, hooks, 832, 480, steps, mode="turbo")
        tap.close()
        return dict(exact=exact, turbo=cached, threshold=turbo.threshold,
                    final_latent_error=relative_error(tap.latent, exact_latent))

    def fp8_720p() -> dict:
        text = torch.randn(1, 512, 4096, device=device, dtype=torch.bfloat16)
        latents = torch.randn(fullsize.latent_shape(1280, 720), device=device, dtype=torch.bfloat16)
        step = torch.tensor([999], device=device)

        def forward():
            return pipe.transformer(hidden_states=latents, timestep=step, encoder_hidden_states=text, return_dict=False)[0]

        with torch.inference_mode():
            reference = forward()
        quantize_fp8(pipe.transformer)  # torchao swaps weight tensors: outside inference mode
        reset_peak()
        with torch.inference_mode():
            out, times = repeat(forward, 3, device)
        return dict(lever="FP8 linears + regional compile + cuDNN", tokens=75_600, first_s=times[0],
                    seconds=median(times[1:]), error_vs_bf16_compiled=relative_error(out, reference), peak_gb=peak_gb())

    runs.run("ours 480p exact", quality_480p)
    runs.run("fast 720p", fast_run)
    runs.run("turbo 480p", turbo_480p)
    runs.run("fp8 720p forward", fp8_720p)
    return runs.data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("part", choices=("levers", "e2e", "finish"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=520.0, help="seconds after which sections are skipped")
    args = parser.parse_args(argv)
    {"levers": levers, "e2e": e2e, "finish": finish}[args.part](args.out, args.budget)
    return 0


def _configs(configs) -> list[dict]:
    return [{**c.kwargs, "num_warps": c.num_warps, "num_stages": c.num_stages} for c in configs]


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
