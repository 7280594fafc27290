"""Cheap previews while denoising: the predicted clean latent mapped linearly to RGB.

`X0Tap` wraps the scheduler's `step` to keep x0 = x_t - sigma_t * v for the step just taken
(flow matching), so previews need no extra model call and no VAE decode. The linear factors
below are the published ones that ComfyUI and Wan2GP use for Wan latents.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# Wan2.1 VAE latents (T2V-A14B): 16 channels -> RGB, output roughly in [-1, 1].
WAN21_RGB_FACTORS = [
    [-0.1299, -0.1692, 0.2932], [0.0671, 0.0406, 0.0442], [0.3568, 0.2548, 0.1747], [0.0372, 0.2344, 0.1420],
    [0.0313, 0.0189, -0.0328], [0.0296, -0.0956, -0.0665], [-0.3477, -0.4059, -0.2925], [0.0166, 0.1902, 0.1975],
    [-0.0412, 0.0267, -0.1364], [-0.1293, 0.0740, 0.1636], [0.0680, 0.3019, 0.1128], [0.0032, 0.0581, 0.0639],
    [-0.1251, 0.0927, 0.1699], [0.0060, -0.0633, 0.0005], [0.3477, 0.2275, 0.2950], [0.1984, 0.0913, 0.1861],
]
WAN21_RGB_BIAS = [-0.1835, -0.0868, -0.3360]
# Wan2.2 VAE latents (TI2V-5B): 48 channels -> RGB (ComfyUI's latent_formats.Wan22).
WAN22_RGB_FACTORS = [
    [0.0119, 0.0103, 0.0046], [-0.1062, -0.0504, 0.0165], [0.0140, 0.0409, 0.0491], [-0.0813, -0.0677, 0.0607],
    [0.0656, 0.0851, 0.0808], [0.0264, 0.0463, 0.0912], [0.0295, 0.0326, 0.0590], [-0.0244, -0.0270, 0.0025],
    [0.0443, -0.0102, 0.0288], [-0.0465, -0.0090, -0.0205], [0.0359, 0.0236, 0.0082], [-0.0776, 0.0854, 0.1048],
    [0.0564, 0.0264, 0.0561], [0.0006, 0.0594, 0.0418], [-0.0319, -0.0542, -0.0637], [-0.0268, 0.0024, 0.0260],
    [0.0539, 0.0265, 0.0358], [-0.0359, -0.0312, -0.0287], [-0.0285, -0.1032, -0.1237], [0.1041, 0.0537, 0.0622],
    [-0.0086, -0.0374, -0.0051], [0.0390, 0.0670, 0.2863], [0.0069, 0.0144, 0.0082], [0.0006, -0.0167, 0.0079],
    [0.0313, -0.0574, -0.0232], [-0.1454, -0.0902, -0.0481], [0.0714, 0.0827, 0.0447], [-0.0304, -0.0574, -0.0196],
    [0.0401, 0.0384, 0.0204], [-0.0758, -0.0297, -0.0014], [0.0568, 0.1307, 0.1372], [-0.0055, -0.0310, -0.0380],
    [0.0239, -0.0305, 0.0325], [-0.0663, -0.0673, -0.0140], [-0.0416, -0.0047, -0.0023], [0.0166, 0.0112, -0.0093],
    [-0.0211, 0.0011, 0.0331], [0.1833, 0.1466, 0.2250], [-0.0368, 0.0370, 0.0295], [-0.3441, -0.3543, -0.2008],
    [-0.0479, -0.0489, -0.0420], [-0.0660, -0.0153, 0.0800], [-0.0101, 0.0068, 0.0156], [-0.0690, -0.0452, -0.0927],
    [-0.0145, 0.0041, 0.0015], [0.0421, 0.0451, 0.0373], [0.0504, -0.0483, -0.0356], [-0.0837, 0.0168, 0.0055],
]
WAN22_RGB_BIAS = [0.0317, -0.0878, -0.1388]
_FACTORS = {16: (WAN21_RGB_FACTORS, WAN21_RGB_BIAS), 48: (WAN22_RGB_FACTORS, WAN22_RGB_BIAS)}


class X0Tap:
    """Context manager that records the predicted clean latent at every scheduler step.

    Attached from outside: it shadows `scheduler.step` on the instance and restores it on exit,
    so the pipeline's loop stays stock.
    """

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.x0: torch.Tensor | None = None

    def __enter__(self) -> "X0Tap":
        original = type(self.scheduler).step.__get__(self.scheduler)

        def step(model_output, timestep, sample, *args, **kwargs):
            sigma = _sigma(self.scheduler, timestep)
            self.x0 = sample.float() - sigma * model_output.float()
            return original(model_output, timestep, sample, *args, **kwargs)

        self.scheduler.step = step
        return self

    def __exit__(self, *exc) -> None:
        self.scheduler.__dict__.pop("step", None)
        self.x0 = None


def _sigma(scheduler, timestep) -> float:
    """The noise level of the step about to be taken (flow matching: x_t = (1 - sigma) x0 + sigma noise)."""
    index = scheduler.step_index
    if index is None:
        index = scheduler.begin_index
    if index is None and hasattr(scheduler, "index_for_timestep"):
        index = scheduler.index_for_timestep(timestep)
    if index is None or not hasattr(scheduler, "sigmas"):
        return float(timestep) / float(scheduler.config.num_train_timesteps)
    return float(scheduler.sigmas[index])


def latent_to_rgb(latent: torch.Tensor, frames: int = 4, max_height: int = 320) -> np.ndarray:
    """[1, C, T, H, W] latent -> uint8 [n, h, w, 3]: `frames` evenly spaced frames, at most `max_height` tall."""
    channels, length = latent.shape[1], latent.shape[2]
    if channels not in _FACTORS:
        raise ValueError(f"no RGB preview factors for {channels}-channel latents (known: 16, 48)")
    factors, bias = _FACTORS[channels]
    index = torch.linspace(0, length - 1, min(frames, length)).round().long().to(latent.device)
    picked = latent[0].index_select(1, index).float()  # C, n, H, W
    weight = torch.tensor(factors, device=latent.device)
    rgb = torch.einsum("cnhw,cr->nhwr", picked, weight) + torch.tensor(bias, device=latent.device)
    rgb = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    height, width = rgb.shape[1:3]
    scale = min(8.0, max_height / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR) for frame in rgb])


def contact_sheet(frames: np.ndarray, gap: int = 4) -> np.ndarray:
    """Tile preview frames two to a row for a single image widget: 2 to 4 frames keep about one frame's shape, where
    one row of three was a strip a phone showed 60 px tall. An empty cell stays dark."""
    count, height, width = frames.shape[:3]
    cols = min(count, 2)
    rows = -(-count // cols)
    sheet = np.full((rows * height + (rows - 1) * gap, cols * width + (cols - 1) * gap, 3), 24, np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, cols)
        sheet[r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width] = frame
    return sheet
