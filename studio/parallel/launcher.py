"""Starts the GPU workers, feeds them jobs and turns anything that goes wrong into a clear error.

The studio stays one process; it spawns one worker per GPU (`worker.main`) with a pipe to each.
While it waits it watches every pipe and every process at once, so a worker that dies is noticed
at once ("GPU worker 2 exited with code -9 (SIGKILL) during step 5 of 40"), and a group that goes
silent (a worker stuck in a collective) is stopped after `stall_timeout_s`: never a hang. After
any failure the whole group is stopped (collectives cannot resume with a rank missing) and the
next job starts a fresh one.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Callable

import torch

from ..errors import Cancelled, StudioError
from ..events import Event, Progress
from ..runner import RunResult
from .layout import Layout
from .protocol import Cancel, Failed, Finished, Job, Ready, Relay, Stop, Stopped
from .worker import WorkerSpec, main

log = logging.getLogger("studio.parallel")


class WorkerFailed(StudioError):
    """A GPU worker died, went silent or failed; the message says which, when, and what happens next."""

    kind = "gpu_worker"


class WorkerGroup:
    """One worker process per GPU for one model and memory plan."""

    def __init__(
        self, spec: WorkerSpec, *, start_timeout_s: float = 1800.0, stall_timeout_s: float = 600.0,
        grace_s: float = 2.0,
    ) -> None:
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.grace_s = grace_s
        self.layout: Layout | None = None
        self._procs: list[multiprocessing.Process] = []
        self._conns: list[Connection] = []
        self._where = ""

    @property
    def alive(self) -> bool:
        return bool(self._procs) and all(p.is_alive() for p in self._procs)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def start(self) -> None:
        """Spawn the workers and wait until every one has loaded the model and joined the group."""
        self.stop()
        context = multiprocessing.get_context("spawn")
        init_method = f"tcp://127.0.0.1:{_free_port()}"
        for rank in range(self.spec.world):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=main, args=(rank, self.spec, init_method, theirs), name=f"studio-gpu-{rank}", daemon=True
            )
            process.start()
            theirs.close()
            self._procs.append(process)
            self._conns.append(ours)
        self._where = "while starting (loading the model)"
        ready = self._gather(self.start_timeout_s)
        self.layout = ready[0].layout

    def run(self, job: Job, relay: Callable[[Event], None], cancel: threading.Event) -> RunResult:
        """Run one job on every worker; rank 0's events go to `relay`; raises Cancelled or a StudioError."""
        self._where = "at the start of the job"
        for rank, conn in enumerate(self._conns):
            try:
                conn.send(job)
            except OSError:
                raise self._died(rank) from None
        done = self._gather(self.stall_timeout_s, relay=relay, cancel=cancel)
        stopped = [message for message in done.values() if isinstance(message, Stopped)]
        if stopped:
            raise Cancelled(stopped[0].message, step=stopped[0].step)
        return done[0].result

    def stop(self, patience_s: float = 10.0) -> None:
        """Ask the workers to leave (freeing GPU memory and exiting takes seconds), then make sure they are gone."""
        for conn in self._conns:
            try:
                conn.send(Stop())
            except OSError:
                pass
        self._end(patience_s)

    def _abort(self) -> None:
        """Stop at once: after a failure the survivors may be stuck in a collective."""
        self._end(0.0)

    def _end(self, patience: float) -> None:
        deadline = time.monotonic() + patience
        for process in self._procs:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns, self.layout = [], [], None

    def _gather(
        self, timeout_s: float, *, relay: Callable[[Event], None] | None = None, cancel: threading.Event | None = None,
    ) -> dict[int, Ready | Finished | Stopped]:
        """Every rank's answer (Ready, or a job's Finished/Stopped), relaying events as they come."""
        answers: dict[int, Ready | Finished | Stopped] = {}
        deadline = time.monotonic() + timeout_s
        cancelled = False
        while len(answers) < len(self._procs):
            if cancel is not None and cancel.is_set() and not cancelled:
                cancelled = True
                for conn in self._conns:
                    try:
                        conn.send(Cancel())
                    except OSError:
                        pass  # a dead worker is noticed below
            waiting = [conn for rank, conn in enumerate(self._conns) if rank not in answers]
            left = deadline - time.monotonic()
            if left <= 0:
                self._abort()
                raise WorkerFailed(
                    f"the GPU workers sent nothing for {timeout_s:.0f} s {self._where}; one is stuck (e.g. in a "
                    "collective), so all were stopped. The next job starts them again."
                )
            ready = wait(waiting + [p.sentinel for p in self._procs], timeout=min(0.25, left))
            for rank, conn in enumerate(self._conns):  # messages first: a worker's own report beats its exit
                if conn not in ready:
                    continue
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    raise self._died(rank) from None
                deadline = time.monotonic() + timeout_s
                if isinstance(message, Relay):
                    self._track(message.event)
                    relay(message.event)
                elif isinstance(message, Failed):
                    raise self._failed(message)
                else:
                    answers[rank] = message
            for rank, process in enumerate(self._procs):
                if process.sentinel in ready:
                    raise self._died(rank)
        return answers

    def _track(self, event: Event) -> None:
        """Where the job is, for error messages."""
        if isinstance(event, Progress):
            if event.phase == "denoise":
                step, total = event.step, event.total
                self._where = f"during step {step + 1} of {total}" if step < total else "after the last step"
            else:
                self._where = f"while {event.describe()}"

    def _died(self, rank: int) -> WorkerFailed:
        process = self._procs[rank]
        process.join(self.grace_s)
        code, where = process.exitcode, self._where
        self._abort()
        return WorkerFailed(
            f"GPU worker {rank} exited with code {_describe_code(code)} {where}; the other workers were stopped "
            "and start again with the next job. If it was killed, check `dmesg` for the out-of-memory killer."
        )

    def _failed(self, report: Failed) -> Exception:
        """A worker's own report, unless another worker died meanwhile: then that death is the cause."""
        others = [p.sentinel for rank, p in enumerate(self._procs) if rank != report.rank]
        dead = wait(others, timeout=self.grace_s) if others else []
        for rank, process in enumerate(self._procs):
            if process.sentinel in dead:
                error = self._died(rank)
                return WorkerFailed(f"{error} (worker {report.rank} then reported: {report.message[:200]})")
        where = self._where
        self._abort()
        log.error("GPU worker %d failed %s:\n%s", report.rank, where, report.traceback)
        if report.kind == "out_of_memory":  # the service retries once with a lighter memory plan
            return torch.OutOfMemoryError(f"GPU worker {report.rank} ran out of memory {where}: {report.message}")
        if report.kind == "internal":
            return WorkerFailed(f"GPU worker {report.rank} failed {where}: {report.message}")
        error = WorkerFailed(report.message)
        error.kind = report.kind  # a StudioError raised in the worker keeps its kind
        return error


def _describe_code(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
