"""What an operator sees: /metrics on the studio's own port and JSON log lines carrying the job id."""

from __future__ import annotations

import json
import time

import pytest
import torch
from gradio_client import Client
from safetensors.torch import save_file

from studio.history import History
from studio.metrics import PHASES

from tests.e2e.conftest import Server

from .conftest import SMALL_UI, fetch, metric_samples

SLOW = {"resolution": "832x480", "duration": 5 / 16, "steps": 40}


def _scrape(server) -> dict[tuple[str, tuple], float]:
    code, body = fetch(server.url + "/metrics")
    assert code == 200
    return metric_samples(body.decode())


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _log_lines(server) -> list[dict]:
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def lora_without_factors(tmp_path_factory):
    """A studio whose fast-mode LoRA is a valid safetensors file with nothing to fuse: fast jobs fail inside."""
    folder = tmp_path_factory.mktemp("observed")
    save_file({"unrelated.weight": torch.zeros(2)}, str(folder / "empty-lora.safetensors"))
    server = Server(folder, env={"STUDIO_TRANSLATOR": "none",
                                 "STUDIO_FAST_LORA": str(folder / "empty-lora.safetensors")})
    yield server
    server.stop()


def test_metrics_move_with_jobs_and_failures(lora_without_factors):
    served = lora_without_factors
    client = Client(served.url, verbose=False)
    before = _scrape(served)
    assert "Done" in client.predict(prompt="a measured job", api_name="/generate", **SMALL_UI)[0]
    for bad in ({"steps": 0}, {"mode": "fast"}):  # refused at the edge; failed in the job (nothing to fuse)
        try:
            client.predict(prompt="a bad job", api_name="/generate", **{**SMALL_UI, **bad})
        except Exception:
            pass
    after = _scrape(served)

    assert _get(after, "studio_jobs_total", status="done") == _get(before, "studio_jobs_total", status="done") + 1
    assert _get(after, "studio_jobs_total", status="failed") == _get(before, "studio_jobs_total", status="failed") + 1
    for kind in ("invalid_request", "model_unavailable"):
        assert _get(after, "studio_failures_total", kind=kind) == _get(before, "studio_failures_total", kind=kind) + 1
    for phase in PHASES:
        count = "studio_job_phase_seconds_count"
        assert _get(after, count, phase=phase) == _get(before, count, phase=phase) + 1, phase
        assert _get(after, "studio_job_phase_seconds_sum", phase=phase) > 0, phase
    assert _get(after, "studio_gpu_peak_memory_bytes") == 0  # this machine has no CUDA GPU
    assert _get(after, "studio_queue_length") == 0 and _get(after, "studio_jobs_running") == 0


def test_queue_length_counts_waiting_jobs(served):
    client = Client(served.url, verbose=False)
    slow = client.predict(prompt="a slow job that holds the GPU", api_name="/submit", **SLOW)
    deadline = time.time() + 60
    while time.time() < deadline and History(served.outputs).get(slow)["status"] != "running":
        time.sleep(0.1)
    waiting = [client.submit(prompt=f"waiting job {n}", api_name="/generate", **SMALL_UI) for n in range(2)]
    deadline = time.time() + 30
    while time.time() < deadline and _get(_scrape(served), "studio_queue_length") < 2:
        time.sleep(0.2)
    samples = _scrape(served)
    assert _get(samples, "studio_queue_length") == 2 and _get(samples, "studio_jobs_running") == 1
    client.predict(slow, api_name="/cancel")
    assert all("Done" in job.result(timeout=120)[0] for job in waiting)
    assert _get(_scrape(served), "studio_queue_length") == 0


def test_logs_are_json_lines_with_the_job_id(served):
    Client(served.url, verbose=False).predict(prompt="a logged job", api_name="/generate", **SMALL_UI)
    lines = _log_lines(served)
    done = [line for line in lines if line["message"] == "job done"][-1]
    story = [line["message"] for line in lines if line["job_id"] == done["job_id"] and line["logger"] == "studio"]
    assert story == ["job queued", "job started", "job done"]
    assert set(PHASES) <= set(done["timings"]) and done["output"].endswith(f"{done['job_id']}.mp4")
    assert all({"time", "level", "logger", "message", "job_id"} <= set(line) for line in lines)
