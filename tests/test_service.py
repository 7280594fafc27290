"""The studio's MP4 is encoded while the VAE decodes: complete when a job is done, nothing left when it is not."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import torch

from studio import pipelines, video
from studio.config import StudioConfig
from studio.events import Cancelled, Done, Failed, Notice, Progress
from studio.service import Studio

SETTINGS = dict(width=256, height=256, frames=5, steps=2, seed=3, translate=False)
# libx264 holds about 40 frames before the first packet reaches the file: 53 frames decode in 14 calls,
# and by the 13th (45 frames given to the encoder) part of the MP4 can be on disk.
LONG = {**SETTINGS, "frames": 53}
ON_DISK_CALL = 13


def _studio(tmp_path: Path, monkeypatch, at_call: int = 0, error: type[Exception] | None = None) -> Studio:
    """A tiny studio whose VAE decoder, at its `at_call`-th call (counted over the job's attempts), waits until
    part of the MP4 is on disk, so that there is a partial file to clean up, then raises `error` if given."""
    load, calls = pipelines.load_pipeline, []

    def loaded(source, **kwargs):
        spec, pipe = load(source, **kwargs)

        def decoder_call(*_):
            calls.append(1)
            if len(calls) == at_call:
                deadline = time.monotonic() + 30
                while not list((tmp_path / "outputs" / "videos").glob(".*.partial.mp4")):
                    assert time.monotonic() < deadline, "the encoder wrote nothing while the VAE was decoding"
                    time.sleep(0.01)
                if error:
                    raise error("the decoder failed (test)")

        pipe.vae.decoder.register_forward_pre_hook(decoder_call)
        return spec, pipe

    monkeypatch.setattr(pipelines, "load_pipeline", loaded)
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def _frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def _files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "outputs" / "videos").iterdir())


def _encoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mp4 ")]


def test_the_mp4_is_encoded_during_the_decode_and_complete(tmp_path, monkeypatch):
    added = []
    add = video.Mp4Writer.add
    monkeypatch.setattr(video.Mp4Writer, "add", lambda writer, frames: added.append(len(frames)) or add(writer, frames))
    studio = _studio(tmp_path, monkeypatch)
    done = list(studio.generate(studio.request("a cat walking", **SETTINGS)))[-1]
    assert isinstance(done, Done)
    assert added == [1, 4, 0]  # both chunks came from the decode; nothing was left for after it
    assert _frames_in(Path(done.output)) == 5 == done.summary["frames"]
    sidecar = json.loads(Path(done.sidecar).read_text(encoding="utf-8"))
    assert video.read_metadata(Path(done.output)) == {k: v for k, v in sidecar.items() if k != "summary"}
    assert sidecar["plan"] == done.summary["plan"] and sidecar["job_id"] == done.job_id
    assert done.summary["timings"]["encode"] > 0
    assert _files(tmp_path) == sorted(f"{done.job_id}{suffix}" for suffix in (".jpg", ".json", ".mp4"))


def test_a_cancelled_job_leaves_no_video(tmp_path, monkeypatch):
    studio = _studio(tmp_path, monkeypatch)
    cancel = threading.Event()
    events = []
    for event in studio.generate(studio.request("a cat walking", **SETTINGS), cancel=cancel):
        events.append(event)
        if isinstance(event, Progress) and event.phase == "denoise":
            cancel.set()
    assert isinstance(events[-1], Cancelled) and studio.history.get(events[-1].job_id)["status"] == "cancelled"
    assert _files(tmp_path) == []


def test_a_job_abandoned_during_the_decode_leaves_no_video(tmp_path, monkeypatch):
    """The consumer goes away as the decode begins; the decode finishes, its half-encoded MP4 is removed."""
    studio = _studio(tmp_path, monkeypatch, at_call=ON_DISK_CALL)
    events = studio.generate(studio.request("a cat walking", **LONG))
    for event in events:
        if isinstance(event, Progress) and event.phase == "decode":
            events.close()
    assert studio.history.get(event.job_id)["status"] == "cancelled"
    assert _files(tmp_path) == [] and _encoders() == []


def test_a_job_that_fails_during_the_decode_leaves_no_video(tmp_path, monkeypatch):
    studio = _studio(tmp_path, monkeypatch, at_call=ON_DISK_CALL, error=RuntimeError)
    failed = list(studio.generate(studio.request("a cat walking", **LONG)))[-1]
    assert isinstance(failed, Failed) and "the decoder failed (test)" in failed.message
    assert studio.history.get(failed.job_id)["status"] == "failed"
    assert _files(tmp_path) == [] and _encoders() == []


def test_out_of_memory_during_the_decode_retries_into_a_fresh_video(tmp_path, monkeypatch):
    studio = _studio(tmp_path, monkeypatch, at_call=ON_DISK_CALL, error=torch.OutOfMemoryError)
    events = list(studio.generate(studio.request("a cat walking", memory_plan="resident", **LONG)))
    done = events[-1]
    assert isinstance(done, Done) and any(isinstance(e, Notice) and "retrying once" in e.message for e in events)
    assert _frames_in(Path(done.output)) == 53 and _encoders() == []
    assert _files(tmp_path) == sorted(f"{done.job_id}{suffix}" for suffix in (".jpg", ".json", ".mp4"))
