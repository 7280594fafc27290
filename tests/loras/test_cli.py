"""LoRAs from the command line and the studio's API: listing, per-job LoRAs, what history and metadata record,
re-runs, and bad input refused before a job starts with the history untouched."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import av
import numpy as np
import pytest

from studio.config import StudioConfig
from studio.events import Done
from studio.__main__ import main
from studio.history import History
from studio.service import Studio
from studio.tiny import build_tiny_pipeline
from studio.ui.formatting import job_details
from studio.video import read_metadata
from tests.conftest import subprocess_env

from . import makers

SMALL = ("--model", "tiny", "--width", "256", "--height", "256", "--frames", "5", "--steps", "2", "--seed", "5",
         "--no-translate")


def _studio(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=600,
                          env=subprocess_env(tmp_path), cwd=tmp_path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """outputs/loras with a style (Kohya layout, trigger words in its metadata), a pair and a NaN file."""
    root = tmp_path_factory.mktemp("cli")
    loras = root / "outputs" / "loras"
    tiny = build_tiny_pipeline("tiny")
    tags = json.dumps({"set": {"inkwash": 9}})
    makers.write(loras / "ink.safetensors", makers.state(makers.factors(tiny.transformer, seed=1, scale=0.5), "kohya",
                                                         alpha=4.0), {"ss_tag_frequency": tags})
    makers.write(loras / "hero_HN.safetensors", makers.state(makers.factors(tiny.transformer, seed=2)))
    makers.write(loras / "hero_LN.safetensors", makers.state(makers.factors(tiny.transformer_2, seed=3), "wan"))
    broken = makers.factors(tiny.transformer)
    broken["blocks.0.ffn.net.2"][0][0, 0] = float("inf")
    makers.write(loras / "broken.safetensors", makers.state(broken))
    return root


def _frames(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(int)


def test_loras_lists_the_library(folder, capsys):
    done = _studio(folder, "loras", "--json")
    assert done.returncode == 0, done.stderr
    listed = {e["name"]: e for e in json.loads(done.stdout)["loras"]}
    assert set(listed) == {"ink", "hero", "broken"}  # NaN is found when applied, not when listed
    assert listed["ink"]["trigger_words"] == ["inkwash"] and listed["ink"]["layout"] == "kohya"
    assert listed["hero"]["experts"] == ["high", "low"] and listed["hero"]["rank"] == 4
    assert main(["--outputs", str(folder / "outputs"), "loras"]) == 0
    text = capsys.readouterr().out
    assert "ink" in text and "rank 4" in text and "inkwash" in text


def test_generate_with_loras_records_them_and_a_rerun_reproduces(folder):
    out, plain_out = folder / "styled.mp4", folder / "plain.mp4"
    done = _studio(folder, "generate", "--prompt", "a fox", *SMALL, "--lora", "ink:0.8", "--lora", "hero:1:0.5",
                   "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    digest = hashlib.sha256((folder / "outputs" / "loras" / "ink.safetensors").read_bytes()).hexdigest()
    ink = {"name": "ink", "strength": 0.8, "strength_low": None,
           "files": [{"expert": "both", "file": "ink.safetensors", "sha256": digest}]}
    assert summary["loras"][0] == ink and [f["expert"] for f in summary["loras"][1]["files"]] == ["high", "low"]
    assert read_metadata(out)["loras"][0] == ink
    job = json.loads(_studio(folder, "history", "--json").stdout)["jobs"][0]
    assert job["loras"][0] == ink and job["request"]["loras"] == [["ink", 0.8, None], ["hero", 1.0, 0.5]]
    assert "LoRA ink at 0\\.8" in job_details(job) and digest[:12] in job_details(job)  # the History tab's panel
    assert _studio(folder, "generate", "--prompt", "a fox", *SMALL, "--out", str(plain_out)).returncode == 0
    assert np.abs(_frames(out) - _frames(plain_out)).max() > 5

    studio = Studio(StudioConfig(model="tiny", outputs=folder / "outputs", translator="none"))
    again = studio.request(**{**job["request"], "translate": False})  # History's re-run: the stored request
    rerun = next(e for e in studio.generate(again, output=folder / "again.mp4") if isinstance(e, Done))
    assert rerun.summary["loras"] == summary["loras"]
    assert np.abs(_frames(folder / "again.mp4") - _frames(out)).max() <= 2


@pytest.mark.parametrize("args, says", [  # the rest of the rules: test_library's parse test
    (("--lora", "inc", "--lora", "ink"), "no LoRA has this name.*did you mean ink"),
    (("--lora", "broken:0.5"), "NaN or Inf"),
])
def test_bad_loras_exit_2_before_any_job(folder, args, says):
    before = History(folder / "outputs").list()
    done = _studio(folder, "generate", "--prompt", "a fox", *SMALL, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(says, lines[0]), lines
    assert History(folder / "outputs").list() == before
