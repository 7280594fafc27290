"""Prometheus metrics of one studio process: what the operator of a shared studio watches.

Each Studio has its own registry (tests build many studios in one process, and the global
registry refuses a name twice). The service reports jobs through `slot` and `observe`; the web
server adds the jobs waiting in its own queue through `watch_queue`, and serves `render()`.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .events import Cancelled, Done, Event, Failed

# Timing keys of a job summary that are phases (RunResult.timings plus the service's language/encode).
PHASES = ("language", "text", "denoise", "decode", "encode")
_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400)


class Metrics:
    """Queue length, running jobs, durations by phase, peak GPU memory and failures by kind."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._waiting = 0
        self._web_queue: Callable[[], int] = lambda: 0
        Gauge("studio_queue_length", "Jobs waiting for the GPU: the web queue plus jobs waiting for the GPU lock.",
              registry=self.registry).set_function(lambda: self._waiting + self._web_queue())
        self.running = Gauge("studio_jobs_running", "Jobs on the GPU now (0 or 1).", registry=self.registry)
        self.jobs = Counter("studio_jobs", "Jobs that ended, by status (done, failed, cancelled).", ["status"],
                            registry=self.registry)
        self.failures = Counter("studio_failures", "Failed jobs and refused requests, by kind (invalid_request, "
                                "rate_limited, storage, model_unavailable, out_of_memory, internal, ...).", ["kind"],
                                registry=self.registry)
        self.phases = Histogram("studio_job_phase_seconds", "Seconds per phase of finished jobs: language "
                                "(detect/translate), text (text encoding), denoise, decode (VAE), encode (MP4).",
                                ["phase"], buckets=_SECONDS, registry=self.registry)
        self.job_seconds = Histogram("studio_job_seconds", "Seconds from a job's start to its MP4.",
                                     buckets=_SECONDS, registry=self.registry)
        self.gpu_peak = Gauge("studio_gpu_peak_memory_bytes", "Peak GPU memory allocated by torch during the last "
                              "job, largest over the GPUs; stays 0 on a machine without a CUDA GPU.",
                              registry=self.registry)

    def watch_queue(self, length: Callable[[], int]) -> None:
        """Count the web server's waiting jobs too (they have not reached the studio yet)."""
        self._web_queue = length

    @contextmanager
    def slot(self, gpu: threading.Lock) -> Iterator[None]:
        """Hold the GPU lock for one job, counted as waiting, then running; records its peak GPU memory."""
        with self._lock:
            self._waiting += 1
        try:
            gpu.acquire()
        finally:
            with self._lock:
                self._waiting -= 1
        self.running.inc()
        _reset_gpu_peak()
        try:
            yield
        finally:
            self.gpu_peak.set(_gpu_peak())
            self.running.dec()
            gpu.release()

    def observe(self, event: Event) -> None:
        """Count a job's terminal event; a finished job's summary carries its phase timings."""
        if isinstance(event, Done):
            self.jobs.labels("done").inc()
            timings = event.summary.get("timings", {})
            for phase in PHASES:
                if phase in timings:
                    self.phases.labels(phase).observe(timings[phase])
            self.job_seconds.observe(event.summary.get("seconds", 0.0))
        elif isinstance(event, Failed):
            self.jobs.labels("failed").inc()
            self.failure(event.kind)
        elif isinstance(event, Cancelled):
            self.jobs.labels("cancelled").inc()

    def failure(self, kind: str) -> None:
        """A failed job or a request refused before it became a job."""
        self.failures.labels(kind).inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _reset_gpu_peak() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for device in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(device)


def _gpu_peak() -> int:
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return 0
    return max(torch.cuda.max_memory_allocated(device) for device in range(torch.cuda.device_count()))
