"""The CLI as a user runs it: a real subprocess on the tiny model."""

import json
import subprocess
import sys

import av

from tests.conftest import subprocess_env


def _studio(tmp_path, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout,
        env=subprocess_env(tmp_path), cwd=tmp_path,
    )


def test_generate_720p_writes_a_playable_mp4_and_a_json_summary(tmp_path):
    out = tmp_path / "x.mp4"
    done = _studio(
        tmp_path, "generate", "--model", "tiny", "--prompt", "一只猫在窗台上睡觉", "--width", "1280", "--height", "720",
        "--frames", "9", "--steps", "2", "--seed", "7", "--out", str(out), "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["output"] == str(out) and summary["seed"] == 7 and summary["previews"] >= 2
    assert (summary["width"], summary["height"], summary["frames"], summary["fps"]) == (1280, 720, 9, 16)
    assert summary["language"] == "zh" and summary["model_prompt"] == "一只猫在窗台上睡觉" and summary["translated"] is False
    assert summary["language_summary"] == "Chinese, sent as typed"
    assert summary["seconds"] > 0 and "Traceback" not in done.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (1280, 720)
        assert sum(1 for _ in container.decode(stream)) == 9

    listed = _studio(tmp_path, "history", "--json")
    jobs = json.loads(listed.stdout)["jobs"]
    assert jobs[0]["status"] == "done" and jobs[0]["output"] == str(out) and jobs[0]["request"]["seed"] == 7
    assert {"id", "status", "request", "created", "output"} <= set(jobs[0])
    assert jobs[0]["language_summary"] == "Chinese, sent as typed"


def test_bad_frames_exit_2_with_one_line_naming_frames(tmp_path):
    done = _studio(tmp_path, "generate", "--model", "tiny", "--prompt", "cat", "--frames", "10", "--out", "x.mp4")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "frames" in lines[0] and "4k+1" in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_bad_flags_and_missing_models_exit_2_without_traceback(tmp_path):
    for args, words in [
        (("generate", "--model", "tiny", "--prompt", "cat", "--seed", "abc"), "seed must be a whole number"),
        (("generate", "--model", str(tmp_path / "nowhere"), "--prompt", "cat"), "does not exist"),
        (("generate", "--model", "tiny", "--prompt", "   "), "empty"),
        (("generate", "--prompt", "cat", "--model", "tiny", "--width", "1000", "--height", "720"), "multiple of 16"),
    ]:
        done = _studio(tmp_path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr


def test_presets_are_listed(tmp_path):
    listed = _studio(tmp_path, "presets", "--json")
    names = [p["name"] for p in json.loads(listed.stdout)["presets"]]
    assert listed.returncode == 0 and {"none", "cinematic", "chinese-ink"} <= set(names)
    assert all("{prompt}" in p["prompt"] for p in json.loads(listed.stdout)["presets"])
