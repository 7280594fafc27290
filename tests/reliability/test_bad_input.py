"""Bad input on every surface: each case gets one message that names the problem and the fix.

The CLI exits with code 2 and one line on stderr; the Python API raises a StudioError (or ends the
job with a Failed event); the served app answers with a gr.Error that gradio_client raises. Never
a traceback, and the studio keeps working afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from gradio_client import Client

from studio.config import StudioConfig
from studio.errors import StudioError
from studio.events import Done, Failed
from studio.service import Studio

from .conftest import SMALL_API, SMALL_UI, cli_many

EMPTY = r"prompt: .* is not allowed; describe what the video should show \(it is empty\)"
LONG_PROMPT = "a cat walking " * 1430  # 20,020 characters
TOO_LONG = r"at most 4,000 characters.*shorten it"
NO_WORDS = r"no words, only symbols or emoji; describe the scene in words"
FULL_DISK_MB = 1


@dataclass(frozen=True)
class Case:
    """One bad input on one surface; `expect` is a regex for the message (the problem and the fix)."""

    name: str
    given: dict = field(default_factory=dict)
    expect: str = ""


def _ids(cases: list[Case]) -> list[str]:
    return [case.name for case in cases]


# --- a world of broken things, built once ----------------------------------------------------

def _write_broken_presets(folder: Path) -> None:
    """A user preset that is not JSON, one with the wrong schema and one far too big."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.json").write_text('{"version": 1, "name": "broken", "prompt": "a {prompt", ')
    (folder / "schema.json").write_text(json.dumps({"version": 1, "prompt": "no placeholder", "steps": 9}))
    (folder / "huge.json").write_text(json.dumps({"version": 1, "prompt": "{prompt}, " + "x" * 100_000}))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Broken presets in an outputs folder, broken model folders, a pickled LoRA, a path that cannot be a
    folder, and a full disk (a 1 MB tmpfs, filled)."""
    root = tmp_path_factory.mktemp("world")
    _write_broken_presets(root / "outputs" / "presets")
    (root / "broken-model").mkdir()
    (root / "broken-model" / "model_index.json").write_text('{"_class_name": "WanPipeline", ')
    from studio.tiny import build_tiny_pipeline

    build_tiny_pipeline("tiny").save_pretrained(root / "bin-model", safe_serialization=False)
    torch.save({"lora_A.weight": torch.zeros(2, 2)}, root / "lora.bin")
    (root / "a-file").write_text("not a folder")
    full = root / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_DISK_MB}m", "tmpfs", str(full)],
                             capture_output=True).returncode == 0
    if mounted:
        with open(full / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
    yield root, mounted
    if mounted:
        subprocess.run(["umount", str(full)], check=False)


def _resolve(values: dict, root: Path) -> dict:
    """Case values name files of the world as "@name"."""
    return {k: (str(root / v[1:]) if isinstance(v, str) and v.startswith("@") else v) for k, v in values.items()}


def _skip_without_disk(case: Case, mounted: bool) -> None:
    if case.name == "full disk" and not mounted:
        pytest.skip("mount -t tmpfs is not permitted here; test_enospc_while_encoding simulates a full disk")


def _assert_message(case: Case, message: str) -> None:
    assert "Traceback" not in message, message
    assert re.search(case.expect, message, re.S), f"{case.name}: {message!r} does not match {case.expect!r}"


# --- the Python API ---------------------------------------------------------------------------

API_CASES = [
    Case("empty prompt", {"prompt": ""}, EMPTY),
    Case("whitespace prompt", {"prompt": "  \n\t  "}, EMPTY),
    Case("20,000-character prompt", {"prompt": LONG_PROMPT}, TOO_LONG),
    Case("control characters only", {"prompt": "\x00\x07\x1b\x7f"}, EMPTY),
    Case("bidi overrides only", {"prompt": "\u202e\u202d\u2066\u2069"}, EMPTY),
    Case("zero-width only", {"prompt": "\u200b\u200c\u200d\ufeff"}, EMPTY),
    Case("emoji only", {"prompt": "🎬🔥🐱"}, NO_WORDS),
    Case("width not a multiple of 16", {"width": 1000, "height": 720},
         r"width: 1000 .*multiple of 16 \(nearest: 992\)"),
    Case("negative size", {"width": -832, "height": 480}, r"width: -832 .*use a whole number from 1"),
    Case("far too large", {"width": 8192, "height": 8192}, r"width: 8192 .*use 256 to 1280 pixels; official sizes"),
    Case("frames not 4k+1", {"frames": 10}, r"frames: 10 .*4k\+1 frames.*nearest: 9 or 13"),
    Case("frames beyond the maximum", {"frames": 1001}, r"frames: 1001 .*the most is 81"),
    Case("negative frames", {"frames": -5}, r"frames: -5 .*4k\+1 frames from 5 to 81"),
    Case("steps 0", {"steps": 0}, r"steps: 0 .*use a whole number from 1 to 100"),
    Case("steps 100,000", {"steps": 100_000}, r"steps: 100000 .*use a whole number from 1 to 100"),
    Case("negative guidance", {"guidance_scale": -1}, r"guidance_scale: -1 .*use a number from 0 to 20"),
    Case("absurd guidance", {"guidance_scale": 1e12}, r"guidance_scale: 1000000000000.0 .*from 0 to 20"),
    Case("guidance not a number", {"guidance_scale": float("nan")}, r"guidance_scale: nan .*from 0 to 20"),
    Case("seed is text", {"seed": "lucky"}, r"seed: 'lucky' .*whole number from 0 to"),
    Case("negative seed", {"seed": -7}, r"seed: -7 .*whole number from 0 to"),
    Case("unknown preset", {"preset": "no-such-style"},
         r'unknown preset "no-such-style". Fix: use one of: .*cinematic'),
    Case("preset name with ../", {"preset": "../../etc/passwd"}, r"looks like a path.*Fix: use 1-48 characters"),
    Case("preset file not JSON", {"preset": "broken"}, r'"broken.json" is not valid JSON .*Fix: correct the JSON'),
    Case("preset file with the wrong schema", {"preset": "schema"},
         r'"schema.json": "steps" is not a preset field.*Fix: remove it'),
    Case("preset file too big", {"preset": "huge"}, r'"huge.json" is 100,\d{3} bytes; presets may be at most 64 KiB'),
    Case("unknown memory plan", {"memory_plan": "all-in-ram"}, r"memory_plan: 'all-in-ram' .*choose auto or one of"),
    Case("unknown attention", {"attention": "warp"}, r"attention: 'warp' .*choose one of default, auto, .*int8"),
    Case("missing model folder", {"config": {"model": "@no-such-model"}}, r"does not exist. Fix: download the weights"),
    Case("broken model_index.json", {"config": {"model": "@broken-model"}},
         r"model_index.json is not valid JSON.*Fix: download the model again"),
    Case("weights only as pickle (.bin)", {"config": {"model": "@bin-model"}},
         r"only \.bin \(pickle\) weights.*Fix: download"),
    Case("LoRA that is not safetensors", {"mode": "fast", "env": {"STUDIO_FAST_LORA": "@lora.bin"}},
         r"lora.bin' is not a safetensors file.*never loads them. Fix: point STUDIO_FAST_LORA at"),
    Case("LoRA file missing", {"mode": "fast", "env": {"STUDIO_FAST_LORA": "@no-lora.safetensors"}},
         r"fast mode LoRA .* does not exist. Fix: point STUDIO_FAST_LORA"),
    Case("output path that cannot be written", {"output": "@a-file/x.mp4"},
         r"cannot write to .*a-file: it is a file, not a folder. Fix: free disk space or choose a writable"),
    Case("full disk", {"output": "@full/x.mp4"}, r"disk holding .*full is full: 0.\d MB free.*Fix: free disk space"),
]


def _api_message(case: Case, root: Path, monkeypatch) -> str:
    """The message the Python API gives: a StudioError from Studio/request, else the job's Failed event."""
    given = dict(case.given)
    for name, value in _resolve(given.pop("env", {}), root).items():
        monkeypatch.setenv(name, value)
    config = {"model": "tiny", "outputs": root / "outputs", "translator": "none",
              **_resolve(given.pop("config", {}), root)}
    output = _resolve({"output": given.pop("output", None)}, root)["output"]
    values = {"prompt": "a cat walking", **SMALL_API, **given}
    try:
        studio = Studio(StudioConfig(**config))
        request = studio.request(values.pop("prompt"), **values)
    except StudioError as error:
        return str(error)
    events = list(studio.generate(request, output=Path(output) if output else None))
    assert isinstance(events[-1], Failed), f"{case.name}: the job did not fail: {events[-1]}"
    return events[-1].message


@pytest.mark.parametrize("case", API_CASES, ids=_ids(API_CASES))
def test_python_api(case: Case, world, monkeypatch):
    root, mounted = world
    _skip_without_disk(case, mounted)
    _assert_message(case, _api_message(case, root, monkeypatch))


def test_python_api_keeps_working_and_cleans_what_it_accepts(world):
    """After all that, a good job runs; control and invisible characters inside a real prompt never reach the model."""
    root, _ = world
    studio = Studio(StudioConfig(model="tiny", outputs=root / "outputs", translator="none"))
    request = studio.request("a cat\x07 walking\u202e in\u200b snow", **SMALL_API)
    done = list(studio.generate(request))[-1]
    assert isinstance(done, Done) and Path(done.output).is_file()
    assert done.summary["model_prompt"] == "a cat walking in snow"


def test_enospc_while_encoding(tmp_path, monkeypatch):
    """The disk fills up during the MP4 write (ENOSPC from the encoder): the job fails with the fix, the
    history says so, and no partial file is left."""
    import av

    from studio import video

    real_open = av.open

    def full_disk(path, mode="r", **options):
        if mode == "w":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, mode, **options)

    monkeypatch.setattr(video.av, "open", full_disk)
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    failed = list(studio.generate(studio.request("a cat walking", **SMALL_API)))[-1]
    assert isinstance(failed, Failed) and failed.kind == "storage"
    assert re.search(r"could not write .*No space left on device; the disk is full. Fix: free disk space", failed.message)
    assert studio.history.get(failed.job_id)["status"] == "failed"
    assert list((tmp_path / "outputs" / "videos").iterdir()) == []


# --- the CLI ----------------------------------------------------------------------------------

def _generate_args(root: Path, *extra: str, outputs: str = "@outputs") -> tuple[str, ...]:
    base = ("--outputs", _resolve({"o": outputs}, root)["o"], "generate", "--model", "tiny", "--prompt",
            "a cat walking", "--no-translate", "--json", "--width", "256", "--height", "256", "--frames", "5",
            "--steps", "1")
    return base + tuple(_resolve({str(i): a for i, a in enumerate(extra)}, root).values())


CLI_CASES = [
    Case("empty prompt", {"args": ("--prompt", "")}, EMPTY),
    Case("20,000-character prompt", {"args": ("--prompt", LONG_PROMPT)}, TOO_LONG),
    Case("control, bidi and zero-width only", {"args": ("--prompt", "\x07\x1b\u202e\u200b\u2066")}, EMPTY),
    Case("emoji only", {"args": ("--prompt", "🎬🔥")}, NO_WORDS),
    Case("width not a multiple of 16", {"args": ("--width", "1000", "--height", "720")},
         r"multiple of 16 \(nearest: 992\)"),
    Case("frames beyond the maximum", {"args": ("--frames", "1001")}, r"the most is 81"),
    Case("steps 100,000", {"args": ("--steps", "100000")}, r"steps: 100000 .*from 1 to 100"),
    Case("seed is text", {"args": ("--seed", "lucky")}, r"seed must be a whole number, got 'lucky' \(see --help\)"),
    Case("negative seed", {"args": ("--seed", "-7")}, r"seed: -7 .*whole number from 0 to"),
    Case("preset name with ../", {"args": ("--preset", "../../etc/passwd")}, r"looks like a path.*Fix:"),
    Case("preset file not JSON", {"args": ("--preset", "broken")}, r"not valid JSON .*Fix: correct the JSON"),
    Case("missing model folder", {"args": ("--model", "@no-such-model")}, r"does not exist. Fix: download the weights"),
    Case("broken model_index.json", {"args": ("--model", "@broken-model")},
         r"not valid JSON.*Fix: download the model again"),
    Case("weights only as pickle (.bin)", {"args": ("--model", "@bin-model", "--steps", "1")},
         r"only \.bin \(pickle\) weights.*Fix: download"),
    Case("LoRA that is not safetensors", {"args": ("--mode", "fast"), "env": {"STUDIO_FAST_LORA": "@lora.bin"}},
         r"not a safetensors file.*Fix: point STUDIO_FAST_LORA"),
    Case("output path that cannot be written", {"args": ("--out", "@a-file/x.mp4")}, r"not a folder. Fix:"),
    Case("outputs folder that cannot be made", {"outputs": "/proc/wan-studio-outputs"},
         r"cannot keep the history in /proc/wan-studio-outputs.*Fix: choose a writable folder"),
    Case("full disk", {"args": ("--out", "@full/x.mp4")}, r"is full: 0.\d MB free.*Fix: free disk space"),
]


@pytest.fixture(scope="module")
def cli_results(world) -> dict[str, subprocess.CompletedProcess]:
    """Every CLI case at once: each is a process that mostly waits for imports."""
    root, mounted = world
    runs = {case.name: (_generate_args(root, *case.given.get("args", ()),
                                       outputs=case.given.get("outputs", "@outputs")),
                        _resolve(case.given.get("env", {}), root))
            for case in CLI_CASES if mounted or case.name != "full disk"}
    return cli_many(root, runs)


@pytest.mark.parametrize("case", CLI_CASES, ids=_ids(CLI_CASES))
def test_cli(case: Case, world, cli_results):
    _skip_without_disk(case, world[1])
    done = cli_results[case.name]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    _assert_message(case, lines[0])


# --- gradio_client against the served app ------------------------------------------------------

UI_CASES = [
    Case("empty prompt", {"prompt": ""}, EMPTY),
    Case("whitespace prompt", {"prompt": " \n "}, EMPTY),
    Case("20,000-character prompt", {"prompt": LONG_PROMPT}, TOO_LONG),
    Case("control characters only", {"prompt": "\x00\x07\x1b"}, EMPTY),
    Case("bidi overrides only", {"prompt": "\u202e\u2066"}, EMPTY),
    Case("zero-width only", {"prompt": "\u200b\ufeff"}, EMPTY),
    Case("emoji only", {"prompt": "🎬🔥🐱"}, NO_WORDS),
    Case("size not a multiple of 16", {"resolution": "1000x720"}, r"width: 1000 .*multiple of 16"),
    Case("negative size", {"resolution": "-832x480"}, r"width: -832 .*whole number from 1"),
    Case("far too large", {"resolution": "8192x8192"}, r"use 256 to 1280 pixels"),
    Case("size that is not a size", {"resolution": "huge"}, r"resolution: 'huge' .*write it as WIDTHxHEIGHT"),
    Case("duration beyond the maximum", {"duration": 1000}, r"duration: 1000 .*0.31 to 5.06 s.*choose a duration"),
    Case("negative duration", {"duration": -1}, r"duration: -1 .*choose a duration"),
    Case("steps 0", {"steps": 0}, r"steps: 0 .*from 1 to 100"),
    Case("steps 100,000", {"steps": 100_000}, r"steps: 100000 .*from 1 to 100"),
    Case("negative guidance", {"guidance_scale": -3}, r"guidance_scale: -3 .*from 0 to 20"),
    Case("absurd guidance", {"guidance_scale": 1e9}, r"guidance_scale: 1000000000.0 .*from 0 to 20"),
    Case("seed is text", {"seed": "lucky", "randomize_seed": False}, r"seed: 'lucky' .*whole number from 0 to"),
    Case("negative seed", {"seed": -7, "randomize_seed": False}, r"seed: -7 .*whole number from 0 to"),
    Case("unknown preset", {"preset": "no-such-style"}, r'unknown preset "no-such-style". Fix: use one of'),
    Case("preset name with ../", {"preset": "../../etc/passwd"}, r"looks like a path.*Fix:"),
    Case("preset file not JSON", {"preset": "broken"}, r"not valid JSON .*Fix: correct the JSON"),
    Case("preset file with the wrong schema", {"preset": "schema"}, r'"steps" is not a preset field'),
    Case("preset file too big", {"preset": "huge"}, r"presets may be at most 64 KiB"),
    Case("unknown model", {"model": "wan9"}, r"model: 'wan9' .*available here: tiny"),
    Case("fast mode without a LoRA", {"mode": "fast"},
         r"fast mode needs a step-distilled LoRA.*Fix: set STUDIO_FAST_LORA"),
]


@pytest.fixture(scope="module")
def client(served) -> Client:
    _write_broken_presets(served.outputs / "presets")
    return Client(served.url, verbose=False)


@pytest.mark.parametrize("case", UI_CASES, ids=_ids(UI_CASES))
def test_gradio_client(case: Case, client):
    values = {"prompt": "a cat walking", **SMALL_UI, **case.given}
    with pytest.raises(Exception) as raised:
        client.predict(**values, api_name="/generate")
    _assert_message(case, str(raised.value))


def test_served_studio_keeps_serving_without_tracebacks(client, served):
    status, _, video, _, _ = client.predict(prompt="a cat walking after all that", api_name="/generate", **SMALL_UI)
    assert "Done" in status and Path(video["video"] if isinstance(video, dict) else video).is_file()
    assert served.process.poll() is None
    assert "Traceback" not in served.logs()
