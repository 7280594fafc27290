"""Applying LoRAs to the tiny pipeline through the runner: output changes and changes back, exact removal,
composition, pairs per expert, fused and adapter ways agreeing, switching only what differs."""

from __future__ import annotations

import threading

import pytest
import torch

from studio.loras import LoraLibrary, fusion
from studio.loras.hook import JobLoras
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner
from studio.tiny import build_tiny_pipeline

from . import makers


def _request(loras=(), **values) -> GenerationRequest:
    values = {"width": 256, "height": 256, "frames": 5, "steps": 2, "seed": 3, **values}
    return GenerationRequest.create(MODELS["tiny"], "a fox in the snow", loras=loras, **values)


def _run(pipe, hooks, request) -> torch.Tensor:
    result = PipelineRunner(pipe, hooks=hooks, preview_every=0).run(
        "t", request, "a fox in the snow", "", emit=lambda e: None, cancel=threading.Event())
    return torch.from_numpy(result.frames).float()


def _weights(pipe) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v.detach().clone() for i, m in enumerate((pipe.transformer, pipe.transformer_2))
            for k, v in m.state_dict().items()}


@pytest.fixture()
def pipe():
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture()
def library(pipe, tmp_path):
    """style (kohya, alpha 2 of rank 4, both experts), grain (original Wan), hero pair (diffusers)."""
    makers.write(tmp_path / "style.safetensors", makers.state(makers.factors(pipe.transformer, seed=1, scale=0.3),
                                                             "kohya", alpha=2.0))
    makers.write(tmp_path / "grain.safetensors", makers.state(makers.factors(pipe.transformer, seed=2, scale=0.3), "wan"))
    makers.write(tmp_path / "hero_high_noise.safetensors", makers.state(makers.factors(pipe.transformer, seed=3)))
    makers.write(tmp_path / "hero_low_noise.safetensors", makers.state(makers.factors(pipe.transformer_2, seed=4)))
    return LoraLibrary([tmp_path])


def test_output_changes_with_a_lora_and_changes_back_without(pipe, library):
    hook = JobLoras(library)
    before = _weights(pipe)
    plain = _run(pipe, [hook], _request())
    styled = _run(pipe, [hook], _request((("style", 1.0, None),)))
    assert hook.last.method == "fused" and hook.last.linears == 40
    assert (styled - plain).abs().max() > 5  # of 255
    expected = build_tiny_pipeline("tiny")  # the same change made by hand: W + alpha/rank * B @ A
    expected.set_progress_bar_config(disable=True)
    with torch.no_grad():
        for model in (expected.transformer, expected.transformer_2):
            modules = dict(model.named_modules())
            for name, (down, up) in makers.factors(pipe.transformer, seed=1, scale=0.3).items():
                modules[name].weight += 0.5 * up @ down
    assert (_run(expected, [], _request()) - styled).abs().max() <= 1
    again = _run(pipe, [hook], _request())
    assert (again - plain).abs().max() <= 1  # the weights are back within float rounding
    after = _weights(pipe)
    for name, weight in before.items():  # FP32 here: back within float rounding
        torch.testing.assert_close(after[name], weight, atol=1e-6, rtol=0)


def test_a_bf16_round_trip_is_within_one_bf16_rounding(pipe, library):
    pipe.transformer.to(torch.bfloat16)
    pipe.transformer_2.to(torch.bfloat16)
    before = _weights(pipe)
    apps = library.applications((("style", 1.0, None), ("grain", 0.5, None)), "tiny", 2)
    from studio.loras.hook import wanted

    fusion.sync(pipe, "job", [wanted(a) for a in apps])
    fused = _weights(pipe)
    assert any(not torch.equal(fused[k], v) for k, v in before.items())
    fusion.clear(pipe, "job")
    for name, weight in _weights(pipe).items():  # one BF16 step of the larger of the weight and the fused weight
        ulp = torch.finfo(torch.bfloat16).eps * torch.maximum(before[name].float().abs(), fused[name].float().abs())
        assert ((weight.float() - before[name].float()).abs() <= ulp).all(), name


def test_two_loras_compose_and_strengths_scale_the_change(pipe, library):
    weight = pipe.transformer.blocks[0].attn1.to_q.weight
    original = weight.detach().clone()
    hook = JobLoras(library)
    hook.on_job_start(pipe, _request((("style", 1.0, None),)))
    style = weight.detach() - original
    hook.on_job_start(pipe, _request((("grain", 1.0, None),)))
    grain = weight.detach() - original
    hook.on_job_start(pipe, _request((("style", 0.5, None), ("grain", 2.0, None))))
    torch.testing.assert_close(weight.detach() - original, 0.5 * style + 2.0 * grain, atol=1e-5, rtol=0)
    down, up = makers.factors(pipe.transformer, seed=1, scale=0.3)["blocks.0.attn1.to_q"]
    torch.testing.assert_close(style, 0.5 * up @ down, atol=1e-5, rtol=0)  # alpha 2 / rank 4
    hook.on_job_end(pipe)
    hook.on_job_start(pipe, _request())
    torch.testing.assert_close(weight.detach(), original, atol=1e-6, rtol=0)


def test_switching_sets_touches_only_what_differs(pipe, library):
    hook = JobLoras(library)
    hook.on_job_start(pipe, _request((("style", 1.0, None), ("grain", 1.0, None))))
    assert (hook.last.added, hook.last.removed) == (4, 0)  # two files x two experts
    hook.on_job_start(pipe, _request((("style", 1.0, None), ("grain", 0.5, None))))
    assert (hook.last.kept, hook.last.changed, hook.last.added, hook.last.removed) == (2, 2, 0, 0)
    hook.on_job_start(pipe, _request((("style", 1.0, None),)))
    assert (hook.last.kept, hook.last.removed) == (2, 2)


def test_a_pair_applies_each_file_to_its_own_expert(pipe, library):
    high, low = pipe.transformer.blocks[1].ffn.net[2].weight, pipe.transformer_2.blocks[1].ffn.net[2].weight
    high_0, low_0 = high.detach().clone(), low.detach().clone()
    JobLoras(library).on_job_start(pipe, _request((("hero", 1.0, 0.5),)))
    down, up = makers.factors(pipe.transformer, seed=3)["blocks.1.ffn.net.2"]
    torch.testing.assert_close(high.detach() - high_0, up @ down, atol=1e-5, rtol=0)
    down, up = makers.factors(pipe.transformer_2, seed=4)["blocks.1.ffn.net.2"]
    torch.testing.assert_close(low.detach() - low_0, 0.5 * up @ down, atol=1e-5, rtol=0)


def test_adapters_give_the_fused_output_without_touching_the_weights(pipe, library):
    request = _request((("style", 1.0, None), ("hero", 0.7, None)))
    fused = _run(pipe, [JobLoras(library)], request)
    _run(pipe, [JobLoras(library)], _request())
    before = _weights(pipe)
    hook = JobLoras(library, adapters=True)
    adapted = _run(pipe, [hook], request)
    assert hook.last.method == "adapters"
    assert all(torch.equal(before[k], v) for k, v in _weights(pipe).items())
    assert (adapted - fused).abs().max() <= 2  # of 255: the same video up to float rounding
    hook.on_job_start(pipe, _request())
    assert not any(m._forward_hooks for m in pipe.transformer.modules())


def test_offloaded_weights_get_adapters(pipe):
    assert not fusion.uses_adapters(pipe)
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    assert fusion.uses_adapters(pipe)  # FP8 storage: nothing fused could come out again


@pytest.mark.parametrize("plan", ["expert-swap", "offload"])
def test_plans_that_stream_weights_get_adapters_with_the_same_video(plan, library):
    from studio.memory import get_plan

    request = _request((("style", 1.0, None),))
    reference = build_tiny_pipeline("tiny")
    reference.set_progress_bar_config(disable=True)
    fused = _run(reference, [JobLoras(library)], request)
    placed = build_tiny_pipeline("tiny")
    placed.set_progress_bar_config(disable=True)
    chosen = get_plan(plan)
    chosen.apply(placed)
    before = _weights(placed)
    hook = JobLoras(library)
    adapted = _run(placed, [chosen, hook], request)
    assert hook.last.method == "adapters"
    assert all(torch.equal(before[k], v) for k, v in _weights(placed).items())
    assert (adapted - fused).abs().max() <= 2


def test_adapters_reach_compiled_blocks(pipe, library):
    """Regional compile (the GPU default) with dynamo's hook guards on: adapters added or removed after the blocks
    were compiled change the output (by default dynamo ignores hooks added after compiling)."""
    from studio.speed.compile import configure_dynamo

    request = _request((("style", 1.0, None),))
    reference = build_tiny_pipeline("tiny")
    reference.set_progress_bar_config(disable=True)
    fused = _run(reference, [JobLoras(library)], request)
    configure_dynamo()
    for model in (pipe.transformer, pipe.transformer_2):
        model.compile_repeated_blocks(backend="eager", dynamic=False)
    plain = _run(pipe, [], _request())
    hook = JobLoras(library, adapters=True)
    assert (_run(pipe, [hook], request) - fused).abs().max() <= 2
    assert (_run(pipe, [hook], _request()) - plain).abs().max() == 0
