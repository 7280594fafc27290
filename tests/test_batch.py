"""Batches, variations and the queue commands: the CLI as a user runs it (a subprocess, tiny model, real
pipeline), and the parsing and index writing of studio.batch as plain functions.

Exit codes of `batch`: 0 when every row made a video, 1 when any row did not (a bad row, a failed or
cancelled job), 2 when the file itself cannot be used.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.batch import Row, batch_id_for, queue_rows, read_rows, write_index
from studio.config import StudioConfig
from studio.errors import InvalidRequest
from studio.service import Studio
from tests.conftest import subprocess_env

SMALL = ("--model", "tiny", "--width", "256", "--height", "256", "--frames", "5", "--steps", "1", "--no-translate")


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True,
                          env=subprocess_env(tmp), cwd=tmp, timeout=300)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_batch_with_a_bad_row_makes_the_others_and_a_second_run_queues_nothing(tmp_path):
    rows = _write(tmp_path / "shots.jsonl", "\n".join([
        json.dumps({"prompt": "a red fox in snow", "seed": 1}),
        json.dumps({"prompt": "a paper boat <on> a lake & rain", "seed": 2}),
        "",
        json.dumps({"prompt": "a lighthouse", "steps": 0}),
        json.dumps({"prompt": "a cat asleep", "seed": 4}),
        json.dumps({"prompt": "一只猫在窗台上", "seed": 5}),
    ]) + "\n")
    first = cli(tmp_path, "batch", str(rows), *SMALL, "--json")
    assert first.returncode == 1, first.stderr  # a row did not run
    assert "line 4: steps: 0 is not allowed" in first.stderr and "Traceback" not in first.stderr
    result = json.loads(first.stdout)
    assert result["queued"] == 4 and result["skipped_done"] == 0
    assert result["bad_rows"] == [{"line": 4, "message": "steps: 0 is not allowed; use a whole number from 1 to 100"}]
    jobs = result["jobs"]
    assert [(job["line"], job["status"], job["seed"]) for job in jobs] == [(1, "done", 1), (2, "done", 2),
                                                                          (5, "done", 4), (6, "done", 5)]
    folder = Path(result["folder"])
    assert sorted(p.name for p in folder.glob("*.mp4")) == [
        "0001-a-red-fox-in-snow.mp4", "0002-a-paper-boat-on-a-lake-rain.mp4", "0004-a-cat-asleep.mp4", "0005-video.mp4"]
    assert all(Path(job["output"]).stat().st_size > 0 for job in jobs)
    with open(result["index_csv"], encoding="utf-8") as index:
        listed = list(csv.DictReader(index))
    assert [(row["line"], row["status"]) for row in listed] == [("1", "done"), ("2", "done"), ("4", "invalid"),
                                                                ("5", "done"), ("6", "done")]
    assert listed[2]["error"].startswith("steps: 0") and listed[0]["file"] == "0001-a-red-fox-in-snow.mp4"
    page = Path(result["index_html"]).read_text(encoding="utf-8")
    assert "line 4 (invalid): steps: 0 is not allowed" in page and 'src="0001-a-red-fox-in-snow.jpg"' in page
    assert "a paper boat &lt;on&gt; a lake &amp; rain" in page and "<on>" not in page
    assert (folder / "0001-a-red-fox-in-snow.jpg").is_file()

    again = cli(tmp_path, "batch", str(rows), *SMALL, "--json")
    assert again.returncode == 1
    assert "nothing to queue (4 already done, 1 bad)" in again.stderr
    repeat = json.loads(again.stdout)
    assert (repeat["queued"], repeat["skipped_done"]) == (0, 4)
    assert [job["job_id"] for job in repeat["jobs"]] == [job["job_id"] for job in jobs]


def test_a_txt_batch_runs_every_prompt_line(tmp_path):
    prompts = _write(tmp_path / "prompts.txt", "# morning shots\na sunrise over hills\n\n  a train at dawn  \n")
    done = cli(tmp_path, "batch", str(prompts), *SMALL, "--name", "dawn")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "outputs" / "batches" / "dawn" / "index.html")
    assert "[2/2] done" in done.stderr
    assert sorted(p.name for p in (tmp_path / "outputs" / "batches" / "dawn").glob("*.mp4")) == [
        "0001-a-sunrise-over-hills.mp4", "0002-a-train-at-dawn.mp4"]


def test_a_file_of_unknown_kind_exits_2_with_one_line(tmp_path):
    done = cli(tmp_path, "batch", str(_write(tmp_path / "shots.xlsx", "a cat")), "--model", "tiny")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "use a .txt (one prompt a line), .csv or .jsonl" in lines[0]


@pytest.mark.parametrize("name, text, words", [
    ("empty.csv", "\n# nothing yet\n", "it has no rows"),
    ("typo.csv", "prompt,stpes\na cat,2\n", "line 1: 'stpes' is not allowed"),
    ("seeds.csv", "seed\n3\n", "the header needs a prompt column"),
    ("latin1.txt", "caf\xe9", "not UTF-8"),
    ("nowhere.txt", None, "no such file"),
])
def test_files_that_cannot_be_used_as_a_whole_are_refused(tmp_path, name, text, words):
    path = tmp_path / name
    if text is not None:
        path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InvalidRequest, match=words):
        read_rows(path)


def test_jsonl_rows_report_bad_json_and_unknown_columns_by_line(tmp_path):
    rows = read_rows(_write(tmp_path / "a.jsonl", '{"prompt": "a"}\n\n# note\n{"prompt": "b",\n[1]\n'
                                                  '{"prompt": "c", "colour": "red"}\n'))
    assert [(row.line, row.error is None) for row in rows] == [(1, True), (4, False), (5, False), (6, False)]
    assert rows[1].error.startswith("not valid JSON") and "not an object" in rows[2].error
    assert rows[3].error.startswith("colour: unknown column")


def test_csv_rows_keep_quoted_commas_and_lines_and_skip_blank_ones(tmp_path, monkeypatch):
    rows = read_rows(_write(tmp_path / "a.csv", 'Prompt,seed,translate\n\n"a boat, at night",3,no\n'
                                                '"two\nlines",,\n# skipped\n'))
    assert [(row.line, row.values) for row in rows] == [
        (3, {"prompt": "a boat, at night", "seed": "3", "translate": False}), (4, {"prompt": "two\nlines"})]
    assert rows[1].text == '"two\nlines",,'
    monkeypatch.chdir(tmp_path)
    assert batch_id_for(Path("a.csv")) == batch_id_for(tmp_path / "a.csv") != batch_id_for(tmp_path / "b" / "a.csv")
    with pytest.raises(InvalidRequest, match="name"):
        batch_id_for(tmp_path / "a.csv", "../elsewhere")


def test_a_rerun_queues_again_only_rows_that_did_not_finish(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    rows = [Row(1, "a", {"prompt": "a"}), Row(2, "b", {"prompt": "b"}), Row(3, "c", {"prompt": "c", "fps": 0})]
    defaults = {"width": 256, "height": 256, "frames": 5, "steps": 1, "translate": False}
    first = queue_rows(studio, "demo", rows, defaults)
    assert (first.queued, [row.line for row in first.bad], "fps: 0" in first.bad[0].error) == (2, [3], True)
    studio.history.update(first.jobs[1], status="done")
    studio.history.update(first.jobs[2], status="interrupted")
    second = queue_rows(studio, "demo", rows, defaults)
    assert (second.queued, second.skipped_done, second.jobs, second.waiting) == (1, 1, first.jobs, [first.jobs[2]])
    assert studio.history.get(first.jobs[2])["status"] == "queued"
    assert queue_rows(studio, "demo", [Row(2, "b changed", {"prompt": "b changed"})], defaults).queued == 1


def test_the_index_links_videos_escapes_text_and_drops_stale_files(tmp_path):
    video, thumb = _write(tmp_path / "v.mp4", "not really a video"), _write(tmp_path / "v.jpg", "jpg")
    folder = tmp_path / "batch"
    folder.mkdir()
    _write(folder / "0009-old.mp4", "from an earlier run")
    entries = [
        {"line": 2, "status": "done", "prompt": 'a "quoted" <script>', "seed": 3, "job_id": "j1",
         "output": str(video), "thumbnail": str(thumb), "error": ""},
        {"line": 3, "status": "failed", "prompt": "b", "seed": 4, "job_id": "j2", "output": None,
         "thumbnail": None, "error": "out of GPU memory <oom>"},
    ]
    written = write_index(folder, entries, "Batch <x>")
    assert [e["file"] for e in written] == ["0001-a-quoted-script.mp4", ""]
    assert (folder / "0001-a-quoted-script.mp4").stat().st_ino == video.stat().st_ino  # a hard link, not a copy
    assert not (folder / "0009-old.mp4").exists()
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "a &quot;quoted&quot; &lt;script&gt;" in page
    assert "line 3 (failed): out of GPU memory &lt;oom&gt;" in page and "<title>Batch &lt;x&gt;</title>" in page
    assert write_index(folder, entries, "again") == written, "a second run rewrites the same index"


def test_variations_differ_only_in_seed(tmp_path):
    done = cli(tmp_path, "generate", "--prompt", "a kite on a beach", *SMALL, "--variations", "2", "--seed", "7",
               "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [(job["status"], job["seed"]) for job in result["jobs"]] == [("done", 7), ("done", 8)]
    assert all(Path(job["output"]).is_file() for job in result["jobs"])
    assert result["batch_id"] == f"variations-{result['jobs'][0]['job_id']}"


def test_requeue_an_interrupted_job_then_run_it_here(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    request = studio.request("a windmill at dusk", width=256, height=256, frames=5, steps=1, seed=3, translate=False)
    job_id = studio.history.create(request.to_dict())
    studio.history.update(job_id, status="interrupted")
    queued = cli(tmp_path, "requeue", job_id)
    assert queued.returncode == 0 and queued.stdout.strip() == f"Job {job_id} is queued again."
    listed = json.loads(cli(tmp_path, "jobs", "--json").stdout)["jobs"]
    assert [(job["id"], job["status"], job["place"]) for job in listed] == [(job_id, "queued", 1)]
    ran = cli(tmp_path, "requeue", job_id, "--run")
    assert ran.returncode == 0, ran.stderr
    record = studio.history.get(job_id)
    assert record["status"] == "done" and ran.stdout.strip() == record["output"] and Path(record["output"]).is_file()
    assert "already ended (done)" in cli(tmp_path, "cancel", job_id).stdout
