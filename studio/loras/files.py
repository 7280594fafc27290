"""One LoRA file: what its header says (layout, rank, targets, metadata) and its factors, checked.

Only safetensors is read (pickle runs code when loaded). The three key layouts artists meet are
understood and mapped onto diffusers' module names of `WanTransformer3DModel`:
diffusers (`transformer.blocks.0.attn1.to_q.lora_A.weight`), Kohya/ComfyUI
(`lora_unet_blocks_0_self_attn_q.lora_down.weight` + `.alpha`) and the original Wan code's
(`diffusion_model.blocks.0.self_attn.q.lora_A.weight`, `.alpha`). Keys under `transformer_2.`
are the low-noise expert's. Reading the header costs microseconds; the tensors are read only when
a job applies the file (`load_factors`), where NaN and Inf are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidRequest

MAX_BYTES = 4 * 2**30  # a rank-128 LoRA of both A14B experts is about 2.4 GB in BF16

# Original Wan module names (inside a block) -> diffusers' names.
BLOCK_NAMES = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0", "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0", "cross_attn.k_img": "attn2.add_k_proj",
    "cross_attn.v_img": "attn2.add_v_proj", "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
}
TOP_NAMES = {
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj", "head.head": "proj_out",
}
_DOTTED = {**BLOCK_NAMES, **{v: v for v in BLOCK_NAMES.values()}}
_DOTTED_TOP = {**TOP_NAMES, **{v: v for v in TOP_NAMES.values()}}
_FLAT = {k.replace(".", "_"): v for k, v in _DOTTED.items()}
_FLAT_TOP = {k.replace(".", "_"): v for k, v in _DOTTED_TOP.items()}
_SUFFIXES = {".lora_A.weight": "A", ".lora_B.weight": "B", ".lora_down.weight": "A", ".lora_up.weight": "B",
             ".alpha": "alpha"}
_PREFIXES = ("base_model.model.", "model.", "diffusion_model.", "transformer.")
# Key fragments of image models' LoRAs (Stable Diffusion 1.x/2.x/XL, SD3, Flux, PixArt...).
_IMAGE_MARKS = ("lora_te", "down_blocks", "up_blocks", "input_blocks", "output_blocks", "mid_block", "middle_block",
                "double_blocks", "single_blocks", "transformer_blocks", "joint_blocks")
# Model width (the attention projections' size) -> the Wan model of that width.
WIDTHS = {5120: "Wan2.1-14B / Wan2.2-A14B", 3072: "Wan2.2-TI2V-5B", 1536: "Wan2.1-1.3B",
          32: "the studio's tiny test model"}


class BadLora(InvalidRequest):
    """A LoRA file that cannot be used: the message names the file, what is wrong and the fix."""

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        super().__init__("lora", Path(path).name, f"{problem}. Fix: {fix}")


@dataclass(frozen=True)
class Target:
    """One linear a file changes: where its factors are, their shapes, its alpha key (None: scale 1)."""

    a_key: str
    b_key: str
    alpha_key: str | None
    rank: int
    in_features: int
    out_features: int


@dataclass(frozen=True)
class LoraFile:
    """What a LoRA file's header says. `targets[slot][module]`: slot "any" (every expert it is given to) or
    "low" (keys under `transformer_2.`: the low-noise expert's own)."""

    path: Path
    size: int
    layout: str
    rank: int
    targets: dict[str, dict[str, Target]]
    ignored: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def trigger_words(self) -> list[str]:
        return trigger_words(self.metadata)

    @property
    def base_model(self) -> str | None:
        meta = self.metadata
        return meta.get("modelspec.architecture") or meta.get("ss_base_model_version") or meta.get("ss_sd_model_name")

    def widths(self) -> set[int]:
        """The in-features of the self-attention projections: the model's width."""
        return {t.in_features for slot in self.targets.values() for m, t in slot.items() if m.endswith("attn1.to_q")}


def inspect(path: Path | str) -> LoraFile:
    """Read a LoRA file's header; refuses what is not a usable LoRA for a Wan transformer, naming why."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise BadLora(path, "only .safetensors LoRAs are loaded (pickle files such as .ckpt, .pt or .bin can run "
                      "code when loaded)", "use the .safetensors release of this LoRA, or convert it")
    try:
        size = path.stat().st_size
    except OSError:
        raise BadLora(path, "the file does not exist", "check the LoRA folder (`python -m studio loras`)") from None
    if size > MAX_BYTES:
        raise BadLora(path, f"it is {size / 2**30:.1f} GB, more than the {MAX_BYTES / 2**30:.0f} GB a LoRA may be",
                      "use a LoRA of lower rank (a full checkpoint is not a LoRA)")
    try:
        with safe_open(str(path), framework="pt") as weights:
            shapes = {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}
            metadata = dict(weights.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:120]
        raise BadLora(path, f"it is not a readable safetensors file ({reason}); it may be truncated or another "
                      "format", "download it again") from None
    return _parse(path, size, shapes, metadata)


def _parse(path: Path, size: int, shapes: dict[str, tuple], metadata: dict[str, str]) -> LoraFile:
    parts: dict[tuple[str, str], dict[str, str]] = {}
    ignored, layouts = [], set()
    for key in shapes:
        found = _split(key)
        if found is None:
            ignored.append(key)
            continue
        slot, module, part, layout = found
        parts.setdefault((slot, module), {})[part] = key
        layouts.add(layout)
    targets: dict[str, dict[str, Target]] = {}
    for (slot, module), keys in parts.items():
        if "A" not in keys or "B" not in keys:
            ignored.extend(keys.values())
            continue
        a, b = shapes[keys["A"]], shapes[keys["B"]]
        if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
            raise BadLora(path, f"{keys['A']} {list(a)} and {keys['B']} {list(b)} are not the two factors of one LoRA "
                          "(their ranks differ)", "download the file again or choose another")
        targets.setdefault(slot, {})[module] = Target(keys["A"], keys["B"], keys.get("alpha"), a[0], a[1], b[0])
    if not targets:
        guess = _looks_like(list(shapes), shapes)
        raise BadLora(path, f"none of its {len(shapes)} keys is a LoRA factor of a Wan transformer (first: "
                      f"{next(iter(shapes), 'none')!r}){guess}", "choose a LoRA made for Wan2.1/Wan2.2")
    rank = max(t.rank for slot in targets.values() for t in slot.values())
    layout = "+".join(sorted(layouts))
    return LoraFile(path, size, layout, rank, targets, tuple(sorted(ignored)), metadata)


def _split(key: str) -> tuple[str, str, str, str] | None:
    """(slot, diffusers module name, "A"/"B"/"alpha", layout) of one key, or None when it maps to nothing."""
    suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
    if suffix is None:
        return None
    name, part = key[: -len(suffix)], _SUFFIXES[suffix]
    slot = "any"
    if name.startswith("transformer_2."):
        slot, name = "low", name[len("transformer_2."):]
    if name.startswith("lora_unet_"):
        return _named(slot, name[len("lora_unet_"):], part, "kohya", "_", _FLAT, _FLAT_TOP)
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix):], True
    layout = "wan" if any(f".{orig}" in f".{name}" for orig in ("self_attn.", "cross_attn.", "ffn.0", "ffn.2")) else "diffusers"
    return _named(slot, name, part, layout, ".", _DOTTED, _DOTTED_TOP)


def _named(slot, name, part, layout, sep, block_names, top_names):
    match = re.fullmatch(rf"blocks{re.escape(sep)}(\d+){re.escape(sep)}(.+)", name)
    if match:
        inner = block_names.get(match.group(2))
        return (slot, f"blocks.{match.group(1)}.{inner}", part, layout) if inner else None
    top = top_names.get(name)
    return (slot, top, part, layout) if top else None


def _looks_like(keys: list[str], shapes: dict[str, tuple]) -> str:
    """What a file that fits nothing seems to be for, as a clause for the error message."""
    text = " ".join(keys[:200])
    if any(mark in text for mark in _IMAGE_MARKS):
        mark = next(mark for mark in _IMAGE_MARKS if mark in text)
        return f"; its keys ({mark!r}...) are those of an image model (Stable Diffusion, SDXL, SD3 or Flux), not a video model"
    widths = {dim for shape in shapes.values() for dim in shape if dim in WIDTHS and dim > 32}
    if widths:
        width = max(widths)
        return f"; its tensors are {width} wide, as in {describe_width(width)}, but named in a layout the studio does not know"
    return ""


def describe_width(width: int) -> str:
    return WIDTHS.get(width, f"a model {width} wide")


def check_fits(lora: LoraFile, linears: dict[str, tuple[int, int]], model: str) -> None:
    """Refuse a file whose targets are missing from, or shaped unlike, the transformer's linears
    ({name: (in, out)}), saying which model the file looks made for."""
    own_width = linears.get("blocks.0.attn1.to_q", (0, 0))[0]
    layers = 1 + max((int(n.split(".")[1]) for n in linears if n.startswith("blocks.")), default=-1)
    for slot in lora.targets.values():
        for module, target in slot.items():
            shape = linears.get(module)
            if shape == (target.in_features, target.out_features):
                continue
            widths = lora.widths()
            guess = describe_width(next(iter(widths))) if widths else "another model"
            if shape is None:
                file_layers = 1 + max((int(m.split(".")[1]) for s in lora.targets.values() for m in s
                                       if m.startswith("blocks.")), default=-1)
                problem = (f"it changes {module!r}, which {model} does not have ({layers} blocks here, "
                           f"{file_layers} in the file)" if file_layers > layers else
                           f"it changes {module!r}, which {model} does not have (an image-to-video layer?)")
            else:
                problem = (f"its {module!r} is {target.in_features}x{target.out_features}, the model's is "
                           f"{shape[0]}x{shape[1]} ({model} is {own_width} wide)")
            raise BadLora(lora.path, f"{problem}: it looks like a LoRA for {guess}, not {model}",
                          f"choose a LoRA made for {model} (Wan2.1-14B LoRAs fit Wan2.2-A14B)")


def load_factors(lora: LoraFile) -> dict[str, dict[str, tuple[torch.Tensor, torch.Tensor, float]]]:
    """{slot: {module: (A [r, in], B [out, r], alpha / rank)}} in the file's dtype; NaN or Inf anywhere is refused."""
    from safetensors import safe_open

    factors: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor, float]]] = {}
    with safe_open(str(lora.path), framework="pt") as weights:
        for slot, targets in lora.targets.items():
            for module, target in targets.items():
                down, up = weights.get_tensor(target.a_key), weights.get_tensor(target.b_key)
                scale = 1.0
                if target.alpha_key is not None:
                    scale = float(weights.get_tensor(target.alpha_key).float().reshape(-1)[0]) / target.rank
                if not (torch.isfinite(down).all() and torch.isfinite(up).all()) or not torch.isfinite(torch.tensor(scale)):
                    raise BadLora(lora.path, f"its weights for {module!r} hold NaN or Inf values (a broken training "
                                  "run or download)", "download it again or choose another LoRA")
                factors.setdefault(slot, {})[module] = (down, up, scale)
    return factors


def trigger_words(metadata: dict[str, str], limit: int = 8) -> list[str]:
    """Trigger words from a file's metadata: modelspec's trigger phrase, else Kohya's most frequent tags."""
    phrase = metadata.get("modelspec.trigger_phrase") or metadata.get("trigger_words") or metadata.get("ss_trigger_words")
    if phrase:
        return [w.strip() for w in re.split(r"[,\n]", phrase) if w.strip()][:limit]
    try:
        frequencies: dict[str, Any] = json.loads(metadata.get("ss_tag_frequency") or "{}")
    except ValueError:
        return []
    counts: dict[str, int] = {}
    for tags in frequencies.values() if isinstance(frequencies, dict) else ():
        if isinstance(tags, dict):
            for tag, count in tags.items():
                if isinstance(count, int):
                    counts[tag.strip()] = counts.get(tag.strip(), 0) + count
    return [tag for tag, _ in sorted(counts.items(), key=lambda item: -item[1]) if tag][:limit]
