import numpy as np
import pytest
import torch

from studio.preview import WAN21_RGB_BIAS, WAN21_RGB_FACTORS, X0Tap, contact_sheet, latent_to_rgb
from studio.request import GenerationRequest
from studio.models import MODELS


def test_linear_map_matches_the_published_factors():
    latent = torch.randn(1, 16, 5, 6, 10)
    frames = latent_to_rgb(latent, frames=5, max_height=6)  # scale 1: no resize
    expected = torch.einsum("ctHW,cr->tHWr", latent[0], torch.tensor(WAN21_RGB_FACTORS)) + torch.tensor(WAN21_RGB_BIAS)
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert frames.shape == (5, 6, 10, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - expected.astype(int)).max() <= 1


def test_preview_is_small_and_evenly_sampled():
    latent = torch.zeros(1, 16, 21, 90, 160)
    latent[0, :, 20] = 1.0  # only the last frame differs
    frames = latent_to_rgb(latent, frames=4, max_height=320)
    assert frames.shape == (4, 320, 569, 3)
    assert not np.array_equal(frames[-1], frames[0]) and np.array_equal(frames[0], frames[1])


def test_48_channel_latents_and_unknown_channels():
    assert latent_to_rgb(torch.randn(1, 48, 3, 8, 8), frames=2).shape[0] == 2
    with pytest.raises(ValueError, match="32-channel"):
        latent_to_rgb(torch.randn(1, 32, 3, 8, 8))


def test_contact_sheet_tiles_two_by_two():
    frames = np.stack([np.full((10, 20, 3), v, np.uint8) for v in (10, 20, 30, 40)])
    sheet = contact_sheet(frames, gap=2)
    assert sheet.shape == (22, 42, 3)
    assert sheet[0, 0, 0] == 10 and sheet[0, 41, 0] == 20 and sheet[21, 0, 0] == 30 and sheet[21, 41, 0] == 40
    # Three frames (the tiny model's 9-frame video) are two rows too, not a strip three frames wide.
    three = contact_sheet(frames[:3], gap=2)
    assert three.shape == (22, 42, 3) and three[21, 0, 0] == 30 and three[21, 41, 0] == 24
    assert contact_sheet(frames[:1]).shape == (10, 20, 3)


def test_x0_tap_records_the_clean_latent_of_a_real_scheduler_step(tiny_pipe):
    scheduler = type(tiny_pipe.scheduler).from_config(tiny_pipe.scheduler.config)
    scheduler.set_timesteps(4)
    sample, velocity = torch.randn(1, 16, 2, 4, 4), torch.randn(1, 16, 2, 4, 4)
    t = scheduler.timesteps[0]
    with X0Tap(scheduler) as tap:
        scheduler.step(velocity, t, sample)
        sigma = float(scheduler.sigmas[0])
        assert torch.allclose(tap.x0, sample - sigma * velocity, atol=1e-3)
    assert "step" not in scheduler.__dict__  # the scheduler is stock again


def test_previews_track_the_pipeline_and_converge_to_the_final_latent(tiny_pipe):
    """With a one-step-at-a-time Euler-like view, the last x0 equals the final latents."""
    request = GenerationRequest.create(MODELS["tiny"], "cat", width=256, height=256, frames=5, steps=3, seed=1)
    seen = []
    with X0Tap(tiny_pipe.scheduler) as tap, torch.inference_mode():
        out = tiny_pipe(
            prompt="cat", height=256, width=256, num_frames=5, num_inference_steps=request.steps,
            generator=torch.Generator().manual_seed(1), output_type="latent",
            callback_on_step_end=lambda p, i, t, kw: seen.append(tap.x0.clone()) or {},
        ).frames
    assert len(seen) == 3 and seen[0].shape == out.shape
    assert not torch.allclose(seen[0], seen[1])
    assert torch.allclose(seen[-1], out.float(), atol=5e-3)  # at sigma -> 0 the prediction is the result
