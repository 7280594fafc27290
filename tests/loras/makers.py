"""LoRA files written in code for the tiny transformers, in each key layout the library reads."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from studio.loras.files import BLOCK_NAMES, TOP_NAMES

_ORIGINAL = {v: k for k, v in {**BLOCK_NAMES, **TOP_NAMES}.items()}


def original_name(module: str) -> str:
    """diffusers' module name -> the original Wan code's (blocks.0.attn1.to_q -> blocks.0.self_attn.q)."""
    if module.startswith("blocks."):
        _, index, inner = module.split(".", 2)
        return f"blocks.{index}.{_ORIGINAL[inner]}"
    return _ORIGINAL[module]


def factors(model: torch.nn.Module, rank: int = 4, seed: int = 0, scale: float = 0.1,
            only_blocks: bool = True) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Random (A [r, in], B [out, r]) for the model's block linears (or every linear)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and (name.startswith("blocks.") or not only_blocks):
            out[name] = (torch.randn(rank, module.in_features, generator=gen) * scale,
                         torch.randn(module.out_features, rank, generator=gen) * scale)
    return out


def state(pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], layout: str = "diffusers", alpha: float | None = None,
          prefix: str = "") -> dict[str, torch.Tensor]:
    """A state dict in `layout` (diffusers, kohya, wan); `alpha` adds alpha keys (scale alpha / rank)."""
    out = {}
    for name, (down, up) in pairs.items():
        if layout == "diffusers":
            base, a, b = f"{prefix or 'transformer.'}{name}", ".lora_A.weight", ".lora_B.weight"
        elif layout == "kohya":
            base, a, b = prefix + "lora_unet_" + original_name(name).replace(".", "_"), ".lora_down.weight", ".lora_up.weight"
        else:
            base, a, b = f"{prefix}diffusion_model.{original_name(name)}", ".lora_A.weight", ".lora_B.weight"
        out[base + a], out[base + b] = down.contiguous(), up.contiguous()
        if alpha is not None:
            out[base + ".alpha"] = torch.tensor(float(alpha))
    return out


def write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path
