"""The History tab: every past job, its video and settings, "use these settings" and "re-run"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..service import Studio
from . import formatting as fmt

_PLACEHOLDER_TONE = {"failed": (120, 40, 40), "cancelled": (110, 90, 40), "interrupted": (90, 60, 110)}


@dataclass
class HistoryTab:
    gallery: gr.Gallery
    count: gr.Markdown
    refresh: gr.Button
    jobs: gr.State
    selected: gr.State
    use: gr.Button
    rerun: gr.Button
    load: Any


def build(studio: Studio) -> HistoryTab:
    jobs = gr.State([])
    selected = gr.State(None)
    with gr.Row():
        refresh = gr.Button("Refresh", elem_id="history_refresh", size="sm", scale=0, min_width=120)
        count = gr.Markdown(elem_id="history_count")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            gallery = gr.Gallery(label="Past jobs", show_label=False, columns=3, height="auto", allow_preview=False, object_fit="cover",
                                 elem_id="history_gallery", interactive=False, buttons=[])
        with gr.Column(scale=5, min_width=320):
            video = gr.Video(label="Video", elem_id="history_video", interactive=False, buttons=["download"])
            details = gr.Markdown("Select a job to see its settings.", elem_id="history_details")
            with gr.Row():
                use = gr.Button("Use these settings", elem_id="history_use")
                rerun = gr.Button("Re-run", variant="primary", elem_id="history_rerun")
            settings = gr.JSON(label="Settings", elem_id="history_settings", open=False)

    def load(http: gr.Request = None):
        listed = studio.history.list(limit=120, user=fmt.user_of(http))
        items = [(_thumbnail(job), fmt.job_caption(job)) for job in listed]
        return items, listed, f"{len(listed)} jobs, newest first." if listed else "No jobs yet."

    def pick(listed: list[dict], event: gr.SelectData):
        job = listed[event.index] if 0 <= event.index < len(listed) else None
        if job is None:
            return None, "", None, None
        output = job.get("output") if job.get("status") == "done" and _exists(job.get("output")) else None
        return output, fmt.job_details(job), job.get("request"), job["id"]

    refresh.click(load, None, [gallery, jobs, count], api_visibility="private")
    gallery.select(pick, jobs, [video, details, settings, selected], api_visibility="private")
    return HistoryTab(gallery, count, refresh, jobs, selected, use, rerun, load)


def _exists(path: str | None) -> bool:
    return bool(path) and Path(path).is_file()


def _thumbnail(job: dict[str, Any]):
    """The job's JPEG when it has one, else a flat card in the colour of its status."""
    if _exists(job.get("thumbnail")):
        return job["thumbnail"]
    card = np.zeros((216, 384, 3), np.uint8)
    card[:] = _PLACEHOLDER_TONE.get(job.get("status"), (60, 64, 80))
    return card
