"""Our 8-bit attention, selectable like any diffusers attention backend.

Attention is ~72 % of a Wan A14B forward at 720P and cuDNN's BF16 kernel is the fastest one
installable on Hopper, so going faster needs 8-bit tensor cores (SageAttention's idea):
INT8 Q·Kᵀ with one scale per token (K smoothed by its mean over tokens), then P·V in FP8 e4m3
(or BF16, the more exact and slower variant). The Triton kernels live in `_int8_kernels`; this
module holds the numerics as plain torch (the specification the tests check the kernel against),
the launcher, a `torch.library` custom op (opaque to `torch.compile`) and the registration as
diffusers backends "studio_int8" (FP8 P·V) and "studio_int8_pv16" (BF16 P·V).

Only self-attention (queries and keys of one length, no mask) runs in 8 bits; anything else,
including the 512-token cross-attention and every CPU tensor, goes to PyTorch's exact SDPA.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .backend_registry import register

BACKENDS = {"studio_int8": True, "studio_int8_pv16": False}  # diffusers backend name -> P·V in FP8
LOG2E = 1.4426950408889634
FP8_MAX = 448.0


# ---- the numerics, in plain torch -------------------------------------------------------------


def quantize_per_token(
    x: torch.Tensor, subtract_mean: bool = False, tile: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, S, H, D] -> (INT8 [B, S, H, D], FP32 scale [B, S, H]); rounds half away from zero like the kernel.

    With `tile`, tokens share one scale per `tile` consecutive tokens (the kernel's K_TILE); it is
    still returned per token.
    """
    x = x.float()
    if subtract_mean:
        x = x - x.mean(dim=1, keepdim=True)
    scale = x.abs().amax(dim=-1, keepdim=True)
    if tile:
        n = x.shape[1]
        padded = F.pad(scale, (0, 0, 0, 0, 0, -n % tile))
        scale = padded.unflatten(1, (-1, tile)).amax(dim=2, keepdim=True).expand(-1, -1, tile, -1, -1)
        scale = scale.flatten(1, 2)[:, :n]
    scale = scale.clamp_min(1e-8) / 127.0
    scaled = x / scale
    return (scaled.sign() * (scaled.abs() + 0.5).floor()).to(torch.int8), scale.squeeze(-1)


def quantize_per_channel_fp8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[B, S, H, D] -> (FP8 e4m3 of V minus its token mean, FP32 scale and mean [B, 1, H, D]).

    One scale per (head, channel); subtracting the mean shrinks what FP8 must represent, and the
    attention adds it back exactly because every row of softmax weights sums to one.
    """
    mean = v.float().mean(dim=1, keepdim=True)
    centred = v.float() - mean
    scale = centred.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / FP8_MAX
    return (centred / scale).to(torch.float8_e4m3fn), scale, mean


def reference_int8_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pv_fp8: bool = True, scale: float | None = None,
    k_tile: int | None = 128,
) -> torch.Tensor:
    """What the kernel computes, materialising the whole score matrix (small sizes only); [B, S, H, D] layout.

    `k_tile`: K's scale is shared by that many keys (the kernel's K_TILE), None: one per key.
    """
    scale = scale if scale is not None else query.shape[-1] ** -0.5
    q8, q_scale = quantize_per_token(query)
    k8, k_scale = quantize_per_token(key, subtract_mean=True, tile=k_tile)
    scores = torch.einsum("bqhd,bkhd->bhqk", q8.float(), k8.float())
    scores = scores * q_scale.permute(0, 2, 1)[..., None] * k_scale.permute(0, 2, 1)[:, :, None, :] * scale
    p = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    total = p.sum(dim=-1).permute(0, 2, 1)[..., None]  # [B, Q, H, 1]
    if pv_fp8:
        v8, v_scale, v_mean = quantize_per_channel_fp8(value)
        p = (p * FP8_MAX).to(torch.float8_e4m3fn).float() / FP8_MAX
        out = torch.einsum("bhqk,bkhd->bqhd", p, v8.float()) * v_scale / total + v_mean
    else:
        out = torch.einsum("bhqk,bkhd->bqhd", p.to(value.dtype).float(), value.float()) / total
    return out.to(query.dtype)


def exact_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None = None):
    """PyTorch SDPA in the [B, S, H, D] layout diffusers uses (cuDNN on Hopper, math on CPU)."""
    out = F.scaled_dot_product_attention(*(x.transpose(1, 2) for x in (query, key, value)), scale=scale)
    return out.transpose(1, 2)


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖ / ‖ref‖ in float64."""
    out, ref = out.double(), ref.double()
    return float((out - ref).norm() / ref.norm())


# ---- the Triton launcher ----------------------------------------------------------------------


def _padded(n: int, pad: int) -> int:
    return -(-n // pad) * pad


def int8_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pv_fp8: bool = True, scale: float | None = None,
    config: dict | None = None,
) -> torch.Tensor:
    """Run the Triton kernels on [B, S, H, D] tensors; `config` pins block sizes (else autotuned per shape)
    and may set the numerics switches of `_int8_kernels.VARIANT`."""
    from . import _int8_kernels as kern

    batch, n_q, heads, dim = query.shape
    n_k = key.shape[1]
    if dim not in (16, 32, 64, 128) or key.shape != value.shape or key.shape[0] != batch or key.shape[2:] != (heads, dim):
        raise ValueError(f"int8 attention needs head dim 16/32/64/128 and matching K/V, got {query.shape}, {key.shape}")
    scale = scale if scale is not None else dim**-0.5
    q_pad, k_pad, bh = _padded(n_q, kern.PAD), _padded(n_k, kern.PAD), batch * heads
    dev = query.device
    q8 = torch.empty(bh, q_pad, dim, dtype=torch.int8, device=dev)
    q_scale = torch.empty(bh, q_pad, dtype=torch.float32, device=dev)
    k8 = torch.empty(bh, k_pad, dim, dtype=torch.int8, device=dev)
    config = config or {}
    variant = {k: config.get(k, default) for k, default in kern.VARIANT.items()}
    k_rows = kern.PAD if variant["K_TILE"] else kern.QUANT_BLOCK
    k_scale = torch.empty(bh, k_pad // k_rows if variant["K_TILE"] else k_pad, dtype=torch.float32, device=dev)
    k_mean = key.mean(dim=1, dtype=torch.float32).reshape(bh, dim)
    rows = kern.QUANT_BLOCK
    kern.quantize_rows_kernel[(q_pad // rows, bh)](
        query, k_mean, q8, q_scale, n_q, q_pad, heads, *query.stride()[:3], scale * LOG2E,
        D=dim, BLOCK=rows, SUBTRACT_MEAN=False, PER_TILE=False,
    )
    kern.quantize_rows_kernel[(k_pad // k_rows, bh)](
        key, k_mean, k8, k_scale, n_k, k_pad, heads, *key.stride()[:3], 1.0, D=dim, BLOCK=k_rows,
        SUBTRACT_MEAN=True, PER_TILE=variant["K_TILE"],
    )
    if pv_fp8:
        v_mean = value.mean(dim=1, dtype=torch.float32)
        low, high = torch.aminmax(value, dim=1)  # the centred max without materialising V - mean
        v_scale = (torch.maximum(high.float() - v_mean, v_mean - low.float()) / FP8_MAX).clamp_min(1e-8)
        v_mean, v_scale = v_mean.reshape(bh, dim), v_scale.reshape(bh, dim)
        v_arg = torch.empty(bh, dim, k_pad, dtype=torch.float8_e4m3fn, device=dev)
        kern.quantize_v_kernel[(k_pad // rows, bh)](
            value, v_mean, v_scale, v_arg, n_k, k_pad, heads, *value.stride()[:3], D=dim, BLOCK=rows,
        )
    else:
        v_scale = v_mean = k_scale  # unused by the BF16 path
        v_arg = value
    out = torch.empty(batch, n_q, heads, dim, dtype=query.dtype, device=dev)
    args = (
        q8, q_scale, k8, k_scale, v_arg, v_scale, v_mean, out, n_q, n_k, q_pad, k_pad, heads,
        *value.stride()[:3], *out.stride()[:3],
    )
    if "BLOCK_M" not in config:
        tuned = kern.tuned_fp8_kernel if pv_fp8 else kern.tuned_pv16_kernel
        tuned[lambda meta: (q_pad // meta["BLOCK_M"], bh)](*args, D=dim, PV_FP8=pv_fp8, **variant)
    else:
        blocks = {k: v for k, v in config.items() if k in ("BLOCK_M", "BLOCK_N")}
        launch = {k: v for k, v in config.items() if k in LAUNCH_OPTIONS}
        kern.attention_kernel[(q_pad // blocks["BLOCK_M"], bh)](
            *args, D=dim, PV_FP8=pv_fp8, **blocks, **launch, **variant,
        )
    return out


def tuned_config(pv_fp8: bool = True) -> dict | None:
    """The block sizes the autotuner picked for the last shape it tuned (None before the first run)."""
    from . import _int8_kernels as kern

    best = (kern.tuned_fp8_kernel if pv_fp8 else kern.tuned_pv16_kernel).best_config
    return None if best is None else config_dict(best)


LAUNCH_OPTIONS = ("num_warps", "num_stages", "maxnreg")


def config_dict(config) -> dict:
    """A `triton.Config` as the plain dict `int8_attention(config=...)` takes (block sizes, launch options)."""
    options = {k: getattr(config, k, None) for k in LAUNCH_OPTIONS}
    return {**config.kwargs, **{k: v for k, v in options.items() if v is not None}}


@torch.library.custom_op("studio::int8_attention", mutates_args=())
def int8_attention_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, pv_fp8: bool, scale: float) -> torch.Tensor:
    """The kernel as one opaque op, so regional `torch.compile` keeps it whole instead of tracing Triton launches."""
    return int8_attention(query, key, value, pv_fp8=pv_fp8, scale=scale)


@int8_attention_op.register_fake
def _(query, key, value, pv_fp8, scale):
    return torch.empty_like(query, memory_format=torch.contiguous_format)


# ---- diffusers registration -------------------------------------------------------------------


def supports(query: torch.Tensor, key: torch.Tensor, attn_mask, is_causal: bool, dropout_p: float) -> bool:
    """8 bits only where it pays and is checked: CUDA self-attention, no mask, head dim 64 or 128."""
    return (
        query.is_cuda and attn_mask is None and not is_causal and not dropout_p
        and query.shape[1] == key.shape[1] and query.shape[-1] in (64, 128)
    )


def register_backends() -> list[str]:
    """Make "studio_int8" and "studio_int8_pv16" valid for `model.set_attention_backend` (idempotent)."""
    for name, pv_fp8 in BACKENDS.items():
        register(name, supports, lambda q, k, v, scale, p=pv_fp8: int8_attention_op(q, k, v, p, scale))
    return list(BACKENDS)


def attention_flops(tokens: int, heads: int = 40, head_dim: int = 128, batch: int = 1) -> float:
    """4·S²·D per head: the two matrix products of one self-attention."""
    return 4.0 * tokens * tokens * head_dim * heads * batch


def structured_inputs(
    batch: int, tokens: int, heads: int, dim: int, *, device=None, dtype=torch.bfloat16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q, K, V shaped like a video DiT's: shared positional structure (peaky, local attention),
    a large per-channel offset in K (what smoothing removes), outlier channels and a mean in V."""
    device = torch.device(device or "cpu")
    gen = torch.Generator(device=device).manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=gen, device=device)

    pos = torch.linspace(0, 1, tokens, device=device)[:, None]
    freqs = draw(1, dim // 2) * 40
    basis = torch.cat([torch.sin(pos * freqs), torch.cos(pos * freqs)], dim=-1)  # [S, D]: nearby tokens alike
    mix_q, mix_k = draw(heads, dim, dim) / math.sqrt(dim), draw(heads, dim, dim) / math.sqrt(dim)
    q = torch.einsum("sd,hde->she", basis, mix_q) * 3 + 0.3 * draw(tokens, heads, dim)
    k = torch.einsum("sd,hde->she", basis, mix_k) * 3 + 0.3 * draw(tokens, heads, dim) + 4 * draw(1, heads, dim)
    outliers = torch.ones(dim, device=device)
    outliers[torch.randperm(dim, generator=gen, device=device)[: max(1, dim // 32)]] = 8.0
    v = (draw(tokens, heads, dim) + 2 * basis[:, None, :] + draw(1, heads, dim)) * outliers
    return tuple(x.to(dtype).expand(batch, -1, -1, -1).contiguous() for x in (q, k, v))
