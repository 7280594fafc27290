"""Remember prepared prompts in memory and in a small SQLite file, keyed by (backend, model, text, enrich).

A translation costs from 0.1 s (Marian) to seconds (Qwen on CPU); the UI asks again on every
edit and a re-run asks for the same prompt. SQLite rather than JSON so that two studio processes
sharing an outputs folder never corrupt the file. A broken cache file is a miss, never an error.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

VERSION = 1  # part of every key: bump when the stored result changes shape or meaning
MEMORY_ENTRIES = 512
FILENAME = "translations.sqlite3"


class TranslationCache:
    """Memory (LRU) in front of an optional SQLite file in `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        self._memory: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # the UI and a running job may prepare prompts at the same time
        self.path = None if directory is None else Path(directory) / FILENAME

    @staticmethod
    def key(backend: str, model_id: str | None, text: str, enrich: bool) -> str:
        return json.dumps([VERSION, backend, model_id, text, enrich], ensure_ascii=False)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        value = self._read(key)
        if value is not None:
            self._remember(key, value)
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._remember(key, value)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                row = (key, json.dumps(value, ensure_ascii=False))
                db.execute("INSERT OR REPLACE INTO translations VALUES (?, ?)", row)
        except (OSError, sqlite3.Error) as exc:
            log.warning("translation cache %s not written: %s", self.path, exc)

    def _read(self, key: str) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            with self._connect() as db:
                row = db.execute("SELECT value FROM translations WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.Error, ValueError) as exc:
            log.warning("translation cache %s not read: %s", self.path, exc)
            return None

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with closing(sqlite3.connect(self.path, timeout=5)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS translations (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            yield db
