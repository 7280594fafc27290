"""The LoRA library on files the tests write for the tiny transformers: layouts, pairs, metadata, refusals."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import torch

from studio.errors import InvalidRequest
from studio.loras import LoraLibrary, folders_from_env
from studio.loras import files as lora_files
from studio.loras.files import inspect, load_factors
from studio.request import parse_loras
from studio.tiny import build_tiny_pipeline

from . import makers


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_pipeline("tiny")


def test_the_three_layouts_read_as_the_same_factors_with_alphas(tiny, tmp_path):
    pairs = makers.factors(tiny.transformer, rank=4)
    read = {}
    for layout in ("diffusers", "kohya", "wan"):
        path = makers.write(tmp_path / f"{layout}.safetensors", makers.state(pairs, layout, alpha=2.0))
        lora = inspect(path)
        assert lora.layout == layout and lora.rank == 4 and set(lora.targets) == {"any"}
        assert lora.ignored == ()
        read[layout] = load_factors(lora)["any"]
    assert set(read["kohya"]) == set(pairs) == set(read["wan"]) == set(read["diffusers"])
    for layout, got in read.items():
        down, up, scale = got["blocks.1.ffn.net.2"]
        assert scale == 0.5, layout  # alpha 2 / rank 4
        assert torch.equal(down, pairs["blocks.1.ffn.net.2"][0]) and torch.equal(up, pairs["blocks.1.ffn.net.2"][1])


def test_pairs_by_name_and_by_sidecar_are_one_entry_each(tiny, tmp_path):
    high, low = makers.factors(tiny.transformer, seed=1), makers.factors(tiny.transformer_2, seed=2)
    for stem in ("hero_high_noise", "hero_low_noise", "rain-HN", "rain-LN", "ink.high", "ink.low", "solo_low_noise",
                 "crisp_high_quality"):
        makers.write(tmp_path / f"{stem}.safetensors", makers.state(high if "high" in stem or "HN" in stem else low))
    makers.write(tmp_path / "a.safetensors", makers.state(high))
    makers.write(tmp_path / "b.safetensors", makers.state(low))
    (tmp_path / "duo.json").write_text(json.dumps({"high": "a.safetensors", "low": "b.safetensors",
                                                   "trigger_words": "duo style, ink"}))
    (tmp_path / "hero.png").write_bytes(b"\x89PNG")
    library = LoraLibrary([tmp_path])
    entries = {e.name: e for e in library.entries()}
    assert set(entries) == {"hero", "rain", "ink", "duo", "solo_low_noise", "crisp_high_quality"}
    assert entries["crisp_high_quality"].experts == ("high", "low")  # "high" alone is a word, not an expert
    assert entries["hero"].experts == ("high", "low") and entries["hero"].thumbnail == tmp_path / "hero.png"
    assert entries["duo"].trigger_words == ("duo style", "ink")
    assert entries["solo_low_noise"].experts == ("low",)
    apps = library.applications((("hero", 0.5, 0.25),), "tiny", 2)
    assert [(a.lora.path.name, a.expert, a.strength) for a in apps] == [
        ("hero_high_noise.safetensors", 0, 0.5), ("hero_low_noise.safetensors", 1, 0.25)]
    assert [a.expert for a in library.applications((("solo_low_noise", 1.0, None),), "tiny", 2)] == [1]


def test_metadata_gives_trigger_words_and_base_model(tiny, tmp_path):
    state = makers.state(makers.factors(tiny.transformer))
    tags = json.dumps({"10_set": {"glowfox": 40, "night": 12, "forest": 30}})
    makers.write(tmp_path / "kohya.safetensors", state, {"ss_tag_frequency": tags, "ss_base_model_version": "wan_t2v_14B"})
    makers.write(tmp_path / "spec.safetensors", state, {"modelspec.trigger_phrase": "inkwash, brush",
                                                        "modelspec.architecture": "wan-2.2-t2v-a14b/lora"})
    entries = {e.name: e for e in LoraLibrary([tmp_path]).entries()}
    assert entries["kohya"].ignored_keys == 0
    assert entries["kohya"].trigger_words == ("glowfox", "forest", "night")
    assert entries["kohya"].base_model == "wan_t2v_14B"
    assert entries["spec"].trigger_words == ("inkwash", "brush") and entries["spec"].base_model.startswith("wan-2.2")


def test_distilled_loras_are_recognised_by_name_or_sidecar(tiny, tmp_path):
    state = makers.state(makers.factors(tiny.transformer))
    makers.write(tmp_path / "style.safetensors", state)
    library = LoraLibrary([tmp_path])
    assert library.distilled() is None
    (tmp_path / "style.json").write_text('{"fast": true}')
    assert library.distilled().name == "style"
    (tmp_path / "style.json").unlink()
    makers.write(tmp_path / "Wan2.2-Lightning-4steps.safetensors", state)
    assert library.distilled().name == "Wan2.2-Lightning-4steps"


def test_bad_files_are_listed_with_the_reason_and_refused_by_name(tiny, tmp_path, monkeypatch):
    good = makers.state(makers.factors(tiny.transformer))
    torch.save(good, tmp_path / "pickled.safetensors")  # a pickle, whatever its name says
    path = makers.write(tmp_path / "cut.safetensors", good)
    path.write_bytes(path.read_bytes()[:-200])
    makers.write(tmp_path / "sdxl.safetensors", {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
                                                 "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4),
                                                 "lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha": torch.tensor(4.0)})
    (tmp_path / "old.ckpt").write_bytes(b"not even looked at")
    library = LoraLibrary([tmp_path])
    errors = {e.name: e.error for e in library.entries()}
    assert set(errors) == {"pickled", "cut", "sdxl"}  # .ckpt is never listed
    assert "not a readable safetensors file" in errors["pickled"] and "truncated" in errors["cut"]
    assert "image model" in errors["sdxl"]
    with pytest.raises(InvalidRequest, match="truncated"):
        library.get("cut")
    with pytest.raises(InvalidRequest, match="only .safetensors"):
        inspect(tmp_path / "old.ckpt")
    monkeypatch.setattr(lora_files, "MAX_BYTES", 100)
    with pytest.raises(InvalidRequest, match="more than the"):
        inspect(tmp_path / "sdxl.safetensors")


def test_nan_weights_are_refused_before_a_job(tiny, tmp_path):
    pairs = makers.factors(tiny.transformer)
    pairs["blocks.0.attn1.to_q"][1][0, 0] = math.nan
    makers.write(tmp_path / "broken.safetensors", makers.state(pairs))
    library = LoraLibrary([tmp_path])
    with pytest.raises(InvalidRequest, match="NaN or Inf"):
        library.verify(library.applications((("broken", 1.0, None),), "tiny", 2))


@pytest.mark.parametrize("width, says", [(1536, "Wan2.1-1.3B"), (3072, "TI2V-5B"), (5120, "A14B")])
def test_a_lora_for_another_model_says_which_model_it_looks_made_for(tmp_path, width, says):
    pairs = {f"blocks.{i}.attn1.to_q": (torch.zeros(1, width), torch.zeros(width, 1)) for i in range(2)}
    makers.write(tmp_path / "other.safetensors", makers.state(pairs, "wan"))
    library = LoraLibrary([tmp_path])
    with pytest.raises(InvalidRequest, match=f"looks like a LoRA for .*{says}.*not tiny"):
        library.applications((("other", 1.0, None),), "tiny", 2)


def test_unknown_names_list_close_matches(tiny, tmp_path):
    makers.write(tmp_path / "watercolour.safetensors", makers.state(makers.factors(tiny.transformer)))
    with pytest.raises(InvalidRequest, match="'watercolor'.*did you mean watercolour"):
        LoraLibrary([tmp_path]).get("watercolor")
    with pytest.raises(InvalidRequest, match="the library is empty"):
        LoraLibrary([tmp_path / "none"]).get("x")


def test_folders_come_from_studio_loras_or_the_outputs(tmp_path):
    assert folders_from_env(tmp_path, {}) == (tmp_path / "loras",)
    assert folders_from_env(tmp_path, {"STUDIO_LORAS": f"/a{os.pathsep}/b"}) == (Path("/a"), Path("/b"))


def test_request_loras_parse_and_refuse_bad_values():
    assert parse_loras("ink:0.8, rain:1:0.5; hero") == (("ink", 0.8, None), ("rain", 1.0, 0.5), ("hero", 1.0, None))
    assert parse_loras([["ink", 0.5, None], {"name": "rain", "strength": 2}]) == (("ink", 0.5, None), ("rain", 2.0, None))
    for bad, says in (("ink:9", "from -4 to 4"), ("ink, INK", "listed twice"), ([["../x", 1]], "name a LoRA"),
                      ("ink:nan", "from -4 to 4"), ([{"name": "a", "weight": 1}], "strength_low")):
        with pytest.raises(InvalidRequest, match=says):
            parse_loras(bad)


def test_hashes_are_cached_by_path_time_and_size(tiny, tmp_path):
    path = makers.write(tmp_path / "loras" / "ink.safetensors", makers.state(makers.factors(tiny.transformer)))
    cache = tmp_path / "cache" / "hashes.json"
    first = LoraLibrary([path.parent], cache).sha256(path)
    assert first == hashlib.sha256(path.read_bytes()).hexdigest() and cache.exists()
    stored = json.loads(cache.read_text())
    key = next(iter(stored))
    cache.write_text(json.dumps({key: "cached"}))
    assert LoraLibrary([path.parent], cache).sha256(path) == "cached"  # another process reads it, no re-hash
    makers.write(path, makers.state(makers.factors(tiny.transformer, seed=9)))  # a new version: hashed again
    assert LoraLibrary([path.parent], cache).sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_keys_no_layout_maps_are_counted_not_applied(tiny, tmp_path):
    state = makers.state(makers.factors(tiny.transformer), "wan")
    state["diffusion_model.blocks.0.norm3.diff"] = torch.zeros(32)  # a norm delta (lightx2v files carry them)
    makers.write(tmp_path / "with_diffs.safetensors", state)
    entry = LoraLibrary([tmp_path]).get("with_diffs")
    assert entry.ignored_keys == 1 and entry.to_dict()["ignored_keys"] == 1


def test_unknown_key_names_with_a_wan_width_say_so(tmp_path):
    makers.write(tmp_path / "odd.safetensors", {"net.layer0.lora_A.weight": torch.zeros(4, 1536),
                                               "net.layer0.lora_B.weight": torch.zeros(1536, 4)})
    assert "1536 wide, as in Wan2.1-1.3B" in LoraLibrary([tmp_path]).entries()[0].error
