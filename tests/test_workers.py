"""Worker processes: jobs run at once in separate processes; a killed worker costs only its own job."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from studio.config import StudioConfig
from studio.events import Cancelled, Done, Failed, Preview, Progress, Started
from studio.gpus import GpuInfo
from studio.models import MODELS
from studio.service import Studio
from studio.workerprocs import ProcessPool, _visible_device
from studio.workers import WorkerPool, gpus_that_fit, make_pool

SMALL = dict(width=256, height=256, frames=5, steps=40, translate=False)
LONG = {**SMALL, "steps": 100}


def _studio(tmp_path: Path) -> Studio:
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.1)


def _events(follower, timeout: float = 60) -> list:
    seen, deadline = [], time.monotonic() + timeout
    for event in follower:
        assert time.monotonic() < deadline, f"the job did not end: {seen[-3:]}"
        if event is not None:
            seen.append(event)
    return seen


def _until_denoising(studio: Studio, job_id: str):
    """A follower of the job, positioned after its first denoising step."""
    follower, seen = studio.follow(job_id, poll=0.2), []
    for event in follower:
        seen.append(event)
        if isinstance(event, Progress) and event.phase == "denoise":
            return follower
    raise AssertionError(f"job {job_id} ended before denoising: {seen[-3:]}")


def _owner(studio: Studio, job_id: str) -> int:
    return json.loads(studio.history.get(job_id)["owner"])["pid"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A studio with two CPU worker processes, both ready to take jobs. Starting workers costs seconds on
    two cores, so this module's tests share them; the last test stops them."""
    studio = _studio(tmp_path_factory.mktemp("workers"))
    studio.workers = make_pool(studio, 2).start()
    _wait(lambda: len(studio.workers.ready()) == 2, "two workers to start")
    yield studio
    studio.stop_workers()


def test_two_worker_processes_run_two_jobs_at_once(studio):
    assert isinstance(studio.workers, ProcessPool)
    ids = [studio.submit(studio.request(f"job {i}", seed=i, **SMALL)) for i in range(2)]
    with ThreadPoolExecutor(2) as followers:  # both followed while they run, as two browser tabs would
        streams = list(followers.map(lambda job_id: _events(studio.follow(job_id, poll=0.2)), ids))
    for seen in streams:
        assert any(isinstance(e, Started) for e in seen) and any(isinstance(e, Preview) for e in seen), seen[:3]
        assert isinstance(seen[-1], Done) and Path(seen[-1].output).is_file()
    jobs = [studio.history.get(job_id) for job_id in ids]
    assert max(job["started"] for job in jobs) < min(job["finished"] for job in jobs), "the jobs ran one after another"
    assert {_owner(studio, job_id) for job_id in ids} == set(studio.workers.ready()), "one job in each worker"
    assert studio.workers.running() == []


def test_a_killed_worker_costs_only_its_own_job_and_is_replaced(studio):
    killed = studio.submit(studio.request("killed mid-job", **LONG))
    survivor = studio.submit(studio.request("goes on", **SMALL))
    follower = _until_denoising(studio, killed)
    victim = _owner(studio, killed)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    ending = _events(follower)[-1]
    assert time.monotonic() - killed_at < 5, "the pool noticed the dead worker late"
    assert isinstance(ending, Failed) and ending.kind == "interrupted", ending
    assert "worker process stopped (killed by SIGKILL)" in ending.message and "requeue" in ending.message
    assert studio.history.get(killed)["status"] == "interrupted"
    assert isinstance(_events(studio.follow(survivor, poll=0.2))[-1], Done), studio.history.get(survivor)
    other = _owner(studio, survivor)
    assert other != victim

    _wait(lambda: len(studio.workers.ready()) == 2, "a replacement worker")
    replacement = (set(studio.workers.ready()) - {other}).pop()
    assert replacement != victim
    later = [studio.submit(studio.request(f"later {i}", **SMALL)) for i in range(2)]
    assert all(isinstance(_events(studio.follow(job_id, poll=0.2))[-1], Done) for job_id in later)
    assert {_owner(studio, job_id) for job_id in later} == {replacement, other}


def test_cancel_reaches_a_job_in_a_worker_process(studio):
    job_id = studio.submit(studio.request("cancel me", **LONG))
    follower = _until_denoising(studio, job_id)
    assert "Stopping" in studio.cancel(job_id)
    ending = _events(follower)[-1]
    assert isinstance(ending, Cancelled) and ending.step > 0, ending
    assert studio.history.get(job_id)["status"] == "cancelled"


def test_make_pool_keeps_one_job_in_threads_and_counts_the_gpus_a_model_fits(tmp_path, monkeypatch):
    studio = _studio(tmp_path)
    assert type(make_pool(studio, 1)) is WorkerPool
    pool = make_pool(studio, 3)
    assert isinstance(pool, ProcessPool) and pool.count == 3
    if not torch.cuda.is_available():
        assert type(make_pool(studio, 0)) is WorkerPool, "CPU default: one thread, no process"
        assert pool.gpus == []
    cards = [GpuInfo("H200", 139, (9, 0), index=0), GpuInfo("T4", 16, (7, 5), index=1),
             GpuInfo("H200", 139, (9, 0), index=2)]
    assert gpus_that_fit(MODELS["wan2.2-t2v-a14b"], cards) == [0, 2], "no bf16 on a T4"
    assert gpus_that_fit(MODELS["tiny"], cards) == [0, 1, 2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4, 6")
    assert _visible_device(1) == "6", "the studio's GPU 1 is the machine's GPU 6"


def test_stop_cancels_running_jobs_leaves_queued_ones_and_ends_the_workers(studio):
    running = [studio.submit(studio.request(f"running {i}", **LONG)) for i in range(2)]
    waiting = studio.submit(studio.request("still queued", **LONG))
    _wait(lambda: len(studio.workers.running()) == 2, "two jobs to start")
    pids = studio.workers.ready()
    studio.stop_workers()
    assert studio.history.get(waiting)["status"] == "queued"
    for job_id in running:
        assert studio.history.get(job_id)["status"] == "cancelled"
        assert isinstance(_events(studio.follow(job_id, poll=0.2))[-1], Cancelled)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a worker process outlived stop()"
