"""The studio's own attention kernels as diffusers backends (valid for `model.set_attention_backend`).

diffusers keys its backend registry by an Enum, so a name is added as an Enum member first. Each kernel takes
only the calls it was measured on; any other call (a mask, causal, another head dim, a CPU tensor) goes to SDPA.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Supports = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", bool, float], bool]
Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]  # q, k, v [B, S, H, D], scale


def register(name: str, supports: Supports, kernel: Kernel) -> None:
    """Register `kernel` under `name` (idempotent)."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    member = _enum_member(AttentionBackendName, name.upper(), name)
    if member not in _AttentionBackendRegistry._backends:
        _AttentionBackendRegistry.register(member)(_with_sdpa_fallback(supports, kernel))


def _with_sdpa_fallback(supports: Supports, kernel: Kernel):
    def attention(
        query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
        dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
        _parallel_config=None,
    ) -> torch.Tensor:
        if not supports(query, key, attn_mask, is_causal, dropout_p):
            out = F.scaled_dot_product_attention(
                *(x.transpose(1, 2) for x in (query, key, value)), attn_mask=attn_mask, dropout_p=dropout_p,
                is_causal=is_causal, scale=scale,
            )
            return out.transpose(1, 2)
        return kernel(query, key, value, scale if scale is not None else query.shape[-1] ** -0.5)

    return attention


def _enum_member(enum_cls, name: str, value: str):
    existing = enum_cls._value2member_map_.get(value)
    if existing is not None:
        return existing
    member = str.__new__(enum_cls, value)
    member._name_, member._value_ = name, value
    member.__objclass__ = enum_cls
    enum_cls._member_map_[name] = member
    enum_cls._value2member_map_[value] = member
    enum_cls._member_names_.append(name)
    return member
