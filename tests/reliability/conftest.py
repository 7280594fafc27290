"""Shared pieces of the reliability suite: one served studio for the whole suite, the CLI as a
subprocess (many at once, the machine has two cores), and a world of broken files to feed it."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.e2e.conftest import Server

# The cheapest real job: the VAE decode dominates, and it scales with the pixels.
SMALL_UI = {"resolution": "256x256", "duration": 5 / 16, "steps": 1}
SMALL_API = {"width": 256, "height": 256, "frames": 5, "steps": 1}


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """`python app.py --model tiny` with prompts sent as typed, shared by every module that only reads it."""
    server = Server(tmp_path_factory.mktemp("served"), env={"STUDIO_TRANSLATOR": "none"})
    yield server
    server.stop()


def fetch(url: str, **headers: str) -> tuple[int, bytes]:
    """(status, body) of a GET; HTTP errors are answers here, not exceptions."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cli(tmp: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m studio ARGS` as a user runs it, outputs under `tmp`."""
    child = subprocess_env(tmp)
    child.update(env or {})
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=child,
                          cwd=tmp, timeout=timeout)


def cli_many(tmp: Path, runs: dict[str, tuple[tuple[str, ...], dict[str, str]]], workers: int = 4
             ) -> dict[str, subprocess.CompletedProcess]:
    """Several CLI runs at once ({name: (args, env)}); each is a separate process, so threads suffice."""
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(cli, tmp, *args, env=env) for name, (args, env) in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def integrity(outputs: Path) -> str:
    """SQLite's own check of the history file, read without the studio's code."""
    import sqlite3

    with sqlite3.connect(outputs / "history.sqlite") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def visible_videos(outputs: Path) -> list[Path]:
    """MP4s a user or the UI could pick up: everything but the hidden in-progress names."""
    return sorted(p for p in (outputs / "videos").glob("*.mp4") if not p.name.startswith("."))
