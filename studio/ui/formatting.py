"""Text and HTML the page shows, as plain functions of the studio's data (testable without a browser)."""

from __future__ import annotations

import html
import time
from typing import Any

from ..errors import InvalidRequest
from ..events import Progress
from ..models import ModelSpec
from ..request import GenerationRequest

LANGUAGE_NAMES = {
    "zh": "Chinese", "en": "English", "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German",
    "es": "Spanish", "ru": "Russian", "it": "Italian", "pt": "Portuguese", "und": "no words yet",
}
_PHASE_SHARE = {"language": 0.0, "load": 0.01, "text": 0.02, "denoise": 0.03, "decode": 0.93, "encode": 0.97}


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
    if event.phase == "denoise":
        fraction = _PHASE_SHARE["denoise"] + event.fraction * (_PHASE_SHARE["decode"] - _PHASE_SHARE["denoise"])
    else:
        fraction = _PHASE_SHARE[event.phase]
    return status_html(event.describe().capitalize(), fraction)


def language_panel(prepared: dict[str, Any]) -> str:
    """One line: what was detected and what happens to it."""
    language = language_name(prepared.get("language"))
    backend = prepared.get("backend") or "none"
    if prepared.get("translated"):
        took = prepared.get("seconds") or 0.0
        return f"Detected **{language}** · translated to Chinese by `{backend}` in {took:.2f} s. Edit below if needed."
    if prepared.get("language") == "zh":
        return f"Detected **{language}** · sent to the model as written."
    return f"Detected **{language}** · sent as typed."


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
        f"**{html.escape(job.get('prompt') or '')}**",
        "",
        f"- status: **{job.get('status')}** · {created}" + (f" · {job['seconds']:.1f} s" if job.get("seconds") else ""),
        f"- model: `{job.get('model')}` · seed **{job.get('seed')}** · preset `{request.get('preset') or 'none'}`",
        f"- {request.get('width')}×{request.get('height')} · {request.get('frames')} frames · "
        f"{request.get('steps')} steps",
    ]
    if job.get("model_prompt") and job.get("model_prompt") != job.get("prompt"):
        lines.append(f"- sent to the model ({language_name(job.get('language'))} → zh): {html.escape(job['model_prompt'])}")
    if job.get("error_message"):
        lines.append(f"- {html.escape(job['error_message'])}")
    for notice in job.get("notices") or []:
        lines.append(f"- notice: {html.escape(notice)}")
    return "\n".join(lines)


def request_summary(request: GenerationRequest) -> str:
    return f"{request.width}×{request.height} · {request.frames} frames · {request.steps} steps · seed {request.seed}"
