"""What ships: the Dockerfile's essentials (and hadolint), the Space's front matter, the README's commands."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must open with the Space's YAML front matter"
    block = text.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, _, v in (line.partition(":") for line in block.splitlines()) if v}


def _pinned(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(name + "=="):
            return line.split("==")[1]
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def test_dockerfile_essentials():
    docker = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", docker, re.M).group(1)
    assert "cuda" in base and ":" in base and not base.endswith(":latest"), base
    assert re.search(r"^USER (?!root|0\b)\S+", docker, re.M), "the image must run as a non-root user"
    assert "HEALTHCHECK" in docker and "HF_HOME=" in docker and "VOLUME" in docker
    assert "-c constraints.txt" in docker, "requirements must be pinned in the image"
    assert re.search(r'CMD \["python", "app.py", "--host", "0.0.0.0"\]', docker)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", "outputs"} <= set(ignored)


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: pip install -r requirements-dev.txt")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_space_front_matter_matches_what_ships():
    meta = _front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == _pinned("gradio")
    assert meta["python_version"].startswith("3.")
    assert (ROOT / meta["app_file"]).is_file()


def test_readme_gives_the_command_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "pip install torch==2.13.0 && pip install -r requirements.txt -r requirements-dev.txt && python -m pytest"
    assert test_command in readme and test_command in ci
    assert "pip install torch==2.13.0 && pip install -r requirements.txt && python app.py" in readme
