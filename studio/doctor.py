"""The GPU doctor's verdicts for this machine: the report behind `python -m studio doctor` and the System
tab, and the model the studio runs by default.

The report puts what studio.gpus reads (or a card described with --assume-gpu) through
studio.planning's arithmetic for the real models (T2V, I2V, TI2V) at 480P and 720P; `format_report` writes it for
people. Its JSON schema is in DESIGN.md.
"""

from __future__ import annotations

from typing import Any

from .gpus import GpuInfo, detect_gpus, host_memory_gb, parse_assume_gpu
from .models import MODELS, ModelSpec, is_cached
from .planning import RESOLUTIONS, choose_plan, resolution_size


DOCTOR_MODELS = ("wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b")


def doctor_report(assume_gpu: str | None = None, measure: bool = True) -> dict[str, Any]:
    """{"gpus": [...], "plans": [...]} for the real models at 480P and 720P (schema in DESIGN.md)."""
    gpus = [parse_assume_gpu(assume_gpu)] if assume_gpu else detect_gpus(measure)
    host_gb = host_memory_gb()
    report: dict[str, Any] = {"gpus": [gpu.to_dict() for gpu in gpus], "host_memory_gb": host_gb and round(host_gb, 1),
                              "plans": []}
    target = gpus[0] if gpus else None
    for name in DOCTOR_MODELS:
        spec = MODELS[name]
        for resolution in RESOLUTIONS:
            width, height = resolution_size(spec, resolution)
            row = {"model": name, "resolution": resolution, "width": width, "height": height,
                   "frames": spec.default_frames}
            if target is None:
                row.update(runs=False, plan=None, relative_speed=None, arithmetic="no CUDA GPU on this machine",
                           notes=[], **_needs(spec, resolution))
            else:
                row.update(choose_plan(spec, resolution, target, host_gb=host_gb).to_dict())
            report["plans"].append(row)
    if target is None:
        needs = next(p["peak_gb_estimate"] for p in report["plans"] if p["resolution"] == "720P")
        report["message"] = (
            "No CUDA GPU found. Here the studio runs the tiny model (random weights, for trying the studio: "
            "`python -m studio generate --model tiny --prompt ...`). For Wan2.2 use a machine with an NVIDIA GPU "
            f"of compute capability 8.0+ (A14B at 720P needs about {needs:.0f} GB with its lightest plan, "
            "36 GB with expert-swap); plan for one with --assume-gpu \"NAME,GB,CC\"."
        )
    elif len(gpus) > 1:
        report["message"] = f"{len(gpus)} GPUs found; the studio runs one job on GPU {target.index} ({target.name})."
    return report


def _needs(spec: ModelSpec, resolution: str) -> dict[str, Any]:
    """What a card must have, so a GPU-less report still says what to buy or rent: the lightest plan's peak
    (`peak_gb_estimate`) and the lightest plan within 1 % of full speed."""
    probe = GpuInfo(name="any", total_gb=1024, compute_capability=(9, 0))
    plans = choose_plan(spec, resolution, probe).alternatives
    lightest = min(plans, key=lambda a: a["peak_gb_estimate"])
    fastest = min((a for a in plans if a["relative_speed"] >= 0.99), key=lambda a: a["peak_gb_estimate"])
    return {"peak_gb_estimate": lightest["peak_gb_estimate"], "lightest_plan": lightest["plan"],
            "full_speed_plan": fastest["plan"], "full_speed_gb": fastest["peak_gb_estimate"]}


def format_report(report: dict[str, Any]) -> str:
    """The doctor's report for people: cards, then one line per model and resolution, then the why."""
    lines = []
    for gpu in report["gpus"]:
        tag = " (assumed)" if gpu.get("assumed") else ""
        free = f", {gpu['free_gb']:.1f} free" if gpu.get("free_gb") is not None else ""
        lines.append(f"GPU {gpu['index']}: {gpu['name']}{tag}: {gpu['total_gb']:.1f} GB{free}, compute "
                     f"{gpu['compute_capability']}, bf16 {'yes' if gpu['bf16'] else 'no'}, FP8 {'yes' if gpu['fp8'] else 'no'}")
        if gpu.get("driver") or gpu.get("cuda"):
            lines.append(f"  driver {gpu.get('driver') or '?'}, CUDA {gpu.get('cuda') or '?'}")
        if gpu.get("d2d_gb_s"):
            lines.append(f"  measured: device copy {gpu['d2d_gb_s']:.0f} GB/s, host to device {gpu['h2d_gb_s']:.1f} GB/s")
        if gpu.get("attention"):
            usable = [k for k, v in gpu["attention"].items() if v]
            lines.append(f"  attention: {', '.join(usable) or 'none probed'}")
    if report.get("host_memory_gb"):
        lines.append(f"host memory: {report['host_memory_gb']:.0f} GB")
    if report.get("message"):
        lines.append(report["message"])
    lines.append("")
    if not report["gpus"]:
        lines.append("What each model needs on a GPU (nothing runs here without one):")
        for row in report["plans"]:
            lines.append(f"  {row['model']} {row['resolution']}: at least {row['peak_gb_estimate']:.0f} GB "
                         f"({row['lightest_plan']}); near full speed from {row['full_speed_gb']:.0f} GB "
                         f"({row['full_speed_plan']})")
        return "\n".join(lines)
    lines.append(f"{'model':<18}{'size':<7}{'runs':<6}{'plan':<28}{'peak GB':>8}{'speed':>8}")
    for row in report["plans"]:
        speed = f"{row['relative_speed']:.2f}" if row.get("relative_speed") else "-"
        lines.append(f"{row['model']:<18}{row['resolution']:<7}{'yes' if row['runs'] else 'no':<6}"
                     f"{row['plan'] or '-':<28}{row['peak_gb_estimate']:>8.1f}{speed:>8}")
    for row in report["plans"]:
        if row.get("runs") or row.get("notes"):
            lines.append(f"\n{row['model']} {row['resolution']}:")
            lines.extend(f"  {line}" for line in row["arithmetic"].splitlines())
            lines.extend(f"  note: {note}" for note in row.get("notes", []))
    return "\n".join(lines)


def default_model_name() -> str:
    """The real model where a CUDA GPU runs it (the doctor's verdict) and its weights are present, else `tiny`."""
    gpus = detect_gpus(measure=False)
    if not gpus:
        return "tiny"
    for name in ("wan2.2-t2v-a14b", "wan2.2-ti2v-5b"):
        spec = MODELS[name]
        if spec.repo_id and is_cached(spec.repo_id) and choose_plan(spec, spec.default_size, gpus[0]).runs:
            return name
    return "tiny"
