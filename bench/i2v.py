"""GPU figures for issue 19: Wan2.2 I2V-A14B at full size (random bf16 weights) through the studio's own path.

    python bench/i2v.py --out bench/results               # on a GPU: the figures below, into <date>-<card>-i2v.json
    python bench/i2v.py --tiny --out /tmp/i2v              # the same path on the CPU with tiny-i2v (a smoke test)

What it measures, each through `Studio` (language layer off, PipelineStore, the doctor's `auto` plan, runner,
decode, MP4, history), with torch.cuda.max_memory_allocated as the peak:
- `i2v_720p_quality_s`: one 5 s shot, 1280x720, 81 frames, I2V-A14B's official 40 steps with CFG 3.5/3.5
  (`--steps` shortens it; the figure then says so and is not the official one);
- `i2v_720p_fast_s`: the same shot in fast mode (4 steps, guidance 1, a random rank-32 LoRA fused in, as a
  Lightning LoRA would be);
- `scene_30s_s` and `scene_peak_gb`: a scene of six 5 s shots (each from the previous one's last frame,
  stitched, colour-matched) in `--scene-mode` (fast by default: six quality shots take hours).
Beside them it records the published figure to compare with: LightX2V, I2V 720P, 4 steps + FP8, 57.1 s on one H100.

Weights: two I2V experts (the T2V-A14B expert configuration with 36 input channels: noise, mask, image
latents) and a full-size umT5-XXL, drawn on the GPU once and shared (bench/memory_plans.Weights); the
real Wan2.1 VAE configuration with its default initialisation; the start image is a smooth random picture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("STUDIO_COMPILE", "0")

from bench.compose import card_slug  # noqa: E402
from bench.memory_plans import EXPERT_CONFIG, GiB, Weights, _random_lora  # noqa: E402
from studio import pipelines  # noqa: E402
from studio.config import StudioConfig  # noqa: E402
from studio.events import Done, Failed  # noqa: E402
from studio.models import MODELS  # noqa: E402
from studio.scene import SceneEnd, parse_scene, run_scene, start_scene  # noqa: E402
from studio.service import Studio  # noqa: E402

PUBLISHED = {"what": "LightX2V, Wan2.2 I2V 720P, 4 steps + FP8, one H100", "seconds": 57.1}
PROMPT = "a red fox trotting through fresh snow at dawn, cinematic"


def _start_image(path: Path, width: int, height: int) -> Path:
    small = np.random.default_rng(0).integers(0, 255, (9, 16, 3), np.uint8)
    Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).save(path)
    return path


def _peak_reset() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak() -> float | None:
    return round(torch.cuda.max_memory_allocated() / GiB, 2) if torch.cuda.is_available() else None


def shot(studio: Studio, image: Path, size: tuple[int, int], frames: int, steps: int | None, mode: str) -> dict:
    """One image-to-video job; its seconds (end to end), peak and the runner's timings."""
    settings = dict(width=size[0], height=size[1], frames=frames, seed=0, translate=False, mode=mode)
    if steps:
        settings["steps"] = steps
    request = studio.request(PROMPT, image=str(image), **settings)
    _peak_reset()
    started, row = time.perf_counter(), {"mode": mode, "steps": request.steps, "status": "unfinished"}
    for event in studio.generate(request):
        if isinstance(event, Done):
            row.update(status="done", plan=event.summary["plan"], timings=event.summary["timings"],
                       step_seconds=event.summary["step_seconds"])
        elif isinstance(event, Failed):
            row.update(status="failed", error=f"{event.kind}: {event.message}")
    row.update(seconds=round(time.perf_counter() - started, 1), peak_allocated_gb=_peak())
    return row


def scene(studio: Studio, image: Path, size: tuple[int, int], frames: int, shots: int, steps: int | None,
          mode: str, out: Path) -> dict:
    """A scene of `shots` shots of `frames` each from the start image; total seconds, peak, frames written."""
    data = {"model": studio.spec.name, "image": str(image), "width": size[0], "height": size[1], "seed": 0,
            "translate": False, "mode": mode, "shots": [{"prompt": PROMPT, "frames": frames}] * shots}
    if steps:
        data["steps"] = steps
    scene_id = start_scene(studio, parse_scene(studio, data))
    _peak_reset()
    started, end = time.perf_counter(), None
    for update in run_scene(studio, scene_id, output=out / "scene.mp4"):
        if isinstance(update, SceneEnd):
            end = update
    return {"mode": mode, "shots": shots, "status": end.status if end else "unfinished",
            "frames": end.summary.get("frames") if end else None, "seconds": round(time.perf_counter() - started, 1),
            "peak_allocated_gb": _peak(), "message": end.message if end else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test with tiny-i2v")
    parser.add_argument("--steps", type=int, help="quality steps (default: the model's official 40)")
    parser.add_argument("--shots", type=int, default=6, help="shots of the scene (6 x 5 s = 30 s)")
    parser.add_argument("--scene-mode", default="fast", choices=("quality", "fast"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.tiny:
        spec, size, frames = MODELS["tiny-i2v"], (256, 256), 5
    else:
        spec, size, frames = MODELS["wan2.2-i2v-a14b"], (1280, 720), 81
        weights = Weights(spec, {**EXPERT_CONFIG, "in_channels": 36})
        pipelines.load_pipeline = lambda source, **_: (spec, weights.pipeline())  # the store loads our weights
    os.environ["STUDIO_FAST_LORA"] = str(_random_lora(MODELS["tiny"] if args.tiny else spec))
    studio = Studio(StudioConfig(model=spec.name, outputs=out / "studio-i2v", translator="none"))
    image = _start_image(out / "start.png", *size)

    import diffusers

    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    result = {
        "card": card, "torch": torch.__version__, "diffusers": diffusers.__version__, "model": spec.name,
        "size": list(size), "frames": frames, "published": PUBLISHED,
        "how": "Studio.generate / studio.scene.run_scene with the doctor's auto plan; seconds end to end (text, "
               "denoise, decode, MP4); peak = torch.cuda.max_memory_allocated over the job or scene; random bf16 weights",
    }
    quality = shot(studio, image, size, frames, args.steps, "quality")
    result.update(i2v_720p_quality=quality, i2v_720p_quality_s=quality["seconds"],
                  i2v_720p_quality_official_steps=args.steps is None)
    fast = shot(studio, image, size, frames, None, "fast")
    result.update(i2v_720p_fast=fast, i2v_720p_fast_s=fast["seconds"], i2v_720p_peak_gb=quality["peak_allocated_gb"])
    print(json.dumps({k: result[k] for k in ("i2v_720p_quality_s", "i2v_720p_fast_s")}), flush=True)
    whole = scene(studio, image, size, frames, args.shots, args.steps if args.scene_mode == "quality" else None,
                  args.scene_mode, out)
    result.update(scene_30s=whole, scene_30s_s=whole["seconds"], scene_peak_gb=whole["peak_allocated_gb"])
    path = out / f"{date.today().isoformat()}-{card_slug(card)}-i2v.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k.endswith(("_s", "_gb"))}), flush=True)
    print(path)
    return 0 if all(r["status"] == "done" for r in (quality, fast, whole)) else 1


if __name__ == "__main__":
    sys.exit(main())
