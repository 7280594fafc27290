"""LoRAs through the served studio: the API's `loras` parameter, what the job records, a bad name refused
in one line while the studio keeps serving, and the Create tab's LoRA panel in a browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client

from studio.tiny import build_tiny_pipeline
from tests.loras import makers

from .conftest import Server

FAST = dict(resolution="832x480", duration=0.3, steps=2, seed=4, randomize_seed=False, as_typed=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-studio")
    tiny = build_tiny_pipeline("tiny")
    makers.write(root / "outputs" / "loras" / "ink.safetensors", makers.state(makers.factors(tiny.transformer), "kohya"),
                 {"modelspec.trigger_phrase": "inkwash"})
    server = Server(root)
    yield server
    server.stop()


def test_generate_with_a_lora_over_the_api(served):
    client = Client(served.url, verbose=False)
    assert "loras" in json.dumps(client.view_api(return_format="dict", print_info=False))
    status, _, video, details, _ = client.predict(prompt="a fox", loras="ink:0.7", api_name="/generate", **FAST)
    assert video and Path(video["video"] if isinstance(video, dict) else video).exists()
    sidecars = sorted(Path(served.outputs, "videos").glob("*.json"))
    recorded = json.loads(sidecars[-1].read_text())["loras"]
    assert recorded[0]["name"] == "ink" and recorded[0]["strength"] == 0.7 and len(recorded[0]["files"][0]["sha256"]) == 64


def test_an_unknown_lora_is_one_clear_error_and_the_studio_keeps_serving(served):
    client = Client(served.url, verbose=False)
    with pytest.raises(Exception, match="did you mean ink"):
        client.predict(prompt="a fox", loras="inky", api_name="/generate", **FAST)
    assert client.predict(prompt="a fox", api_name="/generate", **FAST)[2]
