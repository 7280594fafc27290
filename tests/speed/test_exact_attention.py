"""FlashAttention-4 and FlashInfer as diffusers backends: what can be checked without their GPU kernels.

The kernels themselves ran on an H200 (bench/results/2026-12-05-h200/): 0.086 % from cuDNN on structured
inputs. Here: the registration, the SDPA fallback for calls they do not take, the probe's verdict when the
package is absent, and the custom op's fake (what regional compile traces) keeping shape and layout.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F

from studio.speed import exact_attention
from studio.speed.attention import CHOICES, EXACT, AttentionBackend, probe


def test_auto_tries_fa4_then_flashinfer_before_cudnn_and_both_count_as_exact():
    auto = CHOICES["auto"]
    assert auto.index("studio_fa4") < auto.index("studio_flashinfer") < auto.index("_native_cudnn")
    assert {"studio_fa4", "studio_flashinfer"} <= EXACT
    assert CHOICES["fa4"][0] == "studio_fa4" and CHOICES["flashinfer"][0] == "studio_flashinfer"


@pytest.mark.parametrize("backend", ["studio_fa4", "studio_flashinfer"])
def test_registered_backends_fall_back_to_sdpa_for_calls_the_kernels_do_not_take(backend):
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    exact_attention.register_backends()
    exact_attention.register_backends()  # idempotent
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 40, 3, 64, generator=gen) for _ in range(3))  # a CPU call: not the kernel's
    out = dispatch_attention_fn(q, k, v, backend=AttentionBackendName(backend))
    ref = F.scaled_dot_product_attention(*(x.transpose(1, 2) for x in (q, k, v))).transpose(1, 2)
    torch.testing.assert_close(out, ref)


def test_supports_only_the_measured_calls():
    q = torch.empty(1, 8, 2, 128, dtype=torch.bfloat16, device="meta")
    assert not exact_attention.supports(q, q, None, False, 0.0)  # not CUDA
    cuda_like = types.SimpleNamespace(is_cuda=True, dtype=torch.bfloat16, shape=(1, 8, 2, 128))
    assert exact_attention.supports(cuda_like, cuda_like, None, False, 0.0)
    assert not exact_attention.supports(cuda_like, cuda_like, torch.ones(1), False, 0.0)  # a mask
    assert not exact_attention.supports(cuda_like, cuda_like, None, True, 0.0)  # causal
    odd = types.SimpleNamespace(is_cuda=True, dtype=torch.bfloat16, shape=(1, 8, 2, 96))
    assert not exact_attention.supports(odd, odd, None, False, 0.0)


def test_probe_names_a_missing_package_and_the_hook_falls_through(monkeypatch):
    monkeypatch.setitem(sys.modules, "flashinfer", None)  # importing it fails, as where it is absent
    monkeypatch.setattr(exact_attention, "installed", lambda backend: False)
    assert probe("studio_fa4", torch.device("cpu")) == "not installed"
    hook = AttentionBackend("fa4")
    chosen = hook._choose(torch.device("cpu"), 64, "fa4")
    assert chosen in ("_native_cudnn", "native") and hook.rejected["studio_fa4"] == "not installed"


def test_the_fake_keeps_shape_and_dtype_for_compile():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(1, 75_600, 40, 128, dtype=torch.bfloat16)
        for op in (exact_attention.fa4_attention, exact_attention.flashinfer_attention):
            out = op(q, q, q, 128 ** -0.5)
            assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()


def test_a_bare_flash_attn_namespace_is_not_reported_as_flashattention_2(monkeypatch):
    """FA4 installs `flash_attn.cute` only: `import flash_attn` then succeeds without FA2 being there."""
    from studio import gpus

    namespace = types.ModuleType("flash_attn")
    monkeypatch.setitem(sys.modules, "flash_attn", namespace)
    assert gpus._attention_libraries()["flash_attn"] is None
