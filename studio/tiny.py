"""The `tiny` models: the real Wan2.2 classes at toy sizes with fixed-seed random weights.

They let the whole studio run (tests, CI, a laptop without a GPU) through exactly the code that
serves the real weights. Nothing is downloaded: the tokenizer is trained in code.
"""

from __future__ import annotations

import functools

import torch
from typing import Any

from diffusers import (
    AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel,
)
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

_WORDS = (
    "a an the of in on at over under through with and while from into beside near far above "
    "cat dog bird crane dolphin panda whale fox horse robot knight samurai chef child children "
    "woman man girl boy dancer lantern city street forest river lake mountain sea ocean sky "
    "cloud clouds snow rain fire fireworks flower flowers butterfly tree bamboo temple bridge "
    "night day morning sunset sunrise dawn dusk fog mist light lights neon shadow shadows "
    "walking running flying dancing sleeping swimming jumping taking off rising falling "
    "slow motion close up wide shot aerial drone camera pan tilt zoom tracking dolly "
    "cinematic film anime watercolour ink painting clay render photo realistic detailed "
    "red orange yellow green blue purple white black golden silver warm cold soft hard "
    "4k 8k hdr 35mm 50mm f/1.8 timelapse ultra high quality"
)
# Common Han characters, so Chinese prompts tokenize into more than <unk>.
_HAN = (
    "一只猫在窗台上睡觉狗鸟鹤海豚熊猫鲸狐马机器人骑士武士厨师孩子们女人男舞者灯笼城市街道森林"
    "河湖山海天空云雪雨火烟花朵蝴蝶树竹寺庙桥夜白日早晨日落出黎明黄昏雾光霓虹影走跑飞跳舞睡游"
    "慢动作特写广角航拍镜头推拉摇移电影动画水彩墨画粘土渲染照片真实细节红橙黄绿蓝紫黑金银暖冷"
    "软硬的了和与是有这个那上下左右里外大小高低远近前后风古老新未来赛博朋克超现实主义的在中"
)
_SPECIALS = ["<pad>", "</s>", "<unk>"]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A Unigram tokenizer over a fixed vocabulary: T5-style ids (pad 0, eos 1, unk 2).

    The vocabulary is listed, not trained, so every process gets the same ids (the trainer's
    tie-breaking differs between runs): whole words first, then single characters as fallback.
    """
    words = sorted(set(_WORDS.split()))
    chars = sorted(set("".join(words)) | set(_HAN) | set("0123456789.,:;!?'\"-/()"))
    vocab = [(token, 0.0) for token in _SPECIALS]
    vocab += [("\u2581" + word, -2.0) for word in words]
    vocab += [("\u2581", -3.0)] + [(char, -5.0) for char in chars]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


def _seeded(seed: int):
    """Build under a fixed seed without disturbing the caller's random state."""
    rng = torch.random.fork_rng(devices=[])
    rng.__enter__()
    torch.manual_seed(seed)
    return rng


def _text_encoder(vocab_size: int) -> UMT5EncoderModel:
    config = UMT5Config(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32, pad_token_id=0, eos_token_id=1,
    )
    return UMT5EncoderModel(config).eval()


def transformer_config(channels: int, in_channels: int | None = None) -> dict:
    """The tiny experts' WanTransformer3DModel arguments (also what LoRA files are checked against); `in_channels`
    differs from `channels` for image-to-video (the latent, the mask and the start image's latent concatenated)."""
    # Head dim 16: CUDA's fused attention kernels (cuDNN, flash, memory-efficient) need a multiple of 8, and a GPU
    # machine without real weights runs this model (with 12, every job failed there: first 2-GPU run).
    return dict(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=in_channels or channels,
        out_channels=channels, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=1024,
    )


def _transformer(channels: int, in_channels: int | None = None) -> WanTransformer3DModel:
    return WanTransformer3DModel(**transformer_config(channels, in_channels)).eval()


def _vae(wan22: bool) -> AutoencoderKLWan:
    if not wan22:
        return AutoencoderKLWan(
            base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
        ).eval()
    # Wan2.2 VAE layout: 48 latent channels, pixel patchify 2 (stride 16 in space), residual blocks.
    return AutoencoderKLWan(
        base_dim=12, decoder_base_dim=12, z_dim=48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
        patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
        latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
    ).eval()


VARIANTS = ("tiny", "tiny-5b", "tiny-i2v")


def build_tiny_pipeline(
    variant: str = "tiny", flow_shift: float = 12.0, shared: dict[str, Any] | None = None
) -> WanPipeline | WanImageToVideoPipeline:
    """`tiny` mirrors T2V-A14B (two experts, boundary 0.875); `tiny-5b` mirrors TI2V-5B (one expert, 48ch VAE);
    `tiny-i2v` mirrors I2V-A14B (two experts taking 16 noise + 4 mask + 16 image-latent channels, boundary 0.9,
    no image encoder). Every variant builds its text encoder and VAE first under the same seed, so `tiny` and
    `tiny-i2v` have identical ones, as the real A14B pair does; `shared` hands in already loaded ones."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown tiny variant {variant!r}; use one of {', '.join(VARIANTS)}")
    wan22, i2v = variant == "tiny-5b", variant == "tiny-i2v"
    tokenizer = tiny_tokenizer()
    rng = _seeded(0)
    try:
        vae = _vae(wan22)
        text_encoder = _text_encoder(len(tokenizer))
        in_channels = 16 + 4 + 16 if i2v else None
        transformer = _transformer(48 if wan22 else 16, in_channels)
        transformer_2 = None if wan22 else _transformer(16, in_channels)
    finally:
        rng.__exit__(None, None, None)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift)
    parts = {"tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae, **(shared or {})}
    if i2v:
        return WanImageToVideoPipeline(
            **parts, scheduler=scheduler, transformer=transformer, transformer_2=transformer_2, boundary_ratio=0.9,
        )
    return WanPipeline(
        **parts, scheduler=scheduler, transformer=transformer,
        transformer_2=transformer_2, boundary_ratio=None if wan22 else 0.875, expand_timesteps=wan22,
    )
