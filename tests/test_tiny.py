"""The tiny models are the same in every process: same vocabulary, same weights, same video for a seed."""

import json
import subprocess
import sys

import torch

from studio.tiny import build_tiny_pipeline, tiny_tokenizer
from tests.conftest import subprocess_env

PROMPT = "a cat, x q z 一只猫 f/1.8 zebra"
_CHILD = (
    "import json, torch; from studio.tiny import build_tiny_pipeline, tiny_tokenizer;"
    f"ids = tiny_tokenizer()({PROMPT!r}).input_ids;"
    "pipe = build_tiny_pipeline('tiny');"
    "print(json.dumps([ids, float(sum(p.detach().double().sum() for p in pipe.transformer.parameters()))]))"
)


def test_vocabulary_and_weights_match_a_fresh_process(tmp_path):
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=subprocess_env(tmp_path),
                           check=True)
    ids, weight_sum = json.loads(child.stdout.strip().splitlines()[-1])
    assert ids == tiny_tokenizer()(PROMPT).input_ids
    here = float(sum(p.detach().double().sum() for p in build_tiny_pipeline("tiny").transformer.parameters()))
    assert abs(weight_sum - here) < 1e-9


def test_chinese_and_english_words_get_their_own_tokens():
    tokenizer = tiny_tokenizer()
    assert tokenizer.unk_token_id not in tokenizer("一只猫 walking in the snow").input_ids
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 1


def test_both_layouts_build_with_the_documented_shapes():
    a14b, five_b = build_tiny_pipeline("tiny"), build_tiny_pipeline("tiny-5b")
    assert a14b.transformer_2 is not None and a14b.config.boundary_ratio == 0.875
    assert five_b.transformer_2 is None and five_b.config.expand_timesteps
    assert a14b.vae.config.z_dim == 16 and five_b.vae.config.z_dim == 48
    assert torch.equal(next(a14b.transformer.parameters()), next(build_tiny_pipeline("tiny").transformer.parameters()))


def test_head_dim_suits_cuda_fused_attention():
    """cuDNN, flash and memory-efficient SDPA need a head dim that is a multiple of 8; a GPU machine without
    real weights runs the tiny model, and with 12 every job there failed ("No available kernel")."""
    pipe = build_tiny_pipeline("tiny")
    for model in (pipe.transformer, pipe.transformer_2):
        assert model.config.attention_head_dim % 8 == 0
