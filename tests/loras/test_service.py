"""LoRAs through the studio's API: presets that name them, batch rows, and fast mode's LoRA from the library."""

from __future__ import annotations

import json

import pytest

from studio.batch import queue_rows, read_rows
from studio.config import StudioConfig
from studio.errors import InvalidRequest
from studio.presets import InvalidPreset, save_user_preset
from studio.service import Studio
from studio.tiny import build_tiny_pipeline

from . import makers


@pytest.fixture(scope="module")
def factors():
    tiny = build_tiny_pipeline("tiny")
    return makers.factors(tiny.transformer), makers.factors(tiny.transformer_2, seed=5)


@pytest.fixture()
def studio(tmp_path, factors, monkeypatch):
    monkeypatch.delenv("STUDIO_FAST_LORA", raising=False)
    monkeypatch.delenv("STUDIO_LORAS", raising=False)
    makers.write(tmp_path / "loras" / "ink.safetensors", makers.state(factors[0]))
    return Studio(StudioConfig(model="tiny", outputs=tmp_path, translator="none"))


def test_a_preset_names_loras_and_a_missing_one_is_named(studio, tmp_path):
    save_user_preset(studio.user_presets_dir, "inked", "Inked", "{prompt}, ink", None, {"loras": ["ink:0.6"]})
    assert studio.request("a fox", preset="inked").loras == (("ink", 0.6, None),)
    assert studio.request("a fox", preset="inked", loras="ink:0.2").loras == (("ink", 0.2, None),)  # the caller's win
    save_user_preset(studio.user_presets_dir, "gone", "Gone", "{prompt}", None, {"loras": [["vanished", 1.0, None]]})
    with pytest.raises(InvalidPreset, match='preset "gone" names a LoRA.*vanished'):
        studio.request("a fox", preset="gone")
    with pytest.raises(InvalidPreset, match="settings.loras"):
        save_user_preset(studio.user_presets_dir, "bad", "Bad", "{prompt}", None, {"loras": ["ink:99"]})


def test_batch_rows_take_loras_and_a_bad_one_names_its_line(studio, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in (
        {"prompt": "a fox", "loras": ["ink:0.5"]}, {"prompt": "a cat", "loras": "inky"}, {"prompt": "a dog"})))
    csv = tmp_path / "rows.csv"
    csv.write_text('prompt,loras\n"a fox","ink:0.5:0.25"\n')
    queued = queue_rows(studio, "b", read_rows(rows), {"model": "tiny", "steps": 2})
    assert queued.queued == 2 and [r.line for r in queued.bad] == [2] and "did you mean ink" in queued.bad[0].error
    requests = {job["prompt"]: job["request"] for job in studio.history.list()}
    assert requests["a fox"]["loras"] == [["ink", 0.5, None]] and requests["a dog"]["loras"] == []
    queue_rows(studio, "c", read_rows(csv), {"model": "tiny"})
    assert studio.history.list()[0]["request"]["loras"] == [["ink", 0.5, 0.25]]


def test_fast_mode_takes_the_distilled_lora_from_the_library(studio, tmp_path, factors):
    with pytest.raises(InvalidRequest, match="fast mode needs a step-distilled LoRA.*Fix: set STUDIO_FAST_LORA.*"
                                             "lightx2v, lightning or 4step"):
        studio.request("a fox", mode="fast")
    makers.write(tmp_path / "loras" / "wan22_lightx2v_4step_high_noise.safetensors", makers.state(factors[0]))
    makers.write(tmp_path / "loras" / "wan22_lightx2v_4step_low_noise.safetensors", makers.state(factors[1]))
    assert studio.fast_lora() == "wan22_lightx2v_4step (LoRA library)"
    assert studio.request("a fox", mode="fast").mode == "fast"
    apps = studio.speed.fast.applications("tiny", 2)
    assert [(a.lora.path.name, a.expert) for a in apps] == [
        ("wan22_lightx2v_4step_high_noise.safetensors", 0), ("wan22_lightx2v_4step_low_noise.safetensors", 1)]


def test_studio_fast_lora_still_wins(tmp_path, factors, monkeypatch):
    path = makers.write(tmp_path / "elsewhere" / "mine.safetensors", makers.state(factors[0]))
    monkeypatch.setenv("STUDIO_FAST_LORA", str(path))
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path, translator="none"))
    assert studio.fast_lora() == "mine.safetensors (STUDIO_FAST_LORA)"


def test_history_use_and_rerun_restore_the_loras_in_the_create_tab(studio):
    from studio.ui.create import settings_from_request

    request = studio.request("a fox", loras="ink:0.8:0.4").to_dict()
    stored = json.loads(json.dumps(request))  # as the history keeps it
    assert settings_from_request(studio, stored)[-1] == "ink:0.8:0.4"
    assert studio.request("a fox", loras=settings_from_request(studio, stored)[-1]).loras == (("ink", 0.8, 0.4),)


def test_a_broken_library_fast_lora_is_refused_before_the_queue(studio, tmp_path, factors):
    broken = {name: (down.clone(), up.clone()) for name, (down, up) in factors[0].items()}
    broken["blocks.0.attn1.to_q"][0][0, 0] = float("nan")
    makers.write(tmp_path / "loras" / "lightning_4step.safetensors", makers.state(broken))
    with pytest.raises(InvalidRequest, match="NaN or Inf"):
        studio.request("a fox", mode="fast")
    assert studio.history.list() == []


def test_a_loras_trigger_words_reach_the_model_untranslated(tmp_path, factors, monkeypatch):
    """Translated, a trigger word is a word the LoRA never learned: the job's model prompt keeps it as typed."""
    monkeypatch.delenv("STUDIO_LORAS", raising=False)
    makers.write(tmp_path / "loras" / "chalk.safetensors", makers.state(factors[0]),
                 {"ss_tag_frequency": json.dumps({"set": {"chlk drawing": 9}})})
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path, translator="tiny"))
    request = studio.request("a lighthouse at night, chlk drawing", loras="chalk", width=256, height=256, frames=5,
                             steps=1)
    with_lora = studio.prepare_prompt(request.prompt, loras=request.loras)
    without = studio.prepare_prompt(request.prompt)
    assert with_lora["translated"] and "chlk drawing" in with_lora["model_prompt"]
    assert "chlk drawing" not in without["model_prompt"]
    done = list(studio.generate(request))[-1]
    assert "chlk drawing" in studio.history.get(done.job_id)["model_prompt"]


def test_the_pages_mode_choice_offers_fast_once_its_lora_is_in_the_library(studio, tmp_path, factors):
    """Read at each page load (not when the page was built): a LoRA added while the studio runs turns fast on."""
    from studio.ui.create import _modes

    before = _modes(studio)
    assert [value for _, value in before["choices"]] == ["quality", "turbo"] and "is off" in before["info"]
    makers.write(tmp_path / "loras" / "wan22_lightx2v_4step_high_noise.safetensors", makers.state(factors[0]))
    makers.write(tmp_path / "loras" / "wan22_lightx2v_4step_low_noise.safetensors", makers.state(factors[1]))
    after = _modes(studio)
    assert [value for _, value in after["choices"]] == ["quality", "turbo", "fast"]
    assert "wan22_lightx2v_4step" in after["info"]
