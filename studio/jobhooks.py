"""The extension point around one job: memory plans and speed-ups attach here, not as branches in the runner."""

from __future__ import annotations

from typing import Any


class JobHook:
    """Optional behaviour around one job; every method defaults to doing nothing.

    Hooks see the pipeline at three moments: before the prompt is encoded, after it is encoded
    (the text encoder can leave the GPU), and when the job ends, whatever the outcome.
    """

    def on_job_start(self, pipe: Any, request: Any) -> None:
        """Before text encoding: attach per-job behaviour (e.g. step caching for turbo mode)."""

    def on_text_encoded(self, pipe: Any) -> None:
        """After text encoding, before the first denoising step."""

    def on_job_end(self, pipe: Any) -> None:
        """After the job, also when it failed or was cancelled: undo what on_job_start attached."""
