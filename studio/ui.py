"""The Gradio page: layout and wiring only; every decision is the studio's (studio.service)."""

from __future__ import annotations

import threading
from typing import Iterator

import gradio as gr

from .errors import StudioError
from .events import Cancelled, Done, Failed, Notice, Preview, Progress, Started
from .preview import contact_sheet
from .service import Studio

GPU_QUEUE = "gpu"


def build_app(studio: Studio) -> gr.Blocks:
    spec = studio.spec

    def generate(prompt: str, seed: float = -1, steps: float = 0) -> Iterator[tuple]:
        try:
            request = studio.request(prompt, seed=None if seed is None or seed < 0 else int(seed), steps=int(steps) or None)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        cancel = threading.Event()
        preview, status = None, "queued"
        try:
            for event in studio.generate(request, cancel=cancel):
                if isinstance(event, Progress):
                    status = event.describe()
                elif isinstance(event, Started):
                    status = f"started · seed {request.seed}"
                elif isinstance(event, Preview):
                    preview = contact_sheet(event.frames)
                elif isinstance(event, Notice):
                    gr.Warning(event.message)
                elif isinstance(event, Done):
                    yield f"done in {event.summary['seconds']:.1f} s · seed {request.seed}", preview, event.output
                    return
                elif isinstance(event, Cancelled):
                    yield f"cancelled ({event.message})", preview, None
                    return
                elif isinstance(event, Failed):
                    raise gr.Error(event.message)
                yield status, preview, None
        finally:
            cancel.set()

    with gr.Blocks(title="Wan Studio") as app:
        gr.Markdown(f"# Wan Studio\nModel: **{spec.title}**")
        if spec.tiny:
            gr.Markdown(
                "**Demo model with random weights**: outputs are noise-like. "
                "Run with `--model wan2.2-t2v-a14b` (or a local folder) for real videos.",
                elem_id="tiny_banner",
            )
        prompt = gr.Textbox(label="Prompt", lines=3, elem_id="prompt")
        with gr.Row():
            seed = gr.Number(label="Seed (-1: random)", value=-1, precision=0, elem_id="seed")
            steps = gr.Number(label="Steps (0: model default)", value=0, precision=0, elem_id="steps")
        with gr.Row():
            run = gr.Button("Generate", variant="primary", elem_id="generate")
            stop = gr.Button("Cancel", elem_id="cancel")
        status = gr.Markdown(elem_id="status")
        preview = gr.Image(label="Preview", type="numpy", elem_id="preview", interactive=False)
        result = gr.Video(label="Result", elem_id="result", interactive=False)
        event = run.click(
            generate, [prompt, seed, steps], [status, preview, result], api_name="generate",
            concurrency_limit=1, concurrency_id=GPU_QUEUE,
        )
        stop.click(None, None, None, cancels=[event])
    app.queue(max_size=studio.config.max_queue)
    return app
