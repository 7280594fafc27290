"""The page's side of the queue, without a browser: a dropped batch file and the per-person limit."""

from __future__ import annotations

import gradio as gr
import pytest

from studio.config import StudioConfig
from studio.service import Studio
from studio.ui import jobs


def _studio(tmp_path, **config) -> Studio:
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none", **config))


def test_a_dropped_batch_file_queues_its_rows_as_the_pages_jobs(tmp_path):
    studio = _studio(tmp_path)
    file = tmp_path / "shots.jsonl"
    file.write_text('{"prompt": "a heron"}\n{"prompt": "a crane", "steps": 0}\n{"prompt": "an egret", "seed": 4}\n')
    report = jobs.submit_batch(studio, file, "tiny", "256x256", 5 / 16, 1, 16, True, "tab-1", None)
    shown = report.replace("\\", "")  # Markdown escapes of the user's text, as the page renders it
    assert "queued **2** of 3 rows" in shown and "line 2: steps: 0 is not allowed" in shown
    rows = studio.jobs(client="tab-1")
    assert [row["prompt"] for row in rows] == ["a heron", "an egret"] and all(row["mine"] for row in rows)
    queued = studio.history.get(rows[1]["id"])
    assert queued["request"]["width"] == 256 and queued["request"]["seed"] == 4 and queued["batch_id"]
    again = jobs.submit_batch(studio, file, "tiny", "256x256", 5 / 16, 1, 16, True, "tab-1", None)
    assert "queued **0** of 3 rows" in again, "dropping the same file again queues nothing new"


def test_a_page_cannot_queue_more_than_the_per_person_limit(tmp_path):
    studio = _studio(tmp_path, max_queue=2)
    file = tmp_path / "many.txt"
    file.write_text("one\ntwo\nthree\n")
    with pytest.raises(gr.Error, match="at most 2 per person"):
        jobs.submit_batch(studio, file, "tiny", "256x256", 5 / 16, 1, 16, True, "tab-1", None)
    request = studio.request("x", width=256, height=256, frames=5, steps=1, translate=False)
    jobs.submit(studio, request, None, client="tab-1", variations=2)
    with pytest.raises(gr.Error, match="you have 2 jobs waiting"):
        jobs.submit(studio, request, None, client="tab-1")
    assert len(jobs.submit(studio, request, None, client="tab-2")) == 1, "another page has its own allowance"


def test_one_person_cannot_hold_every_job_stream(tmp_path):
    studio = _studio(tmp_path)
    job_id = studio.submit(studio.request("x", width=256, height=256, frames=5, steps=1, translate=False))
    followers = jobs.Followers(limit=2)
    held = [jobs.follow(studio, job_id, None, followers) for _ in range(2)]
    for stream in held:
        next(stream)  # its first update: the stream now holds a place
    with pytest.raises(gr.Error, match="you follow 2 jobs at once already"):
        next(jobs.follow(studio, job_id, None, followers))
    held[0].close()  # a closed stream gives its place back
    assert len(next(jobs.follow(studio, job_id, None, followers))) == 5


def test_the_whole_queue_is_bounded_too(tmp_path):
    studio = _studio(tmp_path, max_queue=5, max_queue_total=3)
    request = studio.request("x", width=256, height=256, frames=5, steps=1, translate=False)
    for page in ("tab-1", "tab-2", "tab-3"):
        jobs.submit(studio, request, None, client=page)
    with pytest.raises(gr.Error, match=r"the studio's queue is full \(3 jobs waiting, at most 3\)"):
        jobs.submit(studio, request, None, client="tab-4")
