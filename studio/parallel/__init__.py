"""Multi-GPU: one video split across the GPUs of one host (CFG-parallel + diffusers' context parallelism).

`ParallelStore` stands in for the service's PipelineStore and hands out a `ParallelRunner`, which
the service runs like a PipelineRunner. Importing this package starts no process or thread.
"""

from .launcher import WorkerFailed, WorkerGroup
from .layout import Layout, plan_layout
from .runner import SPEED_NOT_SPLIT, ParallelRunner
from .store import ParallelStore

__all__ = ["SPEED_NOT_SPLIT", "Layout", "ParallelRunner", "ParallelStore", "WorkerFailed", "WorkerGroup", "plan_layout"]
