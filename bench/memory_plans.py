"""GPU proof of the memory plans: Wan2.2 T2V-A14B at full size (random bf16 weights) under a memory cap.

For each plan it runs a 720P·81-frame job through the studio's own `Studio.generate` (language
layer, PipelineStore, plan, PipelineRunner, decode, MP4, history) with a shortened schedule:
2 steps at flow shift 3.0, so timesteps 999 and 750 put one step on each expert and the swap
happens, and guidance 1.0 on both experts (one forward per step; CFG doubles the time per step
and leaves the peak unchanged). It records the peak memory (torch.cuda.max_memory_allocated)
and the seconds of each step as the runner timed them (synchronized at each step end).

    python bench/memory_plans.py --runs auto@24,expert-swap@40,resident@none --out DIR
    STUDIO_COMPILE=1 python bench/memory_plans.py --runs expert-swap@none --mode fast --jobs 2 --out DIR
    python bench/memory_plans.py --tiny      # the same path on the CPU with the tiny model (a smoke test)

Weights: both experts (40 layers, dim 5120, 40 heads, ffn 13824, text_dim 4096, 16 channels) and a
full-size umT5-XXL (d_model 4096, 24 layers, d_ff 10240, 64 heads, vocab 256,384) are drawn on the
GPU, normal(0, 0.02), copied once into pinned host memory and shared by every plan's fresh
pipeline (`load_state_dict(assign=True)`), so building a plan's pipeline costs nothing. The VAE
is the real Wan2.1 VAE configuration with its default initialisation; the tokenizer is the tiny
in-code one (token ids only matter for their count).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("STUDIO_COMPILE", "0")  # memory is measured here; compile time would only blur the step times

from studio import pipelines  # noqa: E402
from studio.config import StudioConfig  # noqa: E402
from studio.events import Done, Failed, Notice  # noqa: E402
from studio.doctor import doctor_report  # noqa: E402
from studio.gpus import detect_gpus  # noqa: E402
from studio.memory import pin_weights  # noqa: E402
from studio.models import MODELS  # noqa: E402
from studio.planning import choose_plan  # noqa: E402
from studio.service import Studio  # noqa: E402

GiB = 2**30
A14B = MODELS["wan2.2-t2v-a14b"]
EXPERT_CONFIG = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)
UMT5_CONFIG = dict(
    vocab_size=256_384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
    pad_token_id=0, eos_token_id=1,
)
_FP32 = ("rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3")  # as from_pretrained keeps them


def _materialize(module: torch.nn.Module, fp32_names: tuple[str, ...] = ()) -> torch.nn.Module:
    """Give a meta-initialised module random weights drawn on the GPU, then pin them on the host."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for name, param in list(module.named_parameters()):
        dtype = torch.float32 if any(part in name for part in fp32_names) else torch.bfloat16
        data = torch.empty(param.shape, dtype=dtype, device=device)
        if param.ndim == 1:
            data.fill_(1.0 if "norm" in name else 0.0)
        else:
            data.normal_(0.0, 0.02)
        owner, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(owner), leaf, torch.nn.Parameter(data, requires_grad=False))
    pin_weights([module])
    torch.cuda.empty_cache()
    return module


class Weights:
    """Random full-size weights, built once, pinned, and shared by the pipelines of every plan."""

    def __init__(self, spec=A14B, expert_config: dict | None = None) -> None:
        from accelerate import init_empty_weights
        from diffusers import WanTransformer3DModel
        from transformers import UMT5Config, UMT5EncoderModel

        self.spec, self.expert_config = spec, expert_config or EXPERT_CONFIG
        started = time.perf_counter()
        with init_empty_weights():
            experts = [WanTransformer3DModel(**self.expert_config) for _ in range(2)]
            encoder = UMT5EncoderModel(UMT5Config(**UMT5_CONFIG))
        self.experts = [_materialize(e, _FP32).state_dict() for e in experts]
        self.encoder = _materialize(encoder).state_dict()
        self.seconds = time.perf_counter() - started

    def pipeline(self):
        """A fresh WanPipeline (WanImageToVideoPipeline for I2V) over the shared weights (a plan may hook, cast or
        move its own copy freely)."""
        from accelerate import init_empty_weights
        from diffusers import (
            AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel,
        )
        from transformers import UMT5Config, UMT5EncoderModel

        from studio.tiny import tiny_tokenizer

        with init_empty_weights():
            experts = [WanTransformer3DModel(**self.expert_config) for _ in range(2)]
            encoder = UMT5EncoderModel(UMT5Config(**UMT5_CONFIG))
        for expert, state in zip(experts, self.experts):
            expert.load_state_dict(state, assign=True)
        encoder.load_state_dict(self.encoder, assign=True, strict=False)  # tied embeddings appear once
        encoder.tie_weights()
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            flow_shift=self.spec.flow_shift)
        pipeline_class = WanImageToVideoPipeline if self.spec.image == "required" else WanPipeline
        return pipeline_class(
            tokenizer=tiny_tokenizer(), text_encoder=encoder.eval(), vae=AutoencoderKLWan().eval(), scheduler=scheduler,
            transformer=experts[0].eval(), transformer_2=experts[1].eval(), boundary_ratio=self.spec.boundary_ratio,
        )


def run_plan(plan: str, spec, build, outputs: Path, size: tuple[int, int], frames: int, steps: int,
             mode: str = "quality", jobs: int = 1) -> dict:
    """Jobs through one Studio's `generate` with `plan`; what the first used and how long each step took,
    then each later (warm) job's times under `warm_jobs`."""
    pipelines.load_pipeline = lambda source, **_: (spec, build())  # the store loads our random weights
    studio = Studio(StudioConfig(model=spec.name, outputs=outputs, translator="none"))
    row = _job(studio, plan, size, frames, steps, mode, seed=0)
    row["warm_jobs"] = [_job(studio, plan, size, frames, steps, mode, seed=seed) for seed in range(1, jobs)]
    studio.pipelines.release()
    gc.collect()
    return row


def _job(studio: Studio, plan: str, size: tuple[int, int], frames: int, steps: int, mode: str, seed: int) -> dict:
    request = studio.request(
        "a red fox running through fresh snow at dawn", translate=False, width=size[0], height=size[1],
        frames=frames, steps=steps, guidance_scale=1.0, guidance_scale_2=1.0, flow_shift=3.0, seed=seed,
        memory_plan=plan, mode=mode,
    )
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    row: dict = {"requested": plan, "mode": mode, "notices": [], "status": "unfinished"}
    for event in studio.generate(request):
        if isinstance(event, Notice):
            row["notices"].append(event.message)
            print(f"  notice: {event.message}", flush=True)
            if cuda and event.message.startswith("out of GPU memory"):  # the failed attempt's own peak, then the retry's
                row["peak_before_fallback_gb"] = round(torch.cuda.max_memory_allocated() / GiB, 2)
                torch.cuda.reset_peak_memory_stats()
        elif isinstance(event, Done):
            summary = event.summary
            row.update(status="done", plan=summary["plan"], step_seconds=summary["step_seconds"],
                       timings=summary["timings"], frames=summary["frames"])
        elif isinstance(event, Failed):
            row.update(status="failed", error=f"{event.kind}: {event.message}")
            print((studio.history.get(event.job_id) or {}).get("error_traceback") or "", flush=True)
    row["seconds"] = round(time.perf_counter() - started, 1)
    if cuda:
        row["peak_allocated_gb"] = round(torch.cuda.max_memory_allocated() / GiB, 2)
        row["peak_reserved_gb"] = round(torch.cuda.max_memory_reserved() / GiB, 2)
    return row


def _random_lora(spec) -> Path:
    """A random LoRA shaped for the model's experts (built on the meta device: only the shapes are read)."""
    from accelerate import init_empty_weights

    from bench.e2e import random_lora
    from studio.tiny import build_tiny_pipeline

    if spec.name == "tiny":
        return random_lora(build_tiny_pipeline("tiny").transformer)
    from diffusers import WanTransformer3DModel

    with init_empty_weights():
        return random_lora(WanTransformer3DModel(**EXPERT_CONFIG))


def parse_runs(text: str) -> list[tuple[str, float | None]]:
    """`plan@cap,...` -> [(plan, cap GB or None)]; `auto` is the doctor's choice for that cap, `none` lifts the cap."""
    runs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        plan, _, cap = item.partition("@")
        runs.append((plan, None if cap in ("", "none") else float(cap)))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="auto@24,expert-swap@40,resident@none",
                        help="comma-separated plan@cap (GB, or none); auto = the doctor's choice for that cap")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test with the tiny model")
    parser.add_argument("--mode", default="quality", choices=("quality", "fast"),
                        help="fast: 4 steps, guidance 1, a random rank-32 LoRA over every block linear fused in")
    parser.add_argument("--jobs", type=int, default=1, help="jobs per plan in one studio (later ones are warm)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.tiny:
        from studio.tiny import build_tiny_pipeline

        spec, build, size, frames = MODELS["tiny"], lambda: build_tiny_pipeline("tiny"), (256, 256), 5
        report, weights_s = doctor_report(measure=False), 0.0
    else:
        spec, size, frames = A14B, (1280, 720), 81
        report = doctor_report(measure=True)
        weights = Weights()
        build, weights_s = weights.pipeline, weights.seconds
        print(f"weights built and pinned in {weights_s:.1f} s", flush=True)
    gpu = detect_gpus(measure=False)[0] if torch.cuda.is_available() else None
    if args.mode == "fast":
        os.environ["STUDIO_FAST_LORA"] = str(_random_lora(spec))

    import diffusers

    result = {
        "card": gpu.name if gpu else "cpu", "torch": torch.__version__, "diffusers": diffusers.__version__,
        "cap": "per run, GB via torch.cuda.set_per_process_memory_fraction", "model": spec.name, "size": list(size),
        "frames": frames, "steps": args.steps,
        "schedule": "flow shift 3.0: timesteps 999 (high-noise expert) and 750 (low-noise); guidance 1.0 (no CFG)",
        "weights": "random bf16, full size, drawn on the GPU, pinned on the host; full-size umT5-XXL",
        "weights_build_s": round(weights_s, 1), "doctor": report,
        "how": "Studio.generate per plan; peak = torch.cuda.max_memory_allocated over the job (load, text, denoise, "
               "decode; after a fallback, over the retry only); step seconds from the runner (synchronized)",
        "mode": args.mode, "jobs": args.jobs,
        "speed": {name: os.environ.get(name, "(default)") for name in
                  ("STUDIO_COMPILE", "STUDIO_ATTENTION", "STUDIO_FAST_ATTENTION", "STUDIO_BF16_DECODE")},
        "plans": [],
    }
    for plan, cap in parse_runs(args.runs):
        doctor = choose_plan(spec, size, dataclasses.replace(gpu, total_gb=cap or gpu.total_gb, free_gb=None)) if gpu else None
        name = doctor.plan if plan == "auto" and doctor else plan
        if gpu:
            torch.cuda.empty_cache()
            torch.cuda.set_per_process_memory_fraction(min(1.0, (cap or 1e9) * GiB / torch.cuda.get_device_properties(0).total_memory))
        print(f"plan {plan} -> {name} (cap {cap or 'none'} GB)", flush=True)
        row = run_plan(name, spec, build, out / "studio", size, frames, args.steps, args.mode, args.jobs)
        row.update(cap_gb=cap if gpu else None, doctor_choice=plan == "auto")
        if doctor:
            estimate = next((a for a in doctor.alternatives if a["plan"] == name), None)
            row["estimate_gb"] = estimate["peak_gb_estimate"] if estimate else None
        print(f"  {json.dumps(row)}", flush=True)
        result["plans"].append(row)
        (out / "memory_plans.json").write_text(json.dumps(result, indent=2))  # after each plan: survives a timeout
    rows = result["plans"]
    print(f"\ncard {result['card']}, torch {result['torch']}, diffusers {result['diffusers']}")
    print(f"{'plan':<30}{'cap GB':<8}{'status':<8}{'peak GB':>8}{'est GB':>8}{'step 1 s':>9}{'step 2 s':>9}{'decode s':>9}{'job s':>8}")
    for row in rows:
        steps = row.get("step_seconds", []) + [None, None]
        fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(f"{row.get('plan', row['requested']):<30}{str(row['cap_gb'] or '-'):<8}{row['status']:<8}"
              f"{fmt(row.get('peak_allocated_gb')):>8}{fmt(row.get('estimate_gb')):>8}{fmt(steps[0]):>9}"
              f"{fmt(steps[1]):>9}{fmt(row.get('timings', {}).get('decode')):>9}{fmt(row.get('seconds')):>8}")
    return 0 if all(r["status"] == "done" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
