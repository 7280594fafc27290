"""Scenes: shots generated one after another, each from the previous one's last frame, stitched into one video.

A scene is a parent job in the history (status, output, the scene's definition as its request) with one child
job per shot attempt (`parent_id`, `batch_id` "scene-<id>", `batch_key` "shot-N"), queued through the studio's
own queue and run by the same path as any job (language layer, runner, previews, MP4, history), so presets,
the language layer and every other request setting apply to each shot. The first shot starts from text (the
family's text-to-video model) or from the scene's start image; each later one is image-to-video from the
previous shot's last frame (after colour matching, studio.seams). Cancel keeps the finished shots and writes
the stitched video of them; a failed shot is tried again (`retries`), and a scene that ended early resumes
with `run_scene` on its id: shots already done are read back from their MP4s, never made again. "Extend"
is a scene of two shots whose first is a finished job.

The scene file (`python -m studio scene SCENE.json`): shared settings (`model`, `image`, `fit`, `width`,
`height`, `steps`, `seed`, any other request setting, `overlap`, `colour`) and `shots`: a list of objects with
`prompt` and `frames` or `duration` (seconds), optionally their own `seed`, `preset` or `negative_prompt`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from . import video
from .errors import InvalidRequest, StudioError
from .events import TERMINAL, Cancelled, Done, Event
from .images import store_frame
from .models import resolve_model
from .request import MAX_SEED, GenerationRequest, _seed
from .seams import ColourAnchor, stitch

if TYPE_CHECKING:
    from .service import Studio

MAX_SHOTS = 48
MAX_OVERLAP = 16
COLOUR = ("match", "off")
SHOT_KEYS = ("prompt", "frames", "duration", "seed", "preset", "negative_prompt")
SCENE_KEYS = ("model", "image", "fit", "shots", "overlap", "colour", "seed")
# Settings a scene file may give for all shots: every request field but the ones a scene sets per shot.
_PER_SHOT = {"prompt", "model", "image", "image_sha256", "image_fit", "frames", "seed", "model_prompt"}
SHARED_KEYS = tuple(f.name for f in dataclasses.fields(GenerationRequest) if f.name not in _PER_SHOT)


@dataclass(frozen=True)
class Shot:
    prompt: str
    frames: int | None  # None: from `duration`, as the shot's model counts frames
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)  # this shot's own preset or negative prompt
    job: str | None = None  # the finished job that is this shot (set as shots finish; extend's first shot)
    duration: float | None = None


@dataclass(frozen=True)
class Scene:
    """A validated scene: what every shot's request is built from."""

    model: str
    settings: dict[str, Any]
    shots: tuple[Shot, ...]
    image: str | None = None  # the stored, fitted start image of the first shot
    image_sha256: str | None = None
    overlap: int = 0
    colour: str = "match"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scene":
        return cls(**{**data, "shots": tuple(Shot(**shot) for shot in data["shots"])})

    def with_job(self, index: int, job_id: str) -> "Scene":
        shots = list(self.shots)
        shots[index] = dataclasses.replace(shots[index], job=job_id)
        return dataclasses.replace(self, shots=tuple(shots))


@dataclass(frozen=True)
class SceneUpdate:
    """A shot's job event, placed in the scene (shot 1-based; `event` as any job emits it)."""

    scene_id: str
    shot: int
    shots: int
    event: Event

    def describe(self) -> str:
        event = self.event
        what = getattr(event, "describe", None)
        text = what() if callable(what) else getattr(event, "message", type(event).__name__.lower())
        return f"shot {self.shot}/{self.shots}: {text}"


@dataclass(frozen=True)
class SceneEnd:
    """How the scene ended: `done`, `cancelled` or `failed`; `output` is the stitched video of the shots that
    finished (None when none did)."""

    scene_id: str
    status: str
    output: str | None
    message: str
    summary: dict[str, Any]


def read_scene_file(path: str | Path) -> dict[str, Any]:
    """The JSON object of a scene file, or InvalidRequest saying where it is broken."""
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest("scene", str(path), "no such file. Fix: give the path of a scene .json file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("scene", str(path), "it is not UTF-8 text. Fix: save it as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest("scene", str(path), f"it is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                             f"{exc.colno}). Fix: correct the file") from None
    if not isinstance(data, dict):
        raise InvalidRequest("scene", str(path), 'it must be a JSON object: {"model": ..., "shots": [...]}')
    base = file.parent
    if isinstance(data.get("image"), str) and not Path(data["image"]).is_absolute():
        data["image"] = str(base / data["image"])  # relative to the scene file, like a storyboard's assets
    return data


def parse_scene(studio: "Studio", data: Any, *, user: str | None = None) -> Scene:
    """Validate a scene object against the studio's models and rules; every shot's request is built once
    here, so a bad shot is refused before any GPU work. The start image is checked, fitted and stored."""
    if not isinstance(data, dict):
        raise InvalidRequest("scene", type(data).__name__, 'it must be an object: {"model": ..., "shots": [...]}')
    unknown = sorted(set(data) - set(SCENE_KEYS) - set(SHARED_KEYS))
    if unknown:
        raise InvalidRequest(unknown[0], data[unknown[0]], f"a scene takes {', '.join((*SCENE_KEYS, *SHARED_KEYS))}")
    shots = data.get("shots")
    if not isinstance(shots, list) or not shots:
        raise InvalidRequest("shots", shots if not isinstance(shots, list) else [], 'give a list of shots, e.g. '
                             '[{"prompt": "a fox in the snow", "duration": 5}]')
    if len(shots) > MAX_SHOTS:
        raise InvalidRequest("shots", f"<{len(shots)} shots>", f"at most {MAX_SHOTS} shots a scene")
    model = data.get("model") or studio.spec.name
    family = resolve_model(str(model))[0] if isinstance(model, str) else None
    if family is None:
        raise InvalidRequest("model", model, "name a model, e.g. tiny-i2v or wan2.2-i2v-a14b")
    settings = {key: data[key] for key in SHARED_KEYS if data.get(key) is not None}
    overlap = _whole("overlap", data.get("overlap", 0), 0, MAX_OVERLAP)
    colour = data.get("colour", "match")
    if colour not in COLOUR:
        raise InvalidRequest("colour", colour, f"choose one of {', '.join(COLOUR)}")
    base_seed = _seed(data.get("seed"))
    fit = data.get("fit") or "crop"
    scene = Scene(model=family.name, settings=settings, shots=(), overlap=overlap, colour=colour)
    parsed, image, sha = [], data.get("image"), None
    for index, raw in enumerate(shots):
        shot = _shot(index, raw, base_seed)
        request = _checked(index, studio, scene, shot, image, sha, user=user, fit=fit)
        parsed.append(dataclasses.replace(shot, frames=request.frames, duration=None))
        if index == 0:  # the size every shot shares; later shots are checked against a stand-in last frame
            settings = {**settings, "width": request.width, "height": request.height, "fps": request.fps}
            scene = dataclasses.replace(scene, settings=settings, image=request.image,
                                        image_sha256=request.image_sha256)
            stand_in = store_frame(np.zeros((request.height, request.width, 3), np.uint8),
                                   Path(studio.config.outputs) / "images")
            image, sha = stand_in.path, stand_in.sha256
    return dataclasses.replace(scene, shots=tuple(parsed))


def _shot(index: int, raw: Any, base_seed: int) -> Shot:
    where = f"shots[{index}]"
    if not isinstance(raw, dict):
        raise InvalidRequest(where, raw, 'each shot is an object: {"prompt": "...", "duration": 5}')
    unknown = sorted(set(raw) - set(SHOT_KEYS))
    if unknown:
        raise InvalidRequest(f"{where}.{unknown[0]}", raw[unknown[0]], f"a shot takes {', '.join(SHOT_KEYS)}")
    if "frames" in raw and "duration" in raw:
        raise InvalidRequest(f"{where}.duration", raw["duration"], "give frames or duration, not both")
    if not isinstance(raw.get("prompt"), str):
        raise InvalidRequest(f"{where}.prompt", raw.get("prompt"), "each shot needs a prompt (text)")
    duration = raw.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not 0 < duration <= 60):
        raise InvalidRequest(f"{where}.duration", duration, "give seconds as a number above 0")
    seed = raw.get("seed")
    seed = (base_seed + index) % (MAX_SEED + 1) if seed is None else seed
    settings = {key: raw[key] for key in ("preset", "negative_prompt") if raw.get(key) is not None}
    return Shot(prompt=raw["prompt"], frames=raw.get("frames"), seed=seed, settings=settings, duration=duration)


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(name, value, f"use a whole number from {low} to {high}")
    return value


def _checked(index: int, *args: Any, **kwargs: Any) -> GenerationRequest:
    """`shot_request`, naming the shot in a refused setting of its own (a shared one is named as it is)."""
    try:
        return shot_request(*args, **kwargs)
    except InvalidRequest as exc:
        if exc.field.split(".")[0] in SHOT_KEYS and not exc.field.startswith("shots["):
            raise InvalidRequest(f"shots[{index}].{exc.field}", exc.value, exc.allowed) from None
        raise


def shot_request(
    studio: "Studio", scene: Scene, shot: Shot, image: str | None, image_sha256: str | None = None, *,
    user: str | None = None, fit: str | None = None,
) -> GenerationRequest:
    """The request of one shot: the family's text-to-video model without an image, its image-to-video one with."""
    model = resolve_model(scene.model)[0].for_image(image is not None)
    spec = studio.spec_for(model)
    frames = shot.frames
    if shot.duration is not None:
        frames = _frames_for(spec, scene.settings.get("fps") or spec.fps, shot.duration)
    return studio.request(
        shot.prompt, model=model, user=user, image=image, image_sha256=image_sha256, image_fit=fit,
        frames=frames, seed=shot.seed, **{**scene.settings, **shot.settings},
    )


def _frames_for(spec, fps: Any, seconds: float) -> int:
    """A duration as the model's 4k+1 frames; longer than one shot can be is refused, not cut."""
    fps = GenerationRequest.create(spec, "x", fps=fps).fps if not isinstance(fps, int) else fps
    longest = spec.max_frames / fps
    if seconds > longest + 1e-9:
        raise InvalidRequest("duration", seconds, f"one shot of {spec.name} is at most {longest:.2f} s "
                             f"({spec.max_frames} frames at {fps} fps); split it into more shots")
    k = max(1, round((seconds * fps - 1) / 4))
    return min(spec.max_frames, 4 * k + 1)


def start_scene(studio: "Studio", scene: Scene, *, user: str | None = None, title: str | None = None) -> str:
    """Record a scene as a parent job (running, owned by this process) and return its id."""
    request = _parent_request(scene, title)
    scene_id = studio.history.create(request, user=user, status="running")
    studio.history.update(scene_id, batch_id=f"scene-{scene_id}")
    return scene_id


def _parent_request(scene: Scene, title: str | None = None) -> dict[str, Any]:
    """What the history shows for the scene: its definition, plus the fields queue estimates read."""
    first = scene.shots[0]
    frames = sum(shot.frames for shot in scene.shots)
    return {
        "prompt": title or f"scene of {len(scene.shots)} shots: {first.prompt}", "model": scene.model,
        "seed": first.seed, "frames": frames, "width": scene.settings.get("width"),
        "height": scene.settings.get("height"), "steps": scene.settings.get("steps"), "scene": scene.to_dict(),
    }


def run_scene(
    studio: "Studio", scene_id: str, *, cancel: threading.Event | None = None, output: Path | None = None,
    retries: int = 1, user: str | None = None,
) -> Iterator[SceneUpdate | SceneEnd]:
    """Run (or resume) a scene's shots in order, yielding their events, then one SceneEnd."""
    cancel = cancel or threading.Event()
    parent = studio.job(scene_id)
    if "scene" not in parent["request"]:
        raise InvalidRequest("scene", scene_id, "this job is not a scene. Fix: give a scene's id")
    if parent["status"] == "done":
        raise InvalidRequest("scene", scene_id, "this scene is done already; extend it to continue it")
    scene = Scene.from_dict(parent["request"]["scene"])
    title = parent["request"].get("prompt")
    studio.history.start(scene_id, output=None, error_kind=None, error_message=None)
    started, total = time.perf_counter(), len(scene.shots)
    finished: list[np.ndarray] = []
    report: list[dict[str, Any]] = []
    anchor: ColourAnchor | None = None
    image, sha = scene.image, scene.image_sha256
    for index, shot in enumerate(scene.shots):
        frames, job_id, ending = None, shot.job, None
        reused = _finished_output(studio, shot.job)
        if reused is not None:
            frames = video.read_frames(Path(reused))
        else:
            for _ in range(1 + retries):
                request = shot_request(studio, scene, shot, image, sha, user=user)
                job_id = studio.submit(request, user=user, batch_id=f"scene-{scene_id}",
                                       batch_key=f"shot-{index + 1}", parent_id=scene_id)
                events = _shot_events(studio, job_id, scene_id, cancel)
                try:
                    for event in events:
                        yield SceneUpdate(scene_id, index + 1, total, event)
                        ending = event
                except GeneratorExit:  # the page or client went away: as a cancel, keeping what finished
                    studio.cancel(job_id)
                    for _ in events:  # to the shot's end (after its current step), so it is recorded as cancelled
                        pass
                    _end(studio, scene_id, scene, finished, report, "cancelled",
                         f"shot {index + 1} stopped: the page or client went away", output, started)
                    raise
                if isinstance(ending, Done):
                    frames = video.read_frames(Path(ending.output))
                    break
                if isinstance(ending, Cancelled) or cancel.is_set():
                    break
        if frames is None:
            status = "cancelled" if isinstance(ending, Cancelled) or cancel.is_set() else "failed"
            why = getattr(ending, "message", status)
            report.append({"shot": index + 1, "job_id": job_id, "status": status, "message": why})
            yield _end(studio, scene_id, scene, finished, report, status, f"shot {index + 1} {status}: {why}",
                       output, started)
            return
        if anchor is None:
            anchor = ColourAnchor.of(frames)
            colour = None
        elif scene.colour == "match":
            frames, colour = anchor.match(frames)
        else:
            colour = None
        finished.append(frames)
        scene = scene.with_job(index, job_id)
        studio.history.update(scene_id, request=_parent_request(scene, title))
        report.append({"shot": index + 1, "job_id": job_id, "status": "done", "reused": reused is not None,
                       "frames": int(len(frames)), "output": reused or ending.output, "colour_lab_offset": colour})
        if index + 1 < total:  # the next shot starts from this one's last frame, as it will be shown
            stored = store_frame(frames[-1], Path(studio.config.outputs) / "images")
            image, sha = stored.path, stored.sha256
    yield _end(studio, scene_id, scene, finished, report, "done", f"{total} shots stitched", output, started)


def _finished_output(studio: "Studio", job_id: str | None) -> str | None:
    """A shot's MP4 when its job is done and the file is still there (then it is read, not made again)."""
    job = studio.history.get(job_id) if job_id else None
    if job and job["status"] == "done" and job.get("output") and Path(job["output"]).is_file():
        return job["output"]
    return None


def _shot_events(studio: "Studio", job_id: str, scene_id: str, cancel: threading.Event) -> Iterator[Event]:
    """A queued shot's events to its end: run here when this studio has no workers (the CLI), else followed while
    a worker runs it (in its own process and GPU). A cancel of the scene (the flag, or `cancel SCENE_ID` from
    another process) stops the shot after its current step."""
    asked, checked = False, 0.0
    events = studio.drive(job_id) if studio.workers is None else iter(())
    first = next(events, None)
    source = _chain(first, events) if first is not None else studio.follow(job_id)
    for event in source:
        if not asked and time.monotonic() - checked > 1.0:
            checked = time.monotonic()
            if studio.queue.cancels_asked([scene_id]):
                cancel.set()
        if cancel.is_set() and not asked:
            asked = True
            studio.cancel(job_id)
        if event is None:
            continue
        yield event
        if isinstance(event, TERMINAL):
            return


def _chain(first: Event, rest: Iterator[Event]) -> Iterator[Event]:
    yield first
    yield from rest


def _end(studio: "Studio", scene_id: str, scene: Scene, finished: list[np.ndarray], report: list[dict[str, Any]],
         status: str, message: str, output: Path | None, started: float) -> SceneEnd:
    """Stitch what finished, write the scene's MP4, thumbnail and sidecar, and record how it ended."""
    folder = Path(studio.config.outputs) / "videos"
    path, thumb, sidecar = None, None, None
    summary: dict[str, Any] = {"scene_id": scene_id, "status": status, "message": message, "shots": report,
                               "overlap": scene.overlap, "colour": scene.colour, "model": scene.model}
    if finished:
        frames = stitch(finished, scene.overlap)
        fps = int(scene.settings.get("fps") or resolve_model(scene.model)[0].fps)
        path = Path(output) if output else folder / f"{scene_id}.mp4"
        metadata = {"job_id": scene_id, "scene": scene.to_dict(), "generator": "Wan Studio"}
        video.write_mp4(frames, path, fps, metadata)
        folder.mkdir(parents=True, exist_ok=True)
        thumb = video.write_thumbnail(frames[len(frames) // 2], folder / f"{scene_id}.jpg")
        summary.update(output=str(path), thumbnail=str(thumb), frames=int(len(frames)), fps=fps,
                       width=int(frames.shape[2]), height=int(frames.shape[1]),
                       seconds=round(time.perf_counter() - started, 3))
        if status == "done":  # a partial scene keeps no sidecar: recovery would take it for a finished one
            sidecar = video.write_json({**metadata, "summary": summary}, folder / f"{scene_id}.json")
    fields = dict(output=str(path) if path else None, thumbnail=str(thumb) if thumb else None,
                  sidecar=str(sidecar) if sidecar else None, seconds=time.perf_counter() - started)
    if status != "done":
        fields.update(error_kind=status, error_message=message)
    studio.history.finish(scene_id, status, **fields)
    return SceneEnd(scene_id, status, str(path) if path else None, message, summary)


def scene_shots(studio: "Studio", scene_id: str) -> list[dict[str, Any]]:
    """Every shot attempt of a scene, oldest first (the history's grouping of a scene)."""
    from .batch import batch_jobs

    return [job for job in batch_jobs(studio.history, f"scene-{scene_id}") if job["id"] != scene_id]


def run_to_end(updates: Iterator[SceneUpdate | SceneEnd]) -> SceneEnd:
    """Drain a scene's updates (tests, the API) and return how it ended."""
    end = None
    for update in updates:
        if isinstance(update, SceneEnd):
            end = update
    if end is None:
        raise StudioError("the scene ended without a result")
    return end

