"""Wan2.2 T2V-A14B's components at full size (or tiny) with random weights, built directly on the device.

Default init of 14B parameters on a CPU takes many minutes; building under a device and dtype
context initialises on the GPU in seconds. Configs are the published ones (DESIGN.md); the text
encoder is a full-size UMT5-XXL encoder fed by the in-code tiny tokenizer (token ids do not
change its cost: every prompt is padded to 512 tokens).
"""

from __future__ import annotations

import contextlib

import torch

TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
)
TINY_TRANSFORMER = dict(
    TRANSFORMER, num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32, num_layers=2,
)
UMT5_XXL = dict(
    d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
    relative_attention_max_distance=128, feed_forward_proj="gated-gelu", vocab_size=256384,
    pad_token_id=0, eos_token_id=1,
)
SIZES = {"720p": (1280, 720), "480p": (832, 480)}


@contextlib.contextmanager
def _building(device: torch.device, dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def transformer(device: torch.device, *, tiny: bool = False, dtype=torch.bfloat16):
    from diffusers import WanTransformer3DModel

    with _building(device, dtype):
        return WanTransformer3DModel(**(TINY_TRANSFORMER if tiny else TRANSFORMER)).eval()


def text_encoder(device: torch.device, *, tiny: bool = False, dtype=torch.bfloat16):
    from transformers import UMT5Config, UMT5EncoderModel

    if tiny:
        from studio.tiny import _text_encoder, tiny_tokenizer

        return _text_encoder(len(tiny_tokenizer())).to(device)
    with _building(device, dtype):
        return UMT5EncoderModel(UMT5Config(**UMT5_XXL)).eval()


def vae(device: torch.device, *, tiny: bool = False):
    """The Wan2.1 VAE (AutoencoderKLWan defaults: base_dim 96, z_dim 16) in float32, as the studio loads it."""
    from diffusers import AutoencoderKLWan

    if tiny:
        from studio.tiny import _vae

        return _vae(wan22=False).to(device)
    with _building(device, torch.float32):
        return AutoencoderKLWan().eval()


def pipeline(device: torch.device, *, tiny: bool = False, flow_shift: float = 12.0, shared_expert: bool = False):
    """A WanPipeline with two experts (boundary 0.875), every part on `device`.

    `shared_expert` uses one module for both experts: the same compute per step at half the memory,
    so everything fits resident at 720P (swap costs are then not part of the measurement).
    """
    from diffusers import UniPCMultistepScheduler, WanPipeline

    from studio.tiny import tiny_tokenizer

    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift)
    high = transformer(device, tiny=tiny)
    pipe = WanPipeline(
        tokenizer=tiny_tokenizer(), text_encoder=text_encoder(device, tiny=tiny), vae=vae(device, tiny=tiny),
        scheduler=scheduler, transformer=high, transformer_2=high if shared_expert else transformer(device, tiny=tiny),
        boundary_ratio=0.875,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latent_shape(width: int, height: int, frames: int = 81) -> tuple[int, int, int, int, int]:
    """[1, 16, T, H, W] for the Wan2.1 VAE (stride 4 in time, 8 in space)."""
    return (1, 16, (frames - 1) // 4 + 1, height // 8, width // 8)


def tokens(width: int, height: int, frames: int = 81) -> int:
    """Sequence length of one forward: latent frames x (H/16) x (W/16) with patch 1x2x2 (75,600 at 720P)."""
    _, _, t, h, w = latent_shape(width, height, frames)
    return t * (h // 2) * (w // 2)
