"""Messages between the studio process and its GPU workers (one duplex pipe per worker, pickled).

In: `Job`, `Cancel`, `Stop`. Out: `Ready` once loaded, `Relay` for each event of a job (rank 0
only), then one terminal message per job from every rank: `Finished`, `Stopped` or `Failed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Event
from ..request import GenerationRequest
from ..runner import RunResult
from .layout import Layout


@dataclass(frozen=True)
class Job:
    job_id: str
    request: GenerationRequest
    prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class Cancel:
    """Stop the job in flight at the end of its current step (all ranks agree on which step)."""


@dataclass(frozen=True)
class Stop:
    """Leave the process group and exit."""


@dataclass(frozen=True)
class Ready:
    rank: int
    layout: Layout


@dataclass(frozen=True)
class Relay:
    event: Event


@dataclass(frozen=True)
class Finished:
    rank: int
    result: RunResult | None  # rank 0's decoded frames; None elsewhere


@dataclass(frozen=True)
class Stopped:
    """The job was cancelled (a status, not a failure)."""

    rank: int
    step: int
    message: str


@dataclass(frozen=True)
class Failed:
    rank: int
    kind: str  # a StudioError kind, "out_of_memory" or "internal"
    message: str
    traceback: str = ""
