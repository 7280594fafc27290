"""The studio's Python API: one place that wires language layer, pipelines, runner, encoder and history.

`Studio.generate(request)` is a generator of typed events; the UI, the CLI and the HTTP API all
consume it. Only one job uses the GPU at a time. Whatever happens inside a job (bad input, out of
memory, a crash of the model code, the consumer going away) ends in a history record and a
terminal event, never in a lost job.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from . import video
from .config import StudioConfig
from .errors import Cancelled as CancelledError
from .errors import OutOfMemory, StudioError
from .events import Cancelled, Done, Event, Failed, Notice, Progress, Started
from .history import ACTIVE, History
from .language import LanguageLayer
from .memory import MemoryPlan
from .models import resolve_model
from .pipelines import PipelineStore
from .request import GenerationRequest
from .runner import PipelineRunner, RunResult

log = logging.getLogger("studio")


@dataclass(frozen=True)
class _Finished:
    result: RunResult


@dataclass(frozen=True)
class _Crashed:
    error: BaseException


class Studio:
    """Holds the services of one studio process; cheap to construct (models load on first use)."""

    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.model = config.resolved_model()
        self.spec, _ = resolve_model(self.model)
        self.history = History(config.outputs)
        self.language = LanguageLayer(
            config.resolved_translator(self.spec.name), cache_dir=Path(config.outputs) / "cache"
        )
        self.pipelines = PipelineStore()
        self._gpu = threading.Lock()
        _remove_partials(Path(config.outputs))

    def request(self, prompt: Any, **values: Any) -> GenerationRequest:
        """Validate settings for this studio's model (raises InvalidRequest)."""
        return GenerationRequest.create(self.spec, prompt, **values)

    def generate(
        self,
        request: GenerationRequest,
        *,
        cancel: threading.Event | None = None,
        user: str | None = None,
        output: Path | None = None,
    ) -> Iterator[Event]:
        """Run one job, yielding events; closing the generator cancels the job at the next step.

        The MP4 goes to `output` when given, else to `<outputs>/videos/<job id>.mp4`.
        """
        cancel = cancel or threading.Event()
        job_id = self.history.create(request.to_dict(), user=user)
        try:
            with self._gpu:
                yield from self._job(job_id, request, cancel, output)
        except GeneratorExit:
            cancel.set()
            job = self.history.get(job_id)
            if job and job["status"] in ACTIVE:
                self.history.finish(job_id, "cancelled", error_kind="cancelled", error_message="the client went away")
            raise

    def _job(
        self, job_id: str, request: GenerationRequest, cancel: threading.Event, output: Path | None
    ) -> Iterator[Event]:
        started = time.perf_counter()
        notices: list[str] = []
        try:
            yield Progress(job_id, "language")
            prepared = self._prepare_prompt(request)
            if prepared.get("notice"):
                notices.append(prepared["notice"])
                yield Notice(job_id, prepared["notice"])
            self.history.start(
                job_id, language=prepared["language"], model_prompt=prepared["model_prompt"],
                translated=prepared["translated"], translator=prepared["backend"], notices=notices,
            )
            yield Progress(job_id, "load")
            spec, pipe, plan = self.pipelines.get(self.model, request.memory_plan)
            self.history.update(job_id, plan={"name": plan.name, "description": plan.description})
            yield Started(job_id, request.to_dict(), prepared, plan.name)
            result = None
            while result is None:
                try:
                    result = yield from self._run_pipeline(job_id, pipe, plan, request, prepared, cancel)
                except torch.OutOfMemoryError:
                    spec, pipe, plan = self._fall_back(plan, notices, job_id)
                    yield Notice(job_id, notices[-1])
            yield Progress(job_id, "encode")
            summary = self._write_outputs(job_id, request, prepared, plan, result, notices, started, output)
            yield Done(job_id, summary["output"], summary["thumbnail"], summary["sidecar"], summary)
        except CancelledError as exc:
            self.history.finish(job_id, "cancelled", error_kind="cancelled", error_message=str(exc))
            yield Cancelled(job_id, step=exc.step, message=str(exc))
        except StudioError as exc:
            self.history.finish(job_id, "failed", error_kind=exc.kind, error_message=str(exc))
            yield Failed(job_id, exc.kind, str(exc))
        except Exception as exc:  # a bug or a library failure: recorded in full, shown in one line
            log.exception("job %s crashed", job_id)
            self.history.finish(
                job_id, "failed", error_kind=type(exc).__name__, error_message=str(exc)[:500],
                error_traceback=traceback.format_exc(),
            )
            yield Failed(job_id, "internal", f"the job failed: {type(exc).__name__}: {str(exc)[:300]}")

    def _prepare_prompt(self, request: GenerationRequest) -> dict[str, Any]:
        prepared = self.language.prepare(request.prompt, translate=request.translate).to_dict()
        if request.model_prompt:  # the user edited what goes to the model
            prepared.update(model_prompt=request.model_prompt, translated=False, backend="edited by user")
        return prepared

    def _run_pipeline(self, job_id, pipe, plan, request, prepared, cancel) -> Iterator[Event]:
        """Run the blocking pipeline in a worker thread and relay its events as they come."""
        events: queue.Queue = queue.Queue()
        runner = PipelineRunner(pipe, hooks=[plan])
        negative = request.negative_prompt if request.negative_prompt is not None else self.spec.negative_prompt

        def work() -> None:
            try:
                events.put(_Finished(runner.run(
                    job_id, request, prepared["model_prompt"], negative, emit=events.put, cancel=cancel
                )))
            except BaseException as exc:  # handed to the consuming thread, which decides
                events.put(_Crashed(exc))

        worker = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
        worker.start()
        try:
            while True:
                item = events.get()
                if isinstance(item, _Finished):
                    return item.result
                if isinstance(item, _Crashed):
                    raise item.error
                yield item
        finally:
            if worker.is_alive():
                cancel.set()
                worker.join()

    def _fall_back(self, plan: MemoryPlan, notices: list[str], job_id: str):
        lighter = plan.lighter()
        self.pipelines.release()
        gc.collect()
        if lighter is None or any(n.startswith("out of GPU memory") for n in notices):
            raise OutOfMemory(
                f"out of GPU memory with the {plan.name!r} plan and no lighter plan is left to try. "
                "Fix: lower the resolution or the number of frames, close other GPU programs, or use TI2V-5B."
            )
        notices.append(f"out of GPU memory with the {plan.name!r} plan; retrying once with {lighter.name!r}")
        self.history.update(job_id, notices=notices)
        return self.pipelines.get(self.model, lighter)

    def _write_outputs(
        self, job_id, request, prepared, plan, result: RunResult, notices, started, output: Path | None
    ) -> dict[str, Any]:
        folder = Path(self.config.outputs) / "videos"
        mp4, sidecar, thumb = (folder / f"{job_id}{suffix}" for suffix in (".mp4", ".json", ".jpg"))
        mp4 = Path(output) if output else mp4
        folder.mkdir(parents=True, exist_ok=True)
        encode_start = time.perf_counter()
        metadata = {
            "job_id": job_id, "prompt": request.prompt, "model_prompt": prepared["model_prompt"],
            "language": prepared["language"], "translated": prepared["translated"],
            "translator": prepared["backend"], "seed": request.seed, "model": request.model,
            "settings": request.to_dict(), "plan": plan.name, "generator": "Wan Studio",
        }
        video.write_mp4(result.frames, mp4, request.fps, metadata)
        video.write_thumbnail(result.frames[len(result.frames) // 2], thumb)
        timings = {**result.timings, "encode": time.perf_counter() - encode_start}
        seconds = time.perf_counter() - started
        summary = {
            "job_id": job_id, "output": str(mp4), "thumbnail": str(thumb), "sidecar": str(sidecar),
            "width": request.width, "height": request.height, "frames": int(result.frames.shape[0]),
            "fps": request.fps, "seed": request.seed, "model": request.model, "plan": plan.name,
            "prompt": request.prompt, "language": prepared["language"], "model_prompt": prepared["model_prompt"],
            "translated": prepared["translated"], "translator": prepared["backend"], "notices": notices,
            "previews": result.previews, "preview_cost_ratio": round(result.preview_cost_ratio, 5),
            "step_seconds": [round(s, 4) for s in result.step_seconds],
            "timings": {k: round(v, 4) for k, v in timings.items()}, "seconds": round(seconds, 3),
        }
        video.write_json({**metadata, "summary": summary}, sidecar)
        self.history.finish(
            job_id, "done", output=str(mp4), thumbnail=str(thumb), sidecar=str(sidecar), seconds=seconds,
            notices=notices,
        )
        return summary


def _remove_partials(outputs: Path) -> None:
    """Half-written files from a crashed process are never shown; remove them on start."""
    for partial in (outputs / "videos").glob(".*.partial.*"):
        partial.unlink(missing_ok=True)
