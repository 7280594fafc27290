"""Presets, like history, are per user (issue 23.9): with logins each user's presets live in a folder of their
own, and no user lists, applies, exports, replaces or runs another's; the built-ins stay everyone's."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from gradio_client import Client

from studio.config import StudioConfig
from studio.events import Done
from studio.history import History
from studio.presets import InvalidPreset, save_user_preset, user_folder
from studio.service import Studio
from studio.ui import create
from tests.e2e.conftest import Server

from .conftest import SMALL_API, SMALL_UI

USERS = {"alice": "wonderland", "bob": "builder"}
# What each user's preset sends to the model: the attack was bob's text reaching alice's job.
STYLE = {"alice": "alice's pastel style, {prompt}", "bob": "bob's gritty style, {prompt}"}
NEGATIVE = {"alice": "alice's secret negative", "bob": "bob's secret negative"}


@pytest.fixture
def studio(tmp_path):
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def _give_presets(presets_dir, users=USERS):
    """Each user a "my-look" of their own; alice also an "alice-only"."""
    for user in users:
        save_user_preset(user_folder(presets_dir, user), "my-look", "My look", STYLE[user], NEGATIVE[user],
                         {"steps": 1})
    save_user_preset(user_folder(presets_dir, "alice"), "alice-only", "Alice only", STYLE["alice"],
                     NEGATIVE["alice"], {})


def test_two_users_with_the_same_preset_name_each_get_their_own(studio):
    _give_presets(studio.user_presets_dir)
    for user in USERS:
        mine = studio.preset("my-look", user)
        assert (mine.prompt, mine.negative_prompt) == (STYLE[user], NEGATIVE[user])
        assert studio.request("a cat", preset="my-look", user=user, **SMALL_API).negative_prompt == NEGATIVE[user]
        styled = studio.prepare_prompt("a cat", preset="my-look", user=user, translate=False)["styled_prompt"]
        assert styled == STYLE[user].replace("{prompt}", "a cat")
    names = {user: {p.name for p in studio.presets(user) if p.source == "user"} for user in USERS}
    assert names == {"alice": {"my-look", "alice-only"}, "bob": {"my-look"}}
    assert {p.source for p in studio.presets()} == {"builtin"}, "a studio without logins sees no login's presets"
    assert {p.name for p in studio.presets("bob") if p.source == "builtin"} == {
        p.name for p in studio.presets() if p.source == "builtin"}, "the built-ins stay shared"


def test_another_users_preset_is_an_unknown_preset(studio):
    _give_presets(studio.user_presets_dir)
    for attempt in (lambda: studio.request("a cat", preset="alice-only", user="bob", **SMALL_API),
                    lambda: studio.prepare_prompt("a cat", preset="alice-only", user="bob"),
                    lambda: studio.preset("alice-only", "bob"),
                    lambda: studio.request("a cat", preset="alice-only", **SMALL_API)):
        with pytest.raises(InvalidPreset, match=r'unknown preset "alice-only"\. Fix: use one of: none, ') as refused:
            attempt()
        assert "alice" not in str(refused.value).replace('"alice-only"', ""), "nothing of hers is listed"
    # The page: bob can neither export (her negative prompt) nor apply it, nor see it in the gallery.
    with pytest.raises(gr.Error, match="unknown preset"):
        create._export(studio, "alice-only", "bob")
    with pytest.raises(gr.Error, match="unknown preset"):
        create._preset_changed(studio, "alice-only", "tiny", False, "none", (), "bob")
    exported = json.loads(open(create._export(studio, "my-look", "bob"), encoding="utf-8").read())
    assert exported["negative_prompt"] == NEGATIVE["bob"]
    choices, thumbs = create._preset_choices(studio, "bob")
    assert "alice-only" not in {name for _, name in choices} and "Alice only" not in {t for _, t in thumbs}
    assert ("Alice only", "alice-only") in create._preset_choices(studio, "alice")[0]


def test_saving_and_importing_stay_in_the_users_own_folder(studio, tmp_path):
    _give_presets(studio.user_presets_dir, ["alice"])
    alice_file = user_folder(studio.user_presets_dir, "alice") / "my-look.json"
    before = alice_file.read_bytes()
    values = ("none", "bob's negative", "832x480", 5 / 16, 16, 4, 5.0, 5.0, 3.0, "tiny")
    create._save_preset(studio, "My look", *values, user="bob")  # no question: bob has no "My look" yet
    upload = tmp_path / "alice-only.json"
    upload.write_text(json.dumps({"version": 1, "name": "alice-only", "title": "Bob's copy", "prompt": "b {prompt}"}))
    dropdown, _, _ = create._import(studio, str(upload), "bob")
    assert dropdown["value"] == "alice-only", "her name is free in bob's folder: nothing to rename"
    assert alice_file.read_bytes() == before, "alice's preset is untouched"
    assert studio.preset("alice-only", "alice").title == "Alice only"
    assert studio.preset("my-look", "bob").negative_prompt == "bob's negative"
    assert sorted(p.name for p in user_folder(studio.user_presets_dir, "bob").iterdir()) == [
        "alice-only.json", "my-look.json"]
    assert not list(studio.user_presets_dir.glob("*.json")), "nothing in the shared folder"


def test_login_names_become_distinct_folders_inside_the_presets_folder(tmp_path):
    base = tmp_path / "presets"
    names = ["alice", "Alice", "ALICE", "../../etc", "..", ".", "a/b", "a\\b", "张伟", "李娜", "bob@example.com",
             "~root", " alice", "x" * 300, "alice.3bc51062973c"]
    folders = [user_folder(base, name) for name in names]
    assert len(set(folders)) == len(names), dict(zip(names, folders))
    for name, folder in zip(names, folders):
        assert folder.parent == base and folder.name not in (".", "..") and len(folder.name) <= 48, name
    assert user_folder(base, None) == base and user_folder(base, "alice") == base / "alice"
    save_user_preset(user_folder(base, "../../etc"), "x", "X", "{prompt}", None, {})
    assert [p.relative_to(base).parts[0] for p in tmp_path.rglob("*.json")] == [user_folder(base, "../../etc").name]


def test_a_users_job_runs_with_their_own_preset(studio):
    """The job resolves its preset when it runs, for the job's user: bob's text never reaches alice's video."""
    _give_presets(studio.user_presets_dir)
    for user in USERS:
        request = studio.request("a cat", preset="my-look", user=user, translate=False, **SMALL_API)
        done = list(studio.generate(request, user=user))[-1]
        assert isinstance(done, Done), done
        assert studio.history.get(done.job_id)["model_prompt"] == STYLE[user].replace("{prompt}", "a cat")


# --- served, with logins -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("private-presets"), env={
        "STUDIO_TRANSLATOR": "none", "STUDIO_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
    })
    _give_presets(server.outputs / "presets")
    yield server
    server.stop()


def test_served_each_login_runs_its_own_preset_and_never_anothers(private):
    alice = Client(private.url, auth=("alice", USERS["alice"]), verbose=False)
    bob = Client(private.url, auth=("bob", USERS["bob"]), verbose=False)
    with pytest.raises(Exception, match=r'unknown preset "alice-only"'):
        bob.predict(prompt="bob borrows", preset="alice-only", api_name="/submit", **SMALL_UI)
    for user, client in (("alice", alice), ("bob", bob)):
        status, *_ = client.predict(prompt=f"{user}'s cat", preset="my-look", api_name="/generate", **SMALL_UI)
        assert "Done" in status, status
    jobs = {job["prompt"]: job for job in History(private.outputs).list()}
    assert set(jobs) == {"alice's cat", "bob's cat"}, "bob's refused request never became a job"
    for user in USERS:
        job = jobs[f"{user}'s cat"]
        assert job["user"] == user
        assert job["model_prompt"] == STYLE[user].replace("{prompt}", f"{user}'s cat")
        assert job["request"]["negative_prompt"] == NEGATIVE[user]


def test_served_a_jobs_files_reach_only_its_own_login(private):
    """Issue 23, item 10: a logged-in visitor who learns another login's job id still cannot fetch its files."""
    import httpx

    jobs = {job["user"]: job for job in History(private.outputs).list() if job["status"] == "done"}
    assert {"alice", "bob"} <= set(jobs), "the test above made one job for each"
    sessions = {}
    for user, password in USERS.items():
        session = httpx.Client(base_url=private.url, timeout=30)
        assert session.post("/login", data={"username": user, "password": password}).status_code == 200
        sessions[user] = session
    for owner, job in jobs.items():
        for key in ("output", "thumbnail", "sidecar"):
            url = f"/gradio_api/file={job[key]}"
            for user, session in sessions.items():
                got = session.get(url)
                assert got.status_code == (200 if user == owner else 404), (user, key, got.status_code)
            assert httpx.get(private.url + url, timeout=30).status_code in (401, 403, 404), "no login, no file"
    for session in sessions.values():
        session.close()


def test_the_language_panel_styles_with_the_users_own_preset(studio):
    _give_presets(studio.user_presets_dir)
    info, sent, *_ = create._language(studio, "a lighthouse", "alice-only", True, user="alice")
    assert sent["value"] == "alice's pastel style, a lighthouse"
    refused, sent, *_ = create._language(studio, "a lighthouse", "alice-only", True, user="bob")
    assert sent["value"] == "" and "alice-only" in refused.replace("\\", "")
