"""The speed hooks on the tiny pipeline through the studio's runner: what each does on a CPU-only machine."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from studio.errors import InvalidSetting, ModelUnavailable
from studio.jobhooks import JobHook
from studio.loras.hook import JobLoras
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner
from studio.speed import experts
from studio.speed.attention import AttentionBackend
from studio.speed.compile import RegionalCompile
from studio.speed.decode import Bf16Decode
from studio.speed.fast import FastMode, fast_request
from studio.speed.fp8 import Fp8Linears, is_block_linear
from studio.speed.plan import SpeedPlan
from studio.speed.turbo import StepCache
from studio.tiny import build_tiny_pipeline


def _request(**values) -> GenerationRequest:
    values = {"width": 256, "height": 256, "frames": 5, "steps": 3, "seed": 7, **values}
    return GenerationRequest.create(MODELS["tiny"], "a cat", **values)


def _run(pipe, hooks, request) -> torch.Tensor:
    result = PipelineRunner(pipe, hooks=hooks).run("t", request, "a cat", "blurry", emit=lambda e: None,
                                                   cancel=threading.Event())
    return torch.from_numpy(result.frames)


@pytest.fixture()
def pipe():
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_plan_from_env_orders_hooks(tmp_path):
    plan = SpeedPlan.from_env({"STUDIO_ATTENTION": "int8", "STUDIO_FP8": "1", "STUDIO_FAST_LORA": "a.safetensors, b.safetensors"})
    kinds = [type(h) for h in plan.hooks]
    assert kinds == [FastMode, JobLoras, Fp8Linears, AttentionBackend, RegionalCompile, StepCache, Bf16Decode]
    assert plan.hooks[1].adapters  # with FP8 linears a job's LoRAs never touch the weights
    assert plan.hooks[0].lora == Path("a.safetensors") and plan.hooks[0].lora_2 == Path("b.safetensors")
    assert plan.hooks[-1].modes == ("fast",)
    plain = SpeedPlan.from_env({"STUDIO_COMPILE": "0", "STUDIO_BF16_DECODE": "none"})
    assert [type(h) for h in plain.hooks] == [FastMode, JobLoras, AttentionBackend, StepCache, Bf16Decode]
    assert plain.hooks[-1].modes == () and "VAE decode in FP32" in plain.describe()
    assert SpeedPlan.from_env({"STUDIO_BF16_DECODE": "fast, turbo"}).hooks[-1].modes == ("fast", "turbo")


@pytest.mark.parametrize("name, value, says", [
    ("STUDIO_ATTENTION", "warp-drive", "Fix: one of auto"), ("STUDIO_FAST_ATTENTION", "fastest", "Fix: one of auto"),
    ("STUDIO_BF16_DECODE", "fast,draft", "no mode 'draft'"), ("STUDIO_TURBO", "0.1", "Fix: one of slow, medium"),
])
def test_bad_speed_settings_name_the_variable_and_the_fix(name, value, says):
    """A studio error (one line in the CLI and at startup), not a traceback."""
    with pytest.raises(InvalidSetting, match=name) as caught:
        SpeedPlan.from_env({name: value})
    assert says in str(caught.value)


def test_bf16_decode_runs_the_decoder_under_autocast_for_its_modes_only(pipe):
    """Close to the FP32 decode but not equal to it (BF16 convolutions ran); removed after the job."""
    exact = _run(pipe, [], _request()).float()
    decoder = pipe.vae.decoder
    dtypes = []
    probe = decoder.conv_out.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    bf16 = _run(pipe, [Bf16Decode(modes=("quality",))], _request()).float()
    probe.remove()
    assert set(dtypes) == {torch.bfloat16}
    assert not torch.equal(bf16, exact) and (bf16 - exact).abs().mean() < 2.0  # 8-bit levels
    assert decoder._diffusers_hook.get_hook("studio_bf16_decode") is None
    assert torch.equal(_run(pipe, [Bf16Decode()], _request()), exact.to(torch.uint8))  # a quality job: FP32


def test_quality_jobs_stay_exact_and_cpu_levers_say_why_they_are_off(pipe):
    plan = SpeedPlan(attention="int8", fp8=True)
    exact = _run(pipe, [], _request())
    assert torch.equal(_run(pipe, plan.hooks, _request()), exact)
    described = plan.describe()
    assert "attention native" in described and "not compiled (no GPU)" in described
    assert "FP8 linears need a CUDA GPU" in described


def test_turbo_caches_the_steps_its_mask_names_for_its_job_only(pipe):
    """cache-dit skips the cached steps' blocks after the first (counted by a hook on the last block), the frames
    differ from the exact run's, and a quality job after it runs every block again and is exact."""
    request = _request(steps=12)
    exact = _run(pipe, [], request)
    calls = []
    counter = [m.blocks[-1].register_forward_hook(lambda *a: calls.append(1)) for m in experts(pipe)]
    cache = StepCache()
    turbo = _run(pipe, [cache], _request(steps=12, mode="turbo"))
    skipped_run = len(calls)
    calls.clear()
    again = _run(pipe, [cache], request)
    for handle in counter:
        handle.remove()
    masks = cache.last_masks
    assert sum(map(len, masks)) == 12 and 0 < sum(map(sum, masks)) < 12
    assert skipped_run == 2 * sum(map(sum, masks))  # two passes (CFG) per computed step, none on cached ones
    assert len(calls) == 2 * 12 and torch.equal(again, exact)
    assert not torch.equal(turbo, exact)
    assert "steps computed in full" in cache.describe()


def test_turbo_masks_follow_each_experts_share_of_the_steps(pipe):
    from studio.speed.turbo import describe_masks, expert_steps, turbo_plan

    high, low = expert_steps(pipe, 40, 12.0)
    assert high + low == 40 and 0 < high < 40
    masks = turbo_plan(pipe, 40, 12.0, "medium")
    assert [len(m) for m in masks] == [high, low] and all(m[-1] == 1 for m in masks)
    fast = turbo_plan(pipe, 40, 12.0, "ultra")
    assert sum(map(sum, fast)) < sum(map(sum, masks))
    assert describe_masks(masks).startswith(f"{sum(map(sum, masks))} of 40 steps computed in full (high-noise ")


def _lora(path: Path, model: torch.nn.Module) -> Path:
    gen = torch.Generator().manual_seed(0)
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith("blocks."):
            state[f"transformer.{name}.lora_A.weight"] = torch.randn(4, module.in_features, generator=gen) * 0.1
            state[f"transformer.{name}.lora_B.weight"] = torch.randn(module.out_features, 4, generator=gen) * 0.1
    save_file(state, str(path))
    return path


def test_fast_mode_fuses_for_fast_jobs_and_restores_the_weights_after(pipe, tmp_path):
    weight = pipe.transformer.blocks[0].attn1.to_q.weight
    original = weight.detach().clone()
    fast = FastMode(lora=_lora(tmp_path / "lora.safetensors", pipe.transformer))
    request = fast_request(_request(mode="fast"))
    assert (request.steps, request.guidance_scale, request.guidance_scale_2) == (4, 1.0, 1.0)
    _run(pipe, [fast], request)
    assert (weight - original).abs().max() > 1e-3
    assert "fused into 40 linears" in fast.describe()  # 10 linears per block x 2 blocks x 2 experts
    _run(pipe, [fast], _request())
    torch.testing.assert_close(weight.detach(), original, atol=1e-6, rtol=0)
    assert fast_request(_request()) == _request()


def test_a_freshly_loaded_pipeline_is_fused_again(pipe, tmp_path):
    """The fused record lives on the pipeline: after a reload (another plan, another model) fast mode fuses anew."""
    fast = FastMode(lora=_lora(tmp_path / "lora.safetensors", pipe.transformer))
    _run(pipe, [fast], fast_request(_request(mode="fast")))
    fresh = build_tiny_pipeline("tiny")
    original = fresh.transformer.blocks[0].attn1.to_q.weight.detach().clone()
    _run(fresh, [fast], fast_request(_request(mode="fast")))
    assert (fresh.transformer.blocks[0].attn1.to_q.weight - original).abs().max() > 1e-3
    _run(pipe, [fast], _request())  # leave the shared fixture unfused


def test_fast_mode_without_a_lora_names_the_fix(pipe):
    with pytest.raises(ModelUnavailable, match="STUDIO_FAST_LORA"):
        FastMode().on_job_start(pipe, _request(mode="fast"))
    with pytest.raises(ModelUnavailable, match="does not exist"):
        FastMode(lora=Path("/nowhere/lora.safetensors")).on_job_start(pipe, _request(mode="fast"))


def test_fp8_linears_wait_for_a_job_that_is_not_fast(pipe, tmp_path, monkeypatch):
    """With FP8 linears and fast mode both on, a fast job keeps BF16 weights (its LoRA must come out again) and
    the next quality job unfuses first, then quantizes. The FP8 cast itself needs a GPU: recorded here."""
    import studio.speed.fp8 as fp8

    events = []
    monkeypatch.setattr(fp8, "unavailable_reason", lambda device: None)
    monkeypatch.setattr(fp8, "quantize_fp8", lambda model: events.append(("fp8", model.blocks[0].attn1.to_q.weight.clone())))
    weight = pipe.transformer.blocks[0].attn1.to_q.weight
    original = weight.detach().clone()
    plan = SpeedPlan(fp8=True, compile=False, fast_lora=(_lora(tmp_path / "lora.safetensors", pipe.transformer), None))
    _run(pipe, plan.hooks, fast_request(_request(mode="fast")))
    assert events == [] and (weight - original).abs().max() > 1e-3
    _run(pipe, plan.hooks, _request())
    assert len(events) == 2  # both experts, each once, with the LoRA already taken out
    torch.testing.assert_close(events[0][1], original, atol=1e-6, rtol=0)


def test_fp8_targets_only_block_projections(pipe):
    names = [n for n, m in pipe.transformer.named_modules() if isinstance(m, torch.nn.Linear)]
    linear = torch.nn.Linear(32, 64)
    assert is_block_linear(linear, "blocks.3.ffn.net.2") and not is_block_linear(linear, "proj_out")
    assert not is_block_linear(torch.nn.Linear(24, 24), "blocks.0.attn1.to_q")  # not a multiple of 16
    assert any(n.startswith("blocks.") for n in names)


def test_experts_are_listed_once_when_shared(pipe):
    assert len(experts(pipe)) == 2
    pipe.transformer_2 = pipe.transformer
    assert experts(pipe) == [pipe.transformer]


def test_each_job_may_choose_its_attention(pipe, monkeypatch):
    """The request's choice wins over the studio's; "default" goes back to the studio's, which for fast jobs is
    8-bit. The probe runs on the CPU here (our 8-bit backend falls back to exact SDPA there), so the switch
    itself is what is tested."""
    import studio.speed.attention as attention

    monkeypatch.setattr(attention, "gpu", lambda: torch.device("cpu"))
    hook = AttentionBackend("native")

    def backends() -> set[str]:
        return {m.processor._attention_backend.value for m in pipe.transformer.modules() if hasattr(m, "processor")
                and hasattr(m.processor, "_attention_backend") and m.processor._attention_backend is not None}

    frames = {}
    for asked, expected in (("int8", "studio_int8"), ("default", "native"), ("int8", "studio_int8")):
        request = _request(attention=asked)
        frames[asked] = _run(pipe, [hook], request)
        assert hook.chosen == expected and backends() == {expected}
    for mode, asked, expected in (("fast", "default", "studio_int8"), ("fast", "native", "native"),
                                  ("turbo", "default", "native")):
        _run(pipe, [hook], _request(mode=mode, attention=asked))
        assert hook.chosen == expected and backends() == {expected}
    assert hook.last_choice == "native" and "int8 for fast jobs" in hook.describe()
    assert torch.equal(frames["int8"], frames["default"])  # on the CPU both compute exact attention
    assert "sage" in hook.rejected  # SageAttention 2 is not installed here


def test_a_fast_mode_lora_with_nothing_to_fuse_is_the_studios_problem(pipe, tmp_path):
    save_file({"unrelated.weight": torch.zeros(2)}, str(tmp_path / "empty.safetensors"))
    with pytest.raises(ModelUnavailable, match="STUDIO_FAST_LORA cannot be used.*none of its 1 keys"):
        FastMode(lora=tmp_path / "empty.safetensors").on_job_start(pipe, _request(mode="fast"))


def test_the_settings_line_states_turbos_mask_before_the_job(tmp_path):
    """What a turbo job will compute is fixed before it starts, so the page says it where the settings are read;
    the same sentence the System tab's speed line gives after the job."""
    from studio.config import StudioConfig
    from studio.service import Studio
    from studio.ui.create import _mode_info, _summary

    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    quality = _summary(studio, "tiny", "256x256", 1.0, 16, 40, 4.0, 3.0, 12.0, "quality")
    turbo = _summary(studio, "tiny", "256x256", 1.0, 16, 40, 4.0, 3.0, 12.0, "turbo")
    assert "turbo" not in quality and turbo.startswith(quality)
    assert turbo.endswith("· turbo: 24 of 40 steps computed in full (high-noise 15/26, low-noise 9/14)")
    fewer = _summary(studio, "tiny", "256x256", 1.0, 16, 20, 4.0, 3.0, 5.0, "turbo")
    assert "of 20 steps computed in full" in fewer
    for steps, shift in ((0, 12.0), (1000, 12.0), ("abc", 12.0), (40, -1.0)):  # typed bad values: no error, no count
        line = _summary(studio, "tiny", "256x256", 1.0, 16, steps, 4.0, 3.0, shift, "turbo")
        assert "turbo" not in line
        assert "Turbo computes a fixed share" in _mode_info(studio, "tiny", "256x256", 1.0, 16, steps, 4.0, 3.0, shift)


@pytest.mark.parametrize("model", ["tiny-i2v", "tiny-5b"])
def test_turbo_caches_image_to_video_jobs_too(model, tmp_path):
    """An I2V model's own pipeline, and the 5B model's image view (another pipeline object the runner calls): the
    cached steps skip the blocks in both. 16 steps: each expert's share is long enough for a mask of its own."""
    import dataclasses

    import numpy as np
    from PIL import Image

    from studio.images import prepare_image

    picture = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(picture)
    stored = prepare_image(picture, tmp_path / "images", 256, 256)
    pipe = build_tiny_pipeline(model)
    pipe.set_progress_bar_config(disable=True)
    request = GenerationRequest.create(MODELS[model], "a cat", image=str(picture), width=256, height=256, frames=5,
                                       steps=16, seed=1, mode="turbo")
    request = dataclasses.replace(request, image=stored.path, image_sha256=stored.sha256)
    calls = []
    counter = [m.blocks[-1].register_forward_hook(lambda *a: calls.append(1)) for m in experts(pipe)]
    cache = StepCache()
    PipelineRunner(pipe, hooks=[cache]).run("t", request, "a cat", "blurry", emit=lambda e: None,
                                            cancel=threading.Event())
    for handle in counter:
        handle.remove()
    computed = sum(map(sum, cache.last_masks))
    assert sum(map(len, cache.last_masks)) == 16 and computed < 16 and len(calls) == 2 * computed


def test_short_expert_shares_are_computed_in_full():
    """cache-dit defines its masks for 4, 6 and 8+ steps only; a 3-step share computes every step."""
    from studio.speed.turbo import step_mask

    assert step_mask(3) == [1, 1, 1] and step_mask(1) == [1]
    assert sum(step_mask(4)) <= 4 and step_mask(6)[-1] == 1 and sum(step_mask(12)) < 12


def test_a_turbo_job_records_what_it_computed_in_full(tmp_path):
    """The mask depends on a studio setting (STUDIO_TURBO), not only on the request: the job's notices keep it, so
    its history entry, sidecar and MP4 say how it was made."""
    from studio.config import StudioConfig
    from studio.events import Done, Notice
    from studio.service import Studio

    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    request = studio.request("a cat", width=256, height=256, frames=5, steps=12, mode="turbo", seed=3)
    events = list(studio.generate(request))
    said = [e.message for e in events if isinstance(e, Notice) and e.source == "speed"]
    assert said == [f"turbo: {studio.turbo_description('tiny', 12, request.flow_shift)} (cache-dit's 'medium' step mask)"]
    done = next(e for e in events if isinstance(e, Done))
    assert said[0] in done.summary["notices"] and said[0] in studio.history.get(done.summary["job_id"])["notices"]
