"""How GPUs are split, which requests split evenly, and how worker failures read (no processes)."""

from __future__ import annotations

import pytest
import torch

from studio.errors import InvalidRequest, StudioError
from studio.memory import get_plan
from studio.models import MODELS
from studio.parallel import Layout, ParallelStore, WorkerFailed, WorkerGroup, plan_layout
from studio.parallel.engine import parallelize
from studio.parallel.launcher import _describe_code
from studio.parallel.layout import check_request, tokens
from studio.parallel.protocol import Failed
from studio.parallel.worker import WorkerSpec


@pytest.mark.parametrize(
    ("world", "heads", "cfg", "expected"),
    [
        (1, 40, True, Layout(1, 1, 1)),
        (2, 40, True, Layout(cfg=2)),
        (4, 40, True, Layout(cfg=2, ulysses=2)),
        (8, 40, True, Layout(cfg=2, ulysses=4)),  # 40 heads / 4 = 10 per GPU
        (8, 40, False, Layout(ulysses=8)),
        (6, 40, True, Layout(cfg=2, ring=3)),  # 3 does not divide 40 heads: ring attention
        (4, 2, False, Layout(ring=2, ulysses=2)),  # the tiny model has 2 heads
    ],
)
def test_plan_layout(world, heads, cfg, expected):
    layout = plan_layout(world, heads, cfg=cfg)
    assert layout == expected and layout.world == world


def test_describe_names_every_split():
    assert Layout(cfg=2, ulysses=4).describe() == (
        "8 GPUs: prompt and negative-prompt passes on separate GPU groups, Ulysses attention over 4 GPUs"
    )


def test_official_sizes_split_evenly_over_8_gpus(tiny_request):
    spec = MODELS["wan2.2-t2v-a14b"]
    assert tokens(spec, 1280, 720, 81) == 75_600 and tokens(spec, 832, 480, 81) == 32_760
    for width, height in spec.official_sizes:
        request = tiny_request(width=width, height=height, frames=81)
        for layout in (Layout(cfg=2, ulysses=4), Layout(ulysses=8)):
            check_request(layout, spec, request)


def test_uneven_split_names_the_settings(tiny_request):
    with pytest.raises(InvalidRequest, match=r"512 tokens do not split evenly over 6 GPUs") as error:
        check_request(Layout(ring=3, ulysses=2), MODELS["tiny"], tiny_request(frames=5))
    assert error.value.field == "width x height x frames"


def test_one_gpu_is_not_a_parallel_store():
    with pytest.raises(InvalidRequest, match="gpus: 1 is not allowed"):
        ParallelStore(1)


def test_context_parallel_without_accelerator_says_why():
    if torch.accelerator.device_count():
        pytest.skip("this machine has an accelerator")
    with pytest.raises(StudioError, match=r"rank % torch.accelerator.device_count\(\)"):
        parallelize(None, Layout(ulysses=2), torch.device("cpu"))


def test_exit_codes_name_the_signal():
    assert _describe_code(-9) == "-9 (SIGKILL)" and _describe_code(1) == "1"


def test_worker_reports_become_studio_errors():
    group = WorkerGroup(WorkerSpec("tiny", get_plan("resident"), 2, timeout_s=60), grace_s=0.0)
    group._where = "during step 3 of 4"
    oom = group._failed(Failed(1, "out_of_memory", "CUDA out of memory. Tried to allocate 2 GiB"))
    assert isinstance(oom, torch.OutOfMemoryError)  # the service's fallback to a lighter plan takes it from here
    assert "GPU worker 1 ran out of memory during step 3 of 4" in str(oom)
    crash = group._failed(Failed(0, "internal", "RuntimeError: boom"))
    assert isinstance(crash, WorkerFailed)
    assert "GPU worker 0 failed during step 3 of 4: RuntimeError: boom" in str(crash)
    unavailable = group._failed(Failed(0, "model_unavailable", "could not load ..."))
    assert unavailable.kind == "model_unavailable" and str(unavailable) == "could not load ..."
