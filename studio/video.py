"""Frames -> a browser-playable MP4 (H.264, yuv420p, faststart) with its settings embedded.

PyAV's wheel carries libx264; OpenCV's wheel can only write mp4v, which browsers do not play.
Every file is written under a temporary name and renamed when complete, so a crash never
leaves a half-written video where the history or the UI would present it.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from .errors import StorageError

METADATA_KEY = "wan_studio"


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial{path.suffix}")


def _storage_error(path: Path, exc: OSError) -> StorageError:
    return StorageError(
        f"could not write {path}: {exc.strerror or exc}. Fix: free disk space or choose a writable output folder "
        "(--outputs DIR or STUDIO_OUTPUTS)."
    )


def write_mp4(frames: np.ndarray, path: Path, fps: int, metadata: dict[str, Any], crf: int = 18) -> Path:
    """Encode uint8 [F, H, W, 3] frames; `metadata` goes into the file (mdta tags) as JSON."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames [F, H, W, 3], got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 in yuv420p needs even width and height, got {width}x{height}")
    path = Path(path)
    partial = _atomic_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(
            str(partial), mode="w", format="mp4", options={"movflags": "+faststart+use_metadata_tags"}
        ) as container:
            container.metadata["title"] = str(metadata.get("prompt", ""))[:500]
            container.metadata["comment"] = json.dumps(metadata, ensure_ascii=False)
            container.metadata[METADATA_KEY] = json.dumps(metadata, ensure_ascii=False)
            stream = container.add_stream("libx264", rate=Fraction(fps, 1))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _storage_error(path, exc) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: Path) -> dict[str, Any]:
    """The settings a studio MP4 carries (empty when it carries none)."""
    with av.open(str(path)) as container:
        raw = container.metadata.get(METADATA_KEY) or container.metadata.get("comment")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def write_json(data: dict[str, Any], path: Path) -> Path:
    """The sidecar: the same settings beside the video, readable without a media library."""
    path = Path(path)
    partial = _atomic_target(path)
    try:
        partial.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _storage_error(path, exc) from None
    return path


def write_thumbnail(frame: np.ndarray, path: Path, max_side: int = 384) -> Path:
    """A JPEG of one frame, small enough for a history gallery."""
    height, width = frame.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    small = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    path = Path(path)
    partial = _atomic_target(path)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ValueError("JPEG encoding failed")
    try:
        partial.write_bytes(data.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _storage_error(path, exc) from None
    return path
