"""Joining shots into one video: the seam between shots, and colour drift kept to the first shot.

Shot N+1 starts from shot N's last frame, so its own first frame shows that frame again: `stitch` drops it,
and with `overlap` k it cross-fades shot N's last k frames into shot N+1's next k (each seam then shortens the
whole by 1 + k frames).

Colour drift (the method): every shot is generated from a frame of the one before, so small shifts of tint
and contrast add up shot after shot. In CIE Lab (lightness and two colour axes, so a shift in one does not
leak into the others), `ColourAnchor` takes the per-channel mean and standard deviation of the first shot's
last frames as the reference; each later shot gets the one affine map per channel that gives its own first
frames (which continue the previous shot, so should look like it) those statistics, applied to every frame
of the shot. What a shot changes on purpose later on (a sunset coming) is kept: only the offset it starts
with is removed. The ratio of deviations is bounded (0.5..2) so a flat frame cannot blow the contrast up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MATCH_FRAMES = 4
_RATIO = (0.5, 2.0)


def to_lab(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB [F, H, W, 3] -> float32 Lab (L 0..100, a and b about -128..127)."""
    return np.stack([cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB) for frame in frames])


def from_lab(lab: np.ndarray) -> np.ndarray:
    rgb = np.stack([cv2.cvtColor(frame, cv2.COLOR_LAB2RGB) for frame in lab.astype(np.float32)])
    return (rgb * 255.0).round().clip(0, 255).astype(np.uint8)


def lab_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Lab mean and standard deviation over the frames."""
    lab = to_lab(frames).reshape(-1, 3)
    return lab.mean(axis=0), lab.std(axis=0)


@dataclass(frozen=True)
class ColourAnchor:
    """The first shot's colour at its end: what later shots are matched to."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, first_shot: np.ndarray) -> "ColourAnchor":
        return cls(*lab_stats(first_shot[-MATCH_FRAMES:]))

    def match(self, shot: np.ndarray) -> tuple[np.ndarray, dict[str, list[float]]]:
        """The shot with its start matched to the anchor, and the Lab mean distance before and after."""
        mean, std = lab_stats(shot[:MATCH_FRAMES])
        scale = np.clip(self.std / np.maximum(std, 1e-3), *_RATIO)
        lab = to_lab(shot)
        lab = (lab - mean) * scale + self.mean
        lab[..., 0] = lab[..., 0].clip(0.0, 100.0)
        matched = from_lab(lab)
        after, _ = lab_stats(matched[:MATCH_FRAMES])
        return matched, {"before": _rounded(mean - self.mean), "after": _rounded(after - self.mean)}


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in values]


def stitch(shots: list[np.ndarray], overlap: int = 0) -> np.ndarray:
    """One video from shots that each start on the previous one's last frame."""
    if not shots:
        return np.zeros((0, 0, 0, 3), np.uint8)
    whole = shots[0]
    for shot in shots[1:]:
        shot = shot[1:]  # its first frame is the conditioning frame: shown already
        k = min(overlap, len(whole) - 1, len(shot) - 1)
        if k > 0:
            weights = (np.arange(1, k + 1, dtype=np.float32) / (k + 1))[:, None, None, None]
            blended = (whole[-k:] * (1 - weights) + shot[:k] * weights).round().astype(np.uint8)
            whole = np.concatenate([whole[:-k], blended, shot[k:]])
        else:
            whole = np.concatenate([whole, shot])
    return whole


def stitched_length(frames: list[int], overlap: int = 0) -> int:
    """How many frames `stitch` makes of shots of these lengths."""
    total = frames[0] if frames else 0
    for count in frames[1:]:
        total += count - 1 - max(0, min(overlap, total - 1, count - 2))
    return total
