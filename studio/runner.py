"""Runs one request through a loaded WanPipeline and reports what happens.

The pipeline is stock diffusers: the runner encodes the prompt itself (so text encoding is timed
and its model can leave the GPU), passes a step callback that streams progress and previews, asks
for latents, and decodes them itself, so a cancelled job skips the VAE decode entirely.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from .errors import Cancelled
from .events import Event, Preview, Progress
from .i2v import image_pipeline
from .images import load_stored
from .jobhooks import JobHook
from .preview import X0Tap, latent_to_rgb
from .request import GenerationRequest

Emit = Callable[[Event], None]
_STREAM_HOOK = "studio_stream_frames"


@dataclass
class RunResult:
    """Decoded frames (uint8 [F, H, W, 3]) and where the time went."""

    frames: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)
    previews: int = 0

    @property
    def preview_cost_ratio(self) -> float:
        """Preview time per step over the mean step time (without previews)."""
        steps = sum(self.step_seconds)
        return self.timings.get("preview", 0.0) / steps if steps else 0.0


class PipelineRunner:
    """One job on one pipeline; `hooks` (memory plans, speed-ups) wrap it; `preview_every` = 0 turns previews off.

    `on_frames` gets decoded frames while the VAE is still decoding (see `decode_latents`), so an
    MP4 encoder can work beside it.
    """

    def __init__(
        self,
        pipe,
        *,
        hooks: Sequence[JobHook] = (),
        preview_every: int = 1,
        preview_frames: int = 4,
        preview_height: int = 320,
        on_frames: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.pipe = pipe
        self.hooks = tuple(hooks)
        self.preview_every = preview_every
        self.preview_frames = preview_frames
        self.preview_height = preview_height
        self.on_frames = on_frames

    def run(
        self,
        job_id: str,
        request: GenerationRequest,
        prompt: str,
        negative_prompt: str,
        *,
        emit: Emit,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        for hook in self.hooks:
            hook.on_job_start(self.pipe, request)
        try:
            return self._run(job_id, request, prompt, negative_prompt, emit, cancel or threading.Event())
        finally:
            for hook in reversed(self.hooks):
                hook.on_job_end(self.pipe)

    def _run(
        self, job_id: str, request: GenerationRequest, prompt: str, negative_prompt: str, emit: Emit,
        cancel: threading.Event,
    ) -> RunResult:
        pipe = self.pipe
        started = time.perf_counter()
        result = RunResult(frames=np.zeros((0, 0, 0, 3), np.uint8))

        emit(Progress(job_id, "text"))
        cfg = request.guidance_scale > 1.0
        with torch.inference_mode():
            prompt_embeds, negative_embeds = pipe.encode_prompt(
                prompt=prompt, negative_prompt=negative_prompt if cfg else None,
                do_classifier_free_guidance=cfg, device=pipe._execution_device, max_sequence_length=512,
            )
        for hook in self.hooks:
            hook.on_text_encoded(pipe)
        _sync()
        result.timings["text"] = time.perf_counter() - started
        self._set_shift(request.flow_shift)

        step_clock = [time.perf_counter()]
        denoise_start = step_clock[0]

        def on_step_end(pipeline, i: int, t, tensors: dict) -> dict:
            _sync()
            now = time.perf_counter()
            result.step_seconds.append(now - step_clock[0])
            done = i + 1
            elapsed = now - denoise_start
            eta = elapsed / done * (request.steps - done)
            emit(Progress(job_id, "denoise", done, request.steps, elapsed, eta))
            if self.preview_every and (done % self.preview_every == 0 or done == request.steps) and tap.x0 is not None:
                preview_start = time.perf_counter()
                frames = latent_to_rgb(tap.x0, self.preview_frames, self.preview_height)
                cost = time.perf_counter() - preview_start
                result.timings["preview"] = result.timings.get("preview", 0.0) + cost
                result.previews += 1
                emit(Preview(job_id, done, request.steps, frames, cost))
            if cancel.is_set():
                pipeline._interrupt = True  # the loop skips the remaining steps; we skip the decode below
            step_clock[0] = time.perf_counter()
            return {}

        call, conditioning = pipe, {}
        if request.image:  # image-to-video: the stored, fitted start image, checked against its hash
            call, conditioning = image_pipeline(pipe), {"image": load_stored(request.image, request.image_sha256)}
        generator = torch.Generator("cpu").manual_seed(request.seed)
        with X0Tap(pipe.scheduler) as tap, torch.inference_mode():
            latents = call(
                prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                height=request.height, width=request.width, num_frames=request.frames,
                num_inference_steps=request.steps, guidance_scale=request.guidance_scale,
                guidance_scale_2=request.guidance_scale_2, generator=generator, output_type="latent",
                callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"], **conditioning,
            ).frames
        result.timings["denoise"] = time.perf_counter() - denoise_start
        if cancel.is_set():
            done = len(result.step_seconds)
            raise Cancelled(f"cancelled after step {done} of {request.steps}", step=done)

        emit(Progress(job_id, "decode", request.steps, request.steps, time.perf_counter() - denoise_start))
        decode_start = time.perf_counter()
        result.frames = decode_latents(pipe, latents, self.on_frames)
        result.timings["decode"] = time.perf_counter() - decode_start
        result.timings["total"] = time.perf_counter() - started
        return result

    def _set_shift(self, shift: float) -> None:
        """Flow shift is a scheduler setting in diffusers; rebuild the scheduler when a job asks for another."""
        scheduler = self.pipe.scheduler
        if float(scheduler.config.get("flow_shift", shift)) != shift:
            self.pipe.scheduler = type(scheduler).from_config(scheduler.config, flow_shift=shift)


def decode_latents(
    pipe, latents: torch.Tensor, on_frames: Callable[[np.ndarray], None] | None = None
) -> np.ndarray:
    """The pipeline's own decode (un-normalise, VAE, post-process) -> uint8 [F, H, W, 3].

    `on_frames` receives the frames while the VAE is still decoding, in the order they come, when
    the decoder's outputs are whole frames; tiled decodes and patchified VAEs (TI2V-5B) produce
    tiles or patches, so nothing is streamed there and the caller takes every frame from the result.
    """
    from diffusers.utils.torch_utils import get_module_execution_device

    vae = pipe.vae
    registry = HookRegistry.check_if_exists_or_initialize(vae.decoder) if on_frames is not None else None
    if registry is not None:
        scale = vae.config.scale_factor_spatial
        whole = (latents.shape[0], latents.shape[-2] * scale, latents.shape[-1] * scale)
        registry.register_hook(_StreamFrames(pipe, whole, on_frames), _STREAM_HOOK)
    try:
        with torch.inference_mode():
            latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
            shape = (1, vae.config.z_dim, 1, 1, 1)
            mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents)
            std = torch.tensor(vae.config.latents_std).view(shape).to(latents)
            return _to_uint8(pipe, vae.decode(latents * std + mean, return_dict=False)[0])
    finally:
        if registry is not None:
            registry.remove_hook(_STREAM_HOOK, recurse=False)


class _StreamFrames(ModelHook):
    """Hands each whole-frame chunk the VAE decoder returns to `on_frames`, converted as `vae.decode` would.

    Registered for the decode only, after any hook a job attached (BF16 autocast), so it is the
    outermost one and sees the decoder's final FP32 output.
    """

    def __init__(self, pipe, whole: tuple[int, int, int], on_frames: Callable[[np.ndarray], None]) -> None:
        super().__init__()
        self.pipe, self.whole, self.on_frames = pipe, whole, on_frames

    def post_forward(self, module: torch.nn.Module, output: torch.Tensor) -> torch.Tensor:
        if (output.shape[0], *output.shape[-2:]) == self.whole:
            self.on_frames(_to_uint8(self.pipe, output.clamp(-1.0, 1.0)))  # _decode clamps after concatenating
        return output


def _to_uint8(pipe, video: torch.Tensor) -> np.ndarray:
    """Clamped decoder output [B, 3, F, H, W] -> the first video, uint8 [F, H, W, 3], as diffusers post-processes it."""
    video = pipe.video_processor.postprocess_video(video, output_type="pt")[0]  # F, C, H, W in [0, 1]
    return (video.permute(0, 2, 3, 1).float() * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
