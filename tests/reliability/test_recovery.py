"""A start puts the outputs folder right without touching another process's work (issue 23, items 1-4)."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from studio.config import StudioConfig
from studio.errors import StorageError
from studio.folderlock import FolderLock
from studio.history import History
from studio.service import Studio
from studio.video import _storage_error
from tests.e2e.conftest import Server

SMALL = dict(width=256, height=256, frames=5, steps=1, translate=False)


def _studio(outputs: Path) -> Studio:
    return Studio(StudioConfig(model="tiny", outputs=outputs, translator="none"))


def _dead_owner() -> str:
    child = subprocess.run([sys.executable, "-c", "from studio.history import current_owner; print(current_owner())"],
                           capture_output=True, text=True, check=True)
    return child.stdout.strip()


def test_a_second_process_never_removes_the_partial_mp4_another_one_is_writing(tmp_path):
    outputs = tmp_path / "outputs"
    history = History(outputs)
    live, dead = history.create({"prompt": "being written"}), history.create({"prompt": "killed"})
    history.update(dead, owner=_dead_owner())
    videos = outputs / "videos"
    videos.mkdir(parents=True)
    writing, left = videos / f".{live}.mp4.partial.mp4", videos / f".{dead}.mp4.partial.mp4"
    for partial in (writing, left):
        partial.write_bytes(b"\0" * 64)
    _studio(outputs)  # e.g. `python -m studio generate` started beside a running studio
    assert writing.exists(), "the live job's MP4 in progress was deleted"
    assert not left.exists()


def test_storage_errors_name_the_cause_they_had(tmp_path):
    gone = _storage_error(tmp_path / "x.mp4", OSError(errno.ENOENT, "No such file or directory"))
    assert "free disk space" not in str(gone) and "removed while it was written" in str(gone)
    assert "free disk space" in str(_storage_error(tmp_path / "x.mp4", OSError(errno.ENOSPC, "No space left")))


def test_one_studio_per_folder_and_a_restart_accounts_for_an_old_containers_jobs(tmp_path):
    outputs = tmp_path / "outputs"
    history = History(outputs)
    stuck = history.create({"prompt": "running in a container that is gone"})
    history.update(stuck, owner=json.dumps({"host": "old-container-1f2e", "pid": 1, "start": "12"}))
    first = _studio(outputs)
    assert History(outputs).get(stuck)["status"] == "running", "without the folder, another host's job stays"
    first.own_folder()
    assert History(outputs).get(stuck)["status"] == "interrupted"
    with pytest.raises(StorageError, match=rf"another studio already serves .*process {os.getpid()} on .*Fix: stop"):
        FolderLock(outputs).acquire()
    first.folder_lock.release()
    FolderLock(outputs).acquire().release()


def test_a_second_served_studio_on_the_same_folder_refuses_to_start(tmp_path):
    first = Server(tmp_path)
    try:
        (tmp_path / "b").mkdir()
        with pytest.raises(RuntimeError, match="another studio already serves"):
            Server(tmp_path / "b", "--outputs", str(first.outputs))
    finally:
        first.stop()


def test_a_job_killed_after_its_files_were_complete_is_done(tmp_path):
    outputs = tmp_path / "outputs"
    studio = _studio(outputs)
    ended = list(studio.generate(studio.request("finished, then killed", **SMALL)))
    job_id = ended[-1].job_id
    history = History(outputs)
    history.update(job_id, status="running", output=None, thumbnail=None, sidecar=None, owner=_dead_owner())
    _studio(outputs)
    job = History(outputs).get(job_id)
    assert job["status"] == "done" and Path(job["output"]).is_file() and job["seconds"] > 0


def test_a_corrupt_history_is_moved_aside_and_rebuilt_from_the_sidecars(tmp_path):
    outputs = tmp_path / "outputs"
    studio = _studio(outputs)
    job_id = list(studio.generate(studio.request("kept through a corrupt history", **SMALL)))[-1].job_id
    for suffix in ("", "-wal", "-shm"):
        Path(f"{outputs / 'history.sqlite'}{suffix}").unlink(missing_ok=True)
    (outputs / "history.sqlite").write_bytes(b"this is not a database" * 100)
    again = _studio(outputs)
    assert again.history.moved_aside is not None and again.history.moved_aside.is_file()
    job = again.history.get(job_id)
    assert job["status"] == "done" and job["prompt"] == "kept through a corrupt history" and job["request"]["seed"]


def test_a_locked_history_is_named_not_hidden_behind_a_rollback_error(tmp_path, monkeypatch):
    history = History(tmp_path)
    job_id = history.create({"prompt": "x"})
    monkeypatch.setattr(History, "busy_seconds", 0.2)
    writer = sqlite3.connect(history.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="could not be used .*locked.*another process held it"):
            history.update(job_id, status="done")
        assert history.get(job_id)["status"] == "running", "reads never wait for the write lock"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
