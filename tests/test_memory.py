import numpy as np
import pytest
import torch

from studio import pipelines
from studio.config import StudioConfig
from studio.errors import InvalidRequest
from studio.events import Done, Failed, Notice, Started
from studio.memory import PLANS, ExpertSwap, MemoryPlan, get_plan
from studio.models import MODELS
from studio.request import GenerationRequest
from studio.runner import PipelineRunner
from studio.service import Studio
from studio.tiny import build_tiny_pipeline

SPEC = MODELS["tiny"]
# Shift 3 with 2 steps gives timesteps 999 and 750: one step on each expert, so a swap happens.
SETTINGS = dict(width=256, height=256, frames=5, steps=2, seed=3, flow_shift=3.0)


def _run(plan: MemoryPlan) -> tuple[np.ndarray, object]:
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    plan.apply(pipe)
    request = GenerationRequest.create(SPEC, "a cat", **SETTINGS)
    result = PipelineRunner(pipe, hooks=[plan], preview_every=0).run("job", request, "a cat", "", emit=lambda e: None)
    return result.frames, pipe


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _run(PLANS["resident"])[0]


def test_plan_names_and_parsing():
    assert len(PLANS) == 12 and {"resident", "expert-swap+fp8", "offload+fp8+vae-tiling"} <= set(PLANS)
    assert get_plan("offload+vae-tiling") is not PLANS["offload+vae-tiling"] and get_plan("offload+vae-tiling") == PLANS["offload+vae-tiling"]
    assert get_plan("expert-swap+vae-tiling+fp8").name == "expert-swap+fp8+vae-tiling"
    assert get_plan("auto", SPEC).name == "resident"  # no GPU here, and a tiny model fits anywhere
    for bad in ("everything", "offload+int4", "resident+fp8+fp8"):
        with pytest.raises(InvalidRequest, match="memory_plan"):
            get_plan(bad)


def test_lighter_is_the_fallback_order():
    chain, plan = [], PLANS["resident"]
    while plan is not None:
        chain.append(plan.name)
        plan = plan.lighter()
    assert chain == ["resident", "expert-swap", "offload+vae-tiling", "offload+fp8+vae-tiling"]
    assert PLANS["expert-swap+fp8"].lighter().name == "offload+fp8+vae-tiling"


@pytest.mark.parametrize("name", ["expert-swap", "offload", "resident+fp8+vae-tiling", "expert-swap+fp8",
                                  "offload+fp8+vae-tiling"])
def test_each_plan_applies_and_generates(name, reference):
    frames, pipe = _run(PLANS[name])
    assert frames.shape == reference.shape
    difference = np.abs(frames.astype(float) - reference).mean()
    if "fp8" in name:  # 8-bit weights change the video a little, not wholesale
        assert 0 < difference < 8
    else:  # placement and tiling (tiny frames fit one tile) move weights, never change results
        assert difference == 0


def test_expert_swap_keeps_one_model_on_the_device_and_none_while_decoding():
    plan = PLANS["expert-swap"]
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    plan.apply(pipe)
    swap = pipe._studio_swap
    at_decode = []
    pipe.vae.decoder.conv_in.register_forward_pre_hook(lambda *_: at_decode.append(list(swap.on_gpu)))
    request = GenerationRequest.create(SPEC, "a cat", **SETTINGS)
    PipelineRunner(pipe, hooks=[plan], preview_every=0).run("job", request, "a cat", "", emit=lambda e: None)
    assert swap.moves == ["text_encoder in", "text_encoder out", "transformer in", "transformer out",
                          "transformer_2 in", "transformer_2 out"]
    assert at_decode and all(resident == [] for resident in at_decode)
    assert swap.on_gpu == []  # on_job_end: nothing but the VAE stays between jobs


def test_expert_swap_moves_a_models_inputs_to_its_device():
    """diffusers' encode_prompt sends token ids to where the text encoder's weights are, which between
    uses is the CPU (this failed on the H100); the "meta" device stands in for the GPU here."""
    pipe = build_tiny_pipeline("tiny")
    swap = ExpertSwap(pipe, torch.device("cpu"))
    swap.bring(pipe.text_encoder)
    swap.device = torch.device("meta")  # weights cannot live on "meta", so only the inputs go there
    hook = swap.groups[id(pipe.text_encoder)][0][0]
    ids, mask = torch.ones(1, 4, dtype=torch.long), torch.ones(1, 4)
    args, kwargs = hook.pre_forward(pipe.text_encoder, ids, attention_mask=[mask])
    assert args[0].device.type == "meta" and kwargs["attention_mask"][0].device.type == "meta"
    assert swap.moves == ["text_encoder in"]


@pytest.mark.parametrize("name", ["expert-swap", "offload+vae-tiling", "resident+fp8", "offload+fp8+vae-tiling"])
def test_each_plan_works_with_compiled_blocks(name):
    """Compile is on by default, so every plan's hooks must live beside torch.compile'd blocks: traced into
    the graph, expert-swap's CUDA stream and event crashed the process on an H100. Here Dynamo compiles the
    tiny experts' blocks (eager backend, the CPU) under each plan: the frames equal the uncompiled plan's,
    and the swap's hook stays out of the graphs (the part only the GPU could show as a crash)."""
    from studio.memory import _Arrival

    assert getattr(_Arrival.pre_forward, "_torchdynamo_disable", False)
    plain, _ = _run(PLANS[name])
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    PLANS[name].apply(pipe)
    torch._dynamo.reset()
    try:
        for model in (pipe.transformer, pipe.transformer_2):
            model.compile_repeated_blocks(fullgraph=False, dynamic=False, backend="eager")
        request = GenerationRequest.create(SPEC, "a cat", **SETTINGS)
        runner = PipelineRunner(pipe, hooks=[PLANS[name]], preview_every=0)
        frames = runner.run("job", request, "a cat", "", emit=lambda e: None).frames
    finally:
        torch._dynamo.reset()
    assert np.array_equal(frames, plain)


def _studio(tmp_path, monkeypatch, fail_forward: int = 0, fail_load: int = 0) -> Studio:
    """A tiny studio whose first pipelines run out of memory: in the transformer's forward, or while loading."""
    build, state = pipelines.load_pipeline, {"forward": fail_forward, "load": fail_load}

    def load(source, **kwargs):
        if state["load"]:
            state["load"] -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 26.70 GiB (test)")
        spec, pipe = build(source, **kwargs)

        def out_of_memory(*_):
            if state["forward"]:
                state["forward"] -= 1
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.10 GiB (test)")

        pipe.transformer.register_forward_pre_hook(out_of_memory)
        return spec, pipe

    monkeypatch.setattr(pipelines, "load_pipeline", load)
    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def _generate(studio: Studio, plan: str = "resident") -> list:
    request = studio.request("a cat on a windowsill", translate=False, memory_plan=plan, **SETTINGS)
    return list(studio.generate(request))


@pytest.mark.parametrize("where", ["forward", "load"])
def test_out_of_memory_falls_back_once_tells_the_user_and_is_recorded(tmp_path, monkeypatch, where):
    studio = _studio(tmp_path, monkeypatch, **{f"fail_{where}": 1})
    events = _generate(studio)
    notices = [e.message for e in events if isinstance(e, Notice)]
    done = events[-1]
    assert isinstance(done, Done), events[-1]
    assert notices == ["out of GPU memory with the 'resident' plan; retrying once with 'expert-swap'"]
    assert done.summary["plan"] == "expert-swap" and done.summary["notices"] == notices
    assert sum(isinstance(e, Started) for e in events) == 1
    job = studio.history.get(done.job_id)
    assert job["status"] == "done" and job["plan"]["name"] == "expert-swap" and job["notices"] == notices


def test_out_of_memory_twice_fails_with_a_clear_message(tmp_path, monkeypatch):
    studio = _studio(tmp_path, monkeypatch, fail_forward=2)
    events = _generate(studio)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind == "out_of_memory"
    assert "already retried once" in failed.message and "Fix:" in failed.message
    job = studio.history.get(failed.job_id)
    assert job["status"] == "failed" and job["error_kind"] == "out_of_memory" and len(job["notices"]) == 1


def test_out_of_memory_with_the_lightest_plan_says_so(tmp_path, monkeypatch):
    studio = _studio(tmp_path, monkeypatch, fail_forward=1)
    failed = _generate(studio, plan="offload+fp8+vae-tiling")[-1]
    assert isinstance(failed, Failed) and "no lighter plan is left" in failed.message


def test_auto_keeps_a_loaded_lighter_plan_instead_of_reloading(tmp_path, monkeypatch):
    """A model already loaded under a lighter plan than `auto` would pick is reused: no reload of its weights."""
    studio = _studio(tmp_path, monkeypatch)
    loads = []
    load = pipelines.load_pipeline
    monkeypatch.setattr(pipelines, "load_pipeline", lambda source, **kw: loads.append(source) or load(source, **kw))
    assert _generate(studio, "expert-swap")[-1].summary["plan"] == "expert-swap"
    assert _generate(studio, "auto")[-1].summary["plan"] == "expert-swap"  # auto alone would pick resident
    assert len(loads) == 1
    assert _generate(studio, "resident")[-1].summary["plan"] == "resident"  # an explicit plan is honoured
    assert len(loads) == 2
