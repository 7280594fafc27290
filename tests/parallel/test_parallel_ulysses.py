"""diffusers' Ulysses attention over gloo: two processes split the tiny model's sequence and match one process.

diffusers 0.42.1 cannot start context parallelism without an accelerator: `enable_parallelism` places
each rank on `rank % torch.accelerator.device_count()`, which divides by zero on a CPU-only machine
(the studio says so instead; see test_parallel_layout). Only for this test the two ranks report one
accelerator, so the rest of diffusers' engine (device mesh, split/gather hooks, all-to-all attention
with the `native` SDPA backend) runs for real over gloo. Ring attention cannot run here at all: it
merges partial results by their log-sum-exp, which no CPU attention backend of diffusers returns.
"""

from __future__ import annotations

import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from studio.models import MODELS
from studio.parallel import Layout
from studio.parallel.engine import init_distributed, parallelize
from studio.parallel.layout import tokens
from studio.request import GenerationRequest
from studio.runner import PipelineRunner
from studio.tiny import build_tiny_pipeline

PROMPT, NEGATIVE = "a cat walking in the snow", "blurry, static"  # tokenised alike in every process


def _request() -> GenerationRequest:
    return GenerationRequest.create(MODELS["tiny"], PROMPT, width=256, height=256, frames=9, steps=4, seed=7)


def _rank(rank: int, init_method: str, folder: str) -> None:
    torch.accelerator.device_count = lambda: 1  # the one accelerator-only line in diffusers' setup (see above)
    torch.set_num_threads(1)
    device = init_distributed(init_method, rank, 2, local_rank=rank, timeout_s=60)
    pipe = build_tiny_pipeline("tiny")
    pipe.set_progress_bar_config(disable=True)
    parallelize(pipe, Layout(ulysses=2), device)
    seen: list[int] = []
    pipe.transformer.blocks[0].attn1.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    result = PipelineRunner(pipe, preview_every=0).run("job", _request(), PROMPT, NEGATIVE, emit=lambda event: None)
    np.save(f"{folder}/frames-{rank}.npy", result.frames)
    np.save(f"{folder}/tokens-{rank}.npy", np.array(sorted(set(seen))))
    dist.destroy_process_group()


def test_ulysses_over_two_processes_matches_one(tmp_path, tiny_pipe):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_rank, args=(f"tcp://127.0.0.1:{port}", str(tmp_path)), nprocs=2)

    full = tokens(MODELS["tiny"], 256, 256, 9)
    for rank in range(2):  # each rank's blocks saw half of the sequence
        assert np.load(tmp_path / f"tokens-{rank}.npy").tolist() == [full // 2]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = PipelineRunner(tiny_pipe, preview_every=0).run(
            "job", _request(), PROMPT, NEGATIVE, emit=lambda event: None
        ).frames
    finally:
        torch.set_num_threads(threads)
    for rank in range(2):
        frames = np.load(tmp_path / f"frames-{rank}.npy")
        # Numerically close, not guaranteed bitwise: every linear layer runs on half the rows, which may
        # pick other CPU kernels; attention still sees the whole sequence per head. (Equal on this machine.)
        difference = np.abs(frames.astype(np.int16) - expected)
        assert difference.max() <= 1 and difference.mean() < 0.01
