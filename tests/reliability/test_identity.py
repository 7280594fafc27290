"""Who counts as one person for the queue's limit: a header cannot make a script someone else (issue 23, item 8)."""

from __future__ import annotations

import pytest
from gradio_client import Client

from tests.e2e.conftest import Server

SLOW = {"resolution": "832x480", "duration": 5 / 16, "steps": 100}


def test_a_forwarded_for_header_does_not_change_who_is_counted(tmp_path):
    server = Server(tmp_path, env={"STUDIO_TRANSLATOR": "none", "STUDIO_MAX_QUEUE": "1"})
    try:
        first = Client(server.url, verbose=False, headers={"X-Forwarded-For": "10.0.0.1"})
        running = first.predict(prompt="holds the worker", api_name="/submit", **SLOW)
        first.predict(prompt="waits", api_name="/submit", **SLOW)
        other = Client(server.url, verbose=False, headers={"X-Forwarded-For": "10.0.0.2"})
        with pytest.raises(Exception, match="you have 1 jobs waiting"):
            other.predict(prompt="a second identity by header", api_name="/submit", **SLOW)
        assert {job["id"] for job in first.predict(api_name="/jobs")["jobs"] if job["mine"]} >= {running}
    finally:
        server.stop()
