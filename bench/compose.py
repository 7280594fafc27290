"""From measured parts to the figures a user gets: composing a 40-step run from a shortened one.

One 10-minute command cannot run 40 steps at 720P (a stock step is 25 s), so the bench times a
3-step schedule (two high-noise steps and one low-noise step at shift 12: warm-up, steady, and
the expert switch) plus the fixed costs, and this module adds them up for the real schedule:

    total = text + first-step extra + n_high * steady + n_low * steady + switch extra + decode + MP4

Every figure in the result file carries, under `methods`, how it was obtained.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

REQUIRED_KEYS = (
    "card", "torch", "diffusers", "quality_720p_s", "quality_720p_peak_gb", "quality_480p_s", "fast_720p_s",
    "speedup_vs_stock_per_step", "first_preview_s", "exact_8bit_attention_720p_s", "turbo_720p_s",
)
FIGURES = REQUIRED_KEYS[3:]


def expert_split(steps: int = 40, flow_shift: float = 12.0, boundary_ratio: float = 0.875) -> tuple[int, int]:
    """(high-noise steps, low-noise steps) that WanPipeline runs with UniPC at this shift (26, 14 for the defaults)."""
    from studio.speed.turbo import split_steps

    high, low = split_steps(None, boundary_ratio, steps, flow_shift)
    return high, low


@dataclass(frozen=True)
class ShortRun:
    """A measured 3-step run: step 1 warms up (or compiles, or loads), step 2 is steady, step 3 switches expert."""

    step_seconds: tuple[float, ...]
    text_s: float
    decode_s: float

    @property
    def steady_s(self) -> float:
        return self.step_seconds[1]

    @property
    def first_extra_s(self) -> float:
        """What the first step costs beyond a steady one (weights moved in, compile, cuDNN plans)."""
        return self.step_seconds[0] - self.steady_s

    @property
    def switch_extra_s(self) -> float:
        """What the first low-noise step costs beyond a steady one (the expert switch)."""
        return self.step_seconds[2] - self.steady_s if len(self.step_seconds) > 2 else 0.0


def compose(run: ShortRun, encode_s: float, steps: int = 40, include_first_extra: bool = True) -> float:
    """The 40-step (or `steps`) end-to-end seconds of a job shaped like `run`."""
    high, low = expert_split(steps)
    extra = (run.first_extra_s if include_first_extra else 0.0) + (run.switch_extra_s if low else 0.0)
    return run.text_s + (high + low) * run.steady_s + extra + run.decode_s + encode_s


def per_step_speedup(stock_steady_s: float, ours_steady_s: float) -> float:
    return stock_steady_s / ours_steady_s


def card_slug(card: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "h100-80gb-hbm3" (file names stay short and portable)."""
    return re.sub(r"[^a-z0-9]+", "-", card.lower().replace("nvidia", "")).strip("-")


def validate(result: dict[str, Any]) -> None:
    """Every required key present; every figure (even a missing one, as null) explained under `methods`."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"result lacks {', '.join(missing)}")
    unexplained = [key for key in FIGURES if not result.get("methods", {}).get(key)]
    if unexplained:
        raise ValueError(f"no method given for {', '.join(unexplained)}")
    for key in FIGURES:
        value = result[key]
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{key} must be a non-negative number or null, got {value!r}")


def write(result: dict[str, Any], folder: Path, day: date | None = None) -> Path:
    """bench/results/<date>-<card>.json, validated first."""
    validate(result)
    path = Path(folder) / f"{(day or date.today()).isoformat()}-{card_slug(result['card'])}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
