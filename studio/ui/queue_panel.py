"""The queue panel and the variations strip: what runs, what waits and where, with cancel and "move to top" for
the jobs' owners; refreshed by a timer on every open page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..errors import StudioError
from ..jobqueue import duration_words
from ..service import Studio
from . import formatting as fmt

HEADERS = ["#", "status", "prompt", "model", "starts in"]
_TONE = {"queued": (60, 64, 80), "running": (40, 70, 110), "done": (40, 90, 60), "failed": (120, 40, 40),
         "cancelled": (110, 90, 40), "interrupted": (90, 60, 110)}


@dataclass
class QueuePanel:
    table: gr.Dataframe
    rows: gr.State
    selected: gr.State
    note: gr.Markdown
    variations: gr.Gallery
    variation_ids: gr.State
    timer: gr.Timer
    show: gr.Button


def build(studio: Studio) -> QueuePanel:
    variation_ids = gr.State([])
    variations = gr.Gallery(label="Variations (captions are seeds): click one to keep its seed", columns=4, height="auto",
                            allow_preview=False, object_fit="cover", elem_id="variations", visible=False,
                            interactive=False, buttons=[])
    with gr.Accordion("Queue", open=True, elem_id="queue_panel"):
        table = gr.Dataframe(headers=HEADERS, value=[], interactive=False, elem_id="queue_table", wrap=True,
                             column_widths=["12%", "14%", "46%", "14%", "14%"], max_height=260)
        note = gr.Markdown("Select one of your jobs to follow, cancel or move it.", elem_id="queue_note")
        with gr.Row():
            show = gr.Button("Show here", size="sm", elem_id="queue_show")
            top = gr.Button("Move to top", size="sm", elem_id="queue_top")
            cancel = gr.Button("Cancel job", size="sm", variant="stop", elem_id="queue_cancel")
    rows, selected = gr.State([]), gr.State("")
    timer = gr.Timer(2.0)

    def pick(listed: list[dict], event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        job = listed[row] if isinstance(row, int) and 0 <= row < len(listed) else None
        if job is None:
            return "", "Select one of your jobs to follow, cancel or move it."
        if not job["mine"]:
            return "", "That job is someone else's: only its owner can change it."
        return job["id"], f"Selected job `{job['id']}` ({job['status']})."

    def act(action: str):
        def run(job_id: str, http: gr.Request = None) -> str:
            if not job_id:
                raise gr.Error("Select one of your jobs in the queue first.", print_exception=False)
            try:
                done = getattr(studio, action)(job_id, user=fmt.user_of(http))
            except StudioError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            return done
        return run

    table.select(pick, rows, [selected, note], queue=False, api_visibility="private")
    top.click(act("move_to_top"), selected, note, queue=False, api_visibility="private")
    cancel.click(act("cancel"), selected, note, queue=False, api_visibility="private")
    return QueuePanel(table, rows, selected, note, variations, variation_ids, timer, show)


def refresh(studio: Studio, client: str | None, variation_ids: list[str], http: gr.Request | None) -> tuple:
    """(table rows, listed jobs, variations gallery): what the queue and this page's variations look like now."""
    user = fmt.user_of(http)
    listed = studio.jobs(user=user, client=client)
    table = [_row(job, hidden=user is not None and not job["mine"]) for job in listed]
    shown = [{"id": job["id"], "status": job["status"], "mine": job["mine"]} for job in listed]
    return table, shown, _variations(studio, variation_ids)


def _row(job: dict[str, Any], hidden: bool) -> list[str]:
    place = "now" if job["status"] == "running" else str(job.get("place", ""))
    prompt = "(another user's job)" if hidden else (job["prompt"] or "").replace("\n", " ")[:90]
    starts = "" if job["status"] == "running" else ("unknown" if job.get("starts_in") is None
                                                     else duration_words(job["starts_in"]))
    status = f"{job['status']} · yours" if job["mine"] else job["status"]
    return [place, status, prompt, job.get("model") or "", starts]


def _variations(studio: Studio, ids: list[str]):
    if not ids:
        return gr.update(value=[], visible=False)
    items = []
    for job_id in ids:
        job = studio.history.get(job_id)
        if job is None:
            continue
        thumb = job.get("thumbnail")
        picture = thumb if thumb and Path(thumb).is_file() else _card(job["status"])
        items.append((picture, str(job["seed"]) if job["status"] == "done" else job["status"]))  # captions are short
    return gr.update(value=items, visible=True)


def _card(status: str) -> np.ndarray:
    card = np.zeros((144, 256, 3), np.uint8)
    card[:] = _TONE.get(status, (60, 64, 80))
    return card
