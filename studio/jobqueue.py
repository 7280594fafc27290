"""The studio's render queue: jobs wait in the history's SQLite table, in order, until a worker claims one.

The queue is a view of the `jobs` table (status `queued`, ordered by `position`), so it outlives
browser tabs and restarts and is shared by every process on the outputs folder: a claim is one
write transaction, so two workers never take the same job.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .history import History, current_owner


@dataclass(frozen=True)
class Place:
    """Where a queued job stands: `ahead` jobs wait before it, `running` run now, `wait` seconds (None: unknown)."""

    ahead: int
    running: int
    wait: float | None

    def describe(self) -> str:
        """ "3rd in line, starts in about 31 min" """
        line = f"{_ordinal(self.ahead + 1)} in line" if self.ahead or self.running else "next in line"
        if self.wait is None:
            return line
        return f"{line}, starts in about {duration_words(self.wait)}"


class JobQueue:
    """Enqueue, claim, reorder and drop queued jobs; every method is one short transaction."""

    def __init__(self, history: History) -> None:
        self.history = history

    def enqueue(self, request: dict[str, Any], *, user: str | None = None, **fields: Any) -> str:
        """A job at the end of the line; `fields` are history columns (client, batch_id, batch_key, parent_id)."""
        return self.history.create(request, user=user, status="queued", **fields)

    def claim(self, *, job_id: str | None = None, batch_id: str | None = None) -> dict[str, Any] | None:
        """Take the first queued job (or that one, or the first of that batch) for this process; None if none."""
        where, args = ["status = 'queued'"], []
        if job_id is not None:
            where.append("id = ?")
            args.append(job_id)
        if batch_id is not None:
            where.append("batch_id = ?")
            args.append(batch_id)
        with self.history._db() as db:
            row = db.execute(
                f"SELECT id FROM jobs WHERE {' AND '.join(where)} ORDER BY position, created LIMIT 1", args
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', owner = ?, started = ? WHERE id = ?",
                       (current_owner(), time.time(), row["id"]))
        return self.history.get(row["id"])

    def drop(self, job_id: str, message: str) -> bool:
        """Cancel a job that has not started; False when it is no longer queued (a worker took it)."""
        with self.history._db() as db:
            changed = db.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?, error_kind = 'cancelled', error_message = ?"
                " WHERE id = ? AND status = 'queued'", (time.time(), message, job_id),
            ).rowcount
        return bool(changed)

    def move_to_top(self, job_id: str) -> bool:
        """Put a queued job first in line; False when it is not queued."""
        with self.history._db() as db:
            first = db.execute("SELECT MIN(position) FROM jobs WHERE status = 'queued'").fetchone()[0]
            changed = db.execute("UPDATE jobs SET position = ? WHERE id = ? AND status = 'queued'",
                                 ((first or 0) - 1, job_id)).rowcount
        return bool(changed)

    def requeue(self, job_id: str) -> bool:
        """Queue an interrupted, failed or cancelled job again, same id and settings, at the end of the line."""
        with self.history._db() as db:
            last = db.execute("SELECT COALESCE(MAX(position), 0) FROM jobs").fetchone()[0]
            changed = db.execute(
                "UPDATE jobs SET status = 'queued', position = ?, owner = NULL, started = NULL, finished = NULL,"
                " step = NULL, error_kind = NULL, error_message = NULL, error_traceback = NULL, output = NULL,"
                " thumbnail = NULL, sidecar = NULL, seconds = NULL"
                " WHERE id = ? AND status IN ('interrupted', 'failed', 'cancelled')", (last + 1, job_id),
            ).rowcount
        return bool(changed)

    def cancels_asked(self, job_ids: list[str]) -> list[str]:
        """Which of these running jobs someone asked to cancel."""
        marks = ", ".join("?" * len(job_ids))
        with self.history._db(write=False) as db:
            rows = db.execute(f"SELECT id FROM jobs WHERE cancel_requested = 1 AND id IN ({marks})", job_ids).fetchall()
        return [row["id"] for row in rows]

    def waiting(self) -> list[dict[str, Any]]:
        """Running jobs first, then queued ones in the order they will run."""
        self.history.mark_interrupted()
        with self.history._db(write=False) as db:
            rows = db.execute(
                "SELECT id, status, user, client, prompt, model, request, created, started, step, batch_id, position"
                " FROM jobs WHERE status IN ('running', 'queued')"
                " ORDER BY status = 'queued', position, started, created"
            ).fetchall()
        return [_waiting_row(row) for row in rows]

    def place(self, job_id: str, estimate: "Estimator | None" = None) -> Place | None:
        """Where a queued job stands (None when it is not queued), with the wait when `estimate` can tell."""
        line = self.waiting()
        running = [job for job in line if job["status"] == "running"]
        queued = [job for job in line if job["status"] == "queued"]
        index = next((i for i, job in enumerate(queued) if job["id"] == job_id), None)
        if index is None:
            return None
        wait = estimate.starts(running, queued[:index + 1])[index] if estimate else None
        return Place(index, len(running), wait)


class Estimator:
    """Seconds a job will take, from this studio's own finished jobs of the same model.

    Work is measured as steps x latent tokens (what the denoiser's cost grows with); the rate is the
    median seconds per unit of the last finished jobs, so it includes decode and MP4 as they ran here.
    """

    def __init__(self, history: History, recent: int = 20) -> None:
        self.history = history
        self.recent = recent

    def rate(self, model: Any) -> float | None:
        """Median seconds per unit of work of this model's last finished jobs; None before the first."""
        return _median_rate(self.history, model, "seconds", self.recent, lambda row, done: row["seconds"] / _work(done))

    def seconds(self, request: dict[str, Any]) -> float | None:
        rate = self.rate(request.get("model"))
        return None if rate is None else rate * _work(request)

    def starts(self, running: list[dict[str, Any]], queued: list[dict[str, Any]]) -> list[float | None]:
        """For each queued job in line order, the seconds until it starts: what the running jobs have left plus
        the jobs ahead of it, shared by as many workers as run jobs now. One rate look-up per model."""
        rates: dict[Any, float | None] = {}

        def whole(job: dict[str, Any]) -> float | None:
            model = job["request"].get("model")
            if model not in rates:
                rates[model] = self.rate(model)
            return None if rates[model] is None else rates[model] * _work(job["request"])

        now, total, parallel = time.time(), 0.0, max(1, len(running))
        for job in running:
            seconds = whole(job)
            if seconds is None:
                return [None] * len(queued)
            total += max(0.0, seconds - (now - (job.get("started") or now)))
        starts: list[float | None] = []
        for job in queued:
            starts.append(None if total is None else total / parallel)
            seconds = whole(job)
            total = None if total is None or seconds is None else total + seconds
        return starts

    def wait(self, running: list[dict[str, Any]], ahead: list[dict[str, Any]]) -> float | None:
        """Until a job behind `ahead` starts."""
        return self.starts(running, [*ahead, {"request": {}}])[-1]


def tail_seconds(history: History, request: dict[str, Any], recent: int = 20) -> float | None:
    """Decode + MP4 seconds for this request, from the rate (per output pixel-frame) of this machine's last
    finished jobs of the same model; None before the first one."""
    def rate(row, done: dict[str, Any]) -> float:
        timings = json.loads(row["timings"])
        return (timings["decode"] + timings.get("encode", 0.0)) / _pixels(done)

    median = _median_rate(history, request.get("model"), "timings", recent, rate)
    return None if median is None else median * _pixels(request)


def _median_rate(history: History, model: Any, column: str, recent: int, rate) -> float | None:
    """The median of `rate(row, request)` over the last finished jobs of `model` that recorded `column`."""
    with history._db(write=False) as db:
        rows = db.execute(
            f"SELECT request, {column} FROM jobs WHERE status = 'done' AND model = ? AND {column} IS NOT NULL"
            " ORDER BY finished DESC LIMIT ?", (model, recent),
        ).fetchall()
    rates = []
    for row in rows:
        try:
            value = rate(row, json.loads(row["request"]))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if value > 0:
            rates.append(value)
    if not rates:
        return None
    rates.sort()
    return rates[len(rates) // 2]


def _pixels(request: dict[str, Any]) -> int:
    return int(request["width"]) * int(request["height"]) * int(request["frames"])


def _work(request: dict[str, Any]) -> float:
    frames = int(request.get("frames") or 1)
    tokens = ((frames - 1) // 4 + 1) * (int(request.get("width") or 16) // 16) * (int(request.get("height") or 16) // 16)
    return max(1, int(request.get("steps") or 1)) * tokens


def _waiting_row(row) -> dict[str, Any]:
    job = dict(row)
    try:
        job["request"] = json.loads(job["request"])
    except (TypeError, ValueError):
        job["request"] = {}
    return job


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def duration_words(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
