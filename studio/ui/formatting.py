"""Text and HTML the page shows, as plain functions of the studio's data (testable without a browser)."""

from __future__ import annotations

import html
import re
import time
from typing import Any

from ..errors import InvalidRequest
from ..events import Progress
from ..language.languages import NAMES
from ..models import ModelSpec
from ..request import GenerationRequest

LANGUAGE_NAMES = {**NAMES, "und": "no words yet"}
# Every ASCII punctuation mark Markdown may read as syntax; `&`, `<`, `>` become HTML entities instead.
_MARKDOWN_SYNTAX = re.compile(r"([!\"#$%'()*+,\-./:;=?@\[\\\]^_`{|}~])")
_PHASE_SHARE = {"language": 0.0, "load": 0.01, "text": 0.02, "denoise": 0.03, "decode": 0.93, "encode": 0.97}


def plain(text: object) -> str:
    """User text (prompts, preset titles, messages that quote them) for a gr.Markdown or HTML component, shown
    as typed: no link, image, emphasis or tag of it renders, so a prompt with `![x](http://…)` makes no viewer's
    browser fetch anything. Line breaks and runs of spaces become one space."""
    text = " ".join(str(text if text is not None else "").split())
    return html.escape(_MARKDOWN_SYNTAX.sub(r"\\\1", text), quote=False)


def user_of(http: Any) -> str | None:
    """The login name of a Gradio request (None without logins): history and limits are per user."""
    return getattr(http, "username", None) if http is not None else None


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get(code or "und", code or "unknown")


def size_label(spec: ModelSpec, width: int, height: int) -> str:
    tier = "720P" if max(width, height) >= 1200 else "480P" if max(width, height) >= 800 else f"{min(width, height)}P"
    shape = "landscape" if width > height else "portrait" if height > width else "square"
    return f"{tier} {shape} · {width}×{height}"


def resolution_choices(spec: ModelSpec) -> list[tuple[str, str]]:
    """Official sizes first, named the way artists think of them; values are "WxH"."""
    return [(size_label(spec, w, h), f"{w}x{h}") for w, h in spec.official_sizes]


def parse_size(value: str) -> tuple[int, int]:
    """ "1280x720" -> (1280, 720); API callers may pass any size, which the request then validates."""
    width, _, height = str(value).lower().replace("×", "x").partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise InvalidRequest("resolution", value, "write it as WIDTHxHEIGHT, e.g. 1280x720") from None


def status_html(message: str, fraction: float | None = None, tone: str = "info") -> str:
    """A progress bar with one line of text; `tone` is info, done, warn or error."""
    bar = ""
    if fraction is not None:
        bar = f'<div class="ws-bar"><span style="width:{max(0.0, min(1.0, fraction)) * 100:.1f}%"></span></div>'
    return f'<div class="ws-status ws-{tone}">{bar}<p>{html.escape(message)}</p></div>'


def progress_status(event: Progress) -> str:
    """Overall progress: denoising is most of the job; decode and encode take the rest."""
    if event.phase in ("denoise", "decode"):
        following = {"denoise": "decode", "decode": "encode"}[event.phase]
        fraction = _PHASE_SHARE[event.phase] + event.fraction * (_PHASE_SHARE[following] - _PHASE_SHARE[event.phase])
    else:
        fraction = _PHASE_SHARE[event.phase]
    return status_html(event.describe().capitalize(), fraction)


def language_panel(prepared: dict[str, Any]) -> str:
    """One line: what the language layer did, as its summary says it ("Chinese and English: Chinese kept, ...")."""
    summary = plain(prepared.get("summary") or f"{language_name(prepared.get('language'))}, sent as typed")
    if prepared.get("translated"):
        return f"**{summary}** · {prepared.get('seconds') or 0.0:.2f} s. Edit below if needed."
    return f"**{summary}**."


def settings_summary(spec: ModelSpec, width: int, height: int, frames: int, fps: int, steps: int,
                     guidance: float, guidance_2: float | None, shift: float) -> str:
    cfg = f"{guidance:g} / {guidance_2:g}" if guidance_2 is not None and spec.two_experts else f"{guidance:g}"
    return (
        f"{width}×{height} · {frames} frames ({frames / fps:.1f} s at {fps} fps) · {steps} steps · "
        f"guidance {cfg} · shift {shift:g}"
    )


def job_caption(job: dict[str, Any]) -> str:
    prompt = (job.get("prompt") or "").replace("\n", " ")
    prompt = prompt if len(prompt) <= 48 else prompt[:47] + "…"
    return f"{job.get('status')} · seed {job.get('seed')} · {prompt}"


def job_details(job: dict[str, Any]) -> str:
    """Markdown for the history panel: what was asked, what the model read, how it ended."""
    request = job.get("request") or {}
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.get("created") or 0))
    lines = [
        f"**{plain(job.get('prompt'))}**",
        "",
        f"- status: **{job.get('status')}** · {created}" + (f" · {job['seconds']:.1f} s" if job.get("seconds") else ""),
        f"- model: {plain(job.get('model'))} · seed **{plain(job.get('seed'))}** · preset "
        f"{plain(request.get('preset') or 'none')}",
        "- " + plain(f"{request.get('width')}×{request.get('height')} · {request.get('frames')} frames · "
                     f"{request.get('steps')} steps"),
    ]
    if job.get("language_summary"):
        lines.append(f"- language: {plain(job['language_summary'])}")
    if job.get("model_prompt") and job.get("model_prompt") != job.get("prompt"):
        lines.append(f"- sent to the model ({plain(language_name(job.get('language')))} → zh): "
                     f"{plain(job['model_prompt'])}")
    for lora in job.get("loras") or []:  # what was applied: strengths and the file's sha256
        low = "" if lora.get("strength_low") is None else f" / {lora['strength_low']:g} (low-noise)"
        files = ", ".join(f"{f['file']} sha256 {f['sha256'][:12]}…" for f in lora.get("files") or [])
        lines.append("- " + plain(f"LoRA {lora.get('name')} at {lora.get('strength'):g}{low}: {files}"))
    if job.get("error_message"):
        lines.append(f"- {plain(job['error_message'])}")
    for notice in job.get("notices") or []:
        lines.append(f"- notice: {plain(notice)}")
    return "\n".join(lines)


def request_summary(request: GenerationRequest) -> str:
    return f"{request.width}×{request.height} · {request.frames} frames · {request.steps} steps · seed {request.seed}"



def history_caption(job: dict[str, Any]) -> str:
    """A card's caption: ★ for a favourite and the prompt's first words, then the date and the status on a line of
    their own (shown as a second line where the page's style keeps line breaks, else after a space)."""
    star = "★ " if job.get("favourite") else ""
    return f"{star}{first_words(job.get('prompt'))}\n{short_date(job.get('created'))} · {job.get('status')}"


def first_words(text: str | None, words: int = 8, chars: int = 60) -> str:
    """The start of a prompt: whole words where it has spaces, characters where it has none (Chinese)."""
    text = " ".join((text or "").split())
    short = " ".join(text.split(" ")[:words])
    short = short if len(short) <= chars else short[: chars - 1].rstrip()
    return short + "…" if short != text else short


def short_date(created: float | None, now: float | None = None) -> str:
    """ "today 14:05", "4 Dec" this year, "4 Dec 2025" before: as much as a card has room for."""
    when, today = time.localtime(created or 0), time.localtime(now)
    if when[:3] == today[:3]:
        return time.strftime("today %H:%M", when)
    return f"{when.tm_mday} {time.strftime('%b' if when.tm_year == today.tm_year else '%b %Y', when)}"


def page_label(page: int, pages: int, total: int) -> str:
    """ "page 2 of 17 · 400 jobs" """
    return f"page {page} of {pages} · {total:,} job{'' if total == 1 else 's'}"


def history_empty(filtered: bool) -> str:
    """Why a history page shows no jobs, and what to do about it."""
    if filtered:
        return "No jobs match. Change the search or the filters, or untick “Favourites only”."
    return "No jobs yet. Make one in the Create tab; it appears here as soon as it is queued."
