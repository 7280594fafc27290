"""The persistent record of every job: SQLite (WAL) in the outputs folder.

A job waits as `queued` (no owner: it survives restarts and runs when a worker claims it), then is
`running` with the identity of the process that runs it; when that process is gone (crash, kill -9,
power cut) the job reads as `interrupted`, never as `running`. Schema changes are numbered
migrations applied on open.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple

from .errors import InvalidRequest, StorageError

Status = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
JOB_ID_PATTERN = r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6,16}"  # 6 hex digits before 2026-12, 16 since

_COLUMNS = (
    "id", "created", "started", "finished", "status", "model", "prompt", "seed", "request", "language",
    "model_prompt", "translated", "translator", "notices", "plan", "output", "thumbnail", "sidecar",
    "seconds", "error_kind", "error_message", "error_traceback", "owner", "user",
    "position", "batch_id", "batch_key", "parent_id", "client", "favourite", "step", "cancel_requested", "timings",
    "language_summary", "loras",
)


def _m001_jobs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY, created REAL NOT NULL, started REAL, finished REAL,
            status TEXT NOT NULL, model TEXT, prompt TEXT, seed INTEGER, request TEXT NOT NULL,
            language TEXT, model_prompt TEXT, translated INTEGER, translator TEXT, notices TEXT,
            plan TEXT, output TEXT, thumbnail TEXT, sidecar TEXT, seconds REAL,
            error_kind TEXT, error_message TEXT, error_traceback TEXT, owner TEXT, user TEXT)"""
    )
    db.execute("CREATE INDEX jobs_created ON jobs (created DESC)")
    db.execute("CREATE INDEX jobs_status ON jobs (status)")


def _m002_queue(db: sqlite3.Connection) -> None:
    """The studio's own queue: a place in line, the batch and parent a job belongs to, the browser that
    submitted it (a page finds its jobs again after a reload), favourites, the last step reached, and a
    cancel asked by any process (the worker running the job reads it), and phase timings (the ETA of later
    jobs includes the decode and MP4 as this machine ran them)."""
    for column in ("position REAL", "batch_id TEXT", "batch_key TEXT", "parent_id TEXT", "client TEXT",
                   "favourite INTEGER NOT NULL DEFAULT 0", "step INTEGER",
                   "cancel_requested INTEGER NOT NULL DEFAULT 0", "timings TEXT"):
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    db.execute("CREATE INDEX jobs_queue ON jobs (status, position)")
    db.execute("CREATE INDEX jobs_batch ON jobs (batch_id, batch_key)")
    db.execute("CREATE INDEX jobs_client ON jobs (client, created DESC)")


def _m003_browse(db: sqlite3.Connection) -> None:
    """The History tab pages through thousands of jobs by user, favourite and model, newest first."""
    db.execute("CREATE INDEX jobs_user ON jobs (user, created DESC)")
    db.execute("CREATE INDEX jobs_favourite ON jobs (favourite, created DESC)")
    db.execute("CREATE INDEX jobs_model ON jobs (model, created DESC)")


def _m004_language_summary(db: sqlite3.Connection) -> None:
    """What the language layer did, in words a user can check ("Chinese and English: Chinese kept, 2 English parts
    translated with marian"); jobs recorded before it have none."""
    db.execute("ALTER TABLE jobs ADD COLUMN language_summary TEXT")


def _m005_loras(db: sqlite3.Connection) -> None:
    """The LoRAs a job applied: name, strengths and each file's sha256, so a re-run can tell a changed file."""
    db.execute("ALTER TABLE jobs ADD COLUMN loras TEXT")


_PRESET = "json_extract(request, '$.preset')"  # the one spelling the index and its query share


def _m006_preset_cards(db: sqlite3.Connection) -> None:
    """A user's preset card is the thumbnail of their newest finished video with that preset, looked up for every
    preset on every page load: an index on the request's preset keeps that off a scan of the whole history."""
    db.execute(f"CREATE INDEX jobs_preset_done ON jobs ({_PRESET}, created DESC) "
               "WHERE status = 'done' AND thumbnail IS NOT NULL")


MIGRATIONS = (_m001_jobs, _m002_queue, _m003_browse, _m004_language_summary, _m005_loras, _m006_preset_cards)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process, so a reused pid is not mistaken for the owner."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def current_owner() -> str:
    pid = os.getpid()
    return json.dumps({"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)})


def owner_alive(owner: str | None) -> bool:
    """Whether the process recorded as running a job still exists on this host."""
    try:
        info = json.loads(owner or "")
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return False
    if info.get("host") != socket.gethostname():
        return True  # another machine's job: we cannot tell, so we do not overrule it
    start = _process_start(pid)
    if start is not None or info.get("start") is not None:
        return start is not None and start == info.get("start")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host(owner: str | None) -> str | None:
    try:
        return json.loads(owner or "").get("host")
    except (ValueError, AttributeError):
        return None


def new_job_id() -> str:
    """Sortable by time, and unguessable: 64 random bits (a job id is what a follower or a file name needs)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(8)


class History:
    """Jobs in `<folder>/history.sqlite`; every method opens its own short connection (thread- and process-safe)."""

    busy_seconds = 10.0  # how long a write waits for another process's transaction before it is an error

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "history.sqlite"
        self.moved_aside: Path | None = None  # where a corrupt history went (the studio says so and rebuilds)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not _corrupt(exc):
                raise
            self.moved_aside = self._move_aside()
            self._open()
        self.mark_interrupted()

    def _open(self) -> None:
        setup = sqlite3.connect(self.path, timeout=10)
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            if setup.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
        finally:
            setup.close()
        with self._db() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
                migrate(db)
                db.execute(f"PRAGMA user_version = {number}")

    def _move_aside(self) -> Path:
        """Keep a corrupt history for whoever wants to rescue it, and start a new one (rebuilt from the sidecars)."""
        aside = self.path.with_name(f"history.corrupt-{time.strftime('%Y%m%d-%H%M%S')}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                os.replace(part, Path(f"{aside}{suffix}"))
        return aside

    @contextmanager
    def _db(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction: a writer takes the lock at once (no upgrade deadlock); a reader never takes it
        (WAL lets it read beside a writer), so the UI's polling of the history never queues behind a job."""
        try:
            db = sqlite3.connect(self.path, timeout=self.busy_seconds, isolation_level=None)
        except sqlite3.Error as exc:
            raise _storage_error(self.path, exc) from None
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:  # a failed BEGIN leaves none: rolling back then would hide the real error
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) or (isinstance(exc, sqlite3.DatabaseError) and _corrupt(exc)):
                raise _storage_error(self.path, exc) from None
            raise
        finally:
            db.close()

    def create(self, request: dict[str, Any], *, user: str | None = None, status: Status = "running",
               **fields: Any) -> str:
        """A new job: `running` (owned by this process) for a job run at once, `queued` (no owner) for the queue."""
        job_id = new_job_id()
        row = {"id": job_id, "created": time.time(), "status": status, "model": request.get("model"),
               "prompt": request.get("prompt"), "seed": request.get("seed"),
               "request": json.dumps(request, ensure_ascii=False),
               "owner": current_owner() if status == "running" else None, "user": user, **fields}
        if status == "running":
            row.setdefault("started", row["created"])
        with self._db() as db:
            if status == "queued":
                row["position"] = db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        return job_id

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of one job; dicts and lists are stored as JSON."""
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown history columns: {sorted(unknown)}")
        values = [json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list, tuple)) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._db() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))

    def start(self, job_id: str, **fields: Any) -> None:
        self.update(job_id, status="running", started=time.time(), owner=current_owner(), **fields)

    def finish(self, job_id: str, status: Status, **fields: Any) -> None:
        self.update(job_id, status=status, finished=time.time(), **fields)

    def get(self, job_id: str) -> dict[str, Any] | None:
        self.mark_interrupted()
        with self._db(write=False) as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row(row) if row else None

    def list(self, *, limit: int = 200, user: str | None = None) -> list[dict[str, Any]]:
        """Newest first; with `user`, only that user's jobs."""
        self.mark_interrupted()
        query, args = "SELECT * FROM jobs", []
        if user is not None:
            query, args = query + " WHERE user = ?", [user]
        with self._db(write=False) as db:
            rows = db.execute(query + " ORDER BY created DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_row(row) for row in rows]

    def mark_interrupted(self, *, other_hosts: bool = False) -> int:
        """Turn running jobs whose owning process has died into `interrupted`; returns how many.

        Queued jobs have no owner and wait for the next worker, across restarts. A job of another host
        counts as alive unless `other_hosts` says this process owns the folder (studio.folderlock): then a
        job left running by an earlier container (a new host name each `docker run`) is dead too. Looks in a
        read transaction first and writes only when it found some (the usual case is none)."""
        query = "SELECT id, owner FROM jobs WHERE status = 'running'"

        def is_dead(owner: str | None) -> bool:
            return not owner_alive(owner) or (other_hosts and _host(owner) != socket.gethostname())

        with self._db(write=False) as db:
            if not any(is_dead(row["owner"]) for row in db.execute(query).fetchall()):
                return 0
        with self._db() as db:  # again under the write lock: another process may have marked them meanwhile
            dead = [row["id"] for row in db.execute(query).fetchall() if is_dead(row["owner"])]
            for job_id in dead:
                db.execute(
                    "UPDATE jobs SET status = 'interrupted', finished = COALESCE(finished, ?),"
                    " error_kind = 'interrupted', error_message = ? WHERE id = ?",
                    (time.time(), "the studio process stopped before this job finished", job_id),
                )
        return len(dead)

    def integrity(self) -> str:
        with self._db() as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0]

    def search(
        self, *, text: str | None = None, status: str | None = None, model: str | None = None,
        batch_id: str | None = None, favourites: bool = False, user: str | None = None, offset: int = 0,
        limit: int = 24,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the matching jobs, newest first, and how many match in all (the History tab pages
        through thousands of jobs). `text` is found anywhere in the prompt, whatever its case."""
        self.mark_interrupted()
        where, args = _browse_filter(text, status, model, batch_id, favourites, user)
        with self._db(write=False) as db:
            db.create_function("casefold", 1, _casefold, deterministic=True)
            total = db.execute(f"SELECT COUNT(*) FROM jobs{where}", args).fetchone()[0]
            rows = db.execute(f"SELECT * FROM jobs{where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                              (*args, max(0, limit), max(0, offset))).fetchall()
        return [_row(row) for row in rows], total

    def latest_thumbnail(self, preset: str, *, user: str | None = None) -> Path | None:
        """The thumbnail of the newest finished video made with `preset` (by `user`, with logins)."""
        query = f"SELECT thumbnail FROM jobs WHERE status = 'done' AND thumbnail IS NOT NULL AND {_PRESET} = ?"
        args: list[Any] = [preset]
        if user is not None:
            query, args = query + " AND user = ?", [*args, user]
        with self._db(write=False) as db:
            row = db.execute(query + " ORDER BY created DESC LIMIT 1", args).fetchone()
        return Path(row["thumbnail"]) if row else None

    def set_favourite(self, job_id: str, on: bool) -> None:
        with self._db() as db:
            if not db.execute("UPDATE jobs SET favourite = ? WHERE id = ?", (int(bool(on)), job_id)).rowcount:
                raise _no_such_job(job_id)

    def delete(self, job_id: str) -> list[Path]:
        """Remove a job's record and return the files it pointed to (the caller decides which to unlink).

        A queued or running job is refused: its worker would write files for a record that is gone."""
        self.mark_interrupted()
        with self._db() as db:
            row = db.execute("SELECT status, output, thumbnail, sidecar FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise _no_such_job(job_id)
            if row["status"] in ACTIVE:
                raise InvalidRequest("job", job_id, f"it is {row['status']}, and a queued or running job cannot be "
                                     "deleted. Fix: cancel it first (Create tab → Cancel), then delete it")
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return [Path(row[key]) for key in ("output", "thumbnail", "sidecar") if row[key]]

    def models(self, *, user: str | None = None) -> list[str]:
        """The models jobs were made with (for a filter), alphabetically."""
        where, args = _browse_filter(user=user)
        with self._db(write=False) as db:
            rows = db.execute(f"SELECT DISTINCT model FROM jobs{where} AND model IS NOT NULL ORDER BY model", args)
            return [row["model"] for row in rows.fetchall()]

    def batches(self, *, user: str | None = None) -> list[str]:
        """The batches jobs belong to (for a filter), newest first."""
        where, args = _browse_filter(user=user)
        with self._db(write=False) as db:
            rows = db.execute(f"SELECT batch_id FROM jobs{where} AND batch_id IS NOT NULL GROUP BY batch_id"
                              " ORDER BY MAX(created) DESC", args)
            return [row["batch_id"] for row in rows.fetchall()]


def _corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _storage_error(path: Path, exc: sqlite3.Error) -> StorageError:
    """A failed history read or write, named with its cause and the fix for that cause."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        fix = ("another process held it too long. Fix: wait for it, or stop the other program using this "
               "outputs folder (one studio per folder)")
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        fix = "the folder or the file cannot be written. Fix: make it writable or choose another --outputs folder"
    elif "disk is full" in lowered or "no space" in lowered:
        fix = "the disk is full. Fix: free disk space"
    elif _corrupt(exc):
        fix = "the file is damaged. Fix: restart the studio, which moves it aside and rebuilds the history"
    else:
        fix = "Fix: check the outputs folder (permissions, free space, the disk itself)"
    return StorageError(f"the history {path} could not be used ({text}): {fix}.")


def _row(row: sqlite3.Row) -> dict[str, Any]:
    job = dict(row)
    for key in ("request", "notices", "plan", "timings", "loras"):
        if job.get(key):
            try:
                job[key] = json.loads(job[key])
            except ValueError:
                pass
    job["translated"] = None if job.get("translated") is None else bool(job["translated"])
    return job


def _casefold(text: str | None) -> str | None:
    """SQLite's own LIKE folds only ASCII; prompts are written in many languages ("Écume" finds "écume")."""
    return text.casefold() if text else text


def _like_pattern(text: str) -> str:
    """A LIKE pattern that finds `text` anywhere, its own % and _ taken literally (escape character: \\)."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _browse_filter(text: str | None = None, status: str | None = None, model: str | None = None,
                   batch_id: str | None = None, favourites: bool = False,
                   user: str | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause (always present, so callers may add `AND ...`) and its arguments."""
    where, args = ["1 = 1"], []
    for column, value in (("status", status), ("model", model), ("batch_id", batch_id), ("user", user)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if favourites:
        where.append("favourite = 1")
    if text and text.strip():
        where.append("casefold(prompt) LIKE ? ESCAPE '\\'")
        args.append(_like_pattern(text.strip()))
    return " WHERE " + " AND ".join(where), args


def _no_such_job(job_id: str) -> InvalidRequest:
    return InvalidRequest("job", job_id, "no job has this id. Fix: pick a job from the History tab or "
                          "`python -m studio history`")


class DeletedFiles(NamedTuple):
    removed: list[Path]
    kept: list[Path]  # outside the videos folder, or could not be removed: still on disk


def delete_job_files(history: History, job_id: str, videos_folder: Path) -> DeletedFiles:
    """Delete a job and the files it made. Only files inside `videos_folder` are unlinked: a record that
    points elsewhere (a CLI job written with --out, an edited database) never deletes a file the studio
    does not own. Files already gone are in neither list."""
    removed, kept = [], []
    for path in history.delete(job_id):
        outcome = _unlink_inside(path, Path(videos_folder))
        if outcome is not None:
            (removed if outcome else kept).append(path)
    return DeletedFiles(removed, kept)


def _unlink_inside(path: Path, folder: Path) -> bool | None:
    """Unlink `path` if its real folder is `folder` or below it: True removed, False left alone, None missing.

    The folder part is resolved (so `..` and linked folders cannot lead outside); the file itself is
    not followed: a link in the folder is removed, never what it points to."""
    try:
        parent, root = path.parent.resolve(strict=True), folder.resolve(strict=True)
    except OSError:
        return None
    if path.name in ("", ".", "..") or (parent != root and root not in parent.parents):
        return False
    try:
        (parent / path.name).unlink()
    except FileNotFoundError:
        return None
    except OSError:
        return False
    return True
