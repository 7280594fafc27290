"""One GPU worker process: joins the group, loads the model, splits it, and runs the jobs it is fed.

Every rank runs the studio's own `PipelineRunner` on the same request and seed, so all ranks take
the same steps; only rank 0 makes previews and sends events and frames back. Once per step the
ranks agree (one tiny all-reduce) on whether the job was cancelled, so they stop at the same step.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection

import torch
import torch.distributed as dist

from ..errors import Cancelled, StudioError
from ..events import Event, Progress
from ..memory import MemoryPlan
from ..models import load_pipeline
from ..runner import PipelineRunner
from .engine import init_distributed, parallelize
from .layout import plan_layout
from .protocol import Cancel, Failed, Finished, Job, Ready, Relay, Stop, Stopped


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of a group loads and how it joins the group."""

    model: str
    plan: MemoryPlan
    world: int
    timeout_s: float  # a collective stuck this long fails (the studio stops a silent group sooner)
    cfg: bool = True


def main(rank: int, spec: WorkerSpec, init_method: str, conn: Connection) -> None:
    """Entry point of a spawned worker; returns after `Stop`, or when the studio process is gone."""
    try:
        worker = _Worker(rank, spec, init_method, conn)
    except Exception as exc:
        conn.send(_failure(rank, exc))
        _wait_for_stop(conn)
        raise SystemExit(1) from None
    conn.send(Ready(rank, worker.layout))
    worker.serve()


class _Worker:
    def __init__(self, rank: int, spec: WorkerSpec, init_method: str, conn: Connection) -> None:
        if not torch.cuda.is_available():  # CPU ranks share the cores instead of oversubscribing them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // spec.world))
        self.rank, self.conn = rank, conn
        self.device = init_distributed(init_method, rank, spec.world, local_rank=rank, timeout_s=spec.timeout_s)
        _, pipe = load_pipeline(spec.model)
        pipe.set_progress_bar_config(disable=True)
        spec.plan.apply(pipe)
        expert = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
        self.layout = plan_layout(spec.world, expert.config.num_attention_heads, cfg=spec.cfg)
        self.cfg = parallelize(pipe, self.layout, self.device)
        self.runner = PipelineRunner(pipe, hooks=[spec.plan], preview_every=1 if rank == 0 else 0)

    def serve(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except EOFError:  # the studio process is gone
                break
            if isinstance(message, Stop):
                break
            if isinstance(message, Job):
                self.conn.send(self.run(message))
            # a Cancel that arrives after its job ended has nothing left to stop
        dist.destroy_process_group()

    def run(self, job: Job):
        cancel = threading.Event()
        prompt, negative = self.cfg.prompts(job.request, job.prompt, job.negative_prompt)

        def emit(event: Event) -> None:
            if isinstance(event, Progress) and event.phase == "denoise":
                self._agree(cancel)
            if self.rank == 0:
                self.conn.send(Relay(event))

        try:
            result = self.runner.run(job.job_id, job.request, prompt, negative, emit=emit, cancel=cancel)
        except Cancelled as exc:
            return Stopped(self.rank, exc.step, str(exc))
        except Exception as exc:
            return _failure(self.rank, exc)
        return Finished(self.rank, result if self.rank == 0 else None)

    def _agree(self, cancel: threading.Event) -> None:
        """Called once per step on every rank: cancelled anywhere means cancelled everywhere, at this step."""
        while self.conn.poll():
            if isinstance(self.conn.recv(), Cancel):
                cancel.set()
        flag = torch.tensor([int(cancel.is_set())], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item():
            cancel.set()


def _failure(rank: int, exc: Exception) -> Failed:
    """A report of `exc` for the studio (call inside the `except` block: it carries the traceback)."""
    if isinstance(exc, torch.OutOfMemoryError):
        kind, message = "out_of_memory", str(exc).splitlines()[0][:300] if str(exc) else "out of GPU memory"
    elif isinstance(exc, StudioError):
        kind, message = exc.kind, str(exc)
    else:
        kind, message = "internal", f"{type(exc).__name__}: {str(exc)[:500]}"
    return Failed(rank, kind, message, traceback.format_exc())


def _wait_for_stop(conn: Connection) -> None:
    try:
        while not isinstance(conn.recv(), Stop):
            pass
    except EOFError:
        pass
