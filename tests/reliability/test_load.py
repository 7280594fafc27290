"""32 gradio_client users at once against the tiny model: every job completes or is refused with a
clear "the studio's queue is full", first come first served, none lost and none mixed up.

The users are 32 people behind a trusted reverse proxy (each its own X-Forwarded-For): from one
address without it they would be one person, whose own limits the other tests cover.

All 32 connect first and then wait on their jobs together; they join the queue one after the other
(each as soon as the previous one is acknowledged, a few milliseconds), so the order of arrival is
known and "first come, first served" can be checked exactly.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import pytest
from gradio_client import Client
from gradio_client.utils import Status

from studio.history import History
from tests.e2e.conftest import Server

USERS = 32
MAX_QUEUE = 10  # STUDIO_MAX_QUEUE_TOTAL: jobs that may wait in all; the rest are refused at once
JOB = {"resolution": "832x480", "duration": 5 / 16, "steps": 1}
UNANSWERED = (Status.STARTING, Status.JOINING_QUEUE)


@dataclass
class Outcome:
    user: int
    answered: threading.Event  # the queue took the job or refused it: the next user may join
    submitted: float = 0.0
    started: float | None = None  # when the job's first update arrived (it left the queue)
    result: tuple | None = None
    error: str | None = None


def _prompt(user: int) -> str:
    return f"user {user:02d} films a lighthouse"


def _use_the_studio(client: Client, outcome: Outcome) -> None:
    outcome.submitted = time.monotonic()
    job = client.submit(prompt=_prompt(outcome.user), seed=1000 + outcome.user, randomize_seed=False,
                        api_name="/generate", **JOB)
    while not job.done():
        if not outcome.answered.is_set() and job.status().code not in UNANSWERED:
            outcome.answered.set()
        if outcome.started is None and job.outputs():
            outcome.started = time.monotonic()
        time.sleep(0.02)
    outcome.answered.set()
    try:
        outcome.result = job.result()
    except Exception as error:  # gradio_client's QueueError, or anything else the test then reports
        outcome.error = str(error)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("load"), env={
        "STUDIO_TRANSLATOR": "none", "STUDIO_MAX_QUEUE_TOTAL": str(MAX_QUEUE), "STUDIO_TRUSTED_PROXIES": "127.0.0.1"})
    yield server
    server.stop()


def test_32_users_at_once(crowded, record_property):
    clients = [None] * USERS

    def connect(n: int) -> None:
        clients[n] = Client(crowded.url, verbose=False, headers={"X-Forwarded-For": f"10.0.0.{n + 1}"})

    _run_all([threading.Thread(target=connect, args=(n,)) for n in range(USERS)])
    began = time.monotonic()
    outcomes = [Outcome(n, threading.Event()) for n in range(USERS)]

    def user(outcome: Outcome) -> None:
        if outcome.user:
            outcomes[outcome.user - 1].answered.wait(60)
        _use_the_studio(clients[outcome.user], outcome)

    _run_all([threading.Thread(target=user, args=(outcome,)) for outcome in outcomes])
    wall = time.monotonic() - began

    completed = [o for o in outcomes if o.result is not None]
    refused = [o for o in outcomes if o.error is not None]
    waits = sorted(o.started - o.submitted for o in completed)
    figure = (f"load: {USERS} users, queue of {MAX_QUEUE}: {len(completed)} completed, {len(refused)} refused, "
              f"wall {wall:.1f} s, wait p50 {statistics.median(waits):.1f} s, "
              f"p95 {waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]:.1f} s")
    print("\n" + figure)
    record_property("figure", figure)

    assert len(completed) + len(refused) == USERS, "a user got neither a video nor an answer"
    assert all(f"the studio's queue is full ({MAX_QUEUE} jobs waiting" in o.error for o in refused), {
        o.user: o.error for o in refused}
    assert refused and len(completed) >= MAX_QUEUE + 1, "the queue never filled, or it refused too early"
    for o in completed:  # each user gets their own video back
        status, _, video, details, seed = o.result
        assert "Done" in status and seed == 1000 + o.user and _prompt(o.user) in details and video

    jobs = History(crowded.outputs).list()
    assert sorted((j["prompt"], j["seed"], j["status"]) for j in jobs) == sorted(
        (_prompt(o.user), 1000 + o.user, "done") for o in completed), "the history lost or mixed up a job"
    started = {j["prompt"]: j["started"] for j in jobs}
    order = [o.user for o in sorted(completed, key=lambda o: started[_prompt(o.user)])]
    assert order == sorted(order), f"first come, first served was broken: jobs started in the order {order}"


def _run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
