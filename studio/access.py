"""Who may use a shared studio, and how often: logins from STUDIO_AUTH and a per-user rate limit.

Gradio checks the passwords; the studio parses them (so a typo is a clear error at startup, not an
open door) and limits how many jobs each user starts, so one visitor cannot hold the GPU for
everyone. Users are login names, or the client's address where there is no login.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from .errors import InvalidSetting, StudioError

_EXAMPLE = "alice:s3cret,bob:hunter2"
_MAX_USERS = 4096  # above this many tracked users, forget those with no start inside the window


class RateLimited(StudioError):
    """The user started too many jobs recently; the message says when to try again."""

    kind = "rate_limited"


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """`user:password[,user2:password2]` as Gradio's auth list; None or empty means no login."""
    if not value or not value.strip():
        return None
    pairs: list[tuple[str, str]] = []
    for number, entry in enumerate(value.split(","), start=1):
        user, colon, password = entry.strip().partition(":")
        if not colon or not user or not password:
            raise InvalidSetting(
                f"STUDIO_AUTH: entry {number} ({user or entry.strip()!r}) is not user:password. "
                f"Fix: write user:password pairs separated by commas, e.g. {_EXAMPLE}."
            )
        if user in (known for known, _ in pairs):
            raise InvalidSetting(f"STUDIO_AUTH: user {user!r} appears twice. Fix: give each user one password.")
        pairs.append((user, password))
    return pairs


class RateLimit:
    """At most `jobs` job starts per user in any `seconds` window; `jobs` = 0 means no limit."""

    def __init__(self, jobs: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = jobs
        self.seconds = seconds
        self._clock = clock
        self._starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_setting(cls, value: str | None) -> "RateLimit":
        """`JOBS/SECONDS`, e.g. "5/60" (STUDIO_RATE_LIMIT); empty or "0" means no limit."""
        if not value or value.strip() == "0":
            return cls(0, 0.0)
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
        if not match or float(match[2]) <= 0:
            raise InvalidSetting(
                f"STUDIO_RATE_LIMIT: {value!r} is not JOBS/SECONDS. Fix: e.g. 5/60 allows each user 5 jobs "
                "a minute; 0 turns the limit off."
            )
        return cls(int(match[1]), float(match[2]))

    def admit(self, user: str) -> None:
        """Count a job start for `user`, or raise RateLimited saying how long to wait."""
        if not self.jobs:
            return
        now = self._clock()
        with self._lock:
            starts = self._starts.setdefault(user, deque())
            while starts and now - starts[0] >= self.seconds:
                starts.popleft()
            if len(starts) >= self.jobs:
                wait = max(1, round(self.seconds - (now - starts[0])))
                raise RateLimited(
                    f"rate limit: you started {len(starts)} jobs in the last {self.seconds:g} s and this studio "
                    f"allows {self.jobs} per {self.seconds:g} s per user. Fix: wait {wait} s, then try again."
                )
            starts.append(now)
            if len(self._starts) > _MAX_USERS:
                for idle in [key for key, times in self._starts.items() if now - times[-1] >= self.seconds]:
                    del self._starts[idle]


def browser_secret(outputs: Path) -> str:
    """The key that seals a browser's id in its local storage, kept in the outputs folder so that ids (and so
    the jobs a page finds after a reload) survive restarts of the studio."""
    path = Path(outputs) / ".browser_secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_hex(32)
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(secret)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        return secret
