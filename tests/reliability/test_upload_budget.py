"""The upload budget alone: uploads counted per person in a sliding window, by number and by bytes."""

from __future__ import annotations

import asyncio

from studio.upload_budget import UploadBudget
from tests.reliability.test_access import Clock


def test_number_and_bytes_are_bounded_per_person_in_a_sliding_window():
    clock = Clock()
    clock.now = 0.0
    budget = UploadBudget(None, count=3, count_bytes=1000, seconds=60, clock=clock)
    assert [budget.admit("a", 10) for _ in range(3)] == [None] * 3
    refused = budget.admit("a", 10)
    assert refused and "at most 3 uploads" in refused and "Fix: wait 60 s" in refused
    assert budget.admit("b", 10) is None, "another person has a budget of their own"
    clock.now = 30
    assert "Fix: wait 30 s" in budget.admit("a", 10)
    clock.now = 60
    assert budget.admit("a", 10) is None, "the window slides"
    assert budget.admit("c", 900) is None and budget.admit("c", 101) is not None, "bytes count too"
    assert budget.admit("d", 1 << 62) is not None, "an upload of undeclared size counts as the whole budget"


def test_only_posts_to_the_upload_route_are_counted():
    calls, sent = [], []

    async def app(scope, receive, send):
        calls.append(scope["path"])

    async def send(message):
        sent.append(message)

    budget = UploadBudget(app, count=1, count_bytes=10**6, seconds=60)

    def request(path: str, method: str = "POST") -> None:
        scope = {"type": "http", "method": method, "path": path, "client": ("10.0.0.1", 1),
                 "headers": [(b"content-length", b"100")]}
        asyncio.run(budget(scope, None, send))

    request("/gradio_api/upload")
    request("/gradio_api/upload")  # the second is over the budget
    request("/gradio_api/queue/join")
    request("/gradio_api/upload", method="GET")
    assert calls == ["/gradio_api/upload", "/gradio_api/queue/join", "/gradio_api/upload"]
    assert sent[0]["status"] == 429
