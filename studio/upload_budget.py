"""Uploads bounded in number and bytes per person, not only per file: Gradio bounds each file's size
(`max_file_size`) but not how many files one visitor sends (50 MB in half a second before this).

A pure ASGI middleware on the served app's upload route: per login, else per client address (which names the
client only as STUDIO_TRUSTED_PROXIES allows), at most `count` upload requests and `count_bytes` bytes in any `seconds` window.
Past either, the answer is 429 with the wait, and nothing is read or stored."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable

from .file_guard import login_of

_MAX_CLIENTS = 4096  # above this many tracked clients, forget those idle for a whole window


class UploadBudget:
    def __init__(self, app: Callable, *, count: int = 30, count_bytes: int = 8 * 1024 * 1024, seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.count, self.count_bytes, self.seconds, self._clock = app, count, count_bytes, seconds, clock
        self._sent: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith(
                "/upload"):
            refusal = self.admit(_client(scope), _length(scope))
            if refusal:
                await _too_many(send, refusal)
                return
        await self.app(scope, receive, send)

    def admit(self, client: str, size: int) -> str | None:
        """Count one upload of `size` bytes for `client`, or say why not (None: admitted)."""
        now = self._clock()
        with self._lock:
            sent = self._sent.setdefault(client, deque())
            while sent and now - sent[0][0] >= self.seconds:
                sent.popleft()
            total = sum(size for _, size in sent)
            if len(sent) >= self.count or total + size > self.count_bytes:
                wait = max(1, round(self.seconds - (now - sent[0][0]))) if sent else round(self.seconds)
                return (f"too many uploads: this studio takes at most {self.count} uploads and "
                        f"{self.count_bytes // 1024:,} KiB per {self.seconds:g} s from one person. Fix: wait {wait} s, "
                        "then try again.")
            sent.append((now, size))
            if len(self._sent) > _MAX_CLIENTS:
                for idle in [key for key, times in self._sent.items() if not times or now - times[-1][0] >= self.seconds]:
                    del self._sent[idle]
        return None


def _client(scope: dict[str, Any]) -> str:
    login = login_of(scope)
    if login is not None:
        return f"login:{login}"
    client = scope.get("client")
    return client[0] if client else "unknown"


def _length(scope: dict[str, Any]) -> int:
    """The request's declared size; a request that declares none counts as the whole budget's worth."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                break
    return 1 << 62


async def _too_many(send: Callable, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"60")]})
    await send({"type": "http.response.body", "body": body})
