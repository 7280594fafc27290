"""kill -9 in the middle of a generation, then start again: nothing lost, nothing half-written shown.

The tiny model with 100 steps at 832x480 is mid-denoise for half a minute, so the kill lands
there. A kill during the MP4 write is simulated by leaving a hidden partial file behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.history import History
from tests.conftest import subprocess_env
from tests.e2e.conftest import Server

from .conftest import SMALL_UI, cli, integrity, visible_videos

SLOW = {"resolution": "832x480", "duration": 5 / 16, "steps": 100}
PARTIAL = ".20990101-000000-abcdef.mp4.partial.mp4"  # what a kill during the MP4 write leaves


def test_kill_9_of_the_served_studio(tmp_path):
    server = Server(tmp_path, env={"STUDIO_TRANSLATOR": "none"})
    try:
        job = Client(server.url, verbose=False).submit(prompt="a job killed mid-denoise", api_name="/generate",
                                                       **SLOW)
        deadline = time.time() + 120
        while time.time() < deadline and not any(update[1] for update in job.outputs()):
            time.sleep(0.2)
        assert any(update[1] for update in job.outputs()), "no preview: the job never reached the denoising loop"
        server.process.kill()
        server.process.wait(timeout=30)
    finally:
        server.stop()
    (server.outputs / "videos").mkdir(exist_ok=True)
    (server.outputs / "videos" / PARTIAL).write_bytes(b"\0" * 4096)

    assert integrity(server.outputs) == "ok"
    restarted = Server(tmp_path, env={"STUDIO_TRANSLATOR": "none"})
    try:
        (killed,) = History(server.outputs).list()
        assert killed["status"] == "interrupted" and killed["output"] is None and killed["prompt"].endswith("denoise")
        assert not (server.outputs / "videos" / PARTIAL).exists(), "the partial MP4 survived the restart"
        assert visible_videos(server.outputs) == []
        status, *_ = Client(restarted.url, verbose=False).predict(prompt="the queue works again",
                                                                  api_name="/generate", **SMALL_UI)
        assert "Done" in status
    finally:
        restarted.stop()
    statuses = [job["status"] for job in History(server.outputs).list()]
    assert statuses == ["done", "interrupted"] and integrity(server.outputs) == "ok"
    assert len(visible_videos(server.outputs)) == 1


def test_kill_9_of_the_cli(tmp_path):
    outputs = tmp_path / "outputs"
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "generate", "--model", "tiny", "--prompt", "a CLI job killed mid-denoise",
         "--width", "832", "--height", "480", "--frames", "5", "--steps", "100", "--no-translate"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=subprocess_env(tmp_path), cwd=tmp_path,
    )
    seen = []
    for line in process.stderr:  # progress lines: "step 3/100 (...)"
        seen.append(line)
        if line.startswith("step 3/100"):
            break
    process.kill()
    process.wait(timeout=30)
    assert any(line.startswith("step 3/100") for line in seen), "".join(seen)

    assert integrity(outputs) == "ok"
    (killed,) = json.loads(cli(tmp_path, "history", "--json").stdout)["jobs"]
    assert killed["status"] == "interrupted" and killed["output"] is None
    assert visible_videos(outputs) == []
    again = cli(tmp_path, "generate", "--model", "tiny", "--prompt", "the next job", "--width", "256", "--height",
                "256", "--frames", "5", "--steps", "1", "--no-translate", "--json")
    assert again.returncode == 0, again.stderr
    assert [job["status"] for job in History(outputs).list()] == ["done", "interrupted"]
    assert visible_videos(outputs) == [outputs / "videos" / f"{json.loads(again.stdout)['job_id']}.mp4"]


def test_queued_jobs_survive_a_kill_9_and_run_after_the_restart(tmp_path):
    """kill -9 of the served studio with a job running and 3 queued: after the restart the running one reads
    `interrupted` (and can be queued again), the 3 queued ones run to the end by themselves."""
    server = Server(tmp_path, env={"STUDIO_TRANSLATOR": "none"})
    try:
        client = Client(server.url, verbose=False)
        running = client.predict(prompt="running when killed", api_name="/submit", **SLOW)
        queued = [client.predict(prompt=f"queued {n}", api_name="/submit", **SMALL_UI) for n in range(3)]
        deadline = time.time() + 120
        while time.time() < deadline and (History(server.outputs).get(running) or {}).get("status") != "running":
            time.sleep(0.2)
        server.process.kill()
        server.process.wait(timeout=30)
    finally:
        server.stop()
    assert [History(server.outputs).get(j)["status"] for j in queued] == ["queued"] * 3

    restarted = Server(tmp_path, env={"STUDIO_TRANSLATOR": "none"})
    try:
        client = Client(restarted.url, verbose=False)
        assert History(server.outputs).get(running)["status"] == "interrupted"
        for job_id in queued:
            status, *_ = client.predict(job_id, api_name="/follow")
            assert "Done" in status, status
        with pytest.raises(AppError, match=f"stopped before this job finished.*requeue {running}"):
            client.predict(running, api_name="/follow")  # the message says how to queue it again
    finally:
        restarted.stop()
    assert [History(server.outputs).get(j)["status"] for j in queued] == ["done"] * 3
    assert integrity(server.outputs) == "ok"
