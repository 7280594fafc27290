import json
import signal
import subprocess
import sys
import time

from studio.history import History, owner_alive


def test_lifecycle_newest_first(tmp_path):
    history = History(tmp_path)
    first = history.create({"prompt": "a", "model": "tiny", "seed": 1})
    time.sleep(0.01)
    second = history.create({"prompt": "b", "model": "tiny", "seed": 2}, status="queued")
    history.start(first, language="en", model_prompt="甲", translated=True)
    history.finish(first, "done", output="/x.mp4", seconds=1.5)
    jobs = history.list()
    assert [job["id"] for job in jobs] == [second, first]
    done = history.get(first)
    assert done["status"] == "done" and done["translated"] is True and done["request"]["seed"] == 1
    assert done["output"] == "/x.mp4" and done["finished"] >= done["started"] >= done["created"]
    assert history.get(second)["status"] == "queued" and history.get(second)["owner"] is None
    assert history.integrity() == "ok"


def test_history_survives_reopening(tmp_path):
    job = History(tmp_path).create({"prompt": "a"})
    assert History(tmp_path).get(job)["request"] == {"prompt": "a"}


def test_job_of_a_killed_process_reads_interrupted(tmp_path):
    """kill -9 a process in the middle of a job: the next reader sees `interrupted`, never `running`."""
    script = (
        "import sys, time; from studio.history import History;"
        f"h = History({str(tmp_path)!r}); j = h.create({{'prompt': 'x'}}); h.start(j);"
        "print(j, flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    job = child.stdout.readline().strip()
    history = History.__new__(History)  # read without the start-up sweep first
    history.__init__(tmp_path)
    assert history.get(job)["status"] == "running"  # its process is alive
    child.send_signal(signal.SIGKILL)
    child.wait()
    record = History(tmp_path).get(job)
    assert record["status"] == "interrupted" and "stopped before this job finished" in record["error_message"]
    assert History(tmp_path).integrity() == "ok"


def test_owner_checks():
    assert not owner_alive(None) and not owner_alive("garbage")
    assert not owner_alive(json.dumps({"host": __import__("socket").gethostname(), "pid": 2**22 + 17, "start": "1"}))


def test_reading_does_not_wait_for_a_writer(tmp_path):
    """While another connection (a job's process) holds the write lock, listing and reading the history answer
    at once instead of queueing behind it (before, every read took the write lock to look for dead jobs)."""
    import sqlite3

    history = History(tmp_path)
    job_id = history.create({"model": "tiny", "prompt": "a cat", "seed": 1})
    writer = sqlite3.connect(history.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        assert [job["id"] for job in history.list()] == [job_id] and history.get(job_id)["status"] == "running"
        assert time.perf_counter() - started < 2.0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_queued_jobs_survive_the_death_of_the_process_that_queued_them(tmp_path):
    """Only running jobs belong to a process; a queued one waits for the next worker, across restarts."""
    script = (
        f"from studio.history import History; h = History({str(tmp_path)!r});"
        "print(h.create({'prompt': 'q'}, status='queued'), h.create({'prompt': 'r'}), flush=True)"
    )
    queued, running = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                     check=True).stdout.split()
    history = History(tmp_path)
    assert history.get(queued)["status"] == "queued"
    assert history.get(running)["status"] == "interrupted"


def test_an_old_history_is_migrated_and_keeps_its_jobs(tmp_path):
    """A history written before the queue (schema 1) opens with its jobs intact and the queue's columns."""
    import sqlite3

    from studio.history import MIGRATIONS

    db = sqlite3.connect(tmp_path / "history.sqlite")
    MIGRATIONS[0](db)
    db.execute("INSERT INTO jobs (id, created, status, request) VALUES ('old', 1.0, 'done', '{}')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    history = History(tmp_path)
    job = history.get("old")
    assert job["status"] == "done" and job["favourite"] == 0 and job["position"] is None
    with sqlite3.connect(tmp_path / "history.sqlite") as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_the_preset_card_lookup_uses_its_index_not_a_scan(tmp_path, monkeypatch):
    """Asked for every user preset on every page load: SQLite's plan for the statement the history runs names the
    partial expression index."""
    import sqlite3

    from studio import history as module

    history = module.History(tmp_path)
    ran: list[str] = []
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        db = connect(*args, **kwargs)
        db.set_trace_callback(ran.append)
        return db

    monkeypatch.setattr(module.sqlite3, "connect", traced)
    history.latest_thumbnail("ink", user="ana")
    monkeypatch.undo()
    statement = next(s for s in ran if s.startswith("SELECT thumbnail"))
    plan = " ".join(str(row) for row in connect(history.path).execute("EXPLAIN QUERY PLAN " + statement))
    assert "jobs_preset_done" in plan, plan
