"""Extend: a finished job continued from its last frame, one MP4 of the whole; the job itself is never redone."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import pytest

from studio.__main__ import main
from studio.config import StudioConfig
from studio.errors import InvalidRequest
from studio.events import Done
from studio.extend import extension
from studio.scene import run_scene, run_to_end, scene_shots, start_scene
from studio.service import Studio
from tests.conftest import subprocess_env


def _frames(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_extend_a_job_then_the_extension(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    request = studio.request("a crane over a lake", width=256, height=256, frames=5, steps=2, seed=4, translate=False,
                             guidance_scale=5.0)
    done = list(studio.generate(request))[-1]
    assert isinstance(done, Done)
    scene = extension(studio, done.job_id, prompt="the crane lands", frames=9)
    assert scene.shots[0].job == done.job_id and scene.shots[1].seed == 5
    assert "guidance_scale" not in scene.settings  # tiny's guidance is not carried to tiny-i2v
    end = run_to_end(run_scene(studio, start_scene(studio, scene)))
    assert end.status == "done" and _frames(end.output) == 5 + 8
    assert end.summary["shots"][0]["reused"] is True
    assert [s["batch_key"] for s in scene_shots(studio, end.scene_id)] == ["shot-2"]  # the job was not made again
    assert studio.history.get(end.scene_id)["output"] == end.output
    again = extension(studio, end.scene_id, duration=0.3)  # the extension goes on from its own last frame
    assert again.shots[1].prompt == "the crane lands" and again.shots[1].frames == 5
    longer = run_to_end(run_scene(studio, start_scene(studio, again)))
    assert longer.status == "done" and _frames(longer.output) == 13 + 4


def test_only_finished_jobs_with_their_video_extend(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    queued = studio.submit(studio.request("a fox", width=256, height=256, frames=5, steps=2))
    with pytest.raises(InvalidRequest, match="it is queued; only a finished job"):
        extension(studio, queued)
    with pytest.raises(InvalidRequest, match="no job has this id"):
        extension(studio, "20261205-000000-0000000000000000")


def test_cli_extend(tmp_path, capsys, root_logger):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    done = list(studio.generate(studio.request("a lantern", width=256, height=256, frames=5, steps=2,
                                               translate=False)))[-1]
    grown = subprocess.run([sys.executable, "-m", "studio", "extend", done.job_id, "--prompt", "the lantern rises",
                            "--frames", "5", "--out", "w.mp4", "--no-translate", "--json"], capture_output=True,
                           text=True, env=subprocess_env(tmp_path), cwd=tmp_path, timeout=300)
    assert grown.returncode == 0, grown.stderr
    assert json.loads(grown.stdout)["frames"] == 9 and _frames(str(tmp_path / "w.mp4")) == 9
    assert main(["extend", done.job_id, "--frames", "5", "--duration", "1"]) == 2
    error = capsys.readouterr().err
    assert "not both" in error and error.count("\n") == 1
