"""Frames -> a browser-playable MP4 (H.264, yuv420p, faststart) with its settings embedded.

PyAV's wheel carries libx264; OpenCV's wheel can only write mp4v, which browsers do not play.
Every file is written under a temporary name and renamed when complete, so a crash never
leaves a half-written video where the history or the UI would present it.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import cv2
import numpy as np

from .errors import StorageError

METADATA_KEY = "wan_studio"


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial{path.suffix}")


def _storage_error(path: Path, exc: OSError) -> StorageError:
    """The fix for the cause that happened: free space only when the disk is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "the disk is full. Fix: free disk space or choose an output folder on another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "the folder cannot be written. Fix: make it writable or choose another (--outputs DIR or STUDIO_OUTPUTS)"
    elif exc.errno == errno.ENOENT:
        fix = ("the file or its folder was removed while it was written. Fix: make sure no other program cleans "
               "this folder (one studio per outputs folder), then run the job again")
    else:
        fix = "Fix: check the output folder (permissions, free space, the disk itself)"
    return StorageError(f"could not write {path}: {exc.strerror or exc}; {fix}.")


class Mp4Writer:
    """An MP4 encoded while its frames are still being made: `add` queues chunks for one encoding thread.

    The queue holds a few chunks, so a producer that outruns libx264 waits rather than piling up
    the video in memory; PyAV releases the GIL inside the codec, so encoding overlaps the
    producer's work (the VAE decode). The file takes its name only when `close` succeeds;
    `abort`, or an exception in a `with` block, leaves nothing behind.
    """

    def __init__(self, path: Path, fps: int, metadata: dict[str, Any], crf: int = 18, queued_chunks: int = 4) -> None:
        self.path = Path(path)
        self.fps, self.metadata, self.crf = fps, metadata, crf
        self.frames_added = 0
        self._partial = _atomic_target(self.path)
        self._chunks: queue.Queue = queue.Queue(maxsize=queued_chunks)
        self._thread: threading.Thread | None = None
        self._size: tuple[int, int] | None = None  # (height, width), set by the first chunk
        self._error: BaseException | None = None
        self._stop = False
        self._ended = False

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None and not self._ended:
            self.close()
        else:
            self.abort()

    def add(self, frames: np.ndarray) -> None:
        """Queue uint8 [n, H, W, 3] frames (kept by reference, not copied); an encoder failure is raised here."""
        self._check_open()
        self._raise_failure()
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames [F, H, W, 3], got {frames.dtype} {frames.shape}")
        height, width = frames.shape[1:3]
        if self._size is None:
            if height % 2 or width % 2:
                raise ValueError(f"H.264 in yuv420p needs even width and height, got {width}x{height}")
            self._size = (height, width)
            self._thread = threading.Thread(target=self._encode, name=f"mp4 {self.path.name}", daemon=True)
            self._thread.start()
        elif (height, width) != self._size:
            first = f"{self._size[1]}x{self._size[0]}"
            raise ValueError(f"expected frames of {first} like the first ones, got {width}x{height}")
        self._chunks.put(frames)
        self.frames_added += len(frames)

    def close(self) -> Path:
        """Wait for the encoder to finish, then give the file its name; raises what the encoder raised."""
        self._check_open()
        if self._thread is None:
            raise ValueError(f"no frames were added to {self.path}")
        self._ended = True
        self._join()
        if self._error is None:
            try:
                os.replace(self._partial, self.path)
            except OSError as exc:
                self._error = exc
        if self._error is not None:
            self._partial.unlink(missing_ok=True)
            self._raise_failure()
        return self.path

    def finish(self, frames: np.ndarray) -> Path:
        """Add the frames of the whole video `frames` that a producer has not streamed yet (all, when it
        streamed none), then close."""
        self.add(frames[self.frames_added:])
        return self.close()

    def abort(self) -> None:
        """Stop encoding and remove the partial file; does nothing once closed or aborted."""
        if self._ended:
            return
        self._ended = self._stop = True
        self._join()
        self._partial.unlink(missing_ok=True)

    def _check_open(self) -> None:
        if self._ended:
            raise RuntimeError(f"the writer of {self.path} was already closed or aborted")

    def _raise_failure(self) -> None:
        if isinstance(self._error, OSError):
            raise _storage_error(self.path, self._error) from None
        if self._error is not None:
            raise self._error

    def _join(self) -> None:
        if self._thread is not None:
            self._chunks.put(None)  # the encoder drains the queue up to this marker whatever happened
            self._thread.join()

    def _encode(self) -> None:
        chunks = self._received()
        try:
            self._write(chunks)
        except BaseException as exc:  # handed to the producer at its next add, or at close
            self._error = exc
            self._partial.unlink(missing_ok=True)
        for _ in chunks:  # after a failure or an abort: drop the rest, so that add() never blocks on a full queue
            pass

    def _received(self) -> Iterator[np.ndarray]:
        while (chunk := self._chunks.get()) is not None:
            yield chunk

    def _write(self, chunks: Iterator[np.ndarray]) -> None:
        height, width = self._size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(
            str(self._partial), mode="w", format="mp4", options={"movflags": "+faststart+use_metadata_tags"}
        ) as container:
            container.metadata["title"] = str(self.metadata.get("prompt", ""))[:500]
            container.metadata["comment"] = json.dumps(self.metadata, ensure_ascii=False)
            container.metadata[METADATA_KEY] = json.dumps(self.metadata, ensure_ascii=False)
            stream = container.add_stream("libx264", rate=Fraction(self.fps, 1))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(self.crf), "preset": "medium"}
            for frame in (frame for chunk in chunks for frame in chunk):
                if self._stop:
                    return
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if not self._stop:  # an abort skips the flush of the frames libx264 still holds
                container.mux(stream.encode())


def write_mp4(frames: np.ndarray, path: Path, fps: int, metadata: dict[str, Any], crf: int = 18) -> Path:
    """Encode uint8 [F, H, W, 3] frames; `metadata` goes into the file (mdta tags) as JSON."""
    with Mp4Writer(path, fps, metadata, crf) as writer:
        writer.add(frames)
    return writer.path


def read_frames(path: Path) -> np.ndarray:
    """Every frame of a video as uint8 [F, H, W, 3] (a shot's MP4, read back to stitch a scene)."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


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
