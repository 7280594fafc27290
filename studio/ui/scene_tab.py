"""The Scenes tab: image-to-video, storyboards of shots and Extend; wiring only (studio.scene, studio.extend).

One shot with a start image is image-to-video; several shots are a scene, each later shot made from the last
frame of the one before; Extend continues a finished job (the Create tab's result or any job id). Every run
is a scene in the history (a parent job and its shot jobs), so it survives the page and shows in History.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterator

import gradio as gr
import numpy as np

from ..errors import StudioError
from ..events import Cancelled, Done, Failed, Preview, Progress
from ..extend import extension
from ..preview import contact_sheet
from ..scene import SceneEnd, SceneUpdate, parse_scene, run_scene, start_scene
from ..service import Studio
from . import formatting as fmt
from .image_files import image_file
from .jobs import refused, requester

SHOT_PROMPTS = ("A red fox trots through fresh snow at dawn, wide shot",
                "The fox stops and looks at the camera, close-up")


@dataclass
class SceneTab:
    """The components other tabs and tests address."""

    extend_job: gr.Textbox
    scene_id: gr.Textbox
    result: gr.Video


def build(studio: Studio) -> SceneTab:
    families = [spec.name for spec in studio.models()]
    sizes = sorted({f"{w}x{h}" for name in families for w, h in (*studio.spec_for(name).official_sizes,
                                                                  studio.spec_for(name).default_size)})
    with gr.Row(equal_height=False, elem_id="scene_row"):
        with gr.Column(scale=5, min_width=340):
            seconds = round(studio.spec.default_frames / studio.spec.fps, 2)  # one default clip a shot
            shots = gr.Dataframe(value=[[prompt, seconds] for prompt in SHOT_PROMPTS], headers=["prompt", "seconds"], datatype=["str", "number"],
                                 column_count=2, interactive=True, label="Shots (one row a shot; add rows to add shots)",
                                 elem_id="scene_shots")
            image = gr.Image(type="filepath", label="Start image (optional: the first shot starts from it)",
                             sources=["upload", "clipboard"], elem_id="scene_image", height=200)
            with gr.Row():
                fit = gr.Radio(["crop", "pad"], value="crop", label="Fit the image", elem_id="scene_fit")
                model = gr.Dropdown(families, value=studio.spec.name, label="Model family", elem_id="scene_model")
            with gr.Row():
                resolution = gr.Dropdown(sizes, value=_size(studio.spec.default_size), allow_custom_value=True,
                                         label="Size", elem_id="scene_resolution")
                steps = gr.Number(value=studio.spec.steps, precision=0, label="Steps", elem_id="scene_steps")
                seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", elem_id="scene_seed")
                overlap = gr.Number(value=0, precision=0, label="Blend frames at seams", elem_id="scene_overlap")
            with gr.Row():
                make = gr.Button("Make scene", variant="primary", elem_id="make_scene", scale=3)
                stop = gr.Button("Cancel", variant="stop", elem_id="cancel_scene", scale=1)
            with gr.Group():
                extend_job = gr.Textbox(label="Extend job (id; the Create tab's result fills it)",
                                        elem_id="extend_job")
                with gr.Row():
                    extend_prompt = gr.Textbox(label="What happens next (empty: the same prompt)", scale=3,
                                               elem_id="extend_prompt")
                    extend_seconds = gr.Number(value=seconds, label="Seconds", scale=1, elem_id="extend_seconds")
                extend = gr.Button("Extend", elem_id="extend")
        with gr.Column(scale=6, min_width=340):
            status = gr.HTML(fmt.status_html("Ready."), elem_id="scene_status")
            preview = gr.Image(label="Live preview of the current shot", type="numpy", format="jpeg",
                               interactive=False, elem_id="scene_preview", buttons=[])
            result = gr.Video(label="Scene", elem_id="scene_result", interactive=False, buttons=["download"])
            finished = gr.Gallery(label="Finished shots", columns=6, height=120, elem_id="scene_finished")
            summary = gr.Code(language="json", label="Summary", elem_id="scene_summary")
            scene_id = gr.Textbox(visible=False, elem_id="scene_id")

    outputs = [status, preview, result, finished, summary, scene_id, extend_job]

    def make_scene(rows, image_path, fit_choice, family, size, step_count, seed_value, blend,
                   request: gr.Request = None) -> Iterator[tuple]:
        """Make a scene (one shot with an image: image-to-video); streams progress, ends with its MP4."""
        user = fmt.user_of(request)
        data = _scene_data(rows, image_path, fit_choice, family, size, step_count, seed_value, blend)
        try:
            scene = parse_scene(studio, data, user=user)
            studio.rate_limit.admit(requester(request))
        except StudioError as exc:
            raise refused(studio, exc.kind, str(exc)) from None
        yield from _follow(studio, start_scene(studio, scene, user=user), user)

    def extend_here(job_id, prompt, seconds, request: gr.Request = None) -> Iterator[tuple]:
        """Continue a finished job from its last frame; streams progress, ends with one MP4 of the whole."""
        user = fmt.user_of(request)
        try:
            duration = float(seconds) if seconds not in (None, "") else None
            scene = extension(studio, str(job_id or "").strip(), prompt=(prompt or "").strip() or None,
                              duration=duration, user=user)
        except StudioError as exc:
            raise refused(studio, exc.kind, str(exc)) from None
        except (TypeError, ValueError):
            raise refused(studio, "invalid_request", f"seconds: {seconds!r} is not a number") from None
        title = f"extension of {scene.shots[0].job}: {scene.shots[-1].prompt}"
        yield from _follow(studio, start_scene(studio, scene, user=user, title=title), user)

    def cancel_here(current: str) -> str:
        if not current:
            return fmt.status_html("No scene is running here.")
        return fmt.status_html(studio.cancel(current) + " Finished shots are kept.", tone="warn")

    inputs = [shots, image, fit, model, resolution, steps, seed, overlap]
    make.click(make_scene, inputs, outputs, api_name="scene", concurrency_limit=None)
    extend.click(extend_here, [extend_job, extend_prompt, extend_seconds], outputs, api_name="extend",
                 concurrency_limit=None)
    stop.click(cancel_here, scene_id, status, queue=False, api_name="cancel_scene")

    def scene_json(text: str, request: gr.Request = None) -> dict:
        """Run a scene file's JSON (the CLI's format) to its end and return its summary (the MP4's path in it)."""
        try:
            data = json.loads(text)
            scene = parse_scene(studio, data, user=fmt.user_of(request))
        except json.JSONDecodeError as exc:
            raise gr.Error(f"the scene is not valid JSON ({exc.msg} at line {exc.lineno}). Fix: correct it.") from None
        except StudioError as exc:
            raise refused(studio, exc.kind, str(exc)) from None
        end = None
        for update in run_scene(studio, start_scene(studio, scene, user=fmt.user_of(request)),
                                user=fmt.user_of(request)):
            end = update if isinstance(update, SceneEnd) else end
        return end.summary

    gr.api(scene_json, api_name="scene_json", concurrency_limit=None)
    return SceneTab(extend_job=extend_job, scene_id=scene_id, result=result)


def _scene_data(rows, image_path, fit_choice, family, size, step_count, seed_value, blend) -> dict[str, Any]:
    """The page's widgets as a scene object, the same one a scene file holds."""
    width, height = fmt.parse_size(size)
    data: dict[str, Any] = {"model": family, "width": width, "height": height, "fit": fit_choice,
                            "shots": _shots(rows), "overlap": _whole(blend, 0)}
    if image_path:
        data["image"] = image_path
    if step_count not in (None, ""):
        data["steps"] = _whole(step_count, step_count)
    seed_number = _whole(seed_value, None)
    if seed_number is not None and seed_number >= 0:
        data["seed"] = seed_number
    return data


def _shots(rows) -> list[dict[str, Any]]:
    """Rows of (prompt, seconds) -> shot objects; blank rows are skipped."""
    values = rows.values.tolist() if hasattr(rows, "values") else (rows.get("data") if isinstance(rows, dict) else rows)
    shots = []
    for row in values or []:
        prompt = str(row[0]).strip() if row and row[0] is not None else ""
        if not prompt or prompt == "nan":
            continue
        seconds = row[1] if len(row) > 1 else None
        shot: dict[str, Any] = {"prompt": prompt}
        if seconds not in (None, "") and not (isinstance(seconds, float) and math.isnan(seconds)):
            try:
                shot["duration"] = float(seconds)
            except (TypeError, ValueError):
                shot["duration"] = seconds  # refused by the scene's check, naming the shot
        shots.append(shot)
    return shots


def _whole(value: Any, default: Any) -> Any:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return value


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _follow(studio: Studio, scene_id: str, user: str | None) -> Iterator[tuple]:
    """A scene's updates as (status, preview, video, finished shots, summary, scene id, extend job)."""
    shown: list[tuple[str, str]] = []
    keep = gr.update()
    yield fmt.status_html("Starting the scene…"), None, None, [], "", scene_id, keep
    for update in run_scene(studio, scene_id, user=user):
        if isinstance(update, SceneEnd):
            tone = {"done": "done", "cancelled": "warn"}.get(update.status, "error")
            text = f"Scene {update.status}: {update.message}."
            yield (fmt.status_html(text, 1.0, tone), gr.update(), update.output, shown,
                   json.dumps(update.summary, indent=2, ensure_ascii=False), scene_id,
                   scene_id if update.status == "done" else keep)
            return
        yield _shot_update(update, shown)


def _shot_update(update: SceneUpdate, shown: list[tuple[str, str]]) -> tuple:
    event = update.event
    preview: Any = gr.update()
    if isinstance(event, Preview):
        preview = image_file(contact_sheet(np.asarray(event.frames)))
    if isinstance(event, Done):
        shown.append((event.thumbnail, f"shot {update.shot}"))
    fraction = ((update.shot - 1) + (event.fraction if isinstance(event, Progress) else 0.0)) / update.shots
    tone = "error" if isinstance(event, Failed) else "warn" if isinstance(event, Cancelled) else "info"
    text = update.describe() if isinstance(event, (Progress, Failed, Cancelled, Done)) else None
    status = fmt.status_html(text, fraction, tone) if text else gr.update()
    return status, preview, gr.update(), list(shown), gr.update(), update.scene_id, gr.update()
