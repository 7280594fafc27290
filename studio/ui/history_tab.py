"""The History tab: every past job, a page at a time, found by prompt words, status, model, batch or favourite;
for the selected job its video and settings, "use these settings", "re-run", "re-queue", favourite and delete."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr
import numpy as np

from ..errors import StudioError
from ..history import ACTIVE, STATUSES, DeletedFiles, delete_job_files
from ..request import MAX_PROMPT_CHARS
from ..service import Studio
from . import formatting as fmt
from .image_files import image_file

PAGE_SIZE = 24  # fills rows of 2, 3, 4 and 6 cards
REQUEUABLE = ("interrupted", "failed", "cancelled")
ANY = ""  # the value of a filter's "All …" choice
_NO_JOB = "Select a job to see its settings."
_PLACEHOLDER_TONE = {"failed": (120, 40, 40), "cancelled": (110, 90, 40), "interrupted": (90, 60, 110)}


@dataclass
class HistoryTab:
    """`load(*inputs)` returns the values of `outputs`: the page the search and filters ask for. Wire it to
    every event that adds jobs (page load, a generation's end); its first three outputs are gallery, jobs, count."""

    gallery: gr.Gallery
    count: gr.Markdown
    refresh: gr.Button
    jobs: gr.State
    selected: gr.State
    use: gr.Button
    rerun: gr.Button
    load: Callable[..., tuple]
    inputs: list[Any]
    outputs: list[Any]


@dataclass(frozen=True)
class Filters:
    """What the search box and filters ask for; ANY (or empty text) leaves that filter out."""

    text: str = ""
    status: str = ANY
    model: str = ANY
    batch: str = ANY
    favourites: bool = False

    @classmethod
    def of(cls, text: Any, status: Any, model: Any, batch: Any, favourites: Any) -> "Filters":
        text = (text if isinstance(text, str) else "").strip()[:MAX_PROMPT_CHARS]  # a search is never longer than a prompt
        return cls(text, status or ANY, model or ANY, batch or ANY, bool(favourites))

    def query(self, user: str | None) -> dict[str, Any]:
        return {"text": self.text or None, "status": self.status or None, "model": self.model or None,
                "batch_id": self.batch or None, "favourites": self.favourites, "user": user}

    @property
    def narrowed(self) -> bool:
        return self != Filters()


def build(studio: Studio) -> HistoryTab:
    jobs, selected, page, armed = gr.State([]), gr.State(None), gr.State(1), gr.State(None)
    with gr.Row(elem_id="history_filters"):
        search = gr.Textbox(label="Search prompts", placeholder="words from the prompt", max_lines=1,
                            elem_id="history_search", scale=3, min_width=220)
        status = gr.Dropdown([("All statuses", ANY), *[(s.capitalize(), s) for s in STATUSES]], value=ANY,
                             label="Status", elem_id="history_status", scale=1, min_width=150)
        model = gr.Dropdown([("All models", ANY)], value=ANY, label="Model", elem_id="history_model", scale=1,
                            min_width=150)
        batch = gr.Dropdown([("All batches", ANY)], value=ANY, label="Batch", elem_id="history_batch", scale=1,
                            min_width=170)
        favourites = gr.Checkbox(label="Favourites only", elem_id="history_favourites", scale=0, min_width=160)
        refresh = gr.Button("Refresh", elem_id="history_refresh", size="sm", scale=0, min_width=90)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            with gr.Row(elem_id="history_pager", equal_height=True):
                previous = gr.Button("← Previous", elem_id="history_prev", size="sm", interactive=False, scale=0,
                                     min_width=90)
                page_text = gr.Markdown(elem_id="history_page")
                following = gr.Button("Next →", elem_id="history_next", size="sm", interactive=False, scale=0,
                                      min_width=70)
            count = gr.Markdown(elem_id="history_count", visible=False)
            gallery = gr.Gallery(label="Past jobs", show_label=False, columns=3, height="auto", allow_preview=False,
                                 object_fit="cover", fit_columns=False, elem_id="history_gallery", interactive=False,
                                 buttons=[])
        with gr.Column(scale=5, min_width=320):
            video = gr.Video(label="Video", elem_id="history_video", interactive=False, buttons=["download"])
            details = gr.Markdown(_NO_JOB, elem_id="history_details")
            with gr.Row():
                favourite = gr.Button("☆ Favourite", elem_id="history_favourite", interactive=False)
                requeue = gr.Button("Re-queue", elem_id="history_requeue", interactive=False)
                delete = gr.Button("Delete", elem_id="history_delete", interactive=False)
            with gr.Row():
                use = gr.Button("Use these settings", elem_id="history_use")
                rerun = gr.Button("Re-run", variant="primary", elem_id="history_rerun")
            settings = gr.JSON(label="Settings", elem_id="history_settings", open=False)

    filters = [search, status, model, batch, favourites]
    inputs = [*filters, page]
    outputs = [gallery, jobs, count, page_text, previous, following, model, batch, page]
    detail = [video, details, settings, selected, favourite, requeue, delete, armed]
    videos = Path(studio.config.outputs) / "videos"

    def load(text="", status=ANY, model=ANY, batch=ANY, favourites=False, page=1, http: gr.Request = None):
        return _page(studio, Filters.of(text, status, model, batch, favourites), page, fmt.user_of(http))

    def first_page(text, status, model, batch, favourites, http: gr.Request = None):
        return load(text, status, model, batch, favourites, 1, http)

    def turn(step: int):
        def turned(text, status, model, batch, favourites, page, http: gr.Request = None):
            return load(text, status, model, batch, favourites, (page or 1) + step, http)
        return turned

    def pick(listed: list[dict], event: gr.SelectData):
        chosen = listed[event.index] if 0 <= event.index < len(listed) else None
        return _detail(studio.history.get(chosen["id"]) if chosen else None)

    def toggle_favourite(job_id, text, status, model, batch, favourites, page, http: gr.Request = None):
        with _shown_as_error():
            job = studio.job(_chosen(job_id), user=fmt.user_of(http))
            studio.history.set_favourite(job["id"], not job.get("favourite"))
        shown = load(text, status, model, batch, favourites, page, http)
        return (*shown, _favourite_button(studio.history.get(job["id"])))

    def queue_again(job_id, text, status, model, batch, favourites, page, http: gr.Request = None):
        with _shown_as_error():
            gr.Info(studio.requeue(_chosen(job_id), user=fmt.user_of(http)))
        return (*load(text, status, model, batch, favourites, page, http), *_detail(studio.history.get(job_id)))

    def remove(job_id, armed_id, text, status, model, batch, favourites, page, http: gr.Request = None):
        """The first click asks; a second click on the same job deletes it with its files."""
        with _shown_as_error():
            job = studio.job(_chosen(job_id), user=fmt.user_of(http))
            if armed_id != job["id"]:
                gr.Warning(f"Delete job {job['id']} with its video, thumbnail and settings file? "
                           "Click “Confirm delete” to delete it; pick another job to keep it.")
                return (*[gr.skip()] * (len(outputs) + len(detail) - 2), _delete_button(job, armed=True), job["id"])
            gone = delete_job_files(studio.history, job["id"], videos)
        gr.Info(_deleted_message(job["id"], gone))
        return (*load(text, status, model, batch, favourites, page, http), *_detail(None))

    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    # The search box's change, not input: a pasted or autofilled text searches too (nothing else writes to it).
    gr.on([search.change, status.input, model.input, batch.input, favourites.input], first_page, filters, outputs,
          trigger_mode="always_last", **quiet)
    previous.click(turn(-1), inputs, outputs, **quiet)
    following.click(turn(+1), inputs, outputs, **quiet)
    refresh.click(load, inputs, outputs, api_visibility="private")
    gallery.select(pick, jobs, detail, api_visibility="private")
    favourite.click(toggle_favourite, [selected, *inputs], [*outputs, favourite], **quiet)
    requeue.click(queue_again, [selected, *inputs], [*outputs, *detail], **quiet)
    delete.click(remove, [selected, armed, *inputs], [*outputs, *detail], **quiet)
    return HistoryTab(gallery, count, refresh, jobs, selected, use, rerun, load, inputs, outputs)


def _page(studio: Studio, filters: Filters, page: Any, user: str | None) -> tuple:
    """The values of HistoryTab.outputs for one page; a page past the end (after a delete) shows the last one."""
    query = filters.query(user)
    page = max(1, int(page or 1))
    listed, total = studio.history.search(**query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page > pages:
        page = pages
        listed, total = studio.history.search(**query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return (
        [(_thumbnail(job), fmt.history_caption(job)) for job in listed], listed,
        gr.Markdown(fmt.history_empty(filters.narrowed), visible=total == 0), fmt.page_label(page, pages, total),
        gr.Button(interactive=page > 1), gr.Button(interactive=page < pages),
        _choices(filters.model, "All models", studio.history.models(user=user)),
        _choices(filters.batch, "All batches", studio.history.batches(user=user)), page,
    )


def _choices(current: str, everything: str, values: list[str]) -> gr.Dropdown:
    """A filter's choices now; the chosen one stays listed even when its last job was deleted."""
    if current and current not in values:
        values = [current, *values]
    return gr.Dropdown(choices=[(everything, ANY), *[(value, value) for value in values]])


def _detail(job: dict[str, Any] | None) -> tuple:
    """The values of the selected job's panel (video, details, settings, id, its three buttons, no delete asked)."""
    if job is None:
        return None, _NO_JOB, None, None, _favourite_button(None), gr.Button(interactive=False), _delete_button(None), None
    output = job.get("output") if job.get("status") == "done" and _exists(job.get("output")) else None
    return (output, fmt.job_details(job), job.get("request"), job["id"], _favourite_button(job),
            gr.Button(interactive=job["status"] in REQUEUABLE), _delete_button(job), None)


def _favourite_button(job: dict[str, Any] | None) -> gr.Button:
    return gr.Button("★ Favourite" if job and job.get("favourite") else "☆ Favourite", interactive=job is not None)


def _delete_button(job: dict[str, Any] | None, armed: bool = False) -> gr.Button:
    """Deleting is offered for ended jobs only; a queued or running one must be cancelled first."""
    return gr.Button("Confirm delete" if armed else "Delete", variant="stop" if armed else "secondary",
                     interactive=job is not None and job["status"] not in ACTIVE)


def _deleted_message(job_id: str, gone: DeletedFiles) -> str:
    removed = len(gone.removed)
    message = f"Deleted job {job_id} and {removed} file{'' if removed == 1 else 's'}."
    if gone.kept:
        kept = ", ".join(map(str, gone.kept))
        message += f" Left on disk (outside the studio's videos folder, or not removable): {kept}."
    return message


def _chosen(job_id: str | None) -> str:
    if not job_id:
        raise gr.Error("Select a job in the list first.")
    return job_id


@contextmanager
def _shown_as_error() -> Iterator[None]:
    """The studio's own errors (not yours, not found, still running) reach the page as one line with the fix."""
    try:
        yield
    except StudioError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _exists(path: str | None) -> bool:
    return bool(path) and Path(path).is_file()


def _thumbnail(job: dict[str, Any]):
    """The job's JPEG when it has one, else a flat card in the colour of its status."""
    if _exists(job.get("thumbnail")):
        return job["thumbnail"]
    card = np.zeros((216, 384, 3), np.uint8)
    card[:] = _PLACEHOLDER_TONE.get(job.get("status"), (60, 64, 80))
    return image_file(card)
