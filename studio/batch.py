"""Batches: many jobs from one prompt file, queued together, gathered in one folder with a contact sheet.

A row is recognised again by a hash of its line number and text, so running the same file after a
crash or a Ctrl-C queues only what has not run yet: a 200-prompt batch survives restarts. A bad row
is reported with its line number and never stops the others.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import html
import io
import json
import os
import re
import shutil
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from .errors import InvalidRequest, StudioError
from .history import ACTIVE, History
from .request import GenerationRequest

if TYPE_CHECKING:
    from .service import Studio

EXTENSIONS = (".txt", ".csv", ".jsonl")
COLUMNS = tuple(f.name for f in dataclasses.fields(GenerationRequest))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclass(frozen=True)
class Row:
    """One row of a batch file: its settings, or why it cannot run (`error`)."""

    line: int
    text: str
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> str:
        """Stable across runs while the row keeps its line and its text."""
        return hashlib.sha256(f"{self.line}\n{self.text}".encode()).hexdigest()[:16]


@dataclass
class Enqueued:
    """What queueing a batch did: a job id for every good row, and the rows that could not run."""

    jobs: dict[int, str] = field(default_factory=dict)  # line -> job id
    bad: list[Row] = field(default_factory=list)
    queued: int = 0
    skipped_done: int = 0
    waiting: list[str] = field(default_factory=list)  # job ids that have not ended yet


def read_rows(path: Path) -> list[Row]:
    """Rows of a .txt (a prompt a line), .csv (header of request fields) or .jsonl file; blank lines and
    lines starting with # are skipped. Raises InvalidRequest when the file as a whole cannot be used."""
    path = Path(path)
    if path.suffix.lower() not in EXTENSIONS:
        raise InvalidRequest("batch file", str(path), "use a .txt (one prompt a line), .csv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidRequest("batch file", str(path), "no such file. Fix: check the path") from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest("batch file", str(path), f"it is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                             "Fix: save it as UTF-8") from None
    rows = {".txt": _txt_rows, ".csv": _csv_rows, ".jsonl": _jsonl_rows}[path.suffix.lower()](text)
    if not rows:
        raise InvalidRequest("batch file", str(path), "it has no rows (blank lines and # comments are skipped). "
                             "Fix: add prompts")
    return rows


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of the lines that hold something."""
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def _txt_rows(text: str) -> list[Row]:
    return [Row(number, line, {"prompt": line.strip()}) for number, line in _lines(text)]


def _jsonl_rows(text: str) -> list[Row]:
    rows, fix = [], 'Fix: one JSON object a line, e.g. {"prompt": "a cat", "seed": 3}'
    for number, line in _lines(text):
        try:
            values = json.loads(line)
        except ValueError as exc:
            rows.append(Row(number, line, error=f"not valid JSON ({exc.msg} at column {exc.colno}). {fix}"))
            continue
        if not isinstance(values, dict):
            rows.append(Row(number, line, error=f"a JSON {type(values).__name__}, not an object. {fix}"))
            continue
        unknown = sorted(set(values) - set(COLUMNS))
        error = f"{unknown[0]}: unknown column; known columns are {', '.join(COLUMNS)}" if unknown else None
        rows.append(Row(number, line, values, error))
    return rows


def _csv_rows(text: str) -> list[Row]:
    """A header row of request fields, then one job a record (a quoted field may span lines)."""
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines)
    header: list[str] | None = None
    rows, start = [], 0
    for record in reader:
        raw, number, start = "".join(lines[start:reader.line_num]).rstrip("\r\n"), start + 1, reader.line_num
        if not any(cell.strip() for cell in record) or raw.lstrip().startswith("#"):
            continue
        if header is None:
            header = _header(record, number)
            continue
        if len(record) > len(header):
            rows.append(Row(number, raw, error=f"{len(record)} values but the header names {len(header)} columns. "
                                               "Fix: quote values that contain commas"))
            continue
        values = {name: _cell(name, cell) for name, cell in zip(header, record) if cell.strip()}
        rows.append(Row(number, raw, values))
    return rows


def _header(record: list[str], number: int) -> list[str]:
    """Column names; a column the request does not know would fail every row, so it fails the file."""
    names = [cell.strip().lower() for cell in record]
    for name in names:
        if name not in COLUMNS:
            raise InvalidRequest(f"line {number}", name, f"it is not a setting the studio knows "
                                 f"({', '.join(COLUMNS)}). Fix: rename or remove that column")
    if "prompt" not in names:
        raise InvalidRequest(f"line {number}", ",".join(names), "the header needs a prompt column. Fix: start the "
                             "file with a header such as prompt,seed,steps")
    return names


def _cell(name: str, cell: str) -> Any:
    """CSV holds text; the one yes/no field is turned into a bool (other values are checked as text)."""
    value = cell.strip()
    if name == "translate" and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return value


def batch_id_for(path: Path, name: str | None = None) -> str:
    """`--name`, else the file's stem and a hash of its resolved path: the same file is the same batch."""
    if name is not None:
        if not _NAME.fullmatch(name):
            raise InvalidRequest("name", name, "use 1 to 64 letters, digits, '.', '-' or '_', starting with a "
                                 "letter or digit")
        return name
    resolved = str(Path(path).resolve())
    return f"{slug(Path(path).stem, 24)}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def upload_batch_id(name: str, content: bytes) -> str:
    """A file dropped on the page: its name and a hash of its bytes, so dropping it again is the same batch."""
    return f"{slug(Path(name).stem, 24)}-{hashlib.sha256(content).hexdigest()[:8]}"


def slug(text: str, limit: int = 40) -> str:
    """An ASCII file-name part for a prompt ("video" when nothing of it is ASCII)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].rstrip("-") or "video"


def queue_rows(studio: Studio, batch_id: str, rows: list[Row], defaults: dict[str, Any], *,
               user: str | None = None, client: str | None = None) -> Enqueued:
    """Validate every row (its values over `defaults`) and queue the good ones that have no queued,
    running or finished job in this batch yet; a failed, cancelled or interrupted one is queued again.
    `user`/`client` own the new jobs (a page's batch shows as the page's own in the queue)."""
    known = {job["batch_key"]: job for job in batch_jobs(studio.history, batch_id)}  # the latest per key
    result = Enqueued()
    for row in rows:
        error = row.error
        if error is None:
            try:
                request = _request(studio, {**defaults, **row.values}, user)
            except StudioError as exc:
                error = str(exc)
        if error is not None:
            result.bad.append(dataclasses.replace(row, error=error))
            continue
        job = known.get(row.key)
        if job is None:
            job_id = studio.submit(request, batch_id=batch_id, batch_key=row.key, user=user, client=client)
            result.queued += 1
        elif job["status"] in ("done", *ACTIVE):
            job_id = job["id"]
            result.skipped_done += job["status"] == "done"
        else:  # failed, cancelled or interrupted: again, with its own settings and seed
            job_id = job["id"]
            studio.requeue(job_id)
            result.queued += 1
        result.jobs[row.line] = job_id
        if job is None or job["status"] != "done":
            result.waiting.append(job_id)
    return result


def _request(studio: Studio, values: dict[str, Any], user: str | None = None) -> GenerationRequest:
    values = dict(values)
    prompt, model, preset = values.pop("prompt", None), values.pop("model", None), values.pop("preset", None)
    return studio.request(prompt, model=model, preset=preset, user=user, **values)


def batch_jobs(history: History, batch_id: str) -> list[dict[str, Any]]:
    """The batch's jobs, oldest first (id, batch_key, status, output, thumbnail, seed, prompt, error_message)."""
    history.mark_interrupted()
    with history._db(write=False) as db:
        rows = db.execute(
            "SELECT id, batch_key, status, output, thumbnail, seed, prompt, error_message FROM jobs"
            " WHERE batch_id = ? ORDER BY created, id", (batch_id,),
        ).fetchall()
    return [dict(row) for row in rows]


def run_jobs(studio: Studio, batch_id: str, job_ids: list[str], on_end: Callable[[dict[str, Any]], None],
             poll: float = 0.5) -> dict[str, dict[str, Any]]:
    """Run the batch's queued jobs in this process (one worker) until all of `job_ids` have ended, whoever
    ran them (a served studio on the same outputs folder may claim some); `on_end` hears of each end."""
    pending = set(job_ids)
    if pending:
        studio.start_workers(1, batch_id=batch_id)
    try:
        while pending:
            for job in batch_jobs(studio.history, batch_id):
                if job["id"] in pending and job["status"] not in ACTIVE:
                    pending.discard(job["id"])
                    on_end(job)
            if pending:
                time.sleep(poll)
    finally:
        studio.stop_workers()
    return {job["id"]: job for job in batch_jobs(studio.history, batch_id)}


def index_rows(rows: list[Row], queued: Enqueued, jobs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry a row in line order, for `write_index`: a job's record, or a bad row's message."""
    bad = {row.line: row.error for row in queued.bad}
    entries = []
    for row in rows:
        job = jobs.get(queued.jobs.get(row.line, ""), {})
        entries.append({
            "line": row.line, "status": "invalid" if row.line in bad else job.get("status", "missing"),
            "prompt": job.get("prompt") or str(row.values.get("prompt") or row.text.strip()),
            "seed": job.get("seed"), "job_id": job.get("id"), "output": job.get("output"),
            "thumbnail": job.get("thumbnail"), "error": bad.get(row.line) or job.get("error_message") or "",
        })
    return entries


def write_index(folder: Path, entries: list[dict[str, Any]], title: str) -> list[dict[str, Any]]:
    """Gather the finished MP4s in `folder` as NNNN-<slug>.mp4 (hard links, copies where linking fails) with
    their thumbnails, and write index.csv and index.html; returns the entries with `file` set ("" if none).

    NNNN is the row's place in the file, so a name stays put across runs. Files of earlier runs that no
    row names any more are removed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, kept = [], set()
    for number, entry in enumerate(entries, start=1):
        entry = {**entry, "file": "", "image": ""}
        stem = f"{number:04d}-{slug(entry['prompt'])}"
        if entry["status"] == "done" and entry.get("output") and Path(entry["output"]).is_file():
            entry["file"] = _place(Path(entry["output"]), folder / f"{stem}.mp4")
            if entry.get("thumbnail") and Path(entry["thumbnail"]).is_file():
                entry["image"] = _place(Path(entry["thumbnail"]), folder / f"{stem}.jpg")
        kept.update({entry["file"], entry["image"]})
        written.append(entry)
    for old in [*folder.glob("*.mp4"), *folder.glob("*.jpg")]:
        if old.name not in kept:
            old.unlink()
    _write_text(folder / "index.csv", _csv(written))
    _write_text(folder / "index.html", _html(written, title))
    return written


def _place(source: Path, target: Path) -> str:
    """Put `source` at `target` (a hard link, a copy where the file system refuses links); the name."""
    if not (target.exists() and os.path.samefile(source, target)):
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, target)
    return target.name


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _csv(entries: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("line", "status", "prompt", "seed", "file", "job_id", "error"))
    for e in entries:
        writer.writerow((e["line"], e["status"], e["prompt"], e["seed"] if e["seed"] is not None else "", e["file"],
                         e["job_id"] or "", e["error"]))
    return out.getvalue()


def _html(entries: list[dict[str, Any]], title: str) -> str:
    """A contact sheet: a card a video (thumbnail, prompt, seed, link), then the rows that did not run."""
    esc = html.escape
    cards, problems = [], []
    for e in entries:
        if e["file"]:
            image = f'<img src="{esc(quote(e["image"]))}" alt="">' if e["image"] else ""
            cards.append(f'<figure><a href="{esc(quote(e["file"]))}">{image}</a><figcaption>{esc(e["prompt"])}'
                         f'<br><small>line {e["line"]} · seed {esc(str(e["seed"]))} · '
                         f'<a href="{esc(quote(e["file"]))}">{esc(e["file"])}</a></small></figcaption></figure>')
        else:
            problems.append(f"<li>line {e['line']} ({esc(e['status'])}): {esc(e['error'] or e['prompt'])}</li>")
    listed = f"<h2>Rows without a video</h2><ul>{''.join(problems)}</ul>" if problems else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title><style>'
        "body{font-family:sans-serif;margin:2em}main{display:grid;grid-template-columns:repeat(auto-fill,"
        "minmax(240px,1fr));gap:1em}figure{margin:0}img{width:100%;border-radius:4px}li{margin:.3em 0}"
        f"</style></head><body><h1>{esc(title)}</h1><p>{len(cards)} of {len(entries)} rows have a video.</p>"
        f"<main>{''.join(cards)}</main>{listed}</body></html>\n"
    )
