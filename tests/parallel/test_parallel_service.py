"""The studio with --gpus 2: one process for the UI, two workers for the video; same events, clear failures."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from studio.__main__ import main
from studio.config import StudioConfig
from studio.events import Done, Failed, Notice, Preview, Progress, Started
from studio.parallel import SPEED_NOT_SPLIT
from studio.service import Studio


def test_gpus_setting_comes_from_flag_or_environment(monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_GPUS", "4")
    assert StudioConfig.from_env().gpus == 4 and StudioConfig.from_env(gpus=2).gpus == 2
    assert main(["generate", "--model", "tiny", "--prompt", "a cat", "--gpus", "0"]) == 2
    assert "gpus: 0 is not allowed; use 2 or more" in capsys.readouterr().err


def test_studio_on_two_workers(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path, translator="none", gpus=2))
    request = studio.request(
        "a cat walking in the snow", negative_prompt="blurry, static", width=256, height=256, frames=9, steps=3,
        seed=3, translate=False,
    )
    try:
        events = list(studio.generate(request))
        assert [type(e) for e in events[:2]] == [Progress, Progress] and isinstance(events[2], Started)
        assert any(isinstance(e, Notice) and e.message == "running on 2 GPUs: prompt and negative-prompt passes "
                   f"on separate GPU groups; {SPEED_NOT_SPLIT}" for e in events)
        assert studio.speed_description() == f"{SPEED_NOT_SPLIT} (2 GPUs)"
        assert sum(isinstance(e, Preview) for e in events) == 3 and isinstance(events[-1], Done)
        assert Path(events[-1].output).stat().st_size > 0 and events[-1].summary["previews"] == 3

        _, runner, _ = studio.pipelines.get("tiny", studio.pipelines.loaded_plan())  # the running group
        failed = None
        for event in studio.generate(request):
            if isinstance(event, Progress) and event.phase == "denoise" and event.step == 1:
                os.kill(runner.group.pids[1], signal.SIGKILL)
            failed = event
        assert isinstance(failed, Failed) and failed.kind == "gpu_worker"
        assert failed.message.startswith("GPU worker 1 exited with code -9 (SIGKILL) during step")
        job = studio.history.list(limit=1)[0]
        assert job["status"] == "failed" and "GPU worker 1 exited" in job["error_message"]
    finally:
        studio.pipelines.release()
