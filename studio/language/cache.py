"""Remember prepared prompts in memory and in a small SQLite file, keyed by (backend, model, text, enrich).

A translation costs from 0.1 s (Marian) to seconds (Qwen on CPU); the UI asks again on every
edit and a re-run asks for the same prompt. SQLite rather than JSON so that two studio processes
sharing an outputs folder never corrupt the file. A broken cache file is a miss, never an error.
Both levels are bounded in entries and in bytes (`CacheLimits`); past a bound the oldest entries go,
so anonymous visitors typing prompts can never fill the memory or the disk.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

VERSION = 2  # part of every key: bump when the stored result changes shape or meaning
FILENAME = "translations.sqlite3"


@dataclass(frozen=True)
class CacheLimits:
    """How much each level keeps: entries and bytes (UTF-8 of key and value). The defaults hold hundreds of
    the longest prompts (a 4,000-character prompt is ~40 KB cached) and thousands of ordinary ones."""

    memory_entries: int = 512
    memory_bytes: int = 8 * 1024 * 1024
    disk_entries: int = 5000
    disk_bytes: int = 32 * 1024 * 1024


class TranslationCache:
    """Memory (LRU) in front of an optional SQLite file in `directory` (oldest written goes first)."""

    def __init__(self, directory: Path | None = None, limits: CacheLimits = CacheLimits()) -> None:
        self.limits = limits
        self._memory: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()  # the UI and a running job may prepare prompts at the same time
        self.path = None if directory is None else Path(directory) / FILENAME

    @staticmethod
    def key(backend: str, model_id: str | None, text: str, enrich: bool) -> str:
        return json.dumps([VERSION, backend, model_id, text, enrich], ensure_ascii=False)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key][0]
        value = self._read(key)
        if value is not None:
            self._remember(key, value, _size(key, json.dumps(value, ensure_ascii=False)))
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, ensure_ascii=False)
        size = _size(key, text)
        self._remember(key, value, size)
        if self.path is None or size > self.limits.disk_bytes:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("INSERT OR REPLACE INTO translations VALUES (?, ?)", (key, text))
                self._evict(db)
        except (OSError, sqlite3.Error, UnicodeError) as exc:
            log.warning("translation cache %s not written: %s", self.path, exc)

    def __len__(self) -> int:
        return len(self._memory)

    def disk_usage(self) -> tuple[int, int]:
        """(entries, bytes) in the file; (0, 0) without one."""
        if self.path is None or not self.path.exists():
            return 0, 0
        with self._connect() as db:
            count, total = db.execute(f"SELECT COUNT(*), COALESCE(SUM({_BYTES}), 0) FROM translations").fetchone()
        return count, total

    def _evict(self, db: sqlite3.Connection) -> None:
        """Delete the oldest rows (the smallest rowids: a replaced row gets a new one) until both bounds hold."""
        count, total = db.execute(f"SELECT COUNT(*), COALESCE(SUM({_BYTES}), 0) FROM translations").fetchone()
        if count <= self.limits.disk_entries and total <= self.limits.disk_bytes:
            return
        doomed = []
        for rowid, size in db.execute(f"SELECT rowid, {_BYTES} FROM translations ORDER BY rowid"):
            if count <= self.limits.disk_entries and total <= self.limits.disk_bytes:
                break
            doomed.append((rowid,))
            count, total = count - 1, total - size
        db.executemany("DELETE FROM translations WHERE rowid = ?", doomed)

    def _read(self, key: str) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            with self._connect() as db:
                row = db.execute("SELECT value FROM translations WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.Error, ValueError) as exc:  # UnicodeError (a lone surrogate) is a ValueError
            log.warning("translation cache %s not read: %s", self.path, exc)
            return None

    def _remember(self, key: str, value: dict[str, Any], size: int) -> None:
        if size > self.limits.memory_bytes:
            return
        with self._lock:
            if key in self._memory:
                self._memory_bytes -= self._memory.pop(key)[1]
            self._memory[key] = (value, size)
            self._memory_bytes += size
            while len(self._memory) > self.limits.memory_entries or self._memory_bytes > self.limits.memory_bytes:
                self._memory_bytes -= self._memory.popitem(last=False)[1][1]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with closing(sqlite3.connect(self.path, timeout=5)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS translations (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            yield db


_BYTES = "length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))"


def _size(key: str, value: str) -> int:
    return len(key.encode("utf-8", "surrogatepass")) + len(value.encode("utf-8", "surrogatepass"))
