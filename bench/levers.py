"""Part 1 of the bench: each lever alone, at full size — attention kernels, one expert's forward, fixed costs.

One expert forward at 720P costs 10-17 s, so this part times single forwards (the unit every
step is made of) rather than whole runs; `bench.e2e` then runs the studio's runner and stock
diffusers end to end on shortened schedules.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch

from studio.speed import exact_attention
from studio.speed import int8_attention as int8
from studio.speed.compile import RegionalCompile
from studio.speed.fp8 import quantize_fp8

from . import fullsize
from .timing import median, peak_gb, repeat, reset_peak, timed

EXACT_BACKENDS = ("native", "_native_cudnn", "_native_flash", "_native_efficient")


def _dispatch(backend: str) -> Callable:
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    return lambda q, k, v: dispatch_attention_fn(q, k, v, backend=AttentionBackendName(backend))


def attention(
    device: torch.device, tokens: int, fp8_configs: list[dict], pv16_configs: list[dict], runs: int = 3, heads: int = 40,
    exact: tuple[str, ...] = EXACT_BACKENDS,
) -> list[dict]:
    """Time every exact backend and our kernel (each config of each P·V type) on one attention call.

    Errors are relative L2 against cuDNN's BF16 output (what the exact path computes), on random
    and on structured inputs, plus against an FP32 reference on 8 heads for scale.
    """
    int8.register_backends()
    exact_attention.register_backends()
    flops = int8.attention_flops(tokens, heads)
    gen = torch.Generator(device="cpu").manual_seed(0)
    random = tuple(torch.randn(1, tokens, heads, 128, generator=gen).to(device, torch.bfloat16) for _ in range(3))
    structured = int8.structured_inputs(1, tokens, heads, 128, device=device)
    cudnn = _dispatch("_native_cudnn")
    refs = {"random": cudnn(*random), "structured": cudnn(*structured)}
    fp32 = {name: int8.exact_attention(*(x[:, :, :8].float() for x in qkv)) for name, qkv in
            (("random", random), ("structured", structured))}  # SDPA's memory-efficient kernel takes FP32
    rows = []

    def add(kernel: str, fn: Callable, **extra: Any) -> None:
        try:
            out, times = repeat(lambda: fn(*random), runs + 1, device)
            seconds = median(times[1:])
            row = dict(tokens=tokens, kernel=kernel, seconds=seconds, tflops=flops / seconds / 1e12, **extra)
            row["error_random"] = int8.relative_error(out, refs["random"])
            row["error_random_vs_fp32_8heads"] = int8.relative_error(out[:, :, :8], fp32["random"])
            out_s = fn(*structured)
            row["error_structured"] = int8.relative_error(out_s, refs["structured"])
            row["error_structured_vs_fp32_8heads"] = int8.relative_error(out_s[:, :, :8], fp32["structured"])
        except Exception as exc:  # a kernel that does not run here is a result too
            row = dict(tokens=tokens, kernel=kernel, failed=f"{type(exc).__name__}: {str(exc)[:200]}", **extra)
        rows.append(row)
        print(_fmt(row), flush=True)

    for backend in exact:
        add(backend, _dispatch(backend))
    for pv_fp8, configs in ((True, fp8_configs), (False, pv16_configs)):
        for config in configs:
            add(f"studio_int8{'' if pv_fp8 else '_pv16'}", lambda q, k, v, c=config, p=pv_fp8:
                int8.int8_attention(q, k, v, pv_fp8=p, config=c), config=config)
    return rows


def best_config(rows: list[dict], kernel: str) -> dict | None:
    timed_rows = [r for r in rows if r["kernel"] == kernel and "seconds" in r]
    return min(timed_rows, key=lambda r: r["seconds"])["config"] if timed_rows else None


def text_encoding(device: torch.device, runs: int = 3) -> dict:
    """UMT5-XXL on the prompt and the negative prompt, 512 tokens each (what a CFG job encodes)."""
    from studio.tiny import tiny_tokenizer

    encoder = fullsize.text_encoder(device)
    ids = tiny_tokenizer()(["a cat", "blurry"], padding="max_length", max_length=512, truncation=True,
                           return_tensors="pt").to(device)
    with torch.inference_mode():
        _, times = repeat(lambda: encoder(ids.input_ids, ids.attention_mask).last_hidden_state, runs + 1, device)
    return dict(what="text encoding, UMT5-XXL, 2 x 512 tokens", seconds=median(times[1:]), first_s=times[0])


def decode_and_encode(device: torch.device, width: int = 1280, height: int = 720) -> list[dict]:
    """VAE decode untiled and tiled at full size, then H.264 encoding of 81 frames, then both overlapped.

    The MP4 row encodes smooth synthetic frames: the random-weight VAE decodes noise, which no
    codec meets in real use and which encodes several times slower than footage.
    """
    from studio import video
    from studio.runner import decode_latents

    vae = fullsize.vae(device)
    pipe = SimpleNamespace(vae=vae, video_processor=_video_processor())
    latents = torch.randn(fullsize.latent_shape(width, height), device=device)
    rows = []
    for tiled in (False, True):
        if tiled:
            vae.enable_tiling()
        reset_peak()
        runs = 1 if tiled else 2  # the first untiled call warms cuDNN's convolution plans for both
        frames, times = repeat(lambda: decode_latents(pipe, latents), runs, device)
        rows.append(dict(what=f"VAE decode {height}p 81 frames {'tiled' if tiled else 'untiled'}",
                         seconds=times[-1], peak_gb=peak_gb()))
    smooth = _smooth_frames(frames.shape[0], height, width)
    with tempfile.TemporaryDirectory() as folder:
        _, seconds = timed(lambda: video.write_mp4(smooth, Path(folder) / "v.mp4", 16, {"prompt": "bench"}))
    rows.append(dict(what=f"MP4 encode {height}p 81 frames (H.264 crf 18, preset medium, smooth content)",
                     seconds=seconds))
    vae.disable_tiling()
    rows.append(overlapped_encode(pipe, latents, device))
    return rows


def overlapped_encode(pipe: Any, latents: torch.Tensor, device: torch.device) -> dict:
    """Decode then write the MP4, against the MP4 encoded while the decode streams frames to it (as the studio does).

    Both encode the decoded frames, so both encode noise here (see `decode_and_encode`); with
    footage the encoder has less to do and the overlap hides a larger share of it.
    """
    from studio import video
    from studio.runner import decode_latents

    with tempfile.TemporaryDirectory() as folder:
        def then_encode() -> np.ndarray:
            frames = decode_latents(pipe, latents)
            video.write_mp4(frames, Path(folder) / "after.mp4", 16, {"prompt": "bench"})
            return frames

        def overlapped() -> tuple[np.ndarray, int]:
            with video.Mp4Writer(Path(folder) / "during.mp4", 16, {"prompt": "bench"}) as writer:
                frames = decode_latents(pipe, latents, writer.add)
                streamed = writer.frames_added
                writer.finish(frames)
            return frames, streamed

        serial, serial_s = timed(then_encode, device)
        (frames, streamed), seconds = timed(overlapped, device)
    count, height = frames.shape[:2]
    return dict(
        what=f"VAE decode + MP4 {height}p {count} frames, untiled: encoded during the decode vs after it "
        "(random-weight VAE: both encode noise, several times slower to encode than footage)",
        seconds=seconds, decode_then_encode_s=serial_s, saved_s=serial_s - seconds, streamed_frames=streamed,
        same_frames=bool(np.array_equal(frames, serial)),
    )


def preview_cost(device: torch.device, width: int = 1280, height: int = 720, runs: int = 5) -> dict:
    from studio.preview import latent_to_rgb

    x0 = torch.randn(fullsize.latent_shape(width, height), device=device)
    _, times = repeat(lambda: latent_to_rgb(x0, 4, 320), runs + 1, device)
    return dict(what=f"preview (x0 -> RGB, 4 frames, 320 px) {height}p", seconds=median(times[1:]))


def forward_levers(device: torch.device, width: int, height: int, deadline: float) -> list[dict]:
    """One expert's forward under each lever, in an order where each step adds one thing.

    FP8 replaces the weights, so it comes last. Compiled rows: first call = compile + forward.
    """
    model = fullsize.transformer(device)
    pipe = SimpleNamespace(transformer=model)
    latents = torch.randn(fullsize.latent_shape(width, height), device=device, dtype=torch.bfloat16)
    text = torch.randn(1, 512, 4096, device=device, dtype=torch.bfloat16)
    step = torch.tensor([999], device=device)
    int8.register_backends()
    rows: list[dict] = []
    reference: list[torch.Tensor] = []

    def forward():
        return model(hidden_states=latents, timestep=step, encoder_hidden_states=text, return_dict=False)[0]

    def measure(lever: str, calls: int, setup: Callable[[], None] = lambda: None) -> None:
        if time.perf_counter() > deadline:
            rows.append(dict(lever=lever, skipped="out of time in this run"))
            print(f"skipped {lever}", flush=True)
            return
        try:
            setup()
            reset_peak()
            with torch.inference_mode():
                out, times = repeat(forward, calls, device)
            row = dict(lever=lever, tokens=fullsize.tokens(width, height), first_s=times[0],
                       seconds=median(times[1:]) if calls > 1 else times[0], peak_gb=peak_gb())
            if reference:
                row["error_vs_stock"] = int8.relative_error(out, reference[0])
            else:
                reference.append(out.clone())
        except Exception as exc:
            row = dict(lever=lever, failed=f"{type(exc).__name__}: {str(exc)[:300]}")
        rows.append(row)
        print(_fmt(row), flush=True)

    def backend(name: str) -> Callable[[], None]:
        return lambda: model.set_attention_backend(name)

    measure("stock: eager, SDPA default", 2)
    measure("eager, cuDNN", 2, backend("_native_cudnn"))
    measure("regional compile + cuDNN", 3, lambda: (RegionalCompile().on_job_start(pipe, None), backend("_native_cudnn")()))
    measure("regional compile + int8 attention (FP8 P·V)", 2, backend("studio_int8"))
    measure("regional compile + int8 attention (BF16 P·V)", 2, backend("studio_int8_pv16"))
    measure("FP8 linears + regional compile + cuDNN", 2, lambda: (quantize_fp8(model), backend("_native_cudnn")()))
    measure("FP8 linears + regional compile + int8 attention (FP8 P·V)", 2, backend("studio_int8"))
    return rows


def _video_processor():
    from diffusers.video_processor import VideoProcessor

    return VideoProcessor(vae_scale_factor=8)


def _smooth_frames(count: int, height: int, width: int) -> np.ndarray:
    """Gradients with a moving disc: content a video codec sees in real footage, unlike noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        cx, cy = width * (0.2 + 0.6 * i / count), height / 2
        disc = ((x - cx) ** 2 + (y - cy) ** 2 < (height / 6) ** 2) * 120
        frames[i, ..., 0] = np.clip(x / width * 255 * 0.8 + disc, 0, 255)
        frames[i, ..., 1] = np.clip(y / height * 255 * 0.8, 0, 255)
        frames[i, ..., 2] = np.clip(128 + 60 * np.sin(x / 80 + i / 5) + disc * 0.5, 0, 255)
    return frames


def _fmt(row: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def profile_forward(model, device: torch.device, width: int = 1280, height: int = 720) -> dict:
    """Where one forward's GPU time goes, as the model stands (the runner's hooks left it compiled, with its
    attention backend): CUDA kernel time grouped into matrix products, attention and the rest, plus the top
    kernels, read off torch.profiler — what fusing the rest (RoPE, modulation, norms, activations) could save."""
    from torch.profiler import ProfilerActivity, profile

    latents = torch.randn(fullsize.latent_shape(width, height), device=device, dtype=torch.bfloat16)
    text = torch.randn(1, 512, 4096, device=device, dtype=torch.bfloat16)
    step = torch.tensor([999], device=device)

    def forward():
        return model(hidden_states=latents, timestep=step, encoder_hidden_states=text, return_dict=False)[0]

    with torch.inference_mode():
        _, times = repeat(forward, 1, device)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            forward()
            torch.cuda.synchronize(device)
    kernels: dict[str, float] = {}
    for event in prof.key_averages():
        if event.device_type.name == "CUDA" or getattr(event, "self_device_time_total", 0):
            kernels[event.key] = kernels.get(event.key, 0.0) + event.self_device_time_total / 1e6

    def kind(name: str) -> str:
        low = name.lower()
        if any(k in low for k in ("flash", "fmha", "attention", "cudnn", "prefill", "attn")):
            return "attention"
        if any(k in low for k in ("gemm", "sm90_xmma", "cutlass", "nvjet", "matmul", "wgmma")):
            return "matrix products"
        if "triton" in low:
            return "compiled elementwise and reductions (Triton)"
        return "other"

    groups: dict[str, float] = {}
    for name, seconds in kernels.items():
        groups[kind(name)] = groups.get(kind(name), 0.0) + seconds
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:25]
    return dict(forward_s=times[0], gpu_seconds_by_kind=groups, gpu_seconds_total=sum(kernels.values()),
                top_kernels=[dict(name=n[:160], seconds=s) for n, s in top])
