"""Seams between shots: the repeated conditioning frame, overlap blends, and colour matched in Lab."""

from __future__ import annotations

import numpy as np
import pytest

from studio.seams import ColourAnchor, lab_stats, stitch, stitched_length


def _shot(value: int, frames: int = 5) -> np.ndarray:
    return np.full((frames, 8, 8, 3), value, np.uint8)


@pytest.mark.parametrize("overlap", [0, 1, 2, 3, 9])
def test_each_seam_drops_the_conditioning_frame_and_blends_the_overlap(overlap):
    whole = stitch([_shot(0), _shot(100), _shot(200, 9)], overlap)
    assert len(whole) == stitched_length([5, 5, 9], overlap)
    if overlap == 0:
        assert [int(f[0, 0, 0]) for f in whole] == [0] * 5 + [100] * 4 + [200] * 8
    else:  # a ramp between the shots instead of a cut
        values = [int(f[0, 0, 0]) for f in whole[:9 - min(overlap, 3)]]
        assert values == sorted(values) and len(set(values)) > 2


def test_colour_drift_is_matched_to_the_first_shots_end():
    rng = np.random.default_rng(0)
    first = rng.integers(40, 200, (5, 16, 16, 3)).astype(np.uint8)
    drifted = (first.astype(int) * 0.8 + np.array([40, 5, -25])).clip(0, 255).astype(np.uint8)  # tint and contrast
    matched, offsets = ColourAnchor.of(first).match(drifted)
    anchor_mean, anchor_std = lab_stats(first[-4:])
    mean, std = lab_stats(matched[:4])
    assert np.abs(mean - anchor_mean).max() < 1.0 and np.abs(std - anchor_std).max() < 1.5
    assert np.abs(offsets["after"]).sum() < np.abs(offsets["before"]).sum() / 10
    assert np.abs(matched.astype(int) - first).mean() < np.abs(drifted.astype(int) - first).mean() / 2
