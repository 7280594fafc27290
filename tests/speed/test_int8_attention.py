"""Our 8-bit attention: the numerics in torch always, the Triton kernel through its CPU interpreter."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from studio.speed import int8_attention as int8

from .conftest import TRITON_INTERPRETER

needs_interpreter = pytest.mark.skipif(not TRITON_INTERPRETER, reason="Triton (interpreter) not installed")


def _random(shape, dtype=torch.bfloat16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=gen).to(dtype) for _ in range(3))


def _exact(q, k, v):
    return int8.exact_attention(q.double(), k.double(), v.double())


def test_per_token_int8_round_trip_is_within_half_a_step():
    x = _random((2, 50, 3, 64))[0].float()
    q, scale = int8.quantize_per_token(x)
    assert q.dtype == torch.int8 and scale.shape == (2, 50, 3)
    assert (q.float() * scale[..., None] - x).abs().le(scale[..., None] / 2 + 1e-6).all()


def test_smoothing_k_leaves_softmax_unchanged():
    q, k, v = (x.double() for x in _random((1, 40, 2, 32)))
    shifted = k + torch.randn(1, 1, 2, 32, dtype=torch.float64) * 5
    smoothed = shifted - shifted.mean(dim=1, keepdim=True)
    assert torch.allclose(int8.exact_attention(q, shifted, v), int8.exact_attention(q, smoothed, v), atol=1e-10)


@pytest.mark.parametrize("kind", ["random", "structured"])
def test_reference_errors(kind):
    """INT8 Q·K with BF16 P·V is within 2 %; FP8 P·V within 4 % on random and 2.5 % on structured inputs.

    (On the H100 at 75,600 tokens FP8 P·V measured 6.2 % on random and 0.86 % on structured inputs.)
    """
    q, k, v = _random((1, 256, 2, 64)) if kind == "random" else int8.structured_inputs(1, 256, 2, 64)
    exact = _exact(q, k, v)
    assert int8.relative_error(int8.reference_int8_attention(q, k, v, pv_fp8=False), exact) < 0.02
    limit = 0.04 if kind == "random" else 0.025
    assert int8.relative_error(int8.reference_int8_attention(q, k, v, pv_fp8=True), exact) < limit


@needs_interpreter
@pytest.mark.parametrize("n_q, n_k", [(200, 200), (64, 333)])
def test_kernel_matches_reference(n_q, n_k):
    """Lengths off the 128-token padding, queries and keys of different lengths, batch 2, strided views."""
    gen = torch.Generator().manual_seed(1)
    packed = [torch.randn(2, n, 2 * 64, generator=gen).half() for n in (n_q, n_k, n_k)]
    q, k, v = (x.unflatten(2, (2, 64)) for x in packed)  # views with the model's strides
    config = dict(BLOCK_M=64, BLOCK_N=32)
    exact = _exact(q, k, v)
    pv16 = int8.int8_attention(q, k, v, pv_fp8=False, config=config)
    assert pv16.shape == q.shape and torch.isfinite(pv16).all()
    assert int8.relative_error(pv16, int8.reference_int8_attention(q, k, v, pv_fp8=False)) < 1e-3
    fp8 = int8.int8_attention(q, k, v, pv_fp8=True, config=config)
    assert torch.isfinite(fp8).all()
    assert int8.relative_error(fp8, int8.reference_int8_attention(q, k, v, pv_fp8=True)) < 0.03
    assert int8.relative_error(fp8, exact) < 0.05


@needs_interpreter
@pytest.mark.parametrize("variant", [dict(PROMOTE=0), dict(WARP_SPECIALIZE=True), dict(K_TILE=False)])
def test_kernel_variants_compute_what_their_reference_computes(variant):
    """Promotion and warp specialisation change only how the GPU accumulates; one K scale per key
    instead of per 128 keys changes the numerics as the reference with one per key does."""
    q, k, v = _random((1, 300, 2, 64), dtype=torch.float16, seed=2)
    q = q * 3  # peaky rows: the running max moves often
    k = k * torch.linspace(0.2, 2, 300)[None, :, None, None].half()  # token norms differ within a 128-key tile
    config = dict(BLOCK_M=64, BLOCK_N=32, **variant)
    k_tile = 128 if variant.get("K_TILE", True) else None
    pv16 = int8.int8_attention(q, k, v, pv_fp8=False, config=config)
    assert int8.relative_error(pv16, int8.reference_int8_attention(q, k, v, pv_fp8=False, k_tile=k_tile)) < 1e-3
    fp8 = int8.int8_attention(q, k, v, pv_fp8=True, config=config)
    assert int8.relative_error(fp8, int8.reference_int8_attention(q, k, v, pv_fp8=True, k_tile=k_tile)) < 0.03


def test_one_k_scale_per_tile_changes_the_result():
    """So the kernel test above tells the two K scalings apart."""
    q, k, v = _random((1, 300, 2, 64), seed=2)
    k = k * torch.linspace(0.2, 2, 300)[None, :, None, None]
    per_key = int8.reference_int8_attention(q, k, v, pv_fp8=False, k_tile=None)
    assert int8.relative_error(int8.reference_int8_attention(q, k, v, pv_fp8=False), per_key) > 2e-3


@needs_interpreter
def test_kernel_on_structured_input_is_within_two_percent():
    q, k, v = int8.structured_inputs(1, 256, 2, 64, dtype=torch.float16)
    out = int8.int8_attention(q, k, v, pv_fp8=True, config=dict(BLOCK_M=64, BLOCK_N=64))
    assert int8.relative_error(out, _exact(q, k, v)) < 0.02


def test_backend_is_selectable_and_falls_back_to_exact_on_cpu(tiny_pipe):
    """Registered as diffusers backends; on the CPU (and for cross-attention) the exact SDPA runs."""
    assert int8.register_backends() == ["studio_int8", "studio_int8_pv16"] == int8.register_backends()
    model = tiny_pipe.transformer
    x, text, step = torch.randn(1, 16, 2, 8, 8), torch.randn(1, 512, 32), torch.tensor([900])
    with torch.no_grad():
        expected = model(x, timestep=step, encoder_hidden_states=text, return_dict=False)[0]
        model.set_attention_backend("studio_int8")
        try:
            got = model(x, timestep=step, encoder_hidden_states=text, return_dict=False)[0]
        finally:
            model.reset_attention_backend()
    assert torch.equal(got, expected)


def test_importing_the_package_needs_no_triton():
    assert importlib.util.find_spec("studio.speed.int8_attention") is not None
    assert int8.attention_flops(75_600) == pytest.approx(4 * 75_600**2 * 128 * 40)
