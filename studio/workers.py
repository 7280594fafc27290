"""Workers take jobs from the studio's queue and run them, publishing each job's events to its followers.

A worker is a thread of the studio process; the GPU lock inside `Studio.execute` keeps one job on a
GPU at a time. Nothing here knows about browsers: a job runs to its end whoever is watching.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .events import Failed

if TYPE_CHECKING:
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
