import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from studio.errors import Cancelled
from studio.events import Preview, Progress
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner, decode_latents
from studio.speed.decode import Bf16Decode
from studio.tiny import build_tiny_pipeline

SPEC = MODELS["tiny"]


def _request(**values):
    return GenerationRequest.create(SPEC, "a cat on a windowsill", **{"width": 256, "height": 256, "frames": 5,
                                                                     "steps": 3, "seed": 11, **values})


def _decoder_calls(pipe):
    calls = []
    handle = pipe.vae.decoder.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls, handle


def test_events_previews_and_frames(tiny_pipe):
    events = []
    result = PipelineRunner(tiny_pipe).run("job", _request(), "一只猫", "", emit=events.append)
    steps = [e.step for e in events if isinstance(e, Progress) and e.phase == "denoise"]
    previews = [e for e in events if isinstance(e, Preview)]
    assert steps == [1, 2, 3]
    assert len(previews) == 3 and previews[0].frames.dtype == np.uint8 and previews[0].frames.shape[0] <= 4
    assert not np.array_equal(previews[0].frames, previews[-1].frames)  # previews follow the denoising
    assert result.frames.shape == (5, 256, 256, 3) and result.frames.dtype == np.uint8
    assert [e.phase for e in events if isinstance(e, Progress)][0] == "text"
    assert set(result.timings) >= {"text", "denoise", "decode", "preview", "total"}
    assert 0 < result.preview_cost_ratio < 1
    eta = [e.eta for e in events if isinstance(e, Progress) and e.phase == "denoise"]
    assert eta[-1] == 0


def test_same_seed_same_video_and_other_seed_differs(tiny_pipe):
    runner = PipelineRunner(tiny_pipe, preview_every=0)
    first = runner.run("a", _request(), "cat", "", emit=lambda e: None).frames
    again = runner.run("b", _request(), "cat", "", emit=lambda e: None).frames
    other = runner.run("c", _request(seed=12), "cat", "", emit=lambda e: None).frames
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_cancel_stops_at_the_next_step_and_skips_the_decode(tiny_pipe):
    cancel = threading.Event()
    events = []

    def emit(event):
        events.append(event)
        if isinstance(event, Progress) and event.phase == "denoise" and event.step == 1:
            cancel.set()

    calls, handle = _decoder_calls(tiny_pipe)
    try:
        with pytest.raises(Cancelled) as caught:
            PipelineRunner(tiny_pipe).run("job", _request(steps=4), "cat", "", emit=emit, cancel=cancel)
    finally:
        handle.remove()
    assert caught.value.step == 1
    assert [e.step for e in events if isinstance(e, Progress) and e.phase == "denoise"] == [1]
    assert calls == []  # the VAE never ran


def test_flow_shift_is_applied_per_job(tiny_pipe):
    runner = PipelineRunner(tiny_pipe, preview_every=0)
    runner.run("a", _request(flow_shift=5.0, steps=1), "cat", "", emit=lambda e: None)
    assert runner.pipe.scheduler.config.flow_shift == 5.0
    runner.run("b", _request(steps=1), "cat", "", emit=lambda e: None)
    assert runner.pipe.scheduler.config.flow_shift == 12.0


def _latents(frames: int = 3):
    return torch.randn(1, 16, frames, 32, 32, generator=torch.Generator().manual_seed(5))  # 256x256, 4k-3 frames


def test_the_runner_streams_the_decoded_frames_as_the_vae_makes_them(tiny_pipe):
    chunks = []
    result = PipelineRunner(tiny_pipe, preview_every=0, on_frames=chunks.append).run(
        "job", _request(frames=9, steps=1), "cat", "", emit=lambda e: None
    )
    assert [len(c) for c in chunks] == [1, 4, 4]  # one call per latent frame: 1 video frame, then 4 each
    assert np.array_equal(np.concatenate(chunks), result.frames)
    assert tiny_pipe.vae.decoder._diffusers_hook.hooks == {}  # attached for the decode only


def test_streamed_chunks_are_the_returned_frames_bit_for_bit(tiny_pipe):
    chunks = []
    frames = decode_latents(tiny_pipe, _latents(), on_frames=chunks.append)
    assert len(chunks) > 1 and chunks[0].dtype == np.uint8
    assert np.array_equal(np.concatenate(chunks), frames)
    assert np.array_equal(decode_latents(tiny_pipe, _latents()), frames)  # streaming changes nothing


def test_a_tiled_decode_streams_nothing(tiny_pipe):
    vae = tiny_pipe.vae
    tiles = {name: getattr(vae, name) for name in ("tile_sample_min_height", "tile_sample_min_width",
                                                   "tile_sample_stride_height", "tile_sample_stride_width")}
    vae.enable_tiling(tile_sample_min_height=192, tile_sample_min_width=192, tile_sample_stride_height=128,
                      tile_sample_stride_width=128)  # 2 x 2 tiles at 256 x 256
    try:
        chunks = []
        frames = decode_latents(tiny_pipe, _latents(), on_frames=chunks.append)
        assert chunks == []
        assert np.array_equal(decode_latents(tiny_pipe, _latents()), frames)
    finally:
        vae.disable_tiling()
        for name, value in tiles.items():  # the fixture is shared: leave the tile sizes as they were
            setattr(vae, name, value)
    assert not np.array_equal(decode_latents(tiny_pipe, _latents()), frames)  # it was tiled


def test_a_patchified_vae_streams_nothing():
    """TI2V-5B's decoder returns 2x2 pixel patches as channels: not frames until the VAE unpatchifies them."""
    pipe = build_tiny_pipeline("tiny-5b")
    chunks = []
    frames = decode_latents(pipe, torch.randn(1, 48, 3, 16, 16), on_frames=chunks.append)
    assert chunks == [] and frames.shape == (9, 256, 256, 3)


def test_streaming_composes_with_the_bf16_decode_hook(tiny_pipe):
    bf16 = Bf16Decode()
    exact = decode_latents(tiny_pipe, _latents())
    bf16.on_job_start(tiny_pipe, SimpleNamespace(mode="fast"))
    try:
        chunks = []
        frames = decode_latents(tiny_pipe, _latents(), on_frames=chunks.append)
        assert list(tiny_pipe.vae.decoder._diffusers_hook.hooks) == ["studio_bf16_decode"]
    finally:
        bf16.on_job_end(tiny_pipe)
    assert len(chunks) > 1 and np.array_equal(np.concatenate(chunks), frames)
    assert not np.array_equal(frames, exact)  # the decode did run in BF16
    assert np.array_equal(decode_latents(tiny_pipe, _latents()), exact)  # and both hooks are gone


def test_a_failing_consumer_fails_the_decode_and_the_hook_is_removed(tiny_pipe):
    def full(frames):
        raise OSError("the encoder is gone")

    with pytest.raises(OSError, match="the encoder is gone"):
        decode_latents(tiny_pipe, _latents(), on_frames=full)
    assert tiny_pipe.vae.decoder._diffusers_hook.hooks == {}
