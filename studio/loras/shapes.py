"""The linear layers of each model's transformer, {name: (in, out)}: what a LoRA file must fit.

Built on the meta device from the architecture's arguments (no weights, a tenth of a second for A14B),
so a request is checked before any model loads; a job checks again against the loaded modules.
"""

from __future__ import annotations

import functools

import torch

from ..tiny import transformer_config

_WAN = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=1024)
CONFIGS = {
    "wan2.2-t2v-a14b": dict(_WAN, num_attention_heads=40, in_channels=16, out_channels=16, ffn_dim=13824, num_layers=40),
    "wan2.2-ti2v-5b": dict(_WAN, num_attention_heads=24, in_channels=48, out_channels=48, ffn_dim=14336, num_layers=30),
    "tiny": transformer_config(16),
    "tiny-5b": transformer_config(48),
}


def module_linears(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    return {name: (m.in_features, m.out_features) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


@functools.lru_cache(maxsize=None)
def model_linears(model: str) -> dict[str, tuple[int, int]] | None:
    """The linears of a named model's experts, or None for a model this table does not know."""
    from diffusers import WanTransformer3DModel

    config = CONFIGS.get(model)
    if config is None:
        return None
    with torch.device("meta"):
        return module_linears(WanTransformer3DModel(**config))
