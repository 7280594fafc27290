"""Browsing the history: search, filters, paging, favourites and deleting a job with its files."""

import json
import sqlite3
import time

import pytest

from studio.errors import InvalidRequest
from studio.history import History, delete_job_files


def _job(history: History, prompt: str, *, status: str = "done", model: str = "tiny", **fields) -> str:
    job_id = history.create({"prompt": prompt, "model": model, "seed": 1}, status="queued")
    history.update(job_id, status=status, **fields)
    return job_id


def _files(folder, job_id):
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{job_id}.{ext}" for kind, ext in (("output", "mp4"), ("thumbnail", "jpg"),
                                                                ("sidecar", "json"))}
    for path in paths.values():
        path.write_bytes(b"x")
    return {kind: str(path) for kind, path in paths.items()}


def test_search_is_a_case_insensitive_substring_with_wildcards_taken_literally(tmp_path):
    history = History(tmp_path)
    boat = _job(history, "A paper BOAT on a rainy street")
    _job(history, "a lighthouse at dusk")
    percent = _job(history, "100% cotton_sail")
    accent = _job(history, "Écume sur la mer")
    assert [job["id"] for job in history.search(text="boat")[0]] == [boat]
    assert [job["id"] for job in history.search(text="0% c")[0]] == [percent]
    assert history.search(text="%")[1] == 1 and history.search(text="n_s")[1] == 1  # not "any character"
    assert history.search(text="on_a")[1] == 0
    assert [job["id"] for job in history.search(text="écume")[0]] == [accent]  # beyond ASCII too
    assert history.search(text="  ")[1] == 4


def test_filters_combine_and_pages_are_newest_first(tmp_path):
    history = History(tmp_path)
    ids = [_job(history, f"shot {n}", status="failed" if n % 3 == 0 else "done",
                model="tiny-5b" if n % 2 else "tiny", batch_id="b1" if n < 4 else None) for n in range(10)]
    with sqlite3.connect(history.path) as db:  # distinct times: newest is the last made
        db.executemany("UPDATE jobs SET created = ? WHERE id = ?", [(1000.0 + n, job) for n, job in enumerate(ids)])
    page, total = history.search(limit=4, offset=4)
    assert total == 10 and [job["id"] for job in page] == ids[5:1:-1]
    failed_5b, total = history.search(status="failed", model="tiny-5b")
    assert total == 2 and [job["id"] for job in failed_5b] == [ids[9], ids[3]]
    assert history.search(batch_id="b1")[1] == 4 and history.search(batch_id="b1", text="shot 3")[1] == 1
    assert history.search(offset=40)[0] == [] and history.search(offset=40)[1] == 10
    assert history.models() == ["tiny", "tiny-5b"] and history.batches() == ["b1"]


def test_favourites(tmp_path):
    history = History(tmp_path)
    first, second = _job(history, "one"), _job(history, "two")
    history.set_favourite(second, True)
    assert [job["id"] for job in history.search(favourites=True)[0]] == [second]
    history.set_favourite(second, False)
    assert history.search(favourites=True)[1] == 0 and history.get(first)["favourite"] == 0
    with pytest.raises(InvalidRequest, match="no job has this id"):
        history.set_favourite("19990101-000000-abcdef", True)


def test_users_see_only_their_own_jobs_and_filter_values(tmp_path):
    history = History(tmp_path)
    ana = history.create({"prompt": "ana's", "model": "tiny"}, user="ana", status="queued", batch_id="ana-b")
    history.create({"prompt": "bo's", "model": "tiny-5b"}, user="bo", status="queued", batch_id="bo-b")
    jobs, total = history.search(user="ana")
    assert total == 1 and jobs[0]["id"] == ana
    assert history.models(user="ana") == ["tiny"] and history.batches(user="ana") == ["ana-b"]


def test_delete_returns_the_files_and_refuses_an_active_job(tmp_path):
    history = History(tmp_path)
    done = _job(history, "finished")
    history.update(done, **_files(tmp_path / "videos", done))
    queued = history.create({"prompt": "waiting"}, status="queued")
    running = history.create({"prompt": "now"})  # owned by this (live) process
    for active in (queued, running):
        with pytest.raises(InvalidRequest, match="cancel it first"):
            history.delete(active)
        assert history.get(active) is not None
    assert sorted(p.suffix for p in history.delete(done)) == [".jpg", ".json", ".mp4"]
    assert history.get(done) is None
    with pytest.raises(InvalidRequest, match="no job has this id"):
        history.delete(done)


def test_delete_job_files_unlinks_only_inside_the_videos_folder(tmp_path):
    history = History(tmp_path / "outputs")
    videos, elsewhere = tmp_path / "outputs" / "videos", tmp_path / "elsewhere"
    videos.mkdir()
    elsewhere.mkdir()
    mine, target = elsewhere / "mine.mp4", elsewhere / "target.json"
    mine.write_bytes(b"keep")
    target.write_bytes(b"keep")
    (videos / "link.jpg").symlink_to(target)
    job = _job(history, "points outside", output=str(mine), thumbnail=str(videos / "link.jpg"),
               sidecar=str(videos / ".." / ".." / "elsewhere" / "target.json"))
    deleted = delete_job_files(history, job, videos)
    assert deleted.removed == [videos / "link.jpg"] and not (videos / "link.jpg").is_symlink()  # the link, not its target
    assert len(deleted.kept) == 2 and mine.read_bytes() == b"keep" and target.read_bytes() == b"keep"
    assert history.get(job) is None

    inside = _job(history, "all inside")
    history.update(inside, **_files(videos, inside))
    (videos / f"{inside}.jpg").unlink()  # already gone: neither removed nor kept
    deleted = delete_job_files(history, inside, videos)
    assert sorted(p.suffix for p in deleted.removed) == [".json", ".mp4"] and deleted.kept == []
    assert not any(videos.glob(f"{inside}.*"))


def test_a_filtered_page_of_10000_jobs_is_fast(tmp_path, record_property):
    history = History(tmp_path)
    rows = [(f"20260101-000000-{n:06x}", 1_700_000_000.0 + n, ("done", "failed", "cancelled")[n % 3],
             ("tiny", "tiny-5b", "wan2.2-t2v-a14b")[n % 3], f"shot {n} of a {('boat', 'city', 'forest')[n % 3]}",
             json.dumps({"prompt": f"shot {n}", "seed": n}), n % 7 == 0, f"batch-{n // 500}", ("ana", "bo")[n % 2])
            for n in range(10_000)]
    with sqlite3.connect(history.path) as db:
        db.executemany("INSERT INTO jobs (id, created, status, model, prompt, request, favourite, batch_id, user)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    history.search(limit=1)  # first open: SQLite reads the schema once
    timings = {}
    for name, query in {"all, page 17": {"offset": 16 * 24}, "user + model": {"user": "ana", "model": "tiny"},
                        "favourites": {"favourites": True, "offset": 48}, "batch": {"batch_id": "batch-3"},
                        "text + status": {"text": "BOAT", "status": "done", "offset": 240}}.items():
        started = time.perf_counter()
        page, total = history.search(**query)
        timings[name] = time.perf_counter() - started
        assert len(page) == 24 and total > 24, name
    assert history.search(text="BOAT", status="done")[1] == 3334
    worst = max(timings, key=timings.get)
    record_property("figure", f"history search, 10,000 jobs: slowest filtered page + count {timings[worst] * 1000:.1f} ms "
                              f"({worst}); all: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items()))
    assert timings[worst] < 0.2


def test_the_tab_clamps_a_page_past_the_end_and_keeps_a_deleted_filter_value(tmp_path):
    """After deleting the last job of the last page (or of the chosen model), the tab shows the new last page
    and still lists the chosen model, instead of an empty page or a dropdown that rejects its own value."""
    from studio.config import StudioConfig
    from studio.service import Studio
    from studio.ui.history_tab import PAGE_SIZE, Filters, _page

    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    for n in range(PAGE_SIZE + 1):
        _job(studio.history, f"shot {n}", favourite=int(n == 0))
    items, listed, _, label, previous, following, models, _, page = _page(studio, Filters(), 7, None)
    assert page == 2 and label == f"page 2 of 2 · {PAGE_SIZE + 1} jobs" and len(items) == len(listed) == 1
    assert previous.interactive and not following.interactive
    *_, models, _, _ = _page(studio, Filters.of("", "", "tiny-5b", "", False), 1, None)
    assert ("tiny-5b", "tiny-5b") in models.choices
    items, _, empty, label, *_ = _page(studio, Filters.of(" shot 0 ", None, None, None, True), 1, None)
    assert len(items) == 1 and items[0][1].startswith("★ shot 0\n") and not empty.visible
    items, _, empty, label, *_ = _page(studio, Filters.of("no such words", "", "", "", False), 1, None)
    assert items == [] and empty.visible and "No jobs match" in empty.value and label == "page 1 of 1 · 0 jobs"


def test_captions_and_labels():
    from studio.ui import formatting as fmt

    now = time.mktime((2026, 3, 12, 18, 0, 0, 0, 0, -1))
    job = {"prompt": "a  paper boat drifting down a rainy street at night, neon light", "status": "failed",
           "created": now - 3600, "favourite": 1}
    assert fmt.history_caption(job).startswith("★ a paper boat drifting down a rainy street…\n")
    assert fmt.history_caption(job).endswith(" · failed")
    assert fmt.short_date(now - 3600, now) == "today 17:00" and fmt.short_date(now - 86400 * 3, now) == "9 Mar"
    assert fmt.short_date(now - 86400 * 365, now) == "12 Mar 2025"
    assert fmt.first_words("雪山" * 40).endswith("…") and len(fmt.first_words("雪山" * 40)) == 60
    assert fmt.first_words("a cat") == "a cat" and fmt.page_label(2, 17, 400) == "page 2 of 17 · 400 jobs"
    assert fmt.page_label(1, 1, 1) == "page 1 of 1 · 1 job"
