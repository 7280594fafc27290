"""Page images as files written once: the same picture is never rewritten in place while a client downloads it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.ui.image_files import image_file


def test_the_same_picture_is_one_file_written_once_and_the_oldest_go(tmp_path):
    grey = np.full((48, 64, 3), 90, np.uint8)
    first = image_file(grey, tmp_path)
    written = (tmp_path / first.rsplit("/", 1)[1]).stat().st_mtime_ns
    assert image_file(grey.copy(), tmp_path) == first
    assert (tmp_path / first.rsplit("/", 1)[1]).stat().st_mtime_ns == written, "not written again"
    assert Image.open(first).size == (64, 48) and not list(tmp_path.glob("*.partial"))
    for value in range(5):
        image_file(np.full((8, 8, 3), value * 40, np.uint8), tmp_path, max_files=3)
    assert len(list(tmp_path.glob("*.jpg"))) == 3


def test_a_folder_is_pruned_every_twentieth_of_its_limit_and_stays_near_it(tmp_path):
    """With room for 40 files the folder is pruned every 2 writes: never more than 41 files on disk."""
    counts = []
    for value in range(60):
        image_file(np.full((8, 8, 3), value, np.uint8), tmp_path, max_files=40)
        counts.append(len(list(tmp_path.glob("*.jpg"))))
    assert max(counts) <= 41 and counts[-1] <= 41 and counts[39] == 40
