"""The studio's HTTP API as a script uses it: gradio_client against the served app."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import av
import pytest
from gradio_client import Client

FAST = {"resolution": "832x480", "duration": 5 / 16, "steps": 3}


def _video_path(value) -> str:
    return value["video"] if isinstance(value, dict) else value


def _previews(job) -> tuple[list[str], list[Exception]]:
    """The preview images of a job's streamed updates, and the updates the client failed to process.

    gradio_client stores such an update as `[exception]` (e.g. a preview download that timed out
    while the 2-core CI machine was busy generating), not as the five outputs.
    """
    updates = job.outputs()
    errors = [u[0] for u in updates if len(u) == 1 and isinstance(u[0], Exception)]
    return [u[1] for u in updates if len(u) > 1 and u[1]], errors


def test_generate_streams_previews_then_an_h264_mp4(server):
    client = Client(server.url, verbose=False)
    job = client.submit(prompt="a red fox running through snow", seed=5, randomize_seed=False, api_name="/generate",
                        **FAST)
    final = job.result(timeout=300)
    shown, errors = _previews(job)
    previews = {hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in shown}
    assert len(previews) >= 2, f"expected several distinct previews, got {len(previews)}; client errors: {errors}"
    status, _, video, details, seed = final
    assert "Done" in status and seed == 5 and "832×480" in details
    with av.open(_video_path(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (832, 480)


def test_api_parameters(server):
    info = Client(server.url, verbose=False).view_api(return_format="dict", print_info=False)
    params = info["named_endpoints"]["/generate"]["parameters"]
    assert params[0]["parameter_name"] == "prompt"
    assert all(p["parameter_has_default"] for p in params[1:])


def test_the_preset_list_is_read_when_asked_and_a_preset_saved_since_start_runs(server):
    client = Client(server.url, verbose=False)
    before = {p["name"] for p in client.predict(api_name="/presets")["presets"]}
    assert {"none", "cinematic", "anime"} <= before and "saved-later" not in before
    folder = server.outputs / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved-later.json").write_text('{"version": 1, "title": "Saved later", "prompt": "{prompt}, in chalk"}')
    listed = {p["name"]: p for p in client.predict(api_name="/presets")["presets"]}
    assert listed["saved-later"]["source"] == "user" and listed["saved-later"]["prompt"] == "{prompt}, in chalk"
    job_id = client.predict(prompt="a kite", preset="saved-later", resolution="256x256", duration=0.31, steps=1,
                            api_name="/submit")
    *_, last = client.submit(job_id, api_name="/follow")
    assert "Done" in last[0], last[0]


def test_invalid_input_is_a_clear_error_and_the_server_keeps_serving(server):
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match="prompt.*empty"):
        client.predict(prompt="   ", api_name="/generate", **FAST)
    with pytest.raises(Exception, match="multiple of 16|resolution|width"):
        client.predict(prompt="cat", api_name="/generate", **{**FAST, "resolution": "1000x720"})
    assert client.predict(prompt="cat", api_name="/generate", **FAST)[2]


def test_a_job_outlives_its_client_and_is_cancelled_by_id(server):
    """Closing the client that submitted a job never cancels it; another client follows it by id to the MP4,
    and /cancel stops a job by id from yet another client."""
    from studio.history import History

    first = Client(server.url, verbose=False)
    job_id = first.predict(prompt="a job its client left", api_name="/submit", **{**FAST, "steps": 8})
    first.close()
    assert job_id in {job["id"] for job in Client(server.url, verbose=False).predict(api_name="/jobs")["jobs"]}
    status, _, video, _, _ = Client(server.url, verbose=False).predict(job_id, api_name="/follow")
    assert "Done" in status and Path(_video_path(video)).is_file()
    assert History(server.outputs).get(job_id)["status"] == "done"

    slow = Client(server.url, verbose=False).predict(prompt="a slow cancelled job", api_name="/submit",
                                                     resolution="832x480", duration=5 / 16, steps=40)
    watcher = Client(server.url, verbose=False).submit(slow, api_name="/follow")
    deadline = time.time() + 120
    while time.time() < deadline and not _previews(watcher)[0]:
        time.sleep(0.2)
    assert _previews(watcher)[0], f"no preview arrived before cancelling; client errors: {_previews(watcher)[1]}"
    assert "Stopping" in Client(server.url, verbose=False).predict(slow, api_name="/cancel")
    status, *_ = watcher.result(timeout=60)
    assert "Cancelled" in status
    cancelled = History(server.outputs).get(slow)
    assert cancelled["status"] == "cancelled" and cancelled["step"] >= 1
    assert Client(server.url, verbose=False).predict(prompt="after the cancel", api_name="/generate", **FAST)[2]


def test_three_concurrent_clients_get_their_own_results_and_a_queue_position(server):
    results, ranks = {}, {}

    def user(n: int) -> None:
        client = Client(server.url, verbose=False)
        job = client.submit(prompt=f"user {n} paints a lighthouse", seed=100 + n, randomize_seed=False,
                            api_name="/generate", **FAST)
        results[n] = job.result()
        ranks[n] = [update[0] for update in job.outputs() if len(update) > 1 and "in line" in str(update[0])]

    threads = [threading.Thread(target=user, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert sorted(results) == [0, 1, 2]
    for n, (status, _, video, details, seed) in results.items():
        assert seed == 100 + n and "Done" in status and Path(_video_path(video)).is_file()
    from studio.history import History

    done = {j["prompt"]: j["seed"] for j in History(server.outputs).list() if j["status"] == "done"}
    assert all(done[f"user {n} paints a lighthouse"] == 100 + n for n in range(3))
    assert any(ranks.values()), f"nobody saw a place in the studio's queue: {ranks}"
