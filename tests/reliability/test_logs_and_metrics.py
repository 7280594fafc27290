"""The log format and the metrics registry, without a server."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

from studio import logs
from studio.events import Cancelled, Done, Failed
from studio.metrics import Metrics

from .conftest import metric_samples


def test_json_lines_carry_the_job_id_from_extra_or_the_job_context(root_logger):
    stream = io.StringIO()
    logs.configure("INFO", libraries=False, stream=stream)
    log = logging.getLogger("studio.test")
    log.info("explicit", extra={"job_id": "job-1", "timings": {"denoise": 1.5}})
    with logs.job_context("job-2"):
        logging.getLogger("studio.memory").warning("inside a job")
    log.info("outside")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed", extra={"job_id": "job-3"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["message"], line["job_id"]) for line in lines] == [
        ("explicit", "job-1"), ("inside a job", "job-2"), ("outside", None), ("crashed", "job-3")]
    assert lines[0]["timings"] == {"denoise": 1.5} and lines[1]["level"] == "warning"
    assert "ValueError: boom" in lines[3]["exception"] and len(stream.getvalue().splitlines()) == 4


def _samples(metrics: Metrics) -> dict:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return metric_samples(body.decode())


def test_metrics_count_jobs_phases_and_failures():
    metrics = Metrics()
    timings = {"language": 0.01, "text": 0.2, "denoise": 3.0, "decode": 1.0, "encode": 0.1, "preview": 0.05}
    metrics.observe(Done("a", "a.mp4", "a.jpg", "a.json", {"timings": timings, "seconds": 4.5}))
    metrics.observe(Failed("b", "storage", "disk full"))
    metrics.observe(Cancelled("c", step=3))
    metrics.failure("rate_limited")
    samples = _samples(metrics)
    assert samples[("studio_jobs_total", (("status", "done"),))] == 1
    assert samples[("studio_jobs_total", (("status", "failed"),))] == 1
    assert samples[("studio_jobs_total", (("status", "cancelled"),))] == 1
    assert samples[("studio_failures_total", (("kind", "storage"),))] == 1
    assert samples[("studio_failures_total", (("kind", "rate_limited"),))] == 1
    assert samples[("studio_job_phase_seconds_sum", (("phase", "denoise"),))] == 3.0
    assert ("studio_job_phase_seconds_count", (("phase", "preview"),)) not in samples  # not a phase
    assert samples[("studio_job_seconds_sum", ())] == 4.5


def test_slot_counts_waiting_and_running_jobs():
    metrics, gpu = Metrics(), threading.Lock()
    metrics.watch_queue(lambda: 3)  # jobs still in the web server's queue
    inside, release = threading.Event(), threading.Event()

    def job() -> None:
        with metrics.slot(gpu):
            inside.set()
            release.wait(10)

    first = threading.Thread(target=job)
    first.start()
    inside.wait(10)
    second = threading.Thread(target=job)
    second.start()
    deadline = time.time() + 10
    while time.time() < deadline and _samples(metrics)[("studio_queue_length", ())] < 4:
        time.sleep(0.01)
    samples = _samples(metrics)
    assert samples[("studio_queue_length", ())] == 4 and samples[("studio_jobs_running", ())] == 1
    release.set()
    first.join(10)
    second.join(10)
    samples = _samples(metrics)
    assert samples[("studio_queue_length", ())] == 3 and samples[("studio_jobs_running", ())] == 0
    assert not gpu.locked()
