"""The System tab: the GPU doctor's report, the active model and memory plan."""

from __future__ import annotations

from pathlib import Path

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..service import Studio
from .formatting import short_date


def shown_folder(path: Path) -> str:
    """The outputs folder as visitors may see it: relative to the working directory when inside it, else only its
    name; never an absolute path (the System tab is public, and a path names users, mounts and layouts)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name or "."


@dataclass
class SystemTab:
    report: gr.Markdown
    load: Callable[[], str]  # the report as things are now: the page binds it to page load and to opening the tab


def build(studio: Studio) -> SystemTab:
    with gr.Row():
        check = gr.Button("Check the GPU (timed copies)", elem_id="doctor_refresh", size="sm", scale=0, min_width=200)
    report = gr.Markdown(elem_id="doctor")
    check.click(lambda: _text(studio, measure=True), None, report, api_visibility="private")
    return SystemTab(report, lambda: _text(studio, measure=False))


def _plan(studio: Studio) -> str:
    """The plan loaded in this process, else the last job's (workers in other processes load their own)."""
    loaded = studio.pipelines.loaded_plan()
    if loaded:
        return f"`{loaded}` (loaded)"
    last = next((job for job in studio.history.list(limit=50) if job.get("plan")), None)
    if last is None:
        return "chosen when the first job starts"
    return f"`{last['plan']}` (the last job's, {short_date(last.get('finished') or last['created'])})"


def _translators(studio: Studio) -> str:
    """Which translator runs, and how to choose another: it is the studio's setting, not a page's."""
    from ..language.translators import available_translators
    from ..models import is_cached

    used = studio.config.resolved_translator(studio.spec.name)
    lines = [f"**Translation:** `{used}`. Another is chosen when the studio starts: `python app.py --translator NAME` "
             "(or `STUDIO_TRANSLATOR=NAME`)."]
    for entry in available_translators():
        model = entry["model_id"]
        if entry["name"] in ("none", "tiny"):
            where = ""
        elif is_cached(model, "config.json"):
            where = " Weights: on this machine."
        else:
            where = f" Weights: not on this machine (`hf download {model}`, or downloaded on first use)."
        lines.append(f"- `{entry['name']}`{' (in use)' if entry['name'] == used else ''}: {entry['description']}{where}")
    return "\n".join(lines)


def _text(studio: Studio, measure: bool) -> str:
    from ..doctor import format_report

    plan = _plan(studio)
    return (
        f"**Model:** {studio.spec.title}  \n**Memory plan:** {plan}  \n"
        f"**Speed-ups:** {studio.speed_description()}  \n"
        "**8-bit attention (ours, INT8 Q·Kᵀ + FP8 P·V):** the default of fast jobs (`STUDIO_FAST_ATTENTION`), per "
        "job under Advanced → Attention, or for every job with `STUDIO_ATTENTION=int8`; on one H100 a 720P step "
        "took 19.4 s against stock diffusers' 25.4 s (1.32x; the exact path: 1.11x), with 0.86 % error on "
        "structured inputs and 6.3 % on random ones (BENCHMARKS.md).  \n"
        f"**Outputs and history:** `{shown_folder(studio.config.outputs)}`\n\n"
        f"{_translators(studio)}\n\n"
        f"```text\n{format_report(studio.doctor(measure=measure))}\n```"
    )
