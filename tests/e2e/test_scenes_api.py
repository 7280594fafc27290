"""The Scenes tab's API, served for real: image-to-video, a scene of shots, Extend, and clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

SHARED = dict(fit_choice="pad", family="tiny", size="256x256", step_count=2, seed_value=3, blend=0)


def _frames(path: str) -> int:
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return sum(1 for _ in container.decode(stream))


def _table(*rows):
    return {"headers": ["prompt", "seconds"], "data": [list(row) for row in rows]}


def test_image_to_video_then_a_scene_then_extend(server, tmp_path):
    client = Client(server.url, verbose=False)
    start = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (120, 200, 3), np.uint8)).save(start)
    status, _, video, _, summary, scene_id, _ = client.predict(
        _table(("a lantern in the fog", 0.3)), handle_file(str(start)), api_name="/scene", **SHARED)
    assert "done" in status and _frames(video["video"] if isinstance(video, dict) else video) == 5
    shots = json.loads(summary)["shots"]
    assert len(shots) == 1 and shots[0]["status"] == "done"

    status, _, video, _, summary, scene_id, extend_job = client.predict(
        _table(("a fox in the snow", 0.3), ("the fox runs", 0.5), ("", None)), None, api_name="/scene", **SHARED)
    assert "done" in status and _frames(video["video"] if isinstance(video, dict) else video) == 5 + 8
    assert extend_job == scene_id

    status, _, video, _, summary, _, _ = client.predict(scene_id, "the fox sleeps", 0.3, api_name="/extend")
    assert "done" in status and _frames(video["video"] if isinstance(video, dict) else video) == 13 + 4
    assert json.loads(summary)["shots"][0]["reused"] is True

    listed = subprocess.run([sys.executable, "-m", "studio", "--outputs", str(server.outputs), "history", "--json"],
                            capture_output=True, text=True, timeout=60)
    jobs = {job["id"]: job for job in json.loads(listed.stdout)["jobs"]}
    assert jobs[scene_id]["status"] == "done" and jobs[scene_id]["batch_id"] == f"scene-{scene_id}"


def test_bad_scenes_are_clear_errors(server):
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match="give a list of shots"):
        client.predict(_table(("", None)), None, api_name="/scene", **SHARED)
    with pytest.raises(Exception, match=r"at most .* s .*split it into more shots"):
        client.predict(_table(("a fox", 30)), None, api_name="/scene", **SHARED)
    with pytest.raises(Exception, match="no job has this id"):
        client.predict("20261205-000000-0000000000000000", "", 1, api_name="/extend")
    with pytest.raises(Exception, match="not valid JSON"):
        client.predict("{", api_name="/scene_json")
    summary = client.predict(json.dumps({"model": "tiny", "width": 256, "height": 256, "steps": 2,
                                         "shots": [{"prompt": "a crane", "frames": 5}]}), api_name="/scene_json")
    assert summary["status"] == "done" and summary["frames"] == 5
