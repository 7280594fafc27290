"""Extend: a finished video continued from its last frame, with the same or a new prompt, as one MP4 of the whole.

An extension is a scene (studio.scene) of two shots: the first is the finished job itself, read back from its
MP4 and never made again; the second is image-to-video from its last frame with the job's settings (the
guidance and shift of its own model only when the continuation runs the same model; else the image model's
defaults). Extending a scene (or an earlier extension) continues its last shot, so a clip grows step by step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import video
from .errors import InvalidRequest
from .images import store_frame
from .models import resolve_model
from .request import MAX_SEED
from .scene import SHARED_KEYS, Scene, Shot, parse_scene

if TYPE_CHECKING:
    from .service import Studio

_MODEL_TUNED = ("guidance_scale", "guidance_scale_2", "flow_shift")


def extension(
    studio: "Studio", job_id: str, *, prompt: str | None = None, frames: int | None = None,
    duration: float | None = None, seed: int | None = None, user: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Scene:
    """The scene that continues finished job `job_id` (checked as any scene is, before any GPU work)."""
    job = studio.job(job_id, user=user)
    output = job.get("output")
    if job["status"] != "done" or not output or not Path(output).is_file():
        raise InvalidRequest("job", job["id"], f"it is {job['status']}" + (" and its video is gone" if job["status"] ==
                             "done" else "") + "; only a finished job with its video can be extended")
    request = job["request"]
    if "scene" in request:  # a scene or an earlier extension: continue its last shot
        scene = Scene.from_dict(request["scene"])
        model, shared, last = scene.model, dict(scene.settings), scene.shots[-1]
        last_prompt, last_seed, last_frames = last.prompt, last.seed, last.frames
    else:
        model = request["model"]
        shared = {k: request[k] for k in SHARED_KEYS if request.get(k) is not None}
        last_prompt, last_seed, last_frames = request["prompt"], request["seed"], request["frames"]
    continuation = resolve_model(model)[0].for_image(True)
    if continuation != request.get("model"):
        shared = {k: v for k, v in shared.items() if k not in _MODEL_TUNED}
    whole = video.read_frames(Path(output))
    start = store_frame(whole[-1], Path(studio.config.outputs) / "images")
    shot: dict[str, Any] = {"prompt": prompt if prompt is not None else last_prompt,
                            "seed": seed if seed is not None else (last_seed + 1) % (MAX_SEED + 1)}
    if duration is not None:
        shot["duration"] = duration
    else:
        shot["frames"] = frames if frames is not None else min(last_frames, studio.spec_for(continuation).max_frames)
    parsed = parse_scene(studio, {**shared, **(settings or {}), "model": model, "image": start.path,
                                  "shots": [shot]}, user=user)
    first = Shot(prompt=last_prompt, frames=len(whole), seed=last_seed, job=job["id"])
    return dataclasses.replace(parsed, shots=(first, *parsed.shots), image=None, image_sha256=None)
