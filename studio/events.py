"""Typed events a job emits, in order: Queued*, Started, (Progress | Preview | Notice)*, then Done | Cancelled | Failed.

UI, CLI and API consume the same stream; nothing here knows how it will be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Phase = Literal["language", "load", "text", "denoise", "decode", "encode"]


@dataclass(frozen=True)
class Event:
    job_id: str


@dataclass(frozen=True)
class Queued(Event):
    """The job waits for a worker; `place` says where it stands ("3rd in line, starts in about 31 min")."""

    place: str
    ahead: int = 0


@dataclass(frozen=True)
class Started(Event):
    request: dict[str, Any]
    prompt: dict[str, Any]
    plan: str


@dataclass(frozen=True)
class Progress(Event):
    phase: Phase
    step: int = 0
    total: int = 0
    elapsed: float = 0.0
    eta: float | None = None

    @property
    def fraction(self) -> float:
        """Progress of the denoising loop, bounded to 0..1."""
        return min(1.0, max(0.0, self.step / self.total)) if self.total else 0.0

    def describe(self) -> str:
        eta = f", about {_clock(self.eta)} left" if self.eta is not None else ""
        if self.phase == "decode" and self.total and self.step < self.total:
            return f"decoding the video: frame {self.step} of {self.total}{eta}"
        if self.phase != "denoise":
            return {
                "language": "preparing the prompt", "load": "loading the model", "text": "encoding the prompt",
                "decode": "decoding the video", "encode": "writing the MP4",
            }[self.phase]
        return f"step {self.step}/{self.total} ({_clock(self.elapsed)} elapsed{eta})"


@dataclass(frozen=True)
class Preview(Event):
    step: int
    total: int
    frames: np.ndarray = field(repr=False)  # uint8 [n, h, w, 3]
    seconds: float = 0.0  # what making this preview cost


@dataclass(frozen=True)
class Notice(Event):
    message: str
    source: str = "studio"  # "language" notices are already on screen in the language panel; "speed" ones inform


@dataclass(frozen=True)
class Done(Event):
    output: str
    thumbnail: str
    sidecar: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class Cancelled(Event):
    step: int
    message: str = "cancelled"


@dataclass(frozen=True)
class Failed(Event):
    kind: str
    message: str


def _clock(seconds: float | None) -> str:
    seconds = max(0, round(seconds or 0))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


TERMINAL = (Done, Cancelled, Failed)
