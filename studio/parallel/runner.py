"""`ParallelRunner`: PipelineRunner's interface (and events) for a job split over a GPU worker group."""

from __future__ import annotations

import threading

from ..errors import InvalidRequest
from ..events import Notice
from ..models import ModelSpec
from ..request import GenerationRequest
from ..runner import Emit, RunResult
from .launcher import WorkerGroup
from .layout import check_request
from .protocol import Job


# Said with every split job and in the System tab: the one-GPU speed hooks are not attached to the workers.
SPEED_NOT_SPLIT = "the one-GPU speed-ups (compile, 8-bit attention, FP8 linears) are not applied to split runs yet"


class ParallelRunner:
    """What the service runs instead of a PipelineRunner when the studio was started with several GPUs."""

    def __init__(self, group: WorkerGroup, spec: ModelSpec) -> None:
        self.group = group
        self.spec = spec

    def run(
        self, job_id: str, request: GenerationRequest, prompt: str, negative_prompt: str, *, emit: Emit,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        if request.mode != "quality":
            raise InvalidRequest(
                "mode", request.mode,
                "multi-GPU runs support quality mode only (turbo's step cache and fast mode's LoRA are not split "
                "across GPUs yet); choose quality, or start the studio on one GPU",
            )
        if not self.group.alive:  # the first job, or the next one after a worker failed
            self.group.start()
        check_request(self.group.layout, self.spec, request)
        emit(Notice(job_id, f"running on {self.group.layout.describe()}; {SPEED_NOT_SPLIT}"))
        return self.group.run(Job(job_id, request, prompt, negative_prompt), emit, cancel or threading.Event())
