"""`python -m bench.exact_report FOLDER`: issue 21's figures from the `exact` and `quality` part files of one card.

Each per-step ratio is ours against the stock run *of the same file* (same process, same card); the 40-step
seconds are composed as in bench/compose.py: text + 40 steady steps + VAE decode + the MP4 (1.25 s measured on
smooth 720P frames, BENCHMARKS.md), with a warm process (the one-time compile listed apart). Turbo: the runner's
computed and cached steps of a 5-step job with a fixed mask, composed for each cache-dit policy's masks at 40 steps.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from studio.speed.turbo import POLICIES, masks_for

from .compose import expert_split

MP4_S = 1.25


def _sections(folder: Path) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        for name, section in data.get("sections", {}).items():
            if "result" in section and isinstance(section["result"], dict):
                found[f"{path.name}: {name}"] = dict(section["result"], card=data["environment"].get("card"))
    return found


def _stock_of(found: dict[str, dict], key: str) -> dict:
    return found[f"{key.split(': ')[0]}: stock 720p"]


def figures(folder: Path) -> dict[str, Any]:
    found = _sections(folder)
    rows = []
    for key, run in found.items():
        if run.get("runner") != "studio PipelineRunner" or run.get("mode") != "quality":
            continue
        stock = _stock_of(found, key)
        steady, stock_steady = run["step_seconds"][1], stock["step_seconds"][1]
        timings = run["timings"]
        rows.append(dict(
            run=key, backend=run.get("backend"), card=run["card"], step_s=steady, stock_step_s=stock_steady,
            speedup=stock_steady / steady, first_step_extra_s=run["step_seconds"][0] - steady,
            composed_40_steps_s=timings["text"] + 40 * steady + timings["decode"] + MP4_S,
            stock_composed_40_steps_s=40 * stock_steady + stock["after_last_step_s"] + MP4_S,
        ))
    turbo = next((r for k, r in found.items() if r.get("mode") == "turbo"), None)
    fastest = min((r for r in rows if r["backend"] in ("studio_fa4", "studio_flashinfer", "_native_cudnn")),
                  key=lambda r: r["step_s"], default=None)
    turbo_rows = []
    if turbo and fastest:
        steps = turbo["step_seconds"]
        mask = turbo["mask"]
        computed = [s for s, m in zip(steps[1:], mask[1:]) if m]  # step 1 holds the compile
        cached = [s for s, m in zip(steps, mask) if not m]
        taylor_extra = sum(computed) / len(computed) - fastest_cudnn_step(rows)
        for policy in POLICIES:
            masks = masks_for(list(expert_split(40)), policy)
            n_full = sum(map(sum, masks))
            seconds = (turbo["timings"]["text"] + n_full * (fastest["step_s"] + taylor_extra)
                       + (40 - n_full) * sum(cached) / len(cached) + turbo["timings"]["decode"] + MP4_S)
            turbo_rows.append(dict(policy=policy, computed_steps=n_full, masks=["".join(map(str, m)) for m in masks],
                                   composed_40_steps_s=seconds))
        turbo = dict(cached_step_s=cached, computed_step_s=computed, taylorseer_extra_s=taylor_extra,
                     exact_backend_composed=fastest["backend"], policies=turbo_rows)
    return dict(quality=rows, turbo=turbo)


def fastest_cudnn_step(rows: list[dict]) -> float:
    """The cuDNN step of the file the turbo run is in: the computed turbo steps ran on cuDNN too."""
    return min(r["step_s"] for r in rows if r["backend"] == "_native_cudnn")


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    result = figures(folder)
    print(f"{'run':60} {'backend':18} {'step s':>7} {'stock s':>7} {'x':>6} {'40 steps s':>10}")
    for r in result["quality"]:
        print(f"{r['run'][:60]:60} {str(r['backend']):18} {r['step_s']:7.2f} {r['stock_step_s']:7.2f} "
              f"{r['speedup']:6.3f} {r['composed_40_steps_s']:10.1f}")
    for r in (result["turbo"] or {}).get("policies", []):
        print(f"turbo {r['policy']:8} {r['computed_steps']:2d} of 40 computed: {r['composed_40_steps_s']:.1f} s")
    (folder / "composed.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
