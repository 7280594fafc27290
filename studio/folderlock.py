"""One studio per outputs folder: the served studio holds a lock file that names its owner.

Two studios on one folder would each treat the other's work as dead (its partial MP4s, its running
jobs). Holding the lock also lets a restart account for every job the folder says is running, even
one left by an earlier container with another host name. CLI commands on the same machine share the
folder without the lock: their jobs carry their own process as owner.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import StorageError

LOCK_NAME = "studio.lock"


class FolderLock:
    """An exclusive lock on `<outputs>/studio.lock`, held for the life of the process (the kernel drops it
    when the process dies, kill -9 included)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise StorageError(
                f"another studio already serves {self.path.parent} ({owner}). Fix: stop that studio, or give this "
                "one its own folder (--outputs DIR or STUDIO_OUTPUTS)."
            ) from None
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def _describe(raw: bytes) -> str:
    try:
        owner = json.loads(raw.decode() or "{}")
        return f"process {owner['pid']} on {owner['host']}, since {owner['since']}"
    except (ValueError, KeyError, TypeError):
        return "its owner is not recorded"
