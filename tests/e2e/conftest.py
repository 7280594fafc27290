"""The studio served for real: `python app.py --model tiny` on a free localhost port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.outputs = tmp / "outputs"
        self.log = open(tmp / "server.log", "w")
        child_env = subprocess_env(tmp)
        child_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--model", "tiny", "--port", str(self.port), "--outputs",
             str(self.outputs), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=child_env, cwd=tmp,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the studio exited early:\n{Path(self.log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the studio did not start:\n{Path(self.log.name).read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def logs(self) -> str:
        return Path(self.log.name).read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Server(tmp_path_factory.mktemp("studio"))
    yield served
    served.stop()
