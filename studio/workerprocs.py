"""Worker processes: N jobs at once on one host, each in its own process with its own GPU and memory plan.

Each worker is a spawned child that builds its own Studio (its own models, GPU lock and memory plan,
on the one GPU it sees), claims jobs from the shared SQLite queue as a thread worker does, and sends
every event back over its pipe; the studio process relays them to the jobs' followers. A claimed job
is owned by the child in the history, so when a child dies (SIGKILL, segfault, the out-of-memory
killer) its job reads `interrupted`: the pool tells the followers, starts a replacement, and the
other workers go on. This is throughput; `--gpus N` (one video split over N GPUs) is another thing.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .config import StudioConfig
from .events import TERMINAL, Failed

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .service import Studio

log = logging.getLogger("studio.workers")
_STARTS = 3  # a slot whose worker dies this many times in a row before it is ready is left empty
_GRACE_S = 5.0  # after stop's timeout, the seconds a worker gets to exit before it is killed


@dataclass(eq=False)
class _Child:
    """The studio process's handle on one worker process."""

    slot: int
    device: str | None  # the child's CUDA_VISIBLE_DEVICES; None on a machine without GPUs
    process: "BaseProcess"
    commands: Connection  # studio -> worker: ("wake" | "cancel" | "stop", value)
    events: Connection  # worker -> studio: ("ready" | "open" | "event" | "log", value)
    sending: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    reading: bool = True  # its events pipe has not ended

    def send(self, command: str, value: Any = None) -> None:
        with self.sending:
            try:
                self.commands.send((command, value))
            except OSError:  # it is gone: the pool notices by its sentinel
                pass


class ProcessPool:
    """`count` worker processes, one job each at a time; worker `i` sees GPU `gpus[i % len(gpus)]` (CPU if none).

    Same interface as the thread WorkerPool; `ready()` also lists the workers that take jobs now.
    """

    def __init__(
        self, studio: "Studio", count: int, *, batch_id: str | None = None, gpus: list[int] | None = None
    ) -> None:
        self.studio = studio
        self.count = count
        self.batch_id = batch_id
        self.gpus = list(gpus or [])
        # The parent's choice of model, so no child runs the doctor again (and all serve the same one).
        self._config: StudioConfig = replace(studio.config, model=studio.model)
        self._context = multiprocessing.get_context("spawn")  # a fork would copy CUDA state and threads
        self._children: dict[int, _Child] = {}
        self._running: dict[str, _Child] = {}
        self._failures: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None

    def start(self) -> "ProcessPool":
        for slot in range(self.count):
            self._spawn(slot)
        self._thread = threading.Thread(target=self._serve, name="worker-processes", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """A job was queued: every idle worker looks now instead of at its next poll."""
        for child in self._live():
            child.send("wake")

    def cancel(self, job_id: str) -> bool:
        """Ask the worker running a job to stop it after its current step; False when no worker here runs it."""
        with self._lock:
            child = self._running.get(job_id)
        if child is not None:
            child.send("cancel", job_id)
        return child is not None

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def ready(self) -> list[int]:
        """Process ids of the workers that have built their studio and take jobs."""
        return [child.process.pid for child in self._live() if child.ready]

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel what runs, take no more jobs, and wait for the workers to leave (queued jobs stay queued).

        A worker still there `timeout` (+ a few) seconds later is killed; its job then reads `interrupted`.
        """
        with self._lock:
            self._stop.set()
            self._deadline = time.monotonic() + timeout + _GRACE_S
            children = list(self._children.values())
        for child in children:
            child.send("stop", timeout)
        if self._thread is not None:
            self._thread.join(timeout + 2 * _GRACE_S)

    def _live(self) -> list[_Child]:
        with self._lock:
            return list(self._children.values())

    def _spawn(self, slot: int) -> None:
        device = _visible_device(self.gpus[slot % len(self.gpus)]) if self.gpus else None
        threads = max(1, (os.cpu_count() or 1) // self.count)  # the workers share the cores, not oversubscribe them
        with self._lock:
            if self._stop.is_set():
                return
            command_reader, command_writer = self._context.Pipe(duplex=False)
            event_reader, event_writer = self._context.Pipe(duplex=False)
            process = self._context.Process(
                target=_worker_main, name=f"studio-worker-{slot}", daemon=True,
                args=(self._config, device, self.batch_id, threads, logging.getLogger().getEffectiveLevel(),
                      command_reader, event_writer),
            )
            process.start()
            self._children[slot] = _Child(slot, device, process, command_writer, event_reader)
        command_reader.close()  # the child's ends: closed here, so either side sees the other go (EOF)
        event_writer.close()

    def _serve(self) -> None:
        """Relay every worker's messages and notice a worker's exit at once; ends when stopped and all are gone."""
        while True:
            children = self._live()
            if self._stop.is_set():
                if not children:
                    return
                if time.monotonic() > self._deadline:
                    for child in children:
                        child.process.kill()  # only this thread reaps them, so the pid is still theirs
            pipes = {child.events: child for child in children if child.reading}
            exits = {child.process.sentinel: child for child in children}
            if not pipes and not exits:
                self._stop.wait(0.5)
                continue
            ready = wait([*pipes, *exits], timeout=0.5)
            for handle in ready:  # messages first: what a worker said before it went is relayed
                if handle in pipes:
                    self._receive(pipes[handle])
            for handle in ready:
                if handle in exits:
                    self._exited(exits[handle])

    def _receive(self, child: _Child) -> None:
        try:
            kind, value = child.events.recv()
        except (EOFError, OSError):
            child.reading = False
            return
        except Exception:  # a message that does not unpickle here: drop it, keep the worker
            log.exception("could not read a message from worker %d", child.slot)
            return
        try:
            self._handle(child, kind, value)
        except Exception:  # this thread relays every job's events: one failure must not end it
            log.exception("could not handle a %r message from worker %d", kind, child.slot)

    def _handle(self, child: _Child, kind: str, value: Any) -> None:
        if kind == "event":
            if isinstance(value, TERMINAL):  # first: whoever sees the end finds the job gone from running()
                self._forget(value.job_id)
            self.studio.fanout.publish(value)
            self.studio.metrics.observe(value)
        elif kind == "open":
            with self._lock:
                self._running[value] = child
            self.studio.fanout.open(value)
            self.studio.metrics.running.inc()
        elif kind == "log":
            logging.getLogger(value.name).handle(value)
        elif kind == "ready":
            child.ready = True
            self._failures[child.slot] = 0
            where = f"GPU {child.device}" if child.device is not None else "CPU"
            log.info("worker %d ready (pid %d, %s)", child.slot, value, where)

    def _forget(self, job_id: str) -> bool:
        with self._lock:
            gone = self._running.pop(job_id, None) is not None
        if gone:
            self.studio.metrics.running.dec()
        return gone

    def _exited(self, child: _Child) -> None:
        """A worker left: relay what it sent last, end its job as interrupted, and start another unless stopping."""
        child.process.join()  # reap it, so the history sees its pid gone
        while child.reading:
            self._receive(child)
        with self._lock:
            if self._children.get(child.slot) is child:
                del self._children[child.slot]
            jobs = [job_id for job_id, owner in self._running.items() if owner is child]
        with child.sending:
            child.commands.close()
        child.events.close()
        code = _describe_exit(child.process.exitcode)
        jobs = [job_id for job_id in jobs if self._forget(job_id)]
        try:
            self.studio.history.mark_interrupted()  # also a job it had claimed but not yet announced
            for job_id in jobs:
                self._interrupted(job_id, child, code)
        except Exception:  # e.g. a locked database: its jobs read `interrupted` at the next look anyway
            log.exception("could not record the end of worker %d's jobs %s", child.slot, jobs)
        if self._stop.is_set():
            return
        failures = self._failures.get(child.slot, 0) + (not child.ready)
        self._failures[child.slot] = failures
        if failures >= _STARTS:
            log.error("worker %d stopped %d times before it was ready (last: %s); its slot stays empty. Fix: see "
                      "the worker's error above, then restart the studio", child.slot, failures, code)
            return
        log.warning("worker %d (pid %d) stopped (%s); starting another", child.slot, child.process.pid, code)
        try:
            self._spawn(child.slot)
        except OSError:  # out of processes or files: the other workers go on
            log.exception("could not start another worker %d; its slot stays empty", child.slot)

    def _interrupted(self, job_id: str, child: _Child, code: str) -> None:
        job = self.studio.history.get(job_id)
        if job is None or job["status"] != "interrupted":
            return  # it ended (done, failed, cancelled) before its worker did
        message = f"the worker process stopped ({code}) before this job finished"
        self.studio.history.update(job_id, error_message=message)
        failed = Failed(job_id, "interrupted", f"{message}. Fix: queue it again (History → Re-queue, or "
                                               f"`python -m studio requeue {job_id}`)")
        self.studio.fanout.publish(failed)
        self.studio.metrics.observe(failed)
        log.error("job interrupted: worker %d (pid %d) stopped (%s); on a GPU machine `dmesg` tells whether the "
                  "out-of-memory killer took it", child.slot, child.process.pid, code, extra={"job_id": job_id})


class _Sender:
    """Stands in for a worker's Fanout (and log handler): everything goes to the studio process's pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()  # the job thread, the pipeline thread and loggers all send

    def send(self, kind: str, value: Any) -> None:
        with self.lock:
            self.conn.send((kind, value))

    def open(self, job_id: str) -> None:
        self.send("open", job_id)

    def publish(self, event: Any) -> None:
        self.send("event", event)


class _ForwardLogs(logging.handlers.QueueHandler):
    """A worker's log records go to the studio process's handlers (one log, JSON lines with job ids)."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # enqueue below replaces the queue
        self.sender = sender

    def enqueue(self, record: logging.LogRecord) -> None:
        self.sender.send("log", record)


def _worker_main(
    config: StudioConfig, device: str | None, batch_id: str | None, threads: int, level: int,
    commands: Connection, events: Connection,
) -> None:
    """A worker process: its own Studio on its own GPU, running one queued job at a time until told to stop
    (or until the studio process is gone)."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device  # before anything here touches CUDA
    import torch

    from . import logs
    from .service import Studio
    from .workers import WorkerPool

    torch.set_num_threads(threads)
    sender = _Sender(events)
    logs.configure()  # the libraries' loggers propagate to the root logger ...
    forward = _ForwardLogs(sender)
    forward.addFilter(logs.JobIdFilter())
    logging.getLogger().handlers[:] = [forward]  # ... whose one handler sends to the studio process
    logging.getLogger().setLevel(level)
    studio = Studio(config)
    studio.fanout = sender  # type: ignore[assignment]
    pool = WorkerPool(studio, 1, batch_id=batch_id).start()
    sender.send("ready", os.getpid())
    timeout = 30.0
    try:
        while True:
            command, value = commands.recv()
            if command == "wake":
                pool.wake()
            elif command == "cancel":
                pool.cancel(value)
            elif command == "stop":
                timeout = value
                break
    except EOFError:  # the studio process is gone: nobody would see the job's events
        pass
    pool.stop(timeout)
    # Every event and record is written by now; the interpreter's teardown with torch loaded takes seconds,
    # so leave at once, after what a child process's normal exit does (e.g. free named semaphores).
    multiprocessing.util._exit_function()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _visible_device(index: int) -> str:
    """The CUDA_VISIBLE_DEVICES entry of this process's GPU `index` (the studio itself may see only some GPUs)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",")[index].strip() if visible else str(index)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"
