"""Workers take jobs from the studio's queue and run them, publishing each job's events to its followers.

`WorkerPool`'s workers are threads of the studio process; the GPU lock inside `Studio.execute` keeps
one job on a GPU at a time. `make_pool` picks it, or worker processes (studio.workerprocs) that run
one job per GPU at once. Nothing here knows about browsers: a job runs to its end whoever is watching.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import torch

from .events import Failed
from .workerprocs import ProcessPool

if TYPE_CHECKING:
    from .models import ModelSpec
    from .service import Studio

log = logging.getLogger("studio.workers")


class WorkerPool:
    """`count` threads that claim queued jobs (optionally only one batch's) until stopped."""

    def __init__(self, studio: "Studio", count: int = 1, *, batch_id: str | None = None) -> None:
        self.studio = studio
        self.count = count
        self.batch_id = batch_id
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> "WorkerPool":
        for number in range(self.count):
            thread = threading.Thread(target=self._loop, name=f"worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        watcher = threading.Thread(target=self._watch, name="worker-cancels", daemon=True)
        watcher.start()
        self._threads.append(watcher)
        return self

    def wake(self) -> None:
        """A job was queued: look now instead of at the next poll (other processes' jobs are found by polling)."""
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Ask a job this pool runs to stop after its current step; False when it does not run here."""
        with self._lock:
            flag = self._running.get(job_id)
        if flag is not None:
            flag.set()
        return flag is not None

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel what runs, take no more jobs, and wait for the threads (queued jobs stay queued)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for flag in self._running.values():
                flag.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.studio.queue.claim(batch_id=self.batch_id)
            except Exception:  # a locked or broken database must not kill the worker: retry at the next poll
                log.exception("could not read the queue")
                job = None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _watch(self) -> None:
        """Cancels asked by another process (the CLI, another studio's page) arrive through the history."""
        while not self._stop.wait(1.0):
            running = self.running()
            if not running:
                continue
            try:
                asked = self.studio.queue.cancels_asked(running)
            except Exception:
                log.exception("could not read cancel requests")
                continue
            for job_id in asked:
                self.cancel(job_id)

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        flag = threading.Event()
        with self._lock:
            self._running[job_id] = flag
        self.studio.fanout.open(job_id)
        try:
            for event in self.studio.execute(job, flag):
                self.studio.fanout.publish(event)
        except Exception as exc:  # execute records its own failures; this is a failure to even start
            log.exception("job %s could not run", job_id)
            self.studio.history.finish(job_id, "failed", error_kind=type(exc).__name__, error_message=str(exc)[:500])
            self.studio.fanout.publish(Failed(job_id, "internal", f"the job could not start: {exc}"))
        finally:
            with self._lock:
                self._running.pop(job_id, None)


def make_pool(studio: "Studio", count: int, *, batch_id: str | None = None) -> WorkerPool | ProcessPool:
    """Workers for `count` jobs at once (not started yet).

    1 job (and `count` 0 without CUDA): one thread, no process to start, so the CPU default stays cheap.
    0 with GPUs: one worker process per GPU that the studio's model fits (one thread when that is GPU 0
    alone or the doctor cannot tell). N > 1: N worker processes, on the GPUs round-robin (on CPU without).
    """
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if studio.config.gpus != 1:  # each job already takes several GPUs (split runs), one after another
        if count > 1:
            log.warning("%d workers asked, but with --gpus %d each job takes %d GPUs: running one job at a time",
                        count, studio.config.gpus, studio.config.gpus)
        return WorkerPool(studio, 1, batch_id=batch_id)
    if count == 0 and gpus:
        fitting = gpus_that_fit(studio.spec)
        if fitting and fitting != [0]:
            return ProcessPool(studio, len(fitting), batch_id=batch_id, gpus=fitting)
    if count <= 1:
        return WorkerPool(studio, 1, batch_id=batch_id)
    return ProcessPool(studio, count, batch_id=batch_id, gpus=list(range(gpus)))


def gpus_that_fit(spec: "ModelSpec", gpus: list | None = None) -> list[int] | None:
    """Indexes of the GPUs (this machine's, or the described `gpus`, studio.gpus.GpuInfo) where the doctor
    finds a memory plan for `spec` at its default size; None when it cannot tell."""
    try:
        from .gpus import detect_gpus
        from .planning import choose_plan

        cards = detect_gpus(measure=False) if gpus is None else gpus
        return [gpu.index for gpu in cards if choose_plan(spec, spec.default_size, gpu).runs]
    except Exception:
        log.exception("could not tell which GPUs fit %s; running one job at a time", spec.name)
        return None
