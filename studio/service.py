"""The studio's Python API: one place that wires queue, workers, language layer, pipelines, runner, encoder
and history.

Jobs belong to the studio: `submit` queues one and returns its id, a worker runs it, and `follow`
streams its typed events to any number of followers (a tab, a reloaded tab, the API), starting with
its current state; `cancel` stops it from anywhere. `generate` runs one job at once in the calling
process (the CLI). One job uses a GPU at a time (several worker processes: one GPU each). Whatever happens inside a job (bad input,
out of memory, a crash of the model code) ends in a history record and a terminal event, never in
a lost job; a follower going away never stops one.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import traceback
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import torch

from . import logs, preset_cards, video
from .access import RateLimit
from .config import StudioConfig, check_safetensors
from .errors import Cancelled as CancelledError
from .errors import InvalidRequest, ModelUnavailable, NotYours, OutOfMemory, StorageError, StudioError
from .events import TERMINAL, Cancelled, Done, Event, Failed, Notice, Progress, Queued, Started
from .fanout import Fanout
from .folderlock import FolderLock
from .history import ACTIVE, JOB_ID_PATTERN, History
from .images import prepare_image, store_frame
from .jobqueue import Estimator, JobQueue, tail_seconds
from .recovery import recover
from .language import LanguageLayer
from .loras import LoraLibrary, folders_from_env
from .memory import MemoryPlan, get_plan
from .metrics import Metrics
from .models import MODELS, ModelSpec, is_cached, resolve_model
from .parallel import SPEED_NOT_SPLIT, ParallelRunner, ParallelStore
from .pipelines import PipelineStore
from .presets import InvalidPreset, Preset, PresetList, get_preset, load_presets, user_folder
from .request import MAX_SEED, GenerationRequest
from .runner import PipelineRunner, RunResult
from .speed.plan import SpeedPlan
from .workerprocs import ProcessPool
from .workers import WorkerPool, make_pool

log = logging.getLogger("studio")


@dataclass(frozen=True)
class _Finished:
    result: RunResult


@dataclass(frozen=True)
class _Crashed:
    error: BaseException


@dataclass(frozen=True)
class _Decoded:
    frames: int  # this many more frames came out of the VAE


class _JobClock:
    """Makes a job's time left honest to the end: denoising's ETA plus the decode and MP4 as this machine ran them
    in earlier jobs (`tail`, None before the first), then the decode's own progress, frame by frame."""

    def __init__(self, request: GenerationRequest, tail: float | None) -> None:
        self.request, self.tail = request, tail
        self.decoded, self.decode_start = 0, 0.0

    def progress(self, job_id: str, item: "Progress | _Decoded") -> Progress:
        frames = self.request.frames
        if isinstance(item, _Decoded):
            self.decoded = min(frames, self.decoded + item.frames)
            elapsed = time.perf_counter() - self.decode_start
            left = elapsed / self.decoded * (frames - self.decoded) if self.decoded else None
            return Progress(job_id, "decode", self.decoded, frames, elapsed, left)
        if item.phase == "decode":
            self.decode_start = time.perf_counter()
            return Progress(job_id, "decode", 0, frames, 0.0, self.tail)
        if item.phase == "denoise" and item.eta is not None and self.tail is not None:
            return replace(item, eta=item.eta + self.tail)
        return item


class Studio:
    """Holds the services of one studio process; cheap to construct (models load on first use)."""

    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.model = config.resolved_model()
        self.spec, _ = resolve_model(self.model)
        self.sources = _model_sources(self.spec, self.model)
        try:
            self.history = History(config.outputs)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot keep the history in {config.outputs}: {exc}. Fix: choose a writable folder with free space "
                "(--outputs DIR or STUDIO_OUTPUTS)."
            ) from None
        self.language = LanguageLayer(
            config.resolved_translator(self.spec.name), cache_dir=Path(config.outputs) / "cache",
            foreign_spans=config.foreign_spans,
        )
        self.pipelines = PipelineStore() if config.gpus == 1 else ParallelStore(config.gpus)
        self.loras = LoraLibrary(folders_from_env(config.outputs), Path(config.outputs) / "cache" / "lora-sha256.json")
        self.speed = SpeedPlan.from_env(library=self.loras)
        self.user_presets_dir = Path(config.outputs) / "presets"  # no logins; a login's own: user_folder(this, user)
        self._presets: dict[str | None, tuple[tuple, PresetList]] = {}  # user -> (folder fingerprint, what was loaded)
        self.metrics = Metrics()
        self.rate_limit = RateLimit.from_setting(config.rate_limit)
        self._gpu = threading.Lock()
        self.queue = JobQueue(self.history)
        self.estimator = Estimator(self.history)
        self.fanout = Fanout()
        self.workers: WorkerPool | ProcessPool | None = None
        self._driven: dict[str, threading.Event] = {}  # jobs run by a follower's own call (see drive)
        self.recovered = recover(self.history, Path(config.outputs) / "videos")

    def own_folder(self) -> None:
        """Serve this outputs folder alone (studio.folderlock); then every job it says is running and that no
        live process of this host runs, an earlier container's included, is interrupted, and put right."""
        self.folder_lock = FolderLock(Path(self.config.outputs)).acquire()
        self.history.mark_interrupted(other_hosts=True)
        self.recovered = recover(self.history, Path(self.config.outputs) / "videos")

    def start_workers(self, count: int = 1, *, batch_id: str | None = None) -> WorkerPool | ProcessPool:
        """Start taking queued jobs (all, or one batch's); the served studio and `batch` call this, not import.

        `count` jobs run at once, each in its own worker process and GPU; 0: one per GPU the model fits
        (one thread on a CPU machine or a single GPU)."""
        if self.workers is None:
            self.workers = make_pool(self, count, batch_id=batch_id).start()
        return self.workers

    def stop_workers(self) -> None:
        if self.workers is not None:
            self.workers.stop()
            self.workers = None

    def submit(
        self, request: GenerationRequest, *, user: str | None = None, client: str | None = None,
        batch_id: str | None = None, batch_key: str | None = None, parent_id: str | None = None,
    ) -> str:
        """Queue a job and return its id at once; a worker runs it whoever follows it (or nobody)."""
        request = self.speed.prepare(request)
        job_id = self.queue.enqueue(request.to_dict(), user=user, client=client, batch_id=batch_id,
                                    batch_key=batch_key, parent_id=parent_id)
        log.info("job queued", extra={"job_id": job_id, "user": user, "model": request.model, "seed": request.seed})
        if self.workers is not None:
            self.workers.wake()
        return job_id

    def submit_variations(self, request: GenerationRequest, count: int, *, user: str | None = None,
                          client: str | None = None) -> list[str]:
        """Queue `count` jobs that differ only in seed (the request's, then the next ones) as one batch,
        "variations-<first id>", the later ones children of the first; their ids, first one first."""
        first = self.submit(request, user=user, client=client)
        batch = f"variations-{first}"
        self.history.update(first, batch_id=batch)
        return [first, *(self.submit(request.with_seed((request.seed + offset) % (MAX_SEED + 1)), user=user,
                                     client=client, batch_id=batch, parent_id=first) for offset in range(1, count))]

    @staticmethod
    def new_client_id() -> str:
        """An id for a browser without a login, kept in its local storage: its jobs are found again after a reload."""
        return secrets.token_hex(12)

    def job(self, job_id: str, *, user: str | None = None) -> dict[str, Any]:
        """One job's record; with logins on (`user`), only the user's own."""
        job = self.history.get(str(job_id or "").strip())
        if job is None:
            raise InvalidRequest("job", job_id, "no job has this id. Fix: copy an id from the queue, the History "
                                 "tab or `python -m studio history`")
        if user is not None and job.get("user") != user:
            raise NotYours(f"job {job_id} belongs to another user. Fix: pick one of your own jobs.")
        return job

    def follow(self, job_id: str, *, user: str | None = None, poll: float = 1.0) -> Iterator[Event | None]:
        """A job's events from its current state to its end, for any number of followers at once.

        Yields None after `poll` seconds without news (a heartbeat, so a caller can stop following);
        closing the iterator only stops following, never the job.
        """
        job = self.job(job_id, user=user)
        if job["status"] not in ACTIVE:
            yield self._ending(job)
            return
        shown: Queued | None = None
        with closing(self.fanout.follow(job["id"], poll=min(poll, 0.5))) as live:
            for event in live:
                if event is not None:
                    yield event
                    if isinstance(event, TERMINAL):
                        return
                    continue
                job = self.job(job_id, user=user)
                if job["status"] == "queued":
                    place = self.queue.place(job["id"], self.estimator)
                    update = Queued(job["id"], place.describe() if place else "waiting", place.ahead if place else 0)
                    yield update if update != shown else None
                    shown = update
                elif job["status"] == "running":
                    yield None  # its events come through `live`, or it runs in another process: look again
                else:  # it ended where this channel does not hear (another process)
                    yield self._ending(job)
                    return

    def cancel(self, job_id: str, *, user: str | None = None) -> str:
        """Stop a queued or running job, from any tab, process or client; returns what happened, in words."""
        job = self.job(job_id, user=user)
        if job["status"] == "queued" and self.queue.drop(job["id"], "cancelled before it started"):
            self.fanout.publish(Cancelled(job["id"], 0, "cancelled before it started"))
            return f"Cancelled job {job['id']} before it started."
        status = self.history.get(job["id"])["status"]  # again: a worker may have taken or ended it meanwhile
        if status == "running":
            self.history.update(job["id"], cancel_requested=1)  # read by the worker of another process, too
            if self.workers is not None:
                self.workers.cancel(job["id"])
            if job["id"] in self._driven:
                self._driven[job["id"]].set()
            return f"Stopping job {job['id']} after its current step."
        return f"Job {job['id']} has already ended ({status})."

    def move_to_top(self, job_id: str, *, user: str | None = None) -> str:
        job = self.job(job_id, user=user)
        if not self.queue.move_to_top(job["id"]):
            return f"Job {job['id']} is not waiting ({job['status']}), so it has no place to change."
        return f"Job {job['id']} is now first in line."

    def requeue(self, job_id: str, *, user: str | None = None) -> str:
        """Queue an interrupted, failed or cancelled job again with its own settings and seed."""
        job = self.job(job_id, user=user)
        if "scene" in (job.get("request") or {}):  # its shots are jobs; the scene itself resumes, never queues
            raise InvalidRequest("job", job["id"], "it is a scene. Fix: resume it with `python -m studio scene "
                                 f"--resume {job['id']}` (its finished shots are kept)")
        if not self.queue.requeue(job["id"]):
            raise InvalidRequest("job", job["id"], f"it is {job['status']}; only interrupted, failed or cancelled "
                                 "jobs can be queued again. Fix: use Re-run for a finished job")
        if self.workers is not None:
            self.workers.wake()
        return f"Job {job['id']} is queued again."

    def rerun(self, job_id: str, *, user: str | None = None) -> GenerationRequest:
        """A job's own request again, its start image, seed and settings included, checked as a new request is
        (the model must still be here, the stored image must still match its hash): for jobs whose settings the
        Create tab cannot hold, such as an image-to-video job's start image."""
        job = self.job(job_id, user=user)
        stored = dict(job.get("request") or {})
        if "scene" in stored:
            raise InvalidRequest("job", job["id"], "it is a scene. Fix: run it again from the Scenes tab or "
                                 f"`python -m studio scene --resume {job['id']}`")
        request = GenerationRequest.from_dict(self.spec_for(stored.get("model")), stored)
        return self.store_image(request) if request.image else request

    def jobs(self, *, user: str | None = None, client: str | None = None) -> list[dict[str, Any]]:
        """The queue as a list: running jobs, then queued ones in order, each with its place; `user`/`client`
        mark which are the caller's (`mine`)."""
        line = self.queue.waiting()
        running = [job for job in line if job["status"] == "running"]
        queued = [job for job in line if job["status"] == "queued"]
        starts = dict(zip((job["id"] for job in queued), self.estimator.starts(running, queued)))
        rows = []
        for job in line:
            mine = (user is not None and job.get("user") == user) or (
                user is None and client is not None and job.get("client") == client)
            row = {"id": job["id"], "status": job["status"], "prompt": job.get("prompt") or "",
                   "model": job.get("model"), "batch_id": job.get("batch_id"), "mine": mine}
            if job["status"] == "queued":
                row["place"] = len(rows) - len(running) + 1
                row["starts_in"] = starts[job["id"]]
            rows.append(row)
        return rows

    def drive(self, job_id: str) -> Iterator[Event]:
        """Run a queued job in the calling thread, publishing its events to every follower too.

        For ZeroGPU Spaces, where only a page's own call gets a GPU, so no worker runs: the page that
        follows a queued job runs it (closing that page cancels it there). Yields nothing when the job is
        not queued (another page took it): the caller then follows it as usual.
        """
        job = self.queue.claim(job_id=job_id)
        if job is None:
            return
        flag = threading.Event()
        self._driven[job_id] = flag
        self.fanout.open(job_id)
        try:
            for event in self.execute(job, flag):
                self.fanout.publish(event)
                yield event
        finally:
            flag.set()
            self._driven.pop(job_id, None)

    def execute(self, job: dict[str, Any], cancel: threading.Event, output: Path | None = None) -> Iterator[Event]:
        """Run a job the queue handed to this process (status `running`), yielding its events to the end."""
        job_id = job["id"]
        try:
            request = GenerationRequest.from_dict(self.spec_for(job["request"].get("model")), job["request"])
        except StudioError as exc:  # e.g. queued for a model this studio no longer serves
            self.history.finish(job_id, "failed", error_kind=exc.kind, error_message=str(exc))
            yield Failed(job_id, exc.kind, str(exc))
            return
        with self.metrics.slot(self._gpu):
            yield from self._recorded(self._job(job_id, request, cancel, output))

    def _ending(self, job: dict[str, Any]) -> Event:
        """How an ended job ended, rebuilt from its record for a follower that came after the end."""
        job_id, status = job["id"], job["status"]
        if status == "done":
            summary = _summary(job.get("sidecar"))
            return Done(job_id, job.get("output") or "", job.get("thumbnail") or "", job.get("sidecar") or "", summary)
        if status == "cancelled":
            return Cancelled(job_id, job.get("step") or 0, job.get("error_message") or "cancelled")
        message = job.get("error_message") or status
        if status == "interrupted":
            message += ". Fix: queue it again (History → Re-queue, or `python -m studio requeue " + job_id + "`)"
        return Failed(job_id, job.get("error_kind") or status, message)

    def models(self) -> list[ModelSpec]:
        """The models this studio can run: the configured one first, then others whose weights are here."""
        return [MODELS[name] if name in MODELS else self.spec for name in self.sources]

    def spec_for(self, model: str | None) -> ModelSpec:
        if model in (None, "", self.spec.name):
            return self.spec
        if model not in self.sources:
            raise InvalidRequest("model", model, f"available here: {', '.join(self.sources)}")
        return MODELS[model]

    def speed_description(self) -> str:
        """The speed-ups a job gets here (split runs over several GPUs get none of them yet)."""
        if self.config.gpus > 1:
            return f"{SPEED_NOT_SPLIT} ({self.config.gpus} GPUs)"
        return self.speed.describe()

    def turbo_description(self, model: str | None, steps: int, flow_shift: float) -> str:
        """What a turbo job of these settings computes, fixed before it starts: '24 of 40 steps computed in full
        (high-noise 15/26, low-noise 9/14)'."""
        from .speed.turbo import describe_masks, masks_for, split_steps

        spec = self.spec_for(model)
        checked = GenerationRequest.create(spec, "turbo", steps=steps, flow_shift=flow_shift)  # a bad value: its error
        split = split_steps(None, spec.boundary_ratio, checked.steps, checked.flow_shift)
        return describe_masks(masks_for(split, self.speed.turbo.policy))

    def doctor(self, *, measure: bool = False) -> dict[str, Any]:
        """The GPU doctor's report (studio.doctor) for this machine."""
        from .doctor import doctor_report

        return doctor_report(measure=measure)

    def presets(self, user: str | None = None) -> PresetList:
        """Built-in presets and `user`'s own presets (broken files listed in `.problems`).

        With logins each user has a folder of their own (presets.user_folder) and never sees another's;
        without, `user` is None and the studio's folder is everyone's. Asked on every keystroke's
        language-panel update, so the files are parsed again only when a stat of the two folders (names,
        sizes, modification times) says something changed.
        """
        folder = user_folder(self.user_presets_dir, user)
        key = _fingerprint(self.config.presets_dir, folder)
        cached = self._presets.get(user)
        if cached is None or cached[0] != key:
            cached = self._presets[user] = (key, load_presets(self.config.presets_dir, folder, self.config.assets_dir))
        return cached[1]

    def preset_card(self, preset: Preset, user: str | None = None) -> Path | None:
        """The image a preset shows in the gallery: a user preset without a card of its own shows a frame of the
        newest video made with it, else a card drawn with its title."""
        if not preset_cards.needs_card(preset):
            return preset.thumbnail
        made = self.history.latest_thumbnail(preset.name, user=user)
        if made is not None and made.is_file():
            return made
        return preset_cards.drawn_card(preset.title, Path(self.config.outputs) / "cache" / "cards")

    def preset(self, name: str, user: str | None = None) -> Preset:
        """The named built-in or `user`'s own preset (another user's is unknown); for one of the user's files that
        was skipped, the reason it was skipped."""
        presets = self.presets(user)
        try:
            return get_preset(name, presets)
        except InvalidPreset:
            for problem in presets.problems:
                if f'"{name}.json"' in problem:
                    raise InvalidPreset(problem) from None
            raise

    def request(
        self, prompt: Any, *, model: str | None = None, preset: str | None = None, user: str | None = None,
        **values: Any,
    ) -> GenerationRequest:
        """Validate settings for one of this studio's models (raises InvalidRequest / InvalidPreset).

        A preset's recommended settings and negative prompt fill what the caller leaves out (None); `preset` is a
        built-in or one of `user`'s own (the login; None without logins).
        """
        if preset:
            chosen = self.preset(preset, user)
            defaults = {**chosen.settings, "negative_prompt": chosen.negative_prompt}
            values = {**defaults, **{k: v for k, v in values.items() if v is not None}}
        request = GenerationRequest.create(self.spec_for(model), prompt, preset=preset or None, **values)
        if request.image:
            request = self.store_image(request)
        if request.memory_plan != "auto":
            get_plan(request.memory_plan)  # an unknown plan is refused now, not after the wait in the queue
        if request.mode == "fast":  # refused now, not after the wait in the queue
            self.fast_lora()
            for lora in filter(None, self.speed.fast_lora):
                check_safetensors(lora, "fast mode LoRA", "STUDIO_FAST_LORA")
            if not any(self.speed.fast_lora):  # the library's: its files are checked as a job's LoRAs are
                spec = self.spec_for(request.model)
                self.loras.verify(self.speed.fast.applications(spec.name, 2 if spec.two_experts else 1))
        if request.loras:
            if self.config.gpus > 1:
                raise InvalidRequest("loras", request.loras[0][0], f"LoRAs are not applied to a video split over "
                                     f"{self.config.gpus} GPUs yet. Fix: run it on one GPU (--gpus 1)")
            spec = self.spec_for(request.model)
            try:
                self.loras.verify(self.loras.applications(request.loras, spec.name, 2 if spec.two_experts else 1))
            except InvalidRequest as exc:
                if preset and values.get("loras") == chosen.settings.get("loras"):  # the preset named it
                    raise InvalidPreset(f'preset "{preset}" names a LoRA that cannot be used: {exc}') from None
                raise
        return request

    def fast_lora(self) -> str:
        """Which step-distilled LoRA fast mode uses, in words; InvalidRequest saying why when there is none."""
        try:
            return self.speed.fast.chosen()
        except ModelUnavailable:
            folders = ", ".join(map(str, self.loras.folders))
            raise InvalidRequest(
                "mode", "fast", "fast mode needs a step-distilled LoRA and the LoRA library has none. Fix: set "
                "STUDIO_FAST_LORA to its .safetensors path (two comma-separated paths for separate high- and "
                f"low-noise LoRAs), or put it in {folders} (a name with lightx2v, lightning or 4step, or "
                '"fast": true in its sidecar JSON), or choose quality or turbo',
            ) from None

    def store_image(self, request: GenerationRequest) -> GenerationRequest:
        """The request pointing at its start image as checked, fitted and kept under `<outputs>/images/`
        (studio.images); a request already pointing at its stored copy is kept as it is."""
        folder = Path(self.config.outputs) / "images"
        if request.image_sha256 and Path(request.image) == folder / f"{request.image_sha256}.png":
            return request
        source = self._job_frame(request.image, folder) or request.image
        stored = prepare_image(source, folder, request.width, request.height, request.image_fit)
        return replace(request, image=stored.path, image_sha256=stored.sha256)

    def _job_frame(self, image: str, folder: Path) -> str | None:
        """`JOB` or `JOB:FRAME` (from 0; negative counts from the end; default the last) as a start image: that
        frame of a finished job's video, stored; None when `image` is not a job id (a file path)."""
        match = re.fullmatch(rf"({JOB_ID_PATTERN})(?::(-?[0-9]+))?", str(image).strip())
        if match is None or Path(image).exists():
            return None
        job = self.job(match[1])
        if not job.get("output") or not Path(job["output"]).is_file():
            raise InvalidRequest("image", image, f"job {job['id']} has no video ({job['status']}). Fix: pick a "
                                 "finished job, or give an image file")
        frames = video.read_frames(Path(job["output"]))
        index = int(match[2]) if match[2] is not None else -1
        if not -len(frames) <= index < len(frames):
            raise InvalidRequest("image", image, f"that video has frames 0 to {len(frames) - 1}")
        return store_frame(frames[index], folder).path

    def prepare_prompt(
        self, prompt: str, *, preset: str | None = None, translate: bool = True, user: str | None = None,
        loras: tuple = (),
    ) -> dict[str, Any]:
        """What the model will read: the preset's style (a built-in or `user`'s own) around the prompt, then the
        language layer, which keeps the trigger words of the job's LoRAs as typed (translated, the LoRA would not
        see them)."""
        text = self.preset(preset, user).apply(prompt) if preset else prompt
        prepared = self.language.prepare(text, translate=translate, subject=prompt if preset else None,
                                         keep=self._trigger_words(loras)).to_dict()
        prepared["styled_prompt"] = text
        return prepared

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
        request = self.speed.prepare(request)
        job_id = self.history.create(request.to_dict(), user=user)
        log.info("job started", extra={"job_id": job_id, "user": user, "model": request.model, "seed": request.seed})
        try:
            with self.metrics.slot(self._gpu):
                yield from self._recorded(self._job(job_id, request, cancel, output))
        except GeneratorExit:
            cancel.set()
            job = self.history.get(job_id)
            if job and job["status"] in ACTIVE:
                message = "stopped before it finished (Cancel was pressed or the client went away)"
                self.history.finish(job_id, "cancelled", error_kind="cancelled", error_message=message)
                self._record(Cancelled(job_id, step=0, message=message))
            raise

    def _recorded(self, events: Iterator[Event]) -> Iterator[Event]:
        """Relay a job's events, counting and logging its milestones; closing this closes the job."""
        with closing(events):
            for event in events:
                self._record(event)
                yield event

    def _record(self, event: Event) -> None:
        self.metrics.observe(event)
        logs.log_event(log, event)

    def _job(
        self, job_id: str, request: GenerationRequest, cancel: threading.Event, output: Path | None
    ) -> Iterator[Event]:
        started = time.perf_counter()
        notices: list[str] = []
        writer: video.Mp4Writer | None = None  # the current attempt's MP4, encoded while the VAE decodes
        try:
            _check_storage(Path(output).parent if output else Path(self.config.outputs) / "videos", request)
            yield Progress(job_id, "language")
            language_start = time.perf_counter()
            prepared = self._prepare_prompt(request, (self.history.get(job_id) or {}).get("user"))
            language_seconds = time.perf_counter() - language_start
            if prepared.get("notice"):
                notices.append(prepared["notice"])
                yield Notice(job_id, prepared["notice"], source="language")
            if request.mode == "turbo" and self.config.gpus == 1:  # what turbo skips depends on a studio setting
                said = (f"turbo: {self.turbo_description(request.model, request.steps, request.flow_shift)} "
                        f"(cache-dit's {self.speed.turbo.policy!r} step mask)")
                notices.append(said)
                yield Notice(job_id, said, source="speed")
            loras = self.loras.record(request.loras) if request.loras else None
            self.history.start(
                job_id, language=prepared["language"], model_prompt=prepared["model_prompt"],
                translated=prepared["translated"], translator=prepared["backend"], notices=notices, loras=loras,
                language_summary=prepared.get("summary"),
            )
            yield Progress(job_id, "load")
            plan, result, fell_back, announced = self._plan(request), None, False, False
            while result is None:
                try:
                    _, pipe, plan = self.pipelines.get(self.sources[request.model], plan)
                    self.history.update(job_id, plan={"name": plan.name, "description": plan.description})
                    if not announced:
                        announced = True
                        yield Started(job_id, request.to_dict(), prepared, plan.name)
                    writer = video.Mp4Writer(self._mp4_path(job_id, output), request.fps,
                                             _metadata(job_id, request, prepared, plan, loras))
                    result = yield from self._run_pipeline(job_id, pipe, plan, request, prepared, cancel, writer)
                except torch.OutOfMemoryError:
                    pass  # handled below: outside this block the error's frames, which hold GPU tensors, are freed
                if result is None:
                    pipe = None
                    if writer is not None:
                        writer.abort()  # before the next attempt writes the same partial file
                    plan = self._fall_back(plan, notices, job_id, retried=fell_back)
                    fell_back = True
                    yield Notice(job_id, notices[-1])
            yield Progress(job_id, "encode")
            result.timings["language"] = language_seconds
            summary = self._write_outputs(job_id, request, prepared, plan, result, notices, started, writer)
            yield Done(job_id, summary["output"], summary["thumbnail"], summary["sidecar"], summary)
        except CancelledError as exc:
            self.history.finish(job_id, "cancelled", error_kind="cancelled", error_message=str(exc), step=exc.step)
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
        finally:
            if writer is not None:
                writer.abort()  # a failed, cancelled or abandoned job leaves no partial MP4; after close: no-op

    def _trigger_words(self, loras: tuple) -> list[str]:
        """The trigger words of these LoRAs ((name, strength, strength_low) each); an unknown name has none here (the
        request is refused for it elsewhere)."""
        words = []
        for name, *_ in loras:
            try:
                words.extend(self.loras.get(name).trigger_words)
            except StudioError:
                continue
        return words

    def _prepare_prompt(self, request: GenerationRequest, user: str | None = None) -> dict[str, Any]:
        prepared = self.prepare_prompt(request.prompt, preset=request.preset, translate=request.translate, user=user,
                                       loras=request.loras)
        if request.model_prompt:  # the user edited what goes to the model
            prepared.update(model_prompt=request.model_prompt, translated=False, backend="edited by user",
                            summary="Edited by you: the model reads your text as written")
        return prepared

    def _run_pipeline(
        self, job_id, pipe, plan, request, prepared, cancel, writer: video.Mp4Writer
    ) -> Iterator[Event]:
        """Run the blocking pipeline in a worker thread and relay its events as they come.

        The one-GPU runner feeds `writer` while the VAE decodes; the multi-GPU one leaves it to `_write_outputs`.
        """
        events: queue.Queue = queue.Queue()

        def on_frames(frames) -> None:
            writer.add(frames)
            events.put(_Decoded(len(frames)))

        runner = pipe if isinstance(pipe, ParallelRunner) else PipelineRunner(
            pipe, hooks=[plan, *self.speed.hooks], on_frames=on_frames
        )
        spec = self.spec_for(request.model)
        negative = request.negative_prompt if request.negative_prompt is not None else spec.negative_prompt

        def work() -> None:
            try:
                with logs.job_context(job_id):
                    events.put(_Finished(runner.run(
                        job_id, request, prepared["model_prompt"], negative, emit=events.put, cancel=cancel
                    )))
            except BaseException as exc:  # handed to the consuming thread, which decides
                events.put(_Crashed(exc))

        worker = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
        worker.start()
        eta = _JobClock(request, tail_seconds(self.history, request.to_dict()))
        try:
            while True:
                item = events.get()
                if isinstance(item, _Finished):
                    return item.result
                if isinstance(item, _Crashed):
                    raise item.error
                yield eta.progress(job_id, item) if isinstance(item, (Progress, _Decoded)) else item
        finally:
            if worker.is_alive():
                cancel.set()
                worker.join()

    def _plan(self, request: GenerationRequest) -> MemoryPlan:
        """The request's plan, else the configured one; `auto` weighs this model and size on this GPU.

        Under `auto`, a model already loaded with a lighter plan than this size needs stays as it is:
        a lighter plan fits too, and reloading tens of GB of weights costs more than it saves.
        """
        name = request.memory_plan if request.memory_plan != "auto" else self.config.memory_plan
        chosen = get_plan(name, self.spec_for(request.model), (request.width, request.height), request.frames)
        loaded = self.pipelines.plan_of(self.sources[request.model])
        if name == "auto" and loaded is not None and _lighter_or_same(loaded, chosen):
            return loaded
        return chosen

    def _fall_back(self, plan: MemoryPlan, notices: list[str], job_id: str, retried: bool) -> MemoryPlan:
        """After running out of GPU memory: free it all and name the next lighter plan (once per job)."""
        self.pipelines.release()
        lighter = plan.lighter()
        if lighter is None or retried:
            left = "no lighter plan is left to try" if lighter is None else "the job was already retried once"
            raise OutOfMemory(
                f"out of GPU memory with the {plan.name!r} plan and {left}. "
                "Fix: lower the resolution or the number of frames, close other GPU programs, or use TI2V-5B."
            )
        notices.append(f"out of GPU memory with the {plan.name!r} plan; retrying once with {lighter.name!r}")
        self.history.update(job_id, notices=notices)
        return lighter

    def _mp4_path(self, job_id: str, output: Path | None) -> Path:
        return Path(output) if output else Path(self.config.outputs) / "videos" / f"{job_id}.mp4"

    def _write_outputs(
        self, job_id, request, prepared, plan, result: RunResult, notices, started, writer: video.Mp4Writer
    ) -> dict[str, Any]:
        """Finish the MP4 (the frames the decode did not stream, then the encoder's tail), then the rest."""
        encode_start = time.perf_counter()
        mp4 = writer.finish(result.frames)
        timings = {**result.timings, "encode": time.perf_counter() - encode_start}
        folder = Path(self.config.outputs) / "videos"
        sidecar, thumb = folder / f"{job_id}.json", folder / f"{job_id}.jpg"
        folder.mkdir(parents=True, exist_ok=True)
        video.write_thumbnail(result.frames[len(result.frames) // 2], thumb)
        seconds = time.perf_counter() - started
        summary = {
            "job_id": job_id, "output": str(mp4), "thumbnail": str(thumb), "sidecar": str(sidecar),
            "width": request.width, "height": request.height, "frames": int(result.frames.shape[0]),
            "fps": request.fps, "seed": request.seed, "model": request.model, "plan": plan.name,
            "prompt": request.prompt, "image": request.image, "language": prepared["language"], "model_prompt": prepared["model_prompt"],
            "translated": prepared["translated"], "translator": prepared["backend"], "notices": notices,
            "language_summary": prepared.get("summary"), "previews": result.previews,
            "preview_cost_ratio": round(result.preview_cost_ratio, 5),
            "step_seconds": [round(s, 4) for s in result.step_seconds],
            "timings": {k: round(v, 4) for k, v in timings.items()}, "seconds": round(seconds, 3),
            "loras": writer.metadata.get("loras", []),
        }
        video.write_json({**writer.metadata, "summary": summary}, sidecar)
        self.history.finish(
            job_id, "done", output=str(mp4), thumbnail=str(thumb), sidecar=str(sidecar), seconds=seconds,
            notices=notices, timings=summary["timings"],
        )
        return summary


def _summary(sidecar: str | None) -> dict[str, Any]:
    """A finished job's summary from its sidecar JSON ({} when the file is gone or unreadable)."""
    try:
        return dict(json.loads(Path(sidecar).read_text(encoding="utf-8")).get("summary") or {})
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _metadata(job_id: str, request: GenerationRequest, prepared: dict[str, Any], plan: MemoryPlan,
              loras: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the MP4 carries and the sidecar repeats: enough to find the job again and to redo it (the LoRAs by
    name, strengths and file sha256)."""
    return {
        "job_id": job_id, "prompt": request.prompt, "model_prompt": prepared["model_prompt"],
        "language": prepared["language"], "translated": prepared["translated"],
        "translator": prepared["backend"], "language_notice": prepared.get("notice"),
        "styled_prompt": prepared.get("styled_prompt"), "seed": request.seed, "model": request.model,
        "settings": request.to_dict(), "plan": plan.name, "generator": "Wan Studio", "loras": loras or [],
    }


def _lighter_or_same(plan: MemoryPlan, than: MemoryPlan) -> bool:
    """Whether `plan` is `than` or on its out-of-memory fallback chain."""
    step: MemoryPlan | None = than
    while step is not None:
        if step.name == plan.name:
            return True
        step = step.lighter()
    return False


def _model_sources(spec: ModelSpec, source: str) -> dict[str, str]:
    """Model name -> where to load it: the configured model, the other cached real model, the tiny ones."""
    sources = {spec.name: source}
    if not spec.tiny and torch.cuda.is_available():
        for other in MODELS.values():
            if not other.tiny and other.repo_id and other.name not in sources and is_cached(other.repo_id):
                sources[other.name] = other.repo_id
    for tiny in ("tiny", "tiny-5b", "tiny-i2v"):
        sources.setdefault(tiny, tiny)
    return sources


def _check_storage(folder: Path, request: GenerationRequest) -> None:
    """Fail in a second, not after minutes of GPU work: the video's folder must be writable and have room."""
    fix = "Fix: free disk space or choose a writable output folder (--outputs DIR or STUDIO_OUTPUTS, or --out)."
    if folder.exists() and not folder.is_dir():
        raise StorageError(f"cannot write to {folder}: it is a file, not a folder. {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise StorageError(f"cannot write to {folder}: {exc.strerror or exc}. {fix}") from None
    # An upper bound for H.264 at crf 18 (about a bit per pixel) plus the thumbnail and sidecar.
    need = request.width * request.height * request.frames // 8 + 256 * 1024
    if free < need:
        raise StorageError(
            f"the disk holding {folder} is full: {free / 1e6:.1f} MB free, this video needs about "
            f"{need / 1e6:.1f} MB. {fix}"
        )


def _fingerprint(*folders: Path) -> tuple:
    """What a folder listing says about its files: enough to notice a save, an import, an edit or a delete."""
    entries = []
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                try:
                    stat = path.lstat()
                except OSError:  # removed while listing: the next call sees the new state
                    continue
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)
