"""What each Wan2.2 model is (its official defaults and limits) and how to load it.

One `ModelSpec` per model carries the facts that requests are validated against; `load_pipeline`
turns a model name, a Hugging Face model id or a local folder into a diffusers `WanPipeline`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelUnavailable

# The official Wan2.2 negative prompt (from the reference implementation's shared config).
OFFICIAL_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)

A14B_SIZES = ((1280, 720), (720, 1280), (832, 480), (480, 832))
TI2V_SIZES = ((1280, 704), (704, 1280))


@dataclass(frozen=True)
class ModelSpec:
    """Facts about one model: where it comes from, its official defaults and what it accepts."""

    name: str
    title: str
    repo_id: str | None
    latent_channels: int
    official_sizes: tuple[tuple[int, int], ...]
    size_multiple: int
    max_frames: int
    fps: int
    steps: int
    guidance_scale: float
    guidance_scale_2: float | None
    flow_shift: float
    boundary_ratio: float | None
    default_size: tuple[int, int]
    default_frames: int
    min_side: int = 256
    max_side: int = 1280
    max_pixels: int = 1280 * 720
    tiny: bool = False
    negative_prompt: str = OFFICIAL_NEGATIVE_PROMPT
    notes: tuple[str, ...] = field(default_factory=tuple)
    image: str = "none"  # a start image: "none" (text only), "optional" (TI2V) or "required" (I2V)
    partner: str | None = None  # the model of the same family for the other mode (T2V <-> I2V)
    encoders: str = ""  # models with the same value load identical text encoder and VAE weights (shared on a switch)

    @property
    def two_experts(self) -> bool:
        return self.boundary_ratio is not None

    def for_image(self, with_image: bool) -> str:
        """The model of this family that runs a shot with (or without) a start image."""
        fits = self.image != "none" if with_image else self.image != "required"
        if fits or self.partner is None:
            return self.name
        return self.partner


_A14B = dict(
    latent_channels=16, official_sizes=A14B_SIZES, size_multiple=16, max_frames=81, fps=16, steps=40,
    guidance_scale=4.0, guidance_scale_2=3.0, flow_shift=12.0, boundary_ratio=0.875,
)
# Wan2.2 I2V-A14B: the T2V-A14B layout with the start image's latents and a mask concatenated to the input
# (36 channels in), no image encoder; the official config switches experts at 0.900, shift 5.0, guidance 3.5/3.5.
_I2V = {**_A14B, "guidance_scale": 3.5, "guidance_scale_2": 3.5, "flow_shift": 5.0, "boundary_ratio": 0.9,
        "image": "required"}
_TI2V = dict(
    latent_channels=48, official_sizes=TI2V_SIZES, size_multiple=32, max_frames=121, fps=24, steps=50,
    guidance_scale=5.0, guidance_scale_2=None, flow_shift=5.0, boundary_ratio=None, max_pixels=1280 * 704,
    image="optional",
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="wan2.2-t2v-a14b", title="Wan2.2 T2V A14B (two 14B experts)",
            repo_id="Wan-AI/Wan2.2-T2V-A14B-Diffusers", default_size=(1280, 720), default_frames=81, **_A14B,
            partner="wan2.2-i2v-a14b", encoders="umt5-xxl+wan2.1-vae",
        ),
        ModelSpec(
            name="wan2.2-i2v-a14b", title="Wan2.2 I2V A14B (image to video, two 14B experts)",
            repo_id="Wan-AI/Wan2.2-I2V-A14B-Diffusers", default_size=(1280, 720), default_frames=81, **_I2V,
            partner="wan2.2-t2v-a14b", encoders="umt5-xxl+wan2.1-vae",
        ),
        ModelSpec(
            name="wan2.2-ti2v-5b", title="Wan2.2 TI2V 5B (fits a 24 GB card)",
            repo_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers", default_size=(1280, 704), default_frames=121, **_TI2V,
            encoders="umt5-xxl+wan2.2-vae",
        ),
        ModelSpec(
            name="tiny", title="tiny (A14B layout, random weights: for tests and demos)", repo_id=None,
            default_size=(832, 480), default_frames=9, tiny=True, **{**_A14B, "steps": 4},
            partner="tiny-i2v", encoders="tiny",
        ),
        ModelSpec(
            name="tiny-i2v", title="tiny-i2v (I2V-A14B layout, random weights: image to video)", repo_id=None,
            default_size=(832, 480), default_frames=9, tiny=True, **{**_I2V, "steps": 4},
            partner="tiny", encoders="tiny",
        ),
        ModelSpec(
            name="tiny-5b", title="tiny-5b (TI2V-5B layout, random weights)", repo_id=None,
            default_size=(1280, 704), default_frames=9, tiny=True, **{**_TI2V, "steps": 4},
        ),
    )
}
ALIASES = {
    "a14b": "wan2.2-t2v-a14b", "t2v-a14b": "wan2.2-t2v-a14b", "Wan-AI/Wan2.2-T2V-A14B-Diffusers": "wan2.2-t2v-a14b",
    "i2v-a14b": "wan2.2-i2v-a14b", "Wan-AI/Wan2.2-I2V-A14B-Diffusers": "wan2.2-i2v-a14b",
    "5b": "wan2.2-ti2v-5b", "ti2v-5b": "wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers": "wan2.2-ti2v-5b",
}


def resolve_model(name_or_path: str) -> tuple[ModelSpec, str | None]:
    """Map a model name, alias, model id or local folder to (spec, where to load from).

    The second item is None for the in-code tiny models, a local folder or a Hugging Face id otherwise.
    """
    key = ALIASES.get(name_or_path, name_or_path)
    if key in MODELS:
        spec = MODELS[key]
        return spec, spec.repo_id
    path = Path(name_or_path).expanduser()
    looks_like_path = path.is_absolute() or name_or_path.startswith((".", "~")) or path.exists()
    if looks_like_path:
        return spec_for_folder(path), str(path)
    names = ", ".join(sorted(MODELS))
    raise ModelUnavailable(
        f"model {name_or_path!r} is neither a known model ({names}) nor an existing folder. "
        "Fix: pass one of those names or the path of a downloaded Diffusers folder."
    )


def spec_for_folder(path: Path) -> ModelSpec:
    """Read a Diffusers folder's model_index.json to tell A14B from TI2V-5B, with clear errors."""
    index = path / "model_index.json"
    if not path.is_dir():
        raise ModelUnavailable(
            f"model folder {str(path)!r} does not exist. Fix: download the weights there, e.g. "
            f"`hf download Wan-AI/Wan2.2-T2V-A14B-Diffusers --local-dir {path}`, or pass --model tiny."
        )
    if not index.is_file():
        raise ModelUnavailable(
            f"model folder {str(path)!r} has no model_index.json, so it is not a Diffusers pipeline folder. "
            "Fix: point --model at the folder that holds model_index.json (the *-Diffusers repositories)."
        )
    try:
        config = json.loads(index.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("top level is not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelUnavailable(
            f"{index} is not valid JSON ({exc}). Fix: download the model again; the file is damaged."
        ) from None
    if config.get("_class_name") not in ("WanPipeline", "WanImageToVideoPipeline", None):
        raise ModelUnavailable(
            f"{index} describes a {config.get('_class_name')}, not a WanPipeline or WanImageToVideoPipeline. "
            "Fix: use a Wan2.2 Diffusers folder (T2V-A14B, I2V-A14B or TI2V-5B)."
        )
    _refuse_pickle_only(path)
    if config.get("_class_name") == "WanImageToVideoPipeline" and not config.get("expand_timesteps"):
        return MODELS["wan2.2-i2v-a14b"]
    if config.get("expand_timesteps"):
        return MODELS["wan2.2-ti2v-5b"]
    if config.get("transformer_2") and config.get("transformer_2")[0] is not None:
        return MODELS["wan2.2-t2v-a14b"]
    raise ModelUnavailable(
        f"{index} has neither two experts nor expand_timesteps, so it is not Wan2.2 T2V-A14B or TI2V-5B. "
        "Fix: use Wan-AI/Wan2.2-T2V-A14B-Diffusers or Wan-AI/Wan2.2-TI2V-5B-Diffusers."
    )


def _refuse_pickle_only(path: Path) -> None:
    """Weights load from safetensors only: pickle files can run code when loaded."""
    for part in ("transformer", "text_encoder", "vae"):
        folder = path / part
        if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
            raise ModelUnavailable(
                f"{folder} holds only .bin (pickle) weights; the studio loads safetensors only, because pickle "
                "files can run code. Fix: download the *-Diffusers repository, which ships safetensors."
            )


def is_cached(repo_id: str, filename: str = "model_index.json") -> bool:
    """Whether a model id's pipeline index (or another of its files) is in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str)


SHARED_PARTS = ("tokenizer", "text_encoder", "vae")


def load_pipeline(name_or_path: str, *, dtype=None, shared: dict[str, Any] | None = None):
    """Build a WanPipeline (WanImageToVideoPipeline for I2V-A14B) on the CPU; memory plans move it to the GPU
    afterwards. `shared`: the tokenizer, text encoder and VAE of a loaded model with the same `encoders`,
    used as they are instead of loading them again (a T2V <-> I2V switch loads only the experts).

    Real weights load with `from_pretrained` (safetensors only, never pickle); the transformer and
    text encoder in bf16, the VAE in float32 as the Wan authors recommend.
    """
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline

    spec, source = resolve_model(name_or_path)
    shared = dict(shared or {})
    if spec.tiny and source is None:
        from .tiny import build_tiny_pipeline

        return spec, build_tiny_pipeline(spec.name, flow_shift=spec.flow_shift, shared=shared)
    dtype = dtype or torch.bfloat16
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    pipeline_class = WanImageToVideoPipeline if spec.image == "required" else WanPipeline
    try:
        if "vae" not in shared:
            shared["vae"] = AutoencoderKLWan.from_pretrained(
                source, subfolder="vae", torch_dtype=torch.float32, use_safetensors=True, local_files_only=offline
            )
        pipe = pipeline_class.from_pretrained(
            source, **shared, torch_dtype=dtype, use_safetensors=True, local_files_only=offline
        )
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        where = source if Path(source).exists() else f"{source} (Hugging Face cache: {_hf_cache()})"
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(
            f"could not load {spec.title} from {where}: {reason}. Fix: download it with "
            f"`hf download {spec.repo_id}` (or `--local-dir DIR` and pass --model DIR), or use --model tiny."
        ) from None
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=spec.flow_shift)
    return spec, pipe


def _hf_cache() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return HF_HUB_CACHE

