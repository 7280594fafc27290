"""Structured logs: one JSON object per line, each carrying the id of the job it belongs to.

On a shared server many jobs interleave; `grep '"job_id": "<id>"'` tells one job's story. The id
comes from `extra={"job_id": ...}` or, for anything logged inside a job's worker thread (memory
plans, speed-ups, diffusers), from `job_context`. `configure` is called by the entry points
(app.py, the CLI); importing this module changes nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import IO, Iterator

from .errors import InvalidSetting
from .events import Cancelled, Done, Event, Failed, Started

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_JOB_ID: ContextVar[str | None] = ContextVar("studio_job_id", default=None)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Records logged in this context (this thread, no generator in between) carry `job_id`."""
    token = _JOB_ID.set(job_id)
    try:
        yield
    finally:
        _JOB_ID.reset(token)


class JobIdFilter(logging.Filter):
    """Adds the current job's id to records that do not name one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = _JOB_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, job_id, any `extra` fields, and the exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO", *, json_lines: bool = True, libraries: bool = True,
              stream: IO[str] | None = None) -> None:
    """One handler on the root logger; with `libraries`, diffusers and transformers log through it too.

    An unknown `level` (STUDIO_LOG_LEVEL=bogus) raises InvalidSetting naming the levels; nothing is changed."""
    level = log_level(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setLevel(level)
    handler.addFilter(JobIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(job_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup probes, one line per request
    if libraries:
        for name in ("diffusers", "transformers"):
            try:
                library = __import__(f"{name}.utils.logging", fromlist=["logging"])
            except ImportError:
                continue
            library.disable_default_handler()
            library.enable_propagation()


def log_level(level: object) -> str:
    """A level name (any case) as logging spells it; anything else is an InvalidSetting with the fix."""
    name = str(level).strip().upper()
    if name not in LEVELS:
        shown = repr(level) if len(repr(level)) <= 40 else repr(level)[:37] + "..."
        raise InvalidSetting(f"STUDIO_LOG_LEVEL: {shown} is not a log level. Fix: set it to one of "
                             f"{', '.join(LEVELS)} (or unset it).")
    return name


def log_event(log: logging.Logger, event: Event) -> None:
    """One line for each milestone of a job; progress and previews are too many to log."""
    fields: dict = {"job_id": event.job_id}
    if isinstance(event, Started):
        log.info("job started", extra={**fields, "plan": event.plan, "language": event.prompt.get("language")})
    elif isinstance(event, Done):
        summary = event.summary
        log.info("job done", extra={**fields, "seconds": summary.get("seconds"), "timings": summary.get("timings"),
                                    "output": event.output})
    elif isinstance(event, Failed):
        # Bad input or missing weights is the user's to fix (info); a crash is logged with its traceback.
        log.info("job failed", extra={**fields, "kind": event.kind, "error": event.message})
    elif isinstance(event, Cancelled):
        log.info("job cancelled", extra={**fields, "step": event.step})
