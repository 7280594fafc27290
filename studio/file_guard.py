"""With logins, a job's files (its MP4, thumbnail and sidecar under outputs/videos) reach only the login that made
the job. Gradio serves every file under its allowed paths to any logged-in visitor who knows the URL; job ids are
long and random and never shown to others, and this check makes the URL alone not enough.

A pure ASGI middleware on the served app: it reads the login from Gradio's own session cookie and the job's owner
from the history, and answers 404 (as for a file that is not there) when they differ."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

from .history import JOB_ID_PATTERN, History

_JOB_FILE = re.compile(rf"({JOB_ID_PATTERN})\.(?:mp4|jpg|json)$")


class OwnFilesOnly:
    """ASGI middleware: `/…/file=<outputs>/videos/<job id>.*` only for the job's own login (or its owner-less jobs)."""

    def __init__(self, app: Callable, *, history: History, enabled: bool) -> None:
        self.app, self.enabled, self.history = app, enabled, history  # the studio's own: no second open at start-up
        self.videos = history.folder.resolve() / "videos"

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if self.enabled and scope["type"] == "http" and "/file=" in scope.get("path", ""):
            owner = self._owner(scope["path"])
            if owner is not None and owner != login_of(scope):
                await _not_found(send)
                return
        await self.app(scope, receive, send)

    def _owner(self, path: str) -> str | None:
        """The login a requested job file belongs to; None when the path is no job's file (Gradio decides)."""
        wanted = Path(unquote(path.split("/file=", 1)[1]))
        try:
            inside = wanted.resolve().parent == self.videos
        except (OSError, ValueError):
            return None
        match = _JOB_FILE.fullmatch(wanted.name)
        if not inside or match is None:
            return None
        job = self.history.get(match.group(1))
        return job.get("user") if job else None


def login_of(scope: dict[str, Any]) -> str | None:
    """The user Gradio logged in for this request, from its access-token cookie."""
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", {}), getattr(app, "cookie_id", None)
    cookies = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                cookies[key] = val
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token) if token else None


async def _not_found(send: Callable) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"File not found."})
