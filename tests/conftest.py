"""Shared fixtures: every test gets its own outputs folder; tiny models are built once per session."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    # Triton decides at @triton.jit time whether kernels run in its CPU interpreter, so this must be set
    # before any test module imports studio.speed's kernels (tests/speed/conftest.py comes too late).
    os.environ.setdefault("TRITON_INTERPRET", "1")

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """No test writes into the checkout's outputs folder or reads the user's environment settings."""
    monkeypatch.setenv("STUDIO_OUTPUTS", str(tmp_path / "outputs"))
    for name in ("STUDIO_MODEL", "STUDIO_TRANSLATOR", "STUDIO_MEMORY_PLAN", "STUDIO_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def root_logger():
    """`configure` (the CLI's `main` calls it) owns the root logger; give pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tiny_pipe():
    from studio.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a `python -m studio` child: this checkout importable, outputs in tmp."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["STUDIO_OUTPUTS"] = str(tmp_path / "outputs")
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")  # tests never reach for the network
    return env


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures that tests record (`record_property("figure", ...)`) are printed after every run."""
    figures = [value for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
               for name, value in report.user_properties if name == "figure"]
    if figures:
        terminalreporter.section("figures")
        for figure in figures:
            terminalreporter.write_line(figure)
