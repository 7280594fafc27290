"""Triton kernels of the 8-bit attention (imported lazily: only where Triton is installed).

SageAttention-style: Q and K as INT8 with one scale per token (K smoothed by subtracting its mean
over tokens, which leaves the softmax unchanged), Q·Kᵀ on the INT8 tensor cores with INT32
accumulation, online softmax in FP32 (exp2, the 1/sqrt(d)·log2(e) factor folded into Q's scale),
then P·V either in FP8 e4m3 (P scaled by 448, V minus its token mean with one scale per channel,
the accumulator promoted to full FP32 every PROMOTE keys because Hopper's FP8 MMA accumulates with
a short mantissa) or in BF16. Tensors are padded to a multiple of 128 tokens so only the last key block is masked.
"""

from __future__ import annotations

import triton
import triton.language as tl

PAD = 128  # tokens are padded to a multiple of this (>= every BLOCK_M / BLOCK_N used)
_PAD = tl.constexpr(PAD)  # the same, as kernels read it


@triton.jit
def _round_to_int8(x):
    return tl.where(x >= 0, x + 0.5, x - 0.5).to(tl.int8)


@triton.jit
def _token_tile(x_ptr, mean_ptr, n_tokens, heads, stride_b, stride_s, stride_h,
                D: tl.constexpr, BLOCK: tl.constexpr, SUBTRACT_MEAN: tl.constexpr):
    """This program's BLOCK tokens x D channels of one (batch, head) of a [B, S, H, D] tensor, in FP32,
    minus the per-channel token mean when asked; padding rows are zero. Returns (tile, rows, cols, b*H+h)."""
    block, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // heads, bh % heads
    rows = block * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, D)
    valid = rows < n_tokens
    x = tl.load(
        x_ptr + b * stride_b + h * stride_h + rows[:, None] * stride_s + cols[None, :], mask=valid[:, None], other=0.0
    ).to(tl.float32)
    if SUBTRACT_MEAN:
        x = tl.where(valid[:, None], x - tl.load(mean_ptr + bh * D + cols)[None, :], 0.0)
    return x, rows, cols, bh


@triton.jit
def quantize_rows_kernel(
    x_ptr, mean_ptr, out_ptr, scale_ptr, n_tokens, n_padded, heads,
    stride_b, stride_s, stride_h, extra_scale,
    D: tl.constexpr, BLOCK: tl.constexpr, SUBTRACT_MEAN: tl.constexpr, PER_TILE: tl.constexpr,
):
    """[B, S, H, D] (any strides) -> INT8 [B*H, S_pad, D] with one FP32 scale (times extra_scale) per token,
    or with PER_TILE one per BLOCK tokens (scales [B*H, S_pad // BLOCK])."""
    x, rows, cols, bh = _token_tile(x_ptr, mean_ptr, n_tokens, heads, stride_b, stride_s, stride_h, D, BLOCK,
                                    SUBTRACT_MEAN)
    if PER_TILE:
        scale = tl.maximum(tl.max(tl.max(tl.abs(x), axis=1), axis=0), 1e-8) / 127.0
        q = _round_to_int8(x / scale)
        tl.store(scale_ptr + bh * (n_padded // BLOCK) + tl.program_id(0), scale * extra_scale)
    else:
        scale = tl.maximum(tl.max(tl.abs(x), axis=1), 1e-8) / 127.0
        q = _round_to_int8(x / scale[:, None])
        tl.store(scale_ptr + bh * n_padded + rows, scale * extra_scale)
    tl.store(out_ptr + bh * n_padded * D + rows[:, None] * D + cols[None, :], q)


@triton.jit
def quantize_v_kernel(
    v_ptr, mean_ptr, scale_ptr, out_ptr, n_tokens, n_padded, heads, stride_b, stride_s, stride_h,
    D: tl.constexpr, BLOCK: tl.constexpr,
):
    """[B, S, H, D] minus its mean over tokens -> FP8 e4m3 Vᵀ [B*H, D, S_pad] (tokens contiguous: the
    K-major layout FP8 MMA wants). The attention adds the mean back, since each row of P sums to one."""
    x, rows, cols, bh = _token_tile(v_ptr, mean_ptr, n_tokens, heads, stride_b, stride_s, stride_h, D, BLOCK, True)
    x = x / tl.load(scale_ptr + bh * D + cols)[None, :]
    tl.store(out_ptr + bh * D * n_padded + cols[None, :] * n_padded + rows[:, None], x.to(tl.float8e4nv))


LOG2_FP8_MAX = tl.constexpr(8.807354922057604)  # log2(448): the largest FP8 e4m3 value


@triton.jit
def _attend_block(
    acc, m_i, l_i, q, q_scale, k_ptrs, k_scale_ptrs, v_ptrs, start, n_keys,
    BLOCK_N: tl.constexpr, PV_FP8: tl.constexpr, MASK: tl.constexpr, PROMOTE: tl.constexpr, K_TILE: tl.constexpr,
):
    keys = start + tl.arange(0, BLOCK_N)
    k = tl.load(k_ptrs)
    s = tl.dot(q, tl.trans(k)).to(tl.float32)
    if K_TILE:
        # One K scale for the whole block: it joins Q's in one factor per row, no multiply per score.
        row_scale = q_scale * tl.load(k_scale_ptrs)
    else:
        s = s * tl.load(k_scale_ptrs)[None, :]
        row_scale = q_scale
    if MASK:
        s = tl.where(keys[None, :] < n_keys, s, float("-inf"))
    # Scores still without the row's scale; it enters through one FMA per score (row_scale > 0 keeps the max).
    m_block = tl.max(s, axis=1) * row_scale
    m_new = tl.maximum(m_i, m_block)
    alpha = tl.math.exp2(m_i - m_new)
    m_i = m_new
    # P scaled by 448 inside exp2: the full e4m3 range at no extra multiply (it cancels in acc / l).
    shift = m_i - LOG2_FP8_MAX if PV_FP8 else m_i
    p = tl.math.exp2(s * row_scale[:, None] - shift[:, None])
    l_i = l_i * alpha + tl.sum(p, axis=1)
    if PV_FP8:
        p8 = p.to(tl.float8e4nv)
        v = tl.load(v_ptrs)  # [D, BLOCK_N] fp8
        # Hopper's FP8 MMA accumulates with a short mantissa; adding into the FP32 accumulator every
        # PROMOTE keys keeps the error from growing with the sequence length (0: never). Once a block is
        # done here, not by Triton: its promotion reads the accumulator mid-MMA, which makes ptxas
        # serialise every MMA of the kernel.
        if PROMOTE >= BLOCK_N:
            acc = acc * alpha[:, None] + tl.dot(p8, tl.trans(v))
        elif PROMOTE > 0:
            acc = tl.dot(p8, tl.trans(v), acc * alpha[:, None], max_num_imprecise_acc=PROMOTE)
        else:
            acc = tl.dot(p8, tl.trans(v), acc * alpha[:, None])
    else:
        if MASK:
            v = tl.load(v_ptrs, mask=keys[:, None] < n_keys, other=0.0)
        else:
            v = tl.load(v_ptrs)  # [BLOCK_N, D] bf16
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
    return acc, m_i, l_i


@triton.jit
def attention_kernel(
    q_ptr, q_scale_ptr, k_ptr, k_scale_ptr, v_ptr, v_scale_ptr, v_mean_ptr, o_ptr,
    n_queries, n_keys, q_padded, k_padded, heads,
    stride_vb, stride_vs, stride_vh, stride_ob, stride_os, stride_oh,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PV_FP8: tl.constexpr,
    PROMOTE: tl.constexpr, WARP_SPECIALIZE: tl.constexpr, K_TILE: tl.constexpr,
):
    """One program: BLOCK_M queries of one (batch, head) against every key, online softmax.

    K_TILE: K has one scale per 128 (PAD) keys, else one per key."""
    block, bh = tl.program_id(0), tl.program_id(1)
    b, h = bh // heads, bh % heads
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, D)
    keys = tl.arange(0, BLOCK_N)
    q = tl.load(q_ptr + bh * q_padded * D + rows[:, None] * D + cols[None, :])
    q_scale = tl.load(q_scale_ptr + bh * q_padded + rows)
    k_base = k_ptr + bh * k_padded * D + keys[:, None] * D + cols[None, :]
    if K_TILE:
        k_scale_base = k_scale_ptr + bh * (k_padded // _PAD)
    else:
        k_scale_base = k_scale_ptr + bh * k_padded + keys
    if PV_FP8:
        v_base = v_ptr + bh * D * k_padded + cols[:, None] * k_padded + keys[None, :]
        step_v = 1
    else:
        v_base = v_ptr + b * stride_vb + h * stride_vh + keys[:, None] * stride_vs + cols[None, :]
        step_v = stride_vs
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    full = n_keys - n_keys % BLOCK_N
    for start in tl.range(0, full, BLOCK_N, warp_specialize=WARP_SPECIALIZE):
        acc, m_i, l_i = _attend_block(
            acc, m_i, l_i, q, q_scale, k_base + start * D, _scale_ptrs(k_scale_base, start, K_TILE),
            v_base + start * step_v, start, n_keys, BLOCK_N, PV_FP8, False, PROMOTE, K_TILE,
        )
    if full < n_keys:
        acc, m_i, l_i = _attend_block(
            acc, m_i, l_i, q, q_scale, k_base + full * D, _scale_ptrs(k_scale_base, full, K_TILE),
            v_base + full * step_v, full, n_keys, BLOCK_N, PV_FP8, True, PROMOTE, K_TILE,
        )
    out = acc / l_i[:, None]
    if PV_FP8:
        out = out * tl.load(v_scale_ptr + bh * D + cols)[None, :] + tl.load(v_mean_ptr + bh * D + cols)[None, :]
    o_ptrs = o_ptr + b * stride_ob + h * stride_oh + rows[:, None] * stride_os + cols[None, :]
    tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=rows[:, None] < n_queries)


@triton.jit
def _scale_ptrs(base, start, K_TILE: tl.constexpr):
    """Where the K scales of the block starting at key `start` are: one (K_TILE) or one per key."""
    if K_TILE:
        return base + start // _PAD
    return base + start


QUANT_BLOCK = 64


def _configs(shapes):
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=st) for m, n, w, st in shapes]


# Candidates for Hopper at head dim 128, from the H100 sweeps (bench/results): FP8 P·V is fastest
# at 64x128 with 4 warps and 3 stages (4 stages: 40 % slower in the fourth session's sweep, dropped);
# BF16 P·V spills registers with 4 warps, so only 8 are tried. The autotuner times them once per
# sequence length (reported as setup time).
FP8_CONFIGS = _configs(((64, 128, 4, 3), (128, 128, 8, 3)))
PV16_CONFIGS = _configs(((128, 64, 8, 3), (128, 128, 8, 3)))
# The numerics switches, fixed rather than tuned (each changes the error, not only the speed), as the
# H100 sweeps chose them (BENCHMARKS.md): FP8 P·V promoted into FP32 once a block (never promoting
# is 7 % faster but 5.4 % off on structured inputs); one K scale per 128 keys (K_TILE: 12 % faster
# than one per key, 0.859 % against 0.858 % off on structured inputs at 720P); Triton's warp
# specialisation was slower here. Also slower, and removed after their sweeps: INT32 scores converted
# through a magic number, exp2 on the FMA units (commit 7a173c5 has both), lazy rescaling, row sums
# of P on the tensor cores, and QK of the next block issued before the softmax (FlashAttention-3's
# order, as far as Triton 3.6 follows it).
VARIANT = dict(PROMOTE=128, WARP_SPECIALIZE=False, K_TILE=True)
_KEY = ["n_keys", "heads", "D", "PV_FP8", *VARIANT]
tuned_fp8_kernel = triton.autotune(configs=FP8_CONFIGS, key=_KEY)(attention_kernel)
tuned_pv16_kernel = triton.autotune(configs=PV16_CONFIGS, key=_KEY)(attention_kernel)
