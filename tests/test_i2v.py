"""Image-to-video: tiny-i2v (the I2V-A14B layout) and tiny-5b take a start image through the studio's own path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from studio.__main__ import main
from studio.config import StudioConfig
from studio.errors import InvalidRequest, ModelUnavailable
from studio.events import Done
from studio.models import MODELS, spec_for_folder
from studio.pipelines import PipelineStore
from studio.memory import PLANS
from studio.service import Studio
from tests.conftest import subprocess_env

SETTINGS = dict(width=256, height=256, frames=5, steps=2, seed=5, translate=False)


def _image(path: Path, seed: int, size=(320, 200)) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _frames(path: str) -> np.ndarray:
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])


def _run(studio: Studio, request) -> dict:
    events = list(studio.generate(request))
    assert isinstance(events[-1], Done), events[-1]
    return events[-1].summary


@pytest.mark.parametrize("model", ["tiny-i2v", "tiny-5b"])
def test_the_start_image_reaches_the_transformer_and_the_mp4(tmp_path, model):
    studio = Studio(StudioConfig(model=model, outputs=tmp_path / "outputs", translator="none"))
    size = SETTINGS
    seen: list[int] = []
    _, pipe, _ = studio.pipelines.get(model)
    pipe.transformer.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["hidden_states"].shape[1]),
                                               with_kwargs=True)
    first = _run(studio, studio.request("a cat walking", model=model, image=str(_image(tmp_path / "a.png", 1)), **size))
    second = _run(studio, studio.request("a cat walking", model=model, image=str(_image(tmp_path / "b.png", 2)), **size))
    a, b = _frames(first["output"]), _frames(second["output"])
    assert a.shape == b.shape == (5, size["height"], size["width"], 3)
    again = _frames(_run(studio, studio.request("a cat walking", model=model, image=str(tmp_path / "a.png"),
                                                **size))["output"])
    assert np.array_equal(a, again)  # the same image, prompt and seed: the same video, so the change is the image's
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.05  # random weights: small, but never zero
    assert set(seen) == {36 if model == "tiny-i2v" else 48}  # I2V-A14B: 16 noise + 4 mask + 16 image latents
    job = studio.history.get(first["job_id"])
    stored = Path(job["request"]["image"])
    assert stored.parent == tmp_path / "outputs" / "images" and stored.stem == job["request"]["image_sha256"]
    assert Image.open(stored).size == (size["width"], size["height"])


def test_text_only_models_refuse_an_image_and_i2v_needs_one(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    with pytest.raises(InvalidRequest, match="text only; for image-to-video use tiny-i2v"):
        studio.request("a cat", image=str(_image(tmp_path / "a.png", 1)), **SETTINGS)
    with pytest.raises(InvalidRequest, match="from a start image: give one .*for text-to-video use tiny"):
        studio.request("a cat", model="tiny-i2v", **SETTINGS)
    with pytest.raises(InvalidRequest, match="not an image"):
        (tmp_path / "x.png").write_text("hello")
        studio.request("a cat", model="tiny-i2v", image=str(tmp_path / "x.png"), **SETTINGS)
    assert MODELS["wan2.2-i2v-a14b"].repo_id == "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    assert MODELS["tiny"].for_image(True) == "tiny-i2v" and MODELS["tiny-i2v"].for_image(False) == "tiny"
    assert MODELS["tiny-5b"].for_image(True) == MODELS["tiny-5b"].for_image(False) == "tiny-5b"


def test_switching_t2v_and_i2v_keeps_the_text_encoder_and_vae():
    store = PipelineStore()
    _, t2v, _ = store.get("tiny", PLANS["resident"])
    _, i2v, _ = store.get("tiny-i2v", PLANS["resident"])
    assert i2v.text_encoder is t2v.text_encoder and i2v.vae is t2v.vae and i2v.transformer is not t2v.transformer
    _, five, _ = store.get("tiny-5b", PLANS["resident"])
    assert five.vae is not i2v.vae  # another VAE: loaded anew
    _, again, _ = store.get("tiny", PLANS["offload"])
    assert again.text_encoder is not five.text_encoder


def test_a_switch_under_expert_swap_keeps_the_encoders_and_both_models_run(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    image = str(_image(tmp_path / "a.png", 1))
    kept = []
    for model, plan, start in (("tiny", "expert-swap", None), ("tiny-i2v", "expert-swap", image),
                               ("tiny", "resident", None), ("tiny-i2v", "expert-swap+vae-tiling", image)):
        _run(studio, studio.request("a cat", model=model, image=start, memory_plan=plan, **SETTINGS))
        _, pipe, _ = studio.pipelines.get(model, plan)
        kept.append((pipe.text_encoder, pipe.vae, pipe.vae.use_tiling))
    assert all(encoder is kept[0][0] and vae is kept[0][1] for encoder, vae, _ in kept)
    assert [tiled for *_, tiled in kept] == [False, False, False, True]  # tiled only while a plan says so


def test_an_i2v_diffusers_folder_is_recognised(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps(
        {"_class_name": "WanImageToVideoPipeline", "transformer_2": ["diffusers", "WanTransformer3DModel"],
         "boundary_ratio": 0.9}))
    assert spec_for_folder(tmp_path).name == "wan2.2-i2v-a14b"
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelUnavailable, match="WanImageToVideoPipeline"):
        spec_for_folder(tmp_path)


def test_cli_generate_with_an_image_and_a_bad_one(tmp_path, capsys, root_logger):
    out = tmp_path / "i2v.mp4"
    args = [sys.executable, "-m", "studio", "generate", "--model", "tiny-i2v", "--prompt", "a fox", "--width", "256",
            "--height", "256", "--frames", "5", "--steps", "2", "--no-translate", "--json"]
    done = subprocess.run([*args, "--image", str(_image(tmp_path / "a.png", 3)), "--fit", "pad", "--out", str(out)],
                          capture_output=True, text=True, env=subprocess_env(tmp_path), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] == 5 and summary["image"].endswith(".png") and _frames(str(out)).shape[0] == 5
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    assert main([*args[3:], "--image", str(tmp_path / "bad.png")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not an image" in error


def test_the_doctor_plans_the_i2v_pair_with_its_start_video_encode():
    from studio.gpus import GpuInfo
    from studio.planning import choose_plan

    h100 = GpuInfo(name="H100", total_gb=80, compute_capability=(9, 0))
    i2v = {a["plan"]: a["peak_gb_estimate"] for a in choose_plan(MODELS["wan2.2-i2v-a14b"], "720P", h100).alternatives}
    t2v = {a["plan"]: a["peak_gb_estimate"] for a in choose_plan(MODELS["wan2.2-t2v-a14b"], "720P", h100).alternatives}
    assert i2v["expert-swap"] > t2v["expert-swap"]  # an expert streams in while the VAE encodes the start video
    assert i2v["offload+vae-tiling"] == t2v["offload+vae-tiling"]  # tiled, the encode stays below denoising
    assert "start video's VAE encode" in choose_plan(MODELS["wan2.2-i2v-a14b"], "480P", h100).arithmetic


def test_a_frame_of_a_past_job_is_a_start_image(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    done = _run(studio, studio.request("a cat", **SETTINGS))
    request = studio.request("the cat jumps", model="tiny-i2v", image=f"{done['job_id']}:2", **SETTINGS)
    assert np.array_equal(np.asarray(Image.open(request.image)), _frames(done["output"])[2])
    last = studio.request("the cat jumps", model="tiny-i2v", image=done["job_id"], **SETTINGS)
    assert np.array_equal(np.asarray(Image.open(last.image)), _frames(done["output"])[-1])
    with pytest.raises(InvalidRequest, match="frames 0 to 4"):
        studio.request("x", model="tiny-i2v", image=f"{done['job_id']}:9", **SETTINGS)
    queued = studio.submit(studio.request("a dog", **SETTINGS))
    with pytest.raises(InvalidRequest, match="has no video"):
        studio.request("x", model="tiny-i2v", image=queued, **SETTINGS)
