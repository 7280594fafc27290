"""Settings of one studio process, from CLI flags over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StudioConfig:
    """`model` is a model name, a Hugging Face id, a local folder, or "auto" (real weights if present, else tiny)."""

    model: str = "auto"
    outputs: Path = Path("outputs")
    translator: str = "auto"
    memory_plan: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    max_queue: int = 16
    gpus: int = 1  # STUDIO_GPUS / --gpus: split each video across this many GPUs (studio.parallel)
    auth: str | None = None
    presets_dir: Path = Path(__file__).resolve().parent.parent / "presets"
    assets_dir: Path = Path(__file__).resolve().parent.parent / "assets"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> "StudioConfig":
        """Environment first (STUDIO_MODEL, STUDIO_OUTPUTS, ...), then explicit overrides that are not None."""
        env = os.environ
        config = cls(
            model=env.get("STUDIO_MODEL", cls.model),
            outputs=Path(env.get("STUDIO_OUTPUTS", str(cls.outputs))),
            translator=env.get("STUDIO_TRANSLATOR", cls.translator),
            memory_plan=env.get("STUDIO_MEMORY_PLAN", cls.memory_plan),
            max_queue=int(env.get("STUDIO_MAX_QUEUE", cls.max_queue)),
            gpus=int(env.get("STUDIO_GPUS", cls.gpus)),
            auth=env.get("STUDIO_AUTH") or None,
        )
        return replace(config, **{k: (Path(v) if k == "outputs" else v) for k, v in overrides.items() if v is not None})

    def resolved_model(self) -> str:
        if self.model != "auto":
            return self.model
        from .models import default_model_name

        return default_model_name()

    def resolved_translator(self, model: str) -> str:
        """The tiny video model pairs with the tiny translator; real models with Marian (English) by default."""
        if self.translator != "auto":
            return self.translator
        return "tiny" if model.startswith("tiny") else "marian"
