"""The studio's own queue: jobs submitted by id, run by a worker, followed by anyone, cancelled from anywhere."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.errors import InvalidRequest, NotYours
from studio.events import Cancelled, Done, Failed, Preview, Progress, Queued, Started
from studio.history import History
from studio.jobqueue import Estimator, JobQueue, Place
from studio.service import Studio

SMALL = dict(width=256, height=256, frames=5, steps=2, translate=False)


def _studio(tmp_path: Path) -> Studio:
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def _events(studio: Studio, job_id: str, timeout: float = 120, **kwargs) -> list:
    seen, deadline = [], time.monotonic() + timeout
    for event in studio.follow(job_id, poll=0.2, **kwargs):
        assert time.monotonic() < deadline, f"job {job_id} did not end: {seen[-3:]}"
        if event is not None:
            seen.append(event)
    return seen


def test_queue_order_claim_move_and_requeue(tmp_path):
    queue = JobQueue(History(tmp_path))
    first, second, third = (queue.enqueue({"prompt": p, "model": "tiny"}) for p in "abc")
    assert [job["id"] for job in queue.waiting()] == [first, second, third]
    assert queue.move_to_top(third)
    assert queue.place(third) == Place(0, 0, None) and queue.place(second).ahead == 2
    claimed = queue.claim()
    assert claimed["id"] == third and claimed["status"] == "running"
    assert queue.place(first) == Place(0, 1, None)
    assert not queue.move_to_top(third), "a running job has no place in line"
    assert queue.drop(first, "cancelled before it started") and not queue.drop(first, "again")
    assert queue.claim(job_id=first) is None
    assert queue.requeue(first) and queue.waiting()[-1]["id"] == first
    assert not queue.requeue(second), "a queued job cannot be queued twice"
    assert Place(2, 1, 31 * 60).describe() == "3rd in line, starts in about 31 min"
    assert Place(0, 0, None).describe() == "next in line"


def test_two_claims_never_take_the_same_job(tmp_path):
    history = History(tmp_path)
    queue = JobQueue(history)
    ids = {queue.enqueue({"prompt": str(i)}) for i in range(20)}
    taken: list[str] = []

    def drain():
        mine = JobQueue(History(tmp_path))
        while (job := mine.claim()) is not None:
            taken.append(job["id"])

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)


def test_estimate_scales_with_the_work_of_past_jobs(tmp_path):
    history = History(tmp_path)
    estimator = Estimator(history)
    small = {"model": "tiny", "width": 256, "height": 256, "frames": 5, "steps": 2}
    assert estimator.seconds(small) is None, "no finished job yet: no made-up figure"
    done = history.create(small)
    history.finish(done, "done", seconds=10.0)
    assert estimator.seconds(small) == pytest.approx(10.0)
    assert estimator.seconds({**small, "steps": 4}) == pytest.approx(20.0)
    assert estimator.seconds({**small, "model": "other"}) is None


def test_submitted_job_runs_and_any_number_of_followers_see_it(tmp_path):
    studio = _studio(tmp_path)
    studio.start_workers()
    try:
        job_id = studio.submit(studio.request("a queued job", seed=5, **SMALL))
        seen = _events(studio, job_id)
        assert isinstance(seen[-1], Done) and Path(seen[-1].output).is_file()
        assert any(isinstance(e, Started) for e in seen) and any(isinstance(e, Preview) for e in seen)
        late = _events(studio, job_id)  # attaches after the end: the ending at once
        assert isinstance(late[-1], Done) and late[-1].output == seen[-1].output
        assert late[-1].summary["seed"] == 5
        assert studio.history.get(job_id)["status"] == "done"
    finally:
        studio.stop_workers()


def test_a_late_follower_gets_the_current_state_first(tmp_path):
    studio = _studio(tmp_path)
    studio.start_workers()
    try:
        job_id = studio.submit(studio.request("a long job", **{**SMALL, "width": 832, "height": 480, "steps": 100}))
        for event in studio.follow(job_id, poll=0.2):
            if isinstance(event, Preview):
                break
        late = studio.follow(job_id, poll=0.2)
        first = [next(late) for _ in range(3)]
        assert isinstance(first[0], Started) and any(isinstance(e, Preview) for e in first), first
        late.close()  # stops following, not the job
        time.sleep(0.5)
        assert studio.history.get(job_id)["status"] == "running"
        assert "Stopping" in studio.cancel(job_id)
        ending = _events(studio, job_id)[-1]
        assert isinstance(ending, Cancelled) and ending.step > 0
        record = studio.history.get(job_id)
        assert record["status"] == "cancelled" and record["step"] == ending.step
    finally:
        studio.stop_workers()


def test_queued_jobs_wait_in_line_and_can_be_cancelled_or_moved(tmp_path):
    studio = _studio(tmp_path)
    ids = [studio.submit(studio.request(f"job {i}", **SMALL), client="tab-a") for i in range(3)]
    waiting = studio.follow(ids[2], poll=0.1)
    assert next(waiting) == Queued(ids[2], "3rd in line", 2)
    waiting.close()
    assert "first in line" in studio.move_to_top(ids[2])
    rows = studio.jobs(client="tab-a")
    assert [row["id"] for row in rows] == [ids[2], ids[0], ids[1]] and all(row["mine"] for row in rows)
    assert not any(row["mine"] for row in studio.jobs(client="tab-b"))
    assert "before it started" in studio.cancel(ids[0])
    assert isinstance(_events(studio, ids[0])[-1], Cancelled)
    studio.start_workers()
    try:
        assert isinstance(_events(studio, ids[1])[-1], Done)
        assert [studio.history.get(i)["status"] for i in ids] == ["cancelled", "done", "done"]
        assert studio.history.get(ids[2])["finished"] < studio.history.get(ids[1])["started"], "moved job ran first"
        assert "already ended" in studio.cancel(ids[1])
    finally:
        studio.stop_workers()


def test_logins_see_and_cancel_only_their_own_jobs(tmp_path):
    studio = _studio(tmp_path)
    alice = studio.submit(studio.request("alice's job", **SMALL), user="alice")
    with pytest.raises(NotYours):
        studio.cancel(alice, user="bob")
    with pytest.raises(NotYours):
        next(studio.follow(alice, user="bob"))
    assert studio.history.get(alice)["status"] == "queued"
    assert "before it started" in studio.cancel(alice, user="alice")
    with pytest.raises(InvalidRequest, match="no job has this id"):
        studio.cancel("20990101-000000-abcdef")


def test_a_job_queued_for_a_model_no_longer_served_fails_with_a_message(tmp_path):
    studio = _studio(tmp_path)
    job_id = studio.queue.enqueue({**studio.request("x", **SMALL).to_dict(), "model": "gone-model"})
    studio.start_workers()
    try:
        ending = _events(studio, job_id)[-1]
        assert isinstance(ending, Failed) and "gone-model" in ending.message
    finally:
        studio.stop_workers()


def test_cancel_asked_by_another_process_reaches_the_worker(tmp_path):
    studio = _studio(tmp_path)
    studio.start_workers()
    try:
        job_id = studio.submit(studio.request("cancel me from the CLI", **{**SMALL, "steps": 60}))
        for event in studio.follow(job_id, poll=0.2):
            if isinstance(event, Progress) and event.phase == "denoise":
                break
        other = _studio(tmp_path)  # another process's view of the same outputs folder
        assert "Stopping" in other.cancel(job_id)
        assert isinstance(_events(studio, job_id)[-1], Cancelled)
    finally:
        studio.stop_workers()


def test_time_left_includes_decode_and_mp4_and_the_decode_reports_frames(tmp_path):
    """The first job has no figures to lean on; the next one's ETA adds the decode + MP4 time this machine
    measured, and while the VAE decodes the progress counts frames instead of standing still."""
    studio = _studio(tmp_path)
    studio.start_workers()
    try:
        first = _events(studio, studio.submit(studio.request("first", **{**SMALL, "frames": 17})))
        denoise = [e for e in first if isinstance(e, Progress) and e.phase == "denoise"]
        assert denoise[-1].eta == 0.0, "no earlier job: the ETA is the denoising's own"
        decode = [e for e in first if isinstance(e, Progress) and e.phase == "decode"]
        assert [e.step for e in decode][0] == 0 and decode[-1].step == 17 and decode[-1].total == 17
        assert len(decode) >= 3, f"the decode reported no frames as they came: {decode}"
        assert "frame" in decode[1].describe()
        timings = studio.history.get(first[-1].job_id)["timings"]
        assert timings["decode"] > 0

        second = _events(studio, studio.submit(studio.request("second", **{**SMALL, "frames": 17})))
        last_step = [e for e in second if isinstance(e, Progress) and e.phase == "denoise"][-1]
        assert last_step.eta == pytest.approx(timings["decode"] + timings["encode"], rel=0.01)
    finally:
        studio.stop_workers()


def test_the_wait_is_shared_by_the_workers_that_run_jobs(tmp_path):
    history = History(tmp_path)
    estimator = Estimator(history)
    job = {"model": "tiny", "width": 256, "height": 256, "frames": 5, "steps": 2}
    history.finish(history.create(job), "done", seconds=10.0)
    now = time.time()
    one, two = [{"request": job, "started": now}], [{"request": job, "started": now}] * 2
    assert estimator.wait(one, [{"request": job}]) == pytest.approx(20.0, abs=0.5)
    assert estimator.wait(two, [{"request": job}] * 2) == pytest.approx(20.0, abs=0.5)


def test_variations_differ_only_in_seed_and_share_a_batch(tmp_path):
    studio = _studio(tmp_path)
    ids = studio.submit_variations(studio.request("a kite", seed=2**32 - 2, **SMALL), 3, client="tab")
    jobs = [studio.history.get(job_id) for job_id in ids]
    assert [job["seed"] for job in jobs] == [2**32 - 2, 2**32 - 1, 0]
    assert {job["batch_id"] for job in jobs} == {f"variations-{ids[0]}"}
    assert [job["parent_id"] for job in jobs] == [None, ids[0], ids[0]]
    assert len({json.dumps({**job["request"], "seed": 0}, sort_keys=True) for job in jobs}) == 1
