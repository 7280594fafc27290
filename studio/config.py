"""Settings of one studio process, from CLI flags over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import InvalidSetting, ModelUnavailable, StudioError


@dataclass(frozen=True)
class StudioConfig:
    """`model` is a model name, a Hugging Face id, a local folder, or "auto" (real weights if present, else tiny).

    `auth` is STUDIO_AUTH (user:password pairs), `rate_limit` STUDIO_RATE_LIMIT (jobs/seconds per user,
    see studio.access); `max_upload_bytes` bounds any upload (a preset is at most 64 KiB).
    """

    model: str = "auto"
    outputs: Path = Path("outputs")
    translator: str = "auto"
    foreign_spans: str = "translate"  # STUDIO_FOREIGN_SPANS: other languages inside a Chinese prompt: translate or keep
    memory_plan: str = "auto"
    host: str = "127.0.0.1"
    port: int = 7860
    max_queue: int = 16  # STUDIO_MAX_QUEUE: jobs one person may have waiting
    max_queue_total: int = 256  # STUDIO_MAX_QUEUE_TOTAL: jobs that may wait in all (pages and API; not CLI batches)
    gpus: int = 1  # STUDIO_GPUS / --gpus: split each video across this many GPUs (studio.parallel)
    workers: int = 0  # STUDIO_WORKERS / --workers: jobs run at once (0: one per GPU the model fits, one on CPU)
    auth: str | None = None
    rate_limit: str | None = None
    max_upload_bytes: int = 1024 * 1024
    presets_dir: Path = Path(__file__).resolve().parent.parent / "presets"
    assets_dir: Path = Path(__file__).resolve().parent.parent / "assets"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Settings that every job reads are checked at start: a bad one stops the studio with the fix, instead of
        every job failing later."""
        from .language.translators import CATALOG

        if self.translator not in ("auto", *CATALOG):
            raise InvalidSetting(
                f"translator: {_shown(self.translator)} is not a translator (STUDIO_TRANSLATOR or --translator). "
                f"Fix: choose auto or one of {', '.join(CATALOG)}."
            )
        if self.foreign_spans not in ("translate", "keep"):
            raise InvalidSetting(
                f"foreign spans: {_shown(self.foreign_spans)} is not a choice (STUDIO_FOREIGN_SPANS). "
                "Fix: choose translate (the parts of a Chinese prompt in other languages become Chinese) or keep."
            )
        if self.memory_plan != "auto":
            from .layouts import LAYOUTS, parse_layout

            try:
                parse_layout(self.memory_plan)
            except StudioError:
                raise InvalidSetting(
                    f"memory plan: {_shown(self.memory_plan)} is not a memory plan (STUDIO_MEMORY_PLAN or "
                    f"--memory-plan). Fix: choose auto or one of {', '.join(LAYOUTS)}."
                ) from None

    @classmethod
    def from_env(cls, **overrides: Any) -> "StudioConfig":
        """Environment first (STUDIO_MODEL, STUDIO_OUTPUTS, ...), then explicit overrides that are not None."""
        env = os.environ
        config = cls(
            model=env.get("STUDIO_MODEL", cls.model),
            outputs=Path(env.get("STUDIO_OUTPUTS", str(cls.outputs))),
            translator=env.get("STUDIO_TRANSLATOR", cls.translator),
            foreign_spans=env.get("STUDIO_FOREIGN_SPANS", cls.foreign_spans),
            memory_plan=env.get("STUDIO_MEMORY_PLAN", cls.memory_plan),
            max_queue=_env_int(env, "STUDIO_MAX_QUEUE", cls.max_queue, 1),
            max_queue_total=_env_int(env, "STUDIO_MAX_QUEUE_TOTAL", cls.max_queue_total, 1),
            gpus=_env_int(env, "STUDIO_GPUS", cls.gpus, 0),
            workers=_env_int(env, "STUDIO_WORKERS", cls.workers, 0),
            auth=env.get("STUDIO_AUTH") or None,
            rate_limit=env.get("STUDIO_RATE_LIMIT") or None,
        )
        return replace(config, **{k: (Path(v) if k == "outputs" else v) for k, v in overrides.items() if v is not None})

    def resolved_model(self) -> str:
        """`auto`: TI2V-5B on a Hugging Face Space (it fits ZeroGPU and downloads on first use), else the doctor's pick."""
        if self.model != "auto":
            return self.model
        if os.environ.get("SPACE_ID"):
            return "wan2.2-ti2v-5b"
        from .doctor import default_model_name

        return default_model_name()

    def resolved_translator(self, model: str) -> str:
        """The tiny video model pairs with the tiny translator; real models with Marian (English) by default."""
        if self.translator != "auto":
            return self.translator
        return "tiny" if model.startswith("tiny") else "marian"


def check_safetensors(path: Path, what: str, setting: str) -> None:
    """Weights named by a setting come only from safetensors, never pickle (which runs code when loaded).

    Only the header is read. Lives here, below the service and the speed package, so both can call it.
    """
    from safetensors import SafetensorError, safe_open

    fix = f"Fix: point {setting} at the .safetensors release of the {what}."
    if not Path(path).is_file():
        raise ModelUnavailable(f"{what} {str(path)!r} does not exist. {fix}")
    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"{what} {str(path)!r} is not a safetensors file ({str(exc).splitlines()[0][:120]}); pickle files "
            f"(.bin, .pt, .ckpt) can run code when loaded, so the studio never loads them. {fix}"
        ) from None


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _env_int(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    """A whole-number setting from the environment, with a message that names the variable."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low:
        raise InvalidSetting(f"{name}: {raw!r} is not a whole number of at least {low}. Fix: set it to one, e.g. {default}.")
    return value
