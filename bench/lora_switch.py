"""GPU measurement for the LoRA library: fused LoRAs against adapters, at full size with random weights.

For each rank (32 and 128 by default) and each way of applying (fused into the weights, adapters
beside the linears), through the studio's own `JobLoras` hook on a WanPipeline with both A14B
experts resident (random bf16 weights, bench.fullsize):
- seconds to apply a set (none -> A), to switch sets (A -> B, both files different) and to
  remove it (B -> none), device synchronised;
- seconds per expert forward (one step without CFG) at the chosen size with the set applied,
  against the same forward without a LoRA;
- peak GPU memory of that forward (torch.cuda.max_memory_allocated), and the bytes the applied
  factors hold;
- after removal, the largest weight change left, in BF16 steps of the original weight: each fused switch
  (apply, switch, remove) writes each weight once, so at most one rounding each.
Each LoRA touches every block linear of both experts (what a style or Lightning LoRA touches).

    python bench/lora_switch.py --out DIR                     # H100/H200: 480P 81 frames, ranks 32 and 128
    python bench/lora_switch.py --size 720p --ranks 32 --out DIR
    python bench/lora_switch.py --tiny --out DIR              # the same path on the CPU (a smoke test)

Writes DIR/lora_switch.json: {card, torch, diffusers, size, frames, rows: [...], methods: {...}}.
Not run on a GPU yet (the session that wrote it had none): BENCHMARKS.md has no LoRA figures until it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fullsize  # noqa: E402
from bench.e2e import random_lora  # noqa: E402
from bench.timing import median, peak_gb, repeat, reset_peak, timed  # noqa: E402
from studio.loras import LoraLibrary, fusion  # noqa: E402
from studio.loras.hook import OWNER, JobLoras  # noqa: E402

TINY_SIZE = (256, 256, 5)


def lora_folder(model: torch.nn.Module, ranks: list[int]) -> Path:
    """a_r<rank> and b_r<rank> for each rank: random factors over every block linear, one file for both experts."""
    folder = Path(tempfile.mkdtemp(prefix="lora-bench-"))
    for rank in ranks:
        for seed, name in enumerate(("a", "b")):
            made = random_lora(model, rank=rank, seed=seed)
            shutil.move(str(made), folder / f"{name}_r{rank}.safetensors")
    return folder


def forward(pipe, width: int, height: int, frames: int, device: torch.device):
    """One expert forward at this size (one denoising step without CFG), inputs drawn once."""
    gen = torch.Generator("cpu").manual_seed(0)
    dtype = pipe.transformer.dtype
    latents = torch.randn(fullsize.latent_shape(width, height, frames), generator=gen).to(device, dtype)
    text = torch.randn(1, 512, pipe.transformer.config.text_dim, generator=gen).to(device, dtype)
    timestep = torch.tensor([999], device=device)

    @torch.inference_mode()
    def run():
        return pipe.transformer(hidden_states=latents, timestep=timestep, encoder_hidden_states=text,
                                return_dict=False)[0]

    return run


def factor_bytes(pipe) -> int:
    parts = fusion.applied(pipe, OWNER).values()
    return sum(down.numel() * down.element_size() + up.numel() * up.element_size()
               for part in parts for _, down, up, _ in part.layers)


def measure(pipe, library: LoraLibrary, rank: int, adapters: bool, step, runs: int, device, model: str) -> dict:
    hook = JobLoras(library, adapters=adapters)
    probe = pipe.transformer.blocks[0].attn1.to_q.weight
    before = probe.detach().clone()

    def job(*names: str):
        request = SimpleNamespace(model=model, loras=tuple((n, 1.0, None) for n in names))
        return timed(lambda: hook.on_job_start(pipe, request), device)[1]

    row = {"rank": rank, "method": "adapters" if adapters else "fused"}
    row["apply_s"] = job(f"a_r{rank}")
    row["factor_gb"] = factor_bytes(pipe) / 1e9
    step()  # warm-up with the LoRA applied (adapter hooks, kernels)
    reset_peak()
    _, times = repeat(step, runs, device)
    row["step_s"], row["step_runs_s"], row["step_peak_gb"] = median(times), times, peak_gb()
    row["switch_s"] = job(f"b_r{rank}")
    row["remove_s"] = job()
    assert hook.last.method == row["method"], hook.last.method
    ulp = torch.finfo(torch.bfloat16).eps * before.float().abs().clamp_min(torch.finfo(torch.bfloat16).tiny)
    row["left_after_remove_bf16_steps"] = float(((probe.detach().float() - before.float()).abs() / ulp).max())
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny model on this machine's device (CPU smoke test)")
    parser.add_argument("--ranks", default="32,128")
    parser.add_argument("--size", default="480p", choices=sorted(fullsize.SIZES))
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--runs", type=int, default=3, help="timed forwards per row")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ranks = [int(r) for r in args.ranks.split(",")]
    width, height = fullsize.SIZES[args.size]
    frames = args.frames
    if args.tiny:
        width, height, frames = TINY_SIZE
    pipe = fullsize.pipeline(device, tiny=args.tiny)
    model = "bench-tiny" if args.tiny else "wan2.2-t2v-a14b"  # bench-tiny: checked against the loaded modules only
    library = LoraLibrary([lora_folder(pipe.transformer, ranks)])
    step = forward(pipe, width, height, frames, device)
    step()
    reset_peak()
    _, plain = repeat(step, args.runs, device)
    result = {
        "card": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "diffusers": __import__("diffusers").__version__, "tiny": args.tiny,
        "size": f"{width}x{height}", "frames": frames, "tokens": fullsize.tokens(width, height, frames),
        "no_lora_step_s": median(plain), "no_lora_step_peak_gb": peak_gb(),
        "rows": [measure(pipe, library, rank, adapters, step, args.runs, device, model)
                 for rank in ranks for adapters in (False, True)],
        "methods": {
            "weights": "random bf16, both A14B experts resident (bench.fullsize)" if not args.tiny else "tiny, random",
            "loras": "random factors x0.01 over every block linear (400 per expert), one file for both experts",
            "switch": "JobLoras.on_job_start, device synchronised: apply none->a, switch a->b, remove b->none",
            "step": "median of --runs forwards of the high-noise expert at this size (one step without CFG), "
                    "after one warm-up forward with the set applied",
            "peak": "torch.cuda.max_memory_allocated over the timed forwards (reset before them)",
            "left_after_remove": "max |W_after - W_before| of blocks.0.attn1.to_q after apply, switch, remove, "
                                 "in BF16 steps of |W_before|",
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lora_switch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
