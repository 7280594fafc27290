import threading

import numpy as np
import pytest

from studio.errors import Cancelled
from studio.events import Preview, Progress
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner

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
