"""Scenes on the tiny models: stitched frame counts, shot MP4s, cancel, retry and resume, bad scene files."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from studio import video
from studio.__main__ import main
from studio.config import StudioConfig
from studio.errors import InvalidRequest
from studio.jobhooks import JobHook
from studio.images import store_frame
from studio.scene import (
    SceneEnd, SceneUpdate, parse_scene, read_scene_file, run_scene, run_to_end, scene_shots, shot_request, start_scene,
)
from studio.service import Studio
from tests.conftest import subprocess_env

SHARED = {"model": "tiny", "width": 256, "height": 256, "steps": 2, "seed": 3, "translate": False}
SHOTS = [{"prompt": "a fox in the snow", "frames": 5}, {"prompt": "the fox runs", "frames": 5},
         {"prompt": "the fox sleeps", "frames": 9}]


class _OnShot(JobHook):
    """Does `act` when a job with this prompt starts (the first `times` times): a failure or a cancel mid-scene."""

    def __init__(self, prompt: str, act, times: int = 1) -> None:
        self.prompt, self.act, self.left = prompt, act, times

    def on_job_start(self, pipe, request) -> None:
        if request.prompt == self.prompt and self.left > 0:
            self.left -= 1
            self.act()


def _studio(tmp_path: Path, *hooks: JobHook) -> Studio:
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    studio.speed.hooks = (*studio.speed.hooks, *hooks)
    return studio


def _h264_frames(path: str) -> int:
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return sum(1 for _ in container.decode(stream))


def _scene(studio: Studio, shots=SHOTS, **shared) -> str:
    return start_scene(studio, parse_scene(studio, {**SHARED, **shared, "shots": shots}))


def test_three_shots_make_one_mp4_and_three_shot_mp4s_grouped_in_history(tmp_path):
    studio = _studio(tmp_path)
    scene_id = _scene(studio)
    updates = list(run_scene(studio, scene_id))
    end = updates[-1]
    assert isinstance(end, SceneEnd) and end.status == "done", end
    assert {u.shot for u in updates if isinstance(u, SceneUpdate)} == {1, 2, 3}  # progress across shots
    assert any(type(u.event).__name__ == "Preview" for u in updates[:-1] if u.shot == 2)  # a preview per shot
    assert _h264_frames(end.output) == 5 + 4 + 8  # each later shot's conditioning frame is shown once
    shots = scene_shots(studio, scene_id)
    assert [s["batch_key"] for s in shots] == ["shot-1", "shot-2", "shot-3"]
    assert [_h264_frames(s["output"]) for s in shots] == [5, 5, 9]
    models = [studio.history.get(s["id"])["model"] for s in shots]
    assert models == ["tiny", "tiny-i2v", "tiny-i2v"]  # text first, then each shot from the last frame
    assert all(studio.history.get(s["id"])["parent_id"] == scene_id for s in shots)
    parent = studio.history.get(scene_id)
    assert parent["status"] == "done" and parent["output"] == end.output and parent["batch_id"] == f"scene-{scene_id}"
    # The next shot was conditioned on the previous shot's last frame, as stitched (colour-matched).
    second = studio.history.get(shots[1]["id"])["request"]
    last = video.read_frames(Path(shots[0]["output"]))[-1]
    assert np.array_equal(np.asarray(Image.open(second["image"])), last)
    # Colour drift is measured on each later shot's opening frames against the first shot's end: matching leaves
    # a smaller Lab offset than the shot came with (random weights: only this can be measured).
    for shot in end.summary["shots"][1:]:
        before, after = (np.abs(shot["colour_lab_offset"][k]).sum() for k in ("before", "after"))
        assert after < before


def test_cancel_during_shot_2_keeps_shot_1_and_its_stitched_video(tmp_path):
    cancel = threading.Event()
    studio = _studio(tmp_path, _OnShot("the fox runs", cancel.set))
    scene_id = _scene(studio)
    end = run_to_end(run_scene(studio, scene_id, cancel=cancel))
    assert end.status == "cancelled" and "shot 2 cancelled" in end.message
    shots = scene_shots(studio, scene_id)
    assert [s["status"] for s in shots] == ["done", "cancelled"]  # shot 3 never queued
    assert _h264_frames(shots[0]["output"]) == 5 and _h264_frames(end.output) == 5
    parent = studio.history.get(scene_id)
    assert parent["status"] == "cancelled" and parent["output"] == end.output


def test_a_scene_whose_follower_goes_away_ends_cancelled_with_what_finished(tmp_path):
    studio = _studio(tmp_path)
    scene_id = _scene(studio)
    updates = run_scene(studio, scene_id)
    for update in updates:
        if update.shot == 2:
            break
    updates.close()
    parent = studio.history.get(scene_id)
    assert parent["status"] == "cancelled" and _h264_frames(parent["output"]) == 5
    assert [s["status"] for s in scene_shots(studio, scene_id)] == ["done", "cancelled"]


def test_a_failed_shot_is_retried_without_redoing_the_others(tmp_path):
    def fail():
        raise RuntimeError("a flaky GPU (test)")

    studio = _studio(tmp_path, _OnShot("the fox runs", fail))
    scene_id = _scene(studio)
    end = run_to_end(run_scene(studio, scene_id))
    assert end.status == "done" and _h264_frames(end.output) == 17
    shots = scene_shots(studio, scene_id)
    assert [(s["batch_key"], s["status"]) for s in shots] == [
        ("shot-1", "done"), ("shot-2", "failed"), ("shot-2", "done"), ("shot-3", "done")]


def test_a_failed_scene_resumes_with_its_finished_shots_kept(tmp_path):
    def fail():
        raise RuntimeError("out of luck (test)")

    studio = _studio(tmp_path, _OnShot("the fox runs", fail, times=2))
    scene_id = _scene(studio)
    end = run_to_end(run_scene(studio, scene_id, retries=1))
    assert end.status == "failed" and _h264_frames(end.output) == 5
    first = scene_shots(studio, scene_id)[0]
    resumed = run_to_end(run_scene(studio, scene_id))
    assert resumed.status == "done" and _h264_frames(resumed.output) == 17
    shots = scene_shots(studio, scene_id)
    assert [s["id"] for s in shots if s["batch_key"] == "shot-1"] == [first["id"]]  # not made again
    assert resumed.summary["shots"][0]["reused"] is True
    with pytest.raises(InvalidRequest, match="done already"):
        next(run_scene(studio, scene_id))
    with pytest.raises(InvalidRequest, match="it is a scene. Fix: resume it"):
        studio.requeue(scene_id)


@pytest.mark.parametrize("scene, words", [
    ({"shots": []}, "shots: .*give a list of shots"),
    ({"shots": [{"prompt": "a fox", "frames": 5, "duration": 2}]}, r"shots\[0\].duration: .*not both"),
    ({"shots": [{"prompt": "a fox"}, {"prompt": "more", "duration": 9}]}, r"duration: 9.*at most 5.06 s.*split"),
    ({"shots": [{"prompt": "a fox", "frames": 6}]}, r"shots\[0\].frames: 6 .*4k\+1"),
    ({"shots": [{"prompt": "a fox", "camera": "pan"}]}, r"shots\[0\].camera: .*a shot takes prompt"),
    ({"shots": [{"prompt": "a fox"}], "colour": "vivid"}, "colour: 'vivid'.*match, off"),
    ({"shots": [{"prompt": "a fox"}], "width": 250}, "width: 250 .*multiple of 16"),
    ({"shots": [{"prompt": "a fox"}], "model": "tiny-5b", "image": "missing.png"}, "no such image file"),
    ({"shots": "a fox"}, "give a list of shots"),
    ({"shots": [{"prompt": "a fox"}], "lens": 35}, "lens: 35 .*a scene takes"),
])
def test_bad_scenes_are_refused_with_the_field_named(tmp_path, scene, words):
    studio = _studio(tmp_path)
    with pytest.raises(InvalidRequest, match=words):
        parse_scene(studio, {**SHARED, **scene})


def test_cli_scene_file_with_a_start_image_and_a_broken_file(tmp_path, capsys, root_logger):
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (90, 120, 3), np.uint8)).save(tmp_path / "start.png")
    scene = {"model": "tiny-i2v", "image": "start.png", "width": 256, "height": 256, "steps": 2, "seed": 9,
             "overlap": 2, "shots": [{"prompt": "a lantern", "frames": 5}, {"prompt": "the lantern rises", "frames": 9}]}
    (tmp_path / "scene.json").write_text(json.dumps(scene))
    run = [sys.executable, "-m", "studio", "scene"]
    done = subprocess.run([*run, "scene.json", "--out", "s.mp4", "--json", "--no-translate"], capture_output=True,
                          text=True, env=subprocess_env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] == 5 + 8 - 2 and _h264_frames(str(tmp_path / "s.mp4")) == 11  # seam: 1 dropped, 2 blended
    assert [shot["status"] for shot in summary["shots"]] == ["done", "done"]
    (tmp_path / "bad.json").write_text('{"shots": [')
    assert main(["scene", str(tmp_path / "bad.json")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not valid JSON" in error
    assert read_scene_file(tmp_path / "scene.json")["image"] == str(tmp_path / "start.png")


def test_presets_and_the_language_setting_apply_to_each_shot(tmp_path):
    studio = _studio(tmp_path)
    shots = [{"prompt": "a fox", "frames": 5}, {"prompt": "the fox runs", "frames": 5, "preset": "noir"}]
    scene = parse_scene(studio, {**SHARED, "preset": "cinematic", "translate": True, "shots": shots})
    first = shot_request(studio, scene, scene.shots[0], None)
    frame = store_frame(np.zeros((256, 256, 3), np.uint8), tmp_path / "outputs" / "images")
    second = shot_request(studio, scene, scene.shots[1], frame.path, frame.sha256)
    assert (first.preset, second.preset) == ("cinematic", "noir") and first.translate and second.translate
    assert (first.model, second.model) == ("tiny", "tiny-i2v") and second.seed == first.seed + 1
