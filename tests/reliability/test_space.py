"""A public Space: only videos and assets are served, names cannot leave their folders, uploads are
bounded and parsed safely, weights come only from safetensors, and logins keep users apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import gradio as gr
import httpx
import pytest
import torch
from gradio_client import Client

from studio.config import StudioConfig, check_safetensors
from studio.errors import ModelUnavailable
from studio.events import Done
from studio.history import JOB_ID_PATTERN, History
from studio.presets import InvalidPreset, import_preset
from studio.service import Studio
from studio.ui import history_tab
from tests.conftest import subprocess_env
from tests.e2e.conftest import ROOT, Server

from .conftest import SMALL_API, SMALL_UI, fetch

USERS = {"alice": "wonderland", "bob": "builder"}


def _file_url(server: Server, path: Path | str) -> str:
    return f"{server.url}/gradio_api/file={quote(str(path))}"


# --- what the web server hands out -------------------------------------------------------------

def test_only_videos_and_assets_are_served(served):
    status, _, video, _, _ = Client(served.url, verbose=False).predict(prompt="a served video", api_name="/generate",
                                                                       **SMALL_UI)
    assert "Done" in status
    (job,) = [j for j in History(served.outputs).list() if j["prompt"] == "a served video"]
    assert fetch(_file_url(served, job["output"]))[0] == 200
    assert fetch(_file_url(served, job["thumbnail"]))[0] == 200
    assert fetch(_file_url(served, ROOT / "assets" / "presets" / "_custom.png"))[0] == 200
    for secret in ("/etc/passwd", ROOT / "app.py", ROOT / "studio" / "config.py", served.outputs / "history.sqlite",
                   f"{served.outputs}/videos/../history.sqlite", served.outputs / "presets" / "broken.json"):
        code, body = fetch(_file_url(served, secret))
        assert code in (403, 404), f"{secret} was served ({code})"
        assert b"root:" not in body and b"SQLite" not in body


def test_uploads_are_bounded(served):
    small = httpx.post(f"{served.url}/gradio_api/upload", files={"files": ("p.json", b"{}" * 100)}, timeout=30)
    assert small.status_code == 200
    big = httpx.post(f"{served.url}/gradio_api/upload", files={"files": ("p.json", b" " * (2 * 1024 * 1024))},
                     timeout=30)
    assert big.status_code == 413 and "maximum allowed size" in big.text


# --- names, uploads and weights ----------------------------------------------------------------

@pytest.mark.parametrize("data, expect", [
    (b'{"version": 1, "name": "../../../tmp/evil", "prompt": "{prompt}"}', r"must be a plain name, never a path"),
    (b'{"version": 1, "name": "ok", "prompt": "{prompt}", "thumbnail": "../../etc/passwd.png"}', r"must stay inside"),
    (b"[" * 60_000, r"nested too deeply"),
    (b"\xff\xfe\x00junk", r"not UTF-8|not valid JSON"),
    (b'{"version": 1, "name": "ok", "prompt": "{prompt}", "__class__": "os.system"}', r'"__class__" is not a preset'),
    (b'{"version": 1, "name": "ok", "prompt": "' + b"x" * 70_000 + b'{prompt}"}', r"at most 64 KiB"),
], ids=["name is a path", "thumbnail leaves assets", "deep nesting", "binary", "unknown key", "huge"])
def test_preset_imports_are_parsed_safely(tmp_path, data, expect):
    with pytest.raises(InvalidPreset, match=expect):
        import_preset(data, tmp_path / "presets")
    assert not list((tmp_path / "presets").glob("*"))
    assert not Path("/tmp/evil.json").exists()


def test_user_preset_links_out_of_the_folder_are_skipped(tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text('{"version": 1, "prompt": "{prompt} leaked"}')
    (tmp_path / "outputs" / "presets").mkdir(parents=True)
    (tmp_path / "outputs" / "presets" / "linked.json").symlink_to(outside)
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    with pytest.raises(InvalidPreset, match="points outside the presets folder"):
        studio.preset("linked")


def test_job_ids_are_generated_and_never_reach_a_path(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    done = list(studio.generate(studio.request("a cat walking", **SMALL_API)))[-1]
    assert isinstance(done, Done) and re.fullmatch(JOB_ID_PATTERN, done.job_id)
    videos = (tmp_path / "outputs" / "videos").resolve()
    assert {Path(p).resolve().parent for p in (done.output, done.thumbnail, done.sidecar)} == {videos}
    for hostile in ("../../etc/passwd", "' OR 1=1 --", done.job_id + "/../x"):
        assert studio.history.get(hostile) is None


def test_weights_never_load_from_pickle(tmp_path, monkeypatch):
    """A model folder with only .bin weights and a pickled LoRA are refused without unpickling anything."""
    from studio.tiny import build_tiny_pipeline

    build_tiny_pipeline("tiny").save_pretrained(tmp_path / "bin-model", safe_serialization=False)
    torch.save({"weight": torch.zeros(1)}, tmp_path / "lora.safetensors")  # a pickle, whatever its name says

    def unpickle(*args, **kwargs):
        raise AssertionError("torch.load was called: a pickle was loaded")

    monkeypatch.setattr(torch, "load", unpickle)
    with pytest.raises(ModelUnavailable, match="is not a safetensors file.*never loads them"):
        check_safetensors(tmp_path / "lora.safetensors", "fast mode LoRA", "STUDIO_FAST_LORA")
    with pytest.raises(ModelUnavailable, match=r"only \.bin \(pickle\) weights.*safetensors only.*Fix:"):
        Studio(StudioConfig(model=str(tmp_path / "bin-model"), outputs=tmp_path / "outputs", translator="none"))


# --- logins, per-user history, rate limit ------------------------------------------------------

@pytest.fixture(scope="module")
def private(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("private"), env={
        "STUDIO_TRANSLATOR": "none", "STUDIO_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
        "STUDIO_RATE_LIMIT": "2/600",
    })
    yield server
    server.stop()


def test_login_is_required(private):
    assert fetch(private.url + "/config")[0] == 401
    assert fetch(_file_url(private, ROOT / "assets" / "presets" / "_custom.png"))[0] == 401
    with pytest.raises(Exception):
        Client(private.url, auth=("alice", "not her password"), verbose=False)
    assert fetch(private.url + "/metrics")[0] == 200  # counts only, for the scraper


def test_each_user_sees_only_their_jobs_and_has_their_own_rate_limit(private):
    alice = Client(private.url, auth=("alice", USERS["alice"]), verbose=False)
    bob = Client(private.url, auth=("bob", USERS["bob"]), verbose=False)
    for n in range(2):
        assert "Done" in alice.predict(prompt=f"alice's job {n}", api_name="/generate", **SMALL_UI)[0]
    with pytest.raises(Exception, match=r"rate limit: you started 2 jobs in the last 600 s .*Fix: wait \d+ s"):
        alice.predict(prompt="alice's third job", api_name="/generate", **SMALL_UI)
    assert "Done" in bob.predict(prompt="bob's job", api_name="/generate", **SMALL_UI)[0]

    owners = {job["prompt"]: job["user"] for job in History(private.outputs).list()}
    assert owners == {"alice's job 0": "alice", "alice's job 1": "alice", "bob's job": "bob"}
    studio = Studio(StudioConfig(model="tiny", outputs=private.outputs, translator="none"))
    with gr.Blocks():
        tab = history_tab.build(studio)
    for user, prompts in (("alice", {"alice's job 0", "alice's job 1"}), ("bob", {"bob's job"})):
        _, listed, _, label, *_ = tab.load(http=SimpleNamespace(username=user))
        assert {job["prompt"] for job in listed} == prompts and label.endswith(f" · {len(prompts)} job" + "s" * (len(prompts) > 1))


def test_a_malformed_login_setting_stops_the_studio_with_its_fix(tmp_path):
    env = {**subprocess_env(tmp_path), "STUDIO_AUTH": "alice"}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--model", "tiny", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(r"STUDIO_AUTH: entry 1 \('alice'\) is not user:password. Fix: write user:password pairs",
                     done.stderr), done.stderr


def test_with_logins_only_the_owner_follows_or_cancels_a_queued_job(private):
    """Another user's job is visible in the queue without its prompt; following or cancelling it is refused,
    and its owner cancels it."""
    bob = Client(private.url, auth=("bob", USERS["bob"]), verbose=False)
    alice = Client(private.url, auth=("alice", USERS["alice"]), verbose=False)
    job_id = bob.predict(prompt="bob's long secret job", api_name="/submit",
                         resolution="832x480", duration=5 / 16, steps=100)
    with pytest.raises(Exception, match="belongs to another user"):
        alice.predict(job_id, api_name="/cancel")
    with pytest.raises(Exception, match="belongs to another user"):
        alice.predict(job_id, api_name="/follow")
    seen_by_alice = alice.predict(api_name="/jobs")["jobs"]
    assert job_id not in str(seen_by_alice) and "secret" not in str(seen_by_alice)
    assert [job["mine"] for job in seen_by_alice] == [False]
    assert History(private.outputs).get(job_id)["status"] in ("queued", "running")
    assert job_id in bob.predict(job_id, api_name="/cancel")
    assert "Cancelled" in bob.predict(job_id, api_name="/follow")[0]
    assert History(private.outputs).get(job_id)["status"] == "cancelled"


def test_uploads_are_bounded_in_number_and_bytes_per_person(private):
    """Issue 23, item 7: one person's flood of small uploads is stopped (429, with the wait) once their budget for
    the minute is spent. Last in this module: the flood spends 127.0.0.1's budget on this server."""
    with httpx.Client(base_url=private.url, timeout=30) as session:
        assert session.post("/login", data={"username": "alice", "password": USERS["alice"]}).status_code == 200
        answers = [session.post("/gradio_api/upload", files={"files": ("p.json", b"{}" * 100)}).status_code
                   for _ in range(40)]
        assert answers[:30] == [200] * 30 and set(answers[30:]) == {429}, answers
        refused = session.post("/gradio_api/upload", files={"files": ("p.json", b"{}")})
        assert refused.status_code == 429 and "Fix: wait" in refused.json()["detail"]
