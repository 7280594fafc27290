"""`python -m bench.report FOLDER [FOLDER ...]`: compose the result file from the raw part files.

Each FOLDER holds what `bench.run` and `bench/memory_plans.py` wrote ($OUT of each call); a file
is taken from the first folder that has it. `quality.json` (stock and ours in one process) gives
the exact path's per-step figures; `quality-720p.json` and `quality-480p.json` (later calls, each
with its own stock run) the 8-bit and FP8 figures, or `quality-8bit.json` (one call, both sizes, with
its stock runs) where a folder has it; `quality-2.json` an older call's leftovers;
`modes.json` fast mode in the runner and the first preview, `levers.json` the MP4 encoding time, the
`memory_plans-*.json` files the expert-swap plan's peak and stream-in cost, `studio-fast-compile.json`
fast jobs through `Studio.generate` (the fast figure, when present). Figures not measured stay null, with the reason under `methods`; composed and
cross-call figures say so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .compose import ShortRun, compose, expert_split, per_step_speedup, write


def _load(folders: list[Path], *names: str) -> dict[str, Any]:
    """The first folder's file among `names` (in that order of preference)."""
    for folder in folders:
        for name in names:
            if (folder / name).exists():
                return json.loads((folder / name).read_text())
    return {"sections": {}}


def _result(part: dict, section: str) -> Any:
    return part["sections"].get(section, {}).get("result")


def _run(result: dict) -> ShortRun:
    return ShortRun(tuple(result["step_seconds"]), result["timings"]["text"], result["timings"]["decode"])


def _expert_swap(folders: list[Path], pattern: str = "memory_plans*.json") -> dict | None:
    """The uncapped expert-swap job of the memory-plan bench (A14B, 720P, both experts streamed)."""
    for folder in folders:
        for path in sorted(folder.glob(pattern)):
            for row in json.loads(path.read_text())["plans"]:
                if row.get("plan") == "expert-swap" and row["status"] == "done" and row.get("cap_gb") is None:
                    return row
    return None


def _paired(part: dict, stock: str, ours: str) -> tuple[dict, dict] | None:
    """A section and the stock run of the same call (same process, same card), or None."""
    pair = _result(part, stock), _result(part, ours)
    return pair if all(pair) else None


def _fast_job(modes: dict) -> dict | None:
    """The warm fast job: this session's 8-bit one (modes.json with first_job/int8/cudnn), or the older single job."""
    fast = _result(modes, "fast 720p")
    return fast.get("int8", fast) if fast else None


def build(folders: list[Path]) -> dict[str, Any]:
    quality, later, modes = (_load(folders, n) for n in ("quality.json", "quality-2.json", "modes.json"))
    q720, q480 = (_load(folders, "quality-8bit.json", f"quality-{size}.json") for size in ("720p", "480p"))
    levers = _load(folders, "levers.json")
    env = quality["environment"]
    mp4_s = next(r["seconds"] for r in _result(levers, "vae and mp4") if r["what"].startswith("MP4"))
    stock720, stock480 = _result(quality, "stock 720p"), _result(quality, "stock 480p")
    exact720, fp8_720 = _result(quality, "ours 720p exact"), _result(quality, "ours 720p fp8 linears")
    int8_pair = _paired(q720, "stock 720p", "ours 720p int8 attention") or (stock720, _result(quality, "ours 720p int8 attention"))
    both_pair = _paired(q720, "stock 720p", "ours 720p fp8 linears + int8 attention")
    exact480 = _result(quality, "ours 480p exact")
    turbo = _result(later, "turbo 480p (int8 attention)")
    fast = _fast_job(modes)
    swap = _expert_swap(folders)
    high, low = expert_split(40)
    stream_in_s = swap["step_seconds"][0] - swap["step_seconds"][1] if swap else 0.0
    stock_steady = stock720["step_seconds"][1]
    how = (
        f"composed, not run for 40 steps: text + {high}+{low} x the steady step (step 2 of a short run of the "
        "studio runner, CFG, previews every step) + VAE decode (float32, untiled) + MP4; warm process (the "
        "one-time compile left out); one full-size expert module serving both experts, everything resident; "
        f"+ {stream_in_s:.2f} s, what the expert-swap plan's streaming added to its first step (memory bench)"
    )

    def composed(run: dict) -> float:
        return round(compose(_run(run), mp4_s, include_first_extra=False) + stream_in_s, 1)

    result: dict[str, Any] = {
        "card": env["card"], "torch": env["torch"], "diffusers": env["diffusers"], "triton": env.get("triton"),
        "torchao": env.get("torchao"), "methods": {},
    }
    methods = result["methods"]
    result["quality_720p_s"] = composed(exact720)
    methods["quality_720p_s"] = f"{how}; exact path: BF16 weights, cuDNN attention, regional compile"
    result["quality_720p_cold_extra_s"] = round(_run(exact720).first_extra_s, 1)
    methods["quality_720p_cold_extra_s"] = "what the first 720P job of a process adds (compile for the shape)"
    result["quality_720p_peak_gb"] = swap["peak_allocated_gb"] if swap else None
    methods["quality_720p_peak_gb"] = (
        "torch.cuda.max_memory_allocated of a 720P job under the expert-swap plan the doctor picks for 40-80 GB "
        "cards (memory bench: both experts streamed, text encoder off the GPU after encoding, untiled decode; no "
        "compile, which lowers the peak)"
    )
    result["stock_720p_s"] = round(compose(ShortRun(tuple(stock720["step_seconds"]), 0.0, stock720["after_last_step_s"]),
                                           mp4_s), 1)
    methods["stock_720p_s"] = "stock WanPipeline in the same process and pipeline, composed the same way (text inside step 1)"
    result["speedup_vs_stock_per_step"] = round(per_step_speedup(stock_steady, exact720["step_seconds"][1]), 3)
    methods["speedup_vs_stock_per_step"] = (
        f"steady 720P step (2 forwards, CFG), same process: stock {stock_steady:.2f} s / ours exact "
        f"{exact720['step_seconds'][1]:.2f} s"
    )

    def paired_speedup(key: str, stock: dict, ours: dict) -> None:
        """Steady step (step 2) of stock over ours, both from the same call."""
        stock_s, ours_s = stock["step_seconds"][1], ours["step_seconds"][1]
        result[key] = round(per_step_speedup(stock_s, ours_s), 3)
        methods[key] = f"steady 720P step, same process: stock {stock_s:.2f} s / ours {ours_s:.2f} s"

    stock_int8, int8_720 = int8_pair
    result["exact_8bit_attention_720p_s"] = composed(int8_720)
    methods["exact_8bit_attention_720p_s"] = f"{how}; our INT8 Q·Kᵀ + FP8 P·V attention, BF16 weights, compile"
    paired_speedup("speedup_vs_stock_per_step_8bit", stock_int8, int8_720)
    result["fp8_linears_720p_s"] = composed(fp8_720)
    methods["fp8_linears_720p_s"] = f"{how}; FP8 linears (torchao), cuDNN attention, compile"
    result["speedup_vs_stock_per_step_fp8"] = round(per_step_speedup(stock_steady, fp8_720["step_seconds"][1]), 3)
    if both_pair:
        stock_both, both720 = both_pair
        result["fp8_linears_8bit_attention_720p_s"] = composed(both720)
        methods["fp8_linears_8bit_attention_720p_s"] = f"{how}; FP8 linears + our 8-bit attention + compile"
        paired_speedup("speedup_vs_stock_per_step_fp8_8bit", stock_both, both720)
    run480 = _run(exact480)
    result["quality_480p_s"] = round(compose(run480, mp4_s, include_first_extra=False), 1)
    methods["quality_480p_s"] = (
        "composed as quality_720p_s from a 3-step 480P run (exact path, resident; the expert swap is not added: "
        "the doctor keeps both experts resident at 480P on 80 GB); MP4 time of 720P used as an upper bound"
    )
    result["stock_480p_s"] = round(compose(ShortRun(tuple(stock480["step_seconds"]), 0.0, stock480["after_last_step_s"]),
                                           mp4_s), 1)
    result["speedup_vs_stock_per_step_480p"] = round(per_step_speedup(stock480["step_seconds"][1], run480.steady_s), 3)
    for label, pair in (("8bit", _paired(q480, "stock 480p", "ours 480p int8 attention")),
                        ("fp8_8bit", _paired(q480, "stock 480p", "ours 480p fp8 linears + int8 attention"))):
        if pair:
            stock, ours = pair
            result[f"quality_480p_{label}_s"] = round(compose(_run(ours), mp4_s, include_first_extra=False), 1)
            methods[f"quality_480p_{label}_s"] = (
                f"composed as quality_480p_s; {'FP8 linears + ' if label == 'fp8_8bit' else ''}our 8-bit attention")
            result[f"speedup_vs_stock_per_step_480p_{label}"] = round(
                per_step_speedup(stock["step_seconds"][1], ours["step_seconds"][1]), 3)
    studio_fast = _expert_swap(folders, "studio-fast-compile.json")
    warm = studio_fast["warm_jobs"][-1] if studio_fast and studio_fast.get("warm_jobs") else None
    if warm:
        result["fast_720p_s"] = warm["seconds"]
        methods["fast_720p_s"] = (
            "measured, run whole: a warm fast job through Studio.generate (language layer, expert-swap plan with both "
            "experts streamed, LoRA fused and blocks compiled by the process's first job, 8-bit attention, BF16 "
            "decode, MP4 encoded during the decode, history), 4 steps, guidance 1, random weights; "
            f"its MP4 finished {warm['timings']['encode']:.2f} s after the decode")
    elif fast:
        result["fast_720p_s"] = round(fast["timings"]["total"] + mp4_s, 1)
        methods["fast_720p_s"] = ("run whole: a warm fast job of a process (LoRA fused and blocks compiled by "
                                  "the first), 4 steps, guidance 1, the fast default (our 8-bit attention, BF16 "
                                  "VAE decode); + MP4")
    else:
        result["fast_720p_s"] = None
        methods["fast_720p_s"] = "not measured"
    if fast:
        result["first_preview_s"] = round(fast["first_preview_s"], 2)
        methods["first_preview_s"] = (f"measured, warm fast job in the runner: job start to the first Preview event; "
                                      f"its first step took {fast['step_seconds'][0]:.2f} s")
    else:
        result["first_preview_s"] = None
        methods["first_preview_s"] = "not measured"
    result["preview_cost_ratio"] = round(exact720["preview_cost_ratio"], 6)
    methods["preview_cost_ratio"] = "preview time over denoising time in the 720P exact run (previews every step)"
    result["turbo_720p_s"] = None
    methods["turbo_720p_s"] = (
        "not in these files: turbo through cache-dit is composed by bench.exact_report (2026-12-05-h200); at 480P "
        "(turbo_480p, 2026-11-25) the earlier FirstBlockCache found no step to skip on random weights"
    )
    if turbo:
        result["turbo_480p"] = {
            "exact_steady_step_s": turbo["exact"]["step_seconds"][-1],
            "turbo_steady_step_s": turbo["turbo"]["step_seconds"][-1],
            "final_latent_error": round(turbo["final_latent_error"], 5),
            "setting": turbo.get("policy", turbo.get("threshold")),  # cache-dit's mask policy; FirstBlockCache's threshold
        }
    result["published"] = {
        "official_wan22_720p_s": 1041.5, "official_wan22_720p_peak_gb": 59.8, "lightx2v_720p_s": 823.5,
        "lightx2v_720p_offload_s": 839.8, "lightx2v_4step_720p_i2v_fp8_s": 57.1,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    folders = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    print(write(build(folders), Path(__file__).resolve().parent / "results", _day(folders[0])))
    return 0


def _day(folder: Path):
    from datetime import date

    try:
        return date.fromisoformat(folder.name[:10])
    except ValueError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
