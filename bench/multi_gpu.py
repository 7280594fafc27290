"""Multi-GPU bench: Wan2.2 T2V-A14B, 720P, 81 frames, 40 steps with CFG, split as the studio splits it.

One process per GPU, started by torchrun from the repository root (NVLink multicast stays off):

    export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
    torchrun --standalone --nproc-per-node N -m bench.multi_gpu

Every rank builds the full-size pipeline with random bf16 weights directly on its GPU
(`bench.fullsize`: both 40-layer experts, UMT5-XXL, the Wan2.1 VAE; about 65 GB, all resident, so the
full-size VAE decodes tiled),
splits it with the studio's own `studio.parallel.engine.parallelize` (CFG groups x Ulysses/ring)
and runs the studio's PipelineRunner on a shortened schedule (`--steps`, default 3). The 40-step
figure is composed, not run: text encoding + 40 x the median step (the first step, which warms
kernels up, left out) + VAE decode, all measured in this run. Text encoding and decoding are not
split: every rank does them at the same time.
Rank 0 prints one JSON object and writes it to bench/results/multi-gpu-<date>-<card>-x<N>.json.
`--tiny` runs the same code on the tiny model (CPU + gloo works) to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

import torch
import torch.distributed as dist

from bench import fullsize
from bench.run import environment
from studio.models import MODELS
from studio.parallel import plan_layout
from studio.parallel.engine import init_distributed, parallelize
from studio.request import GenerationRequest
from studio.runner import PipelineRunner

PROMPT = "a red fox running through fresh snow at sunrise, cinematic, 35mm"
NEGATIVE = MODELS["wan2.2-t2v-a14b"].negative_prompt
FULL_STEPS = 40


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="720p", help="720p, 480p or WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--steps", type=int, default=3, help="steps actually run (the first is not timed)")
    parser.add_argument("--no-cfg-parallel", action="store_true", help="split the sequence over all GPUs instead")
    parser.add_argument("--tiny", action="store_true", help="the tiny model: checks the script on any machine")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    width, height = fullsize.SIZES.get(args.size) or tuple(int(v) for v in args.size.split("x"))

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = init_distributed("env://", rank, world, local_rank=int(os.environ["LOCAL_RANK"]), timeout_s=1800)
    spec = MODELS["tiny" if args.tiny else "wan2.2-t2v-a14b"]
    started = time.perf_counter()
    pipe = fullsize.pipeline(device, tiny=args.tiny, flow_shift=spec.flow_shift)
    if not args.tiny:  # all resident (65 GB) leaves no room for the untiled 720P decode on 80 GB (first 2-GPU run)
        pipe.vae.enable_tiling()
    build_s = time.perf_counter() - started
    layout = plan_layout(world, pipe.transformer.config.num_attention_heads, cfg=not args.no_cfg_parallel)
    cfg = parallelize(pipe, layout, device)

    request = GenerationRequest.create(
        spec, PROMPT, width=width, height=height, frames=args.frames, steps=args.steps, seed=0, translate=False
    )
    prompt, negative = cfg.prompts(request, PROMPT, NEGATIVE)
    pipe.encode_prompt(prompt, negative, True, device=device, max_sequence_length=512)  # warm-up
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    runner = PipelineRunner(pipe, preview_every=0)  # all resident, as the studio's `resident` plan
    result = runner.run("bench", request, prompt, negative, emit=lambda event: None)

    peak_gb = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0
    peak = torch.tensor([peak_gb], device=device)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    step_s = statistics.median(result.step_seconds[1:] or result.step_seconds)
    text_s, decode_s = result.timings["text"], result.timings["decode"]
    weights = "tiny" if args.tiny else "full-size bf16"
    report = {
        **environment(), "gpus": world, "layout": layout.describe(),
        "attention_backend": pipe.transformer.blocks[0].attn1.processor._attention_backend,
        "model": spec.name, "size": f"{width}x{height}", "frames": args.frames,
        "guidance": [request.guidance_scale, request.guidance_scale_2], "steps_run": args.steps,
        "step_seconds": [round(s, 3) for s in result.step_seconds], "median_step_s": round(step_s, 3),
        "text_s": round(text_s, 3), "decode_s": round(decode_s, 3),
        f"composed_{FULL_STEPS}_step_s": round(text_s + FULL_STEPS * step_s + decode_s, 1),
        "peak_gb_max_rank": round(float(peak.item()), 2), "build_s": round(build_s, 1),
        "how": f"random {weights} weights built on each GPU; {args.steps} steps run by the studio's PipelineRunner, "
               f"split by studio.parallel; {FULL_STEPS}-step figure = text + {FULL_STEPS} x median step (first step "
               f"left out) + VAE decode (first call, {'untiled' if args.tiny else 'tiled'})",
    }
    dist.destroy_process_group()
    if rank != 0:
        return None
    card = re.sub(r"[^A-Za-z0-9]+", "-", report["card"]).strip("-").lower()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"multi-gpu-{time.strftime('%Y-%m-%d')}-{card}-x{world}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
