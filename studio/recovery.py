"""What a starting studio finds in its outputs folder after a crash, and puts right.

- Half-written files (`.NAME.partial.EXT`) are removed only when provably dead: their job is not running
  under a live process. Another process's MP4 in progress is never touched.
- A job killed after its MP4 and sidecar were complete (kill -9 between the rename and the history
  write, or a history write that failed after them) is `done`, with its files: a finished video is
  never orphaned.
- After a corrupt history was moved aside, every finished video is entered again from its sidecar.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from .history import History, owner_alive

log = logging.getLogger("studio")
_PARTIAL = re.compile(r"^\.(?P<job>[0-9]{8}-[0-9]{6}-[0-9a-f]{6,16})\.(mp4|json|jpg)\.partial\.\w+$")


def recover(history: History, videos: Path) -> dict[str, int]:
    """Put the folder right; returns how many files and jobs each step touched (for the log).

    Every start (the CLI's too) runs this, so it reads only what may need it: the sidecars of jobs that
    ended without their video, and every sidecar only after a corrupt history was replaced."""
    history.mark_interrupted()
    done = {"partials_removed": _remove_dead_partials(history, videos), "jobs_completed": 0, "jobs_restored": 0}
    with history._db(write=False) as db:
        unfinished = [row["id"] for row in db.execute(
            "SELECT id FROM jobs WHERE status IN ('interrupted', 'failed') AND output IS NULL")]
    for job_id in unfinished:  # died, or failed writing the history, after its files were complete
        sidecar = videos / f"{job_id}.json"
        summary, _ = _finished(sidecar) if sidecar.is_file() else (None, {})
        if summary is not None:
            _complete(history, summary, sidecar)
            done["jobs_completed"] += 1
    for sidecar in sorted(videos.glob("*.json")) if history.moved_aside and videos.is_dir() else []:
        summary, metadata = _finished(sidecar)
        if summary is not None and history.get(summary["job_id"]) is None:
            _restore(history, metadata, summary, sidecar)
            done["jobs_restored"] += 1
    if any(done.values()):
        log.info("outputs folder recovered", extra=done)
    return done


def _remove_dead_partials(history: History, videos: Path) -> int:
    removed = 0
    for partial in videos.glob(".*.partial.*") if videos.is_dir() else []:
        match = _PARTIAL.match(partial.name)
        if match is None:
            continue  # not a name the studio writes: not ours to judge
        job = history.get(match["job"])
        if job is not None and job["status"] == "running" and owner_alive(job.get("owner")):
            continue  # another process is writing it right now
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


def _finished(sidecar: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The sidecar's summary when its job finished completely (the MP4 is in place), else None."""
    try:
        metadata = json.loads(sidecar.read_text(encoding="utf-8"))
        summary = metadata["summary"]
        complete = Path(summary["output"]).is_file() and summary["job_id"] == sidecar.stem
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}
    return (summary if complete else None), metadata


def _complete(history: History, summary: dict[str, Any], sidecar: Path) -> None:
    history.finish(
        summary["job_id"], "done", output=summary["output"], thumbnail=summary.get("thumbnail"), sidecar=str(sidecar),
        seconds=summary.get("seconds"), notices=summary.get("notices") or [], timings=summary.get("timings"),
        error_kind=None, error_message=None,
    )


def _restore(history: History, metadata: dict[str, Any], summary: dict[str, Any], sidecar: Path) -> None:
    """A job row again, from what its sidecar kept (settings, prompt, seed, files, timings)."""
    created = sidecar.stat().st_mtime - float(summary.get("seconds") or 0)
    request = metadata.get("settings") or {}
    with history._db() as db:
        db.execute(
            "INSERT OR IGNORE INTO jobs (id, created, started, finished, status, model, prompt, seed, request,"
            " language, model_prompt, translated, translator, plan, output, thumbnail, sidecar, seconds, timings)"
            " VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (summary["job_id"], created, created, sidecar.stat().st_mtime, summary.get("model"), summary.get("prompt"),
             summary.get("seed"), json.dumps(request, ensure_ascii=False), summary.get("language"),
             summary.get("model_prompt"), summary.get("translated"), summary.get("translator"),
             json.dumps({"name": summary.get("plan")}), summary["output"], summary.get("thumbnail"), str(sidecar),
             summary.get("seconds"), json.dumps(summary.get("timings") or {})),
        )
