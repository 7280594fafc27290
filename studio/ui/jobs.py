"""The page's side of the studio's queue: turn widget values into a queued job, and a job's events into widget
updates. Handlers only submit and follow, so no job is tied to a browser connection."""

from __future__ import annotations

import logging
import math
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from .. import batch
from ..errors import InvalidRequest, StudioError
from ..events import Cancelled, Done, Failed, Notice, Preview, Progress, Queued, Started
from ..models import ModelSpec
from ..preview import contact_sheet
from ..request import GenerationRequest, cleaning_notice, frames_for_seconds
from ..service import Studio
from ..space import estimate_seconds, gpu_task
from . import formatting as fmt
from .image_files import image_file

NO_PRESET = "none"
MAX_VARIATIONS = 8
log = logging.getLogger("studio.ui")


def build_request(studio: Studio, prompt, preset, model, resolution, duration, negative_prompt, steps, guidance,
                  guidance_2, shift, fps, seed, randomize, mode, memory_plan, model_prompt, as_typed, auto_prompt,
                  attention="default", loras="", http: gr.Request | None = None) -> GenerationRequest:
    """Widget values -> a validated request, after the user's rate limit; refusals become one-line gr.Errors."""
    try:
        spec = studio.spec_for(model)
        width, height = fmt.parse_size(resolution)
        edited = model_prompt.strip() if isinstance(model_prompt, str) else model_prompt
        request = studio.request(
            prompt, model=spec.name, preset=preset_name(preset), user=fmt.user_of(http), width=width, height=height,
            frames=_frames(duration, fps, spec), fps=fps,
            negative_prompt=negative_prompt or None, steps=steps, guidance_scale=guidance,
            guidance_scale_2=guidance_2 if spec.two_experts else None, flow_shift=shift,
            seed=None if randomize is True else seed, mode=mode, memory_plan=memory_plan, attention=attention,
            loras=loras or None,
            translate=not as_typed,
            model_prompt=edited if edited and not as_typed and edited != str(auto_prompt or "").strip() else None,
        )
        studio.rate_limit.admit(requester(http))
    except StudioError as exc:
        raise refused(studio, exc.kind, str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise refused(studio, "invalid_request", f"the request could not be read ({exc}). Fix: check the values "
                      "against the API page (“Use via API” at the bottom of the studio).") from None
    cleaned = cleaning_notice(prompt, request.prompt)
    if cleaned:
        gr.Warning(cleaned.capitalize() + ".")
    return request


def submit(studio: Studio, request: GenerationRequest, http: gr.Request | None, client: str | None = None,
           variations: int = 1) -> list[str]:
    """Queue the request (or `variations` copies that differ only in seed); the ids, first one first.

    Each person may have `max_queue` jobs waiting: a login, else a page (its browser id), else an API
    client's address (so a script without a login cannot queue without bound)."""
    user, client = person(http, client)
    _admit(studio, user, client, variations)
    if variations == 1:
        return [studio.submit(request, user=user, client=client)]
    return studio.submit_variations(request, variations, user=user, client=client)


def submit_batch(studio: Studio, file: Path, model, resolution, duration, steps, fps, as_typed, client: str | None,
                 http: gr.Request | None) -> str:
    """A batch file dropped on the page: its rows queued as this page's jobs; returns what happened, in Markdown.

    Dropping the same file again queues only the rows that have not finished. A page may not queue more
    than the per-person limit at once (a large batch belongs to `python -m studio batch` on the server)."""
    try:
        spec = studio.spec_for(model)
        width, height = fmt.parse_size(resolution)
        defaults = {"model": spec.name, "width": width, "height": height, "frames": _frames(duration, fps, spec),
                    "steps": steps, "fps": fps, "translate": not as_typed}
        content = file.read_bytes()
        if len(content) > studio.config.max_upload_bytes:
            raise InvalidRequest("batch file", file.name, f"it is {len(content):,} bytes; the page takes at most "
                                 f"{studio.config.max_upload_bytes:,}. Fix: split it, or run `python -m studio batch`")
        rows = batch.read_rows(file)
        user = fmt.user_of(http)
        _admit(studio, user, client, len(rows), what=f"{file.name} has {len(rows)} rows: ",
               fix="split the file, or run `python -m studio batch FILE` on the studio's machine")
        batch_id = batch.upload_batch_id(file.name, content)
        studio.rate_limit.admit(requester(http))
        queued = batch.queue_rows(studio, batch_id, rows, defaults, user=user, client=client)
    except StudioError as exc:
        raise refused(studio, exc.kind, str(exc)) from None
    lines = [f"Batch `{batch_id}`: queued **{queued.queued}** of {len(rows)} rows"
             + (f", {queued.skipped_done} already done" if queued.skipped_done else "") + ". They run in order; "
             "follow them in the Queue panel and find them in History (filter by batch)."]
    lines += [f"- line {row.line}: {fmt.plain(row.error or '')}" for row in queued.bad]
    return "\n".join(lines)


class Followers:
    """How many job streams each person holds open: each holds a server thread for as long as its job runs,
    so one visitor must not take them all (a page needs one; a script following its jobs a few)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, person: str) -> Iterator[None]:
        with self._lock:
            if self._open.get(person, 0) >= self.limit:
                raise gr.Error(f"you follow {self.limit} jobs at once already. Fix: close a tab or a stream, or "
                               "follow one job at a time (/jobs lists them all).", print_exception=False)
            self._open[person] = self._open.get(person, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._open[person] -= 1
                if not self._open[person]:
                    del self._open[person]


def _admit(studio: Studio, user: str | None, client: str | None, count: int, *, what: str = "",
           fix: str = "wait for some to finish, or cancel one in the Queue panel") -> None:
    """Room for `count` more jobs: per person (STUDIO_MAX_QUEUE) and in all (STUDIO_MAX_QUEUE_TOTAL)."""
    line = studio.jobs(user=user, client=client)
    waiting = sum(1 for job in line if job["status"] == "queued")
    mine = sum(1 for job in line if job["mine"] and job["status"] == "queued")
    if mine + count > studio.config.max_queue:
        raise refused(studio, "queue_full", f"{what}you have {mine} jobs waiting and this studio keeps at most "
                      f"{studio.config.max_queue} per person. Fix: {fix}.")
    if waiting + count > studio.config.max_queue_total:
        raise refused(studio, "queue_full", f"{what}the studio's queue is full ({waiting} jobs waiting, at most "
                      f"{studio.config.max_queue_total}). Fix: try again when some have finished.")


def follow(studio: Studio, job_id: str, http: gr.Request | None, followers: Followers) -> Iterator[tuple]:
    """Stream (status, preview, video, details, seed) for a job until it ends; leaving stops only the stream."""
    job_id = str(job_id or "").strip()
    if not job_id:
        yield fmt.status_html("Ready."), None, None, "", gr.update()
        return
    with followers.holding(requester(http)):
        yield from stream(studio, job_id, http)


def stream(studio: Studio, job_id: str, http: gr.Request | None) -> Iterator[tuple]:
    """The widget updates of one job's events (the caller holds its place among the person's streams)."""
    try:
        job = studio.job(job_id, user=fmt.user_of(http))
        seed, about = job.get("seed"), _about(job)
        shown, plan = None, ""
        for event in _events(studio, job_id, http):
            if event is None:
                continue
            if isinstance(event, Queued):
                yield fmt.status_html(f"Waiting: {event.place}.", 0.0), shown, None, about, seed
            elif isinstance(event, Started):
                plan = event.plan
            elif isinstance(event, Progress):
                yield fmt.progress_status(event), shown, None, about, seed
            elif isinstance(event, Preview):
                shown = image_file(contact_sheet(event.frames))
                yield gr.update(), shown, None, about, seed
            elif isinstance(event, Notice) and event.source == "speed":
                gr.Info(event.message[:1].upper() + event.message[1:])
            elif isinstance(event, Notice) and event.source != "language":
                gr.Warning(event.message)
            elif isinstance(event, Done):
                yield (fmt.status_html(f"Done in {event.summary.get('seconds', 0):.1f} s · seed {seed}", 1.0, "done"),
                       shown, event.output or None, _details(job, event.summary, plan), seed)
            elif isinstance(event, Cancelled):
                yield fmt.status_html(f"Cancelled ({event.message}).", tone="warn"), shown, None, about, seed
            elif isinstance(event, Failed):
                yield fmt.status_html(f"Failed: {event.message}", tone="error"), shown, None, about, seed
                raise gr.Error(event.message, print_exception=False)  # the studio has logged it
    except StudioError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _events(studio: Studio, job_id: str, http: gr.Request | None) -> Iterator:
    """The job's events; where no worker runs (ZeroGPU), this call runs a queued job itself inside its GPU slot."""
    if studio.workers is None:
        yield from gpu_task(studio.drive, lambda job_id: _reservation(studio, job_id))(job_id)
    yield from studio.follow(job_id, user=fmt.user_of(http))


def _reservation(studio: Studio, job_id: str) -> float:
    """ZeroGPU reservation for a queued job (seconds), from its size and steps."""
    try:
        request = studio.history.get(job_id)["request"]
        spec = studio.spec_for(request.get("model"))
        return estimate_seconds(spec, request["width"], request["height"], request["frames"], request["steps"],
                                request["guidance_scale"] > 1)
    except (StudioError, KeyError, TypeError):
        return 60.0


def cancel(studio: Studio, job_id: str, http: gr.Request | None) -> str:
    if not str(job_id or "").strip():
        return fmt.status_html("Nothing to cancel: no job is shown here.", tone="warn")
    try:
        return fmt.status_html(studio.cancel(job_id, user=fmt.user_of(http)), tone="warn")
    except StudioError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def reattach(studio: Studio, client: str | None, http: gr.Request | None) -> tuple[str, str]:
    """On page load: this browser's id (made on its first visit) and the newest of its jobs still queued or running."""
    client = client or studio.new_client_id()
    user = fmt.user_of(http)
    mine = [job for job in studio.jobs(user=user, client=client) if job["mine"]]
    running = [job for job in mine if job["status"] == "running"]
    return client, (running or mine or [{"id": ""}])[0]["id"]


def _about(job: dict[str, Any]) -> str:
    """Which job this page shows (after a reload the prompt box may hold something else)."""
    request = job.get("request") or {}
    prompt = (job.get("prompt") or "").replace("\n", " ")
    prompt = prompt if len(prompt) <= 120 else prompt[:119] + "…"
    return (f"Job `{job['id']}` · {fmt.plain(prompt)}  \n{request.get('width')}×{request.get('height')} · "
            f"{request.get('frames')} frames · {request.get('steps')} steps · seed {job.get('seed')}")


def _details(job: dict[str, Any], summary: dict[str, Any], plan: str) -> str:
    return (f"{_about(job)} · plan `{plan or summary.get('plan', '')}` · {summary.get('seconds', 0):.1f} s  \n"
            f"Sent to the model: {fmt.plain(str(summary.get('model_prompt', '')))}")


def preset_name(preset: str | None) -> str | None:
    return None if preset in (None, "", NO_PRESET) else preset


def refused(studio: Studio, kind: str, message: str) -> gr.Error:
    """A request refused before it became a job: counted, logged in one line, shown to the user without a traceback."""
    studio.metrics.failure(kind)
    log.info("request refused", extra={"kind": kind, "error": message})
    return gr.Error(message, print_exception=False)


def person(http: gr.Request | None, client: str | None = None) -> tuple[str | None, str | None]:
    """(user, client) that own a job: a login, else a page's browser id, else an API client's address."""
    user = fmt.user_of(http)
    return user, client or (None if user else f"address:{requester(http)}")


def requester(http: gr.Request | None) -> str:
    """Whom the rate limit counts: the login name, else the client's address."""
    client = getattr(http, "client", None)
    return fmt.user_of(http) or getattr(client, "host", None) or "anonymous"


def duration_bounds(spec: ModelSpec, fps: int) -> tuple[float, float, float]:
    """Slider bounds in seconds, rounded so the slider shows tidy numbers."""
    return round(5 / fps, 2), round(spec.max_frames / fps, 2), round(spec.default_frames / fps, 2)


def _frames(duration: Any, fps: Any, spec: ModelSpec) -> int:
    """Seconds -> the nearest 4k+1 frame count; a duration the model cannot make is refused, not clamped.

    A bad fps is left to the request, which names it; the duration is then measured at the model's fps.
    """
    rate = fps if _is_number(fps) and 4 <= fps <= 60 else spec.fps
    seconds = duration if _is_number(duration) else math.nan
    if not 3 <= seconds * rate <= spec.max_frames + 2:
        shortest, longest, _ = duration_bounds(spec, rate)
        raise InvalidRequest(
            "duration", duration, f"{spec.name} makes {shortest:g} to {longest:g} s at {rate:g} fps "
            f"(5 to {spec.max_frames} frames); choose a duration in that range",
        )
    return frames_for_seconds(seconds, rate, spec.max_frames)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
