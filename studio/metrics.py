"""Prometheus metrics of one studio process: what the operator of a shared studio watches.

Each Studio has its own registry (tests build many studios in one process, and the global
registry refuses a name twice). The service reports jobs through `slot` and `observe` (every event
of every job, worker processes' included); the web server adds the jobs waiting in its own queue
(`watch_queue`), the history and the worker pool (`watch`) and the GPU sampler
(`start_gpu_sampler`), and serves `render()`. Nothing here starts a thread until asked.

Labels take values from small fixed sets (model name, "480P"/"720P"/"other", mode, language code,
translator backend, phase, status, failure kind): never a prompt, a file path or a user name.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .events import TERMINAL, Cancelled, Done, Event, Failed, Notice, Progress, Started
from .gpu_metrics import GPU_METRICS, GPU_SAMPLER_METRICS, GpuSampler
from .language.languages import SUPPORTED_LANGUAGES, UNDETERMINED

log = logging.getLogger("studio.metrics")

# Timing keys of a job summary that are phases (RunResult.timings plus the service's language/encode).
PHASES = ("language", "text", "denoise", "decode", "encode")
MODES = ("quality", "turbo", "fast")
MODEL_NAMES = ("wan2.2-t2v-a14b", "wan2.2-i2v-a14b", "wan2.2-ti2v-5b", "tiny", "tiny-5b", "tiny-i2v")
LANGUAGES = (*SUPPORTED_LANGUAGES, UNDETERMINED)  # the 71 the language layer names, a fixed set
BACKENDS = ("marian", "m2m100", "qwen", "none", "tiny", "edited")
OOM_NOTICE = "out of GPU memory"  # how the service's fallback notice starts (Studio._fall_back)
_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400)
_WAIT_SECONDS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
_REMEMBERED_JOBS = 1000  # jobs whose labels are kept between Started and their end (a bound, not a cache)


def resolution_class(width: int, height: int) -> str:
    """"480P", "720P" (1280x704 too) or "other", from the short side."""
    short = min(int(width), int(height))
    return "480P" if short == 480 else "720P" if short in (704, 720) else "other"


def _one_of(value: Any, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else "other"


class Metrics:
    """Queue, waits, jobs by outcome, phase times, denoising speed, fallbacks, prompts, workers and GPUs."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self._lock = threading.Lock()
        self._waiting = 0
        self._web_queue: Callable[[], int] = lambda: 0
        self._history: Any = None  # anything with .get(job_id) -> {"created", "started", ...}
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self.gpu_sampler: GpuSampler | None = None
        Gauge("studio_queue_length", "Jobs waiting for the GPU: the web queue plus jobs waiting for the GPU lock.",
              registry=r).set_function(lambda: self._waiting + self._web_queue())
        self.running = Gauge("studio_jobs_running", "Jobs on the GPU now (0 or 1 per worker).", registry=r)
        self.jobs = Counter("studio_jobs", "Jobs that ended, by status (done, failed, cancelled).", ["status"],
                            registry=r)
        self.failures = Counter("studio_failures", "Failed jobs and refused requests, by kind (invalid_request, "
                                "rate_limited, storage, model_unavailable, out_of_memory, internal, ...).", ["kind"],
                                registry=r)
        self.phases = Histogram("studio_job_phase_seconds", "Seconds per phase of finished jobs: language "
                                "(detect/translate), text (text encoding), denoise, decode (VAE), encode (MP4).",
                                ["phase"], buckets=_SECONDS, registry=r)
        self.job_seconds = Histogram("studio_job_seconds", "Seconds from a job's start to its MP4.",
                                     buckets=_SECONDS, registry=r)
        self.gpu_peak = Gauge("studio_gpu_peak_memory_bytes", "Peak GPU memory allocated by torch during the last "
                              "job, largest over the GPUs; stays 0 on a machine without a CUDA GPU.", registry=r)
        kind = ["model", "resolution", "mode"]
        self.wait = Histogram("studio_job_wait_seconds", "Seconds from a job's creation (queued) to its start "
                              "(a worker took it and its prompt is ready).", buckets=_WAIT_SECONDS, registry=r)
        self.phase_by_kind = Histogram("studio_phase_seconds", "Seconds per phase of finished jobs by model, "
                                       "resolution class (480P, 720P, other) and mode.", ["phase", *kind],
                                       buckets=_SECONDS, registry=r)
        self.steps = Counter("studio_denoise_steps", "Denoising steps run (live, step by step; cancelled and "
                             "failed jobs' steps too). rate() of it is the studio's throughput.", kind, registry=r)
        self.steps_per_second = Gauge("studio_denoise_steps_per_second", "Denoising steps per second of the last "
                                      "finished job of this kind.", kind, registry=r)
        self.finished = Counter("studio_jobs_finished", "Jobs that ended, by outcome, model, resolution class "
                                "and mode.", ["status", *kind], registry=r)
        self.oom_fallbacks = Counter("studio_oom_fallbacks", "Jobs that ran out of GPU memory and were retried "
                                     "with a lighter memory plan.", ["model", "resolution"], registry=r)
        self.prompts = Counter("studio_prompts", "Prompts prepared for a job, by detected language, translator "
                               "backend, whether the model reads a translation, and translation cache use.",
                               ["language", "backend", "translated", "cache"], registry=r)
        self._workers = _WorkerCollector()
        r.register(self._workers)

    def watch_queue(self, length: Callable[[], int]) -> None:
        """Count the web server's waiting jobs too (they have not reached the studio yet)."""
        self._web_queue = length

    def watch(self, *, history: Any = None, workers: Callable[[], Any] | None = None) -> None:
        """The served studio's history (for wait times) and its worker pool (read at each scrape)."""
        if history is not None:
            self._history = history
        if workers is not None:
            self._workers.pool = workers

    def start_gpu_sampler(self, interval: float | None = None, nvml: Any = None) -> bool:
        """Sample every GPU through NVML in a daemon thread (every `interval` s, default $STUDIO_GPU_SAMPLE_SECONDS
        or 5); False when there is none to watch: then the GPU series are absent and no thread runs."""
        if self.gpu_sampler is not None:
            return self.gpu_sampler.reason is None
        seconds = interval if interval is not None else float(os.environ.get("STUDIO_GPU_SAMPLE_SECONDS", "5"))
        sampler = GpuSampler(seconds, nvml=nvml)
        self.gpu_sampler = sampler
        if not sampler.start():
            return False
        self.registry.register(sampler)
        return True

    def stop_gpu_sampler(self) -> None:
        if self.gpu_sampler is not None:
            self.gpu_sampler.stop()

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
        """Count what a job's event tells: its start, its steps, a memory fallback, its end."""
        if isinstance(event, Started):
            self._started(event)
        elif isinstance(event, Progress):
            job = self._job(event.job_id)
            if job is not None and event.phase == "denoise" and event.step > job.step:
                self.steps.labels(*job.labels).inc(event.step - job.step)
                job.step = event.step
        elif isinstance(event, Notice):
            job = self._job(event.job_id)
            if event.message.startswith(OOM_NOTICE):
                self.oom_fallbacks.labels(*(job.labels[:2] if job else ("other", "other"))).inc()
        elif isinstance(event, TERMINAL):
            self._ended(event)

    def failure(self, kind: str) -> None:
        """A failed job or a request refused before it became a job."""
        self.failures.labels(kind).inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _started(self, event: Started) -> None:
        request, prompt = event.request, event.prompt
        job = _Job((_one_of(request.get("model"), MODEL_NAMES),
                    resolution_class(request.get("width", 0), request.get("height", 0)),
                    _one_of(request.get("mode"), MODES)))
        with self._lock:
            self._jobs[event.job_id] = job
            while len(self._jobs) > _REMEMBERED_JOBS:
                self._jobs.popitem(last=False)
        backend = "edited" if prompt.get("backend") == "edited by user" else _one_of(prompt.get("backend"), BACKENDS)
        self.prompts.labels(_one_of(prompt.get("language"), LANGUAGES), backend,
                            "true" if prompt.get("translated") else "false",
                            "hit" if prompt.get("cached") else "miss").inc()
        wait = self._wait_seconds(event.job_id)
        if wait is not None:
            self.wait.observe(wait)

    def _wait_seconds(self, job_id: str) -> float | None:
        if self._history is None:
            return None
        try:
            row = self._history.get(job_id) or {}
        except Exception:  # a locked database costs this one figure, never the job
            log.exception("could not read job %s for its wait time", job_id)
            return None
        if row.get("created") is None or row.get("started") is None:
            return None
        return max(0.0, float(row["started"]) - float(row["created"]))

    def _ended(self, event: Event) -> None:
        with self._lock:
            job = self._jobs.pop(event.job_id, None)
        status = "done" if isinstance(event, Done) else "cancelled" if isinstance(event, Cancelled) else "failed"
        self.jobs.labels(status).inc()
        if isinstance(event, Done) and job is None:  # its Started was not seen here: labels from the summary
            summary = event.summary
            job = _Job((_one_of(summary.get("model"), MODEL_NAMES),
                        resolution_class(summary.get("width", 0), summary.get("height", 0)), "other"))
        labels = job.labels if job else ("other", "other", "other")
        self.finished.labels(status, *labels).inc()
        if isinstance(event, Failed):
            self.failure(event.kind)
        if not isinstance(event, Done):
            return
        timings = event.summary.get("timings", {})
        for phase in PHASES:
            if phase in timings:
                self.phases.labels(phase).observe(timings[phase])
                self.phase_by_kind.labels(phase, *labels).observe(timings[phase])
        self.job_seconds.observe(event.summary.get("seconds", 0.0))
        steps = event.summary.get("step_seconds") or []
        if steps and sum(steps) > 0:
            self.steps_per_second.labels(*labels).set(len(steps) / sum(steps))

    def _job(self, job_id: str) -> "_Job | None":
        with self._lock:
            return self._jobs.get(job_id)


class _Job:
    """What the metrics remember of a running job: its labels and the last denoising step counted."""

    __slots__ = ("labels", "step")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels, self.step = labels, 0


class _WorkerCollector:
    """`studio_workers{state}`: the pool's workers that run a job (busy), wait for one (idle) or are starting
    (a worker process not ready yet, or one being replaced). Read from the pool at each scrape."""

    def __init__(self) -> None:
        self.pool: Callable[[], Any] = lambda: None

    def describe(self) -> list:
        return []

    def collect(self):
        try:
            pool = self.pool()
            if pool is None:
                return
            count = int(getattr(pool, "count", 1))
            busy = len(pool.running())
            ready = len(pool.ready()) if hasattr(pool, "ready") else count  # threads are ready once started
        except Exception:  # a pool being replaced must not fail the whole scrape
            log.exception("could not read the workers' state")
            return
        family = GaugeMetricFamily("studio_workers", "Workers by state: busy (running a job), idle (waiting for "
                                   "one), starting (a worker process not ready yet, or being replaced).",
                                   labels=["state"])
        family.add_metric(["busy"], busy)
        family.add_metric(["idle"], max(0, min(ready, count) - busy))
        family.add_metric(["starting"], max(0, count - max(ready, busy)))
        yield family


# Every metric name the studio may export, for the dashboard test: those of a served studio without a GPU
# show up in a scrape; these appear only on a GPU machine (or with worker pools).
CONDITIONAL_METRICS = (*GPU_METRICS, *GPU_SAMPLER_METRICS, "studio_workers")


def _reset_gpu_peak() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for device in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(device)


def _gpu_peak() -> int:
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return 0
    return max(torch.cuda.max_memory_allocated(device) for device in range(torch.cuda.device_count()))
