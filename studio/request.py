"""`GenerationRequest`: the validated settings of one job.

UI, CLI and API all build one through `GenerationRequest.create`, which fills the model's official
defaults and checks every value against what the model accepts. A bad value raises
`InvalidRequest` naming the field, the value and what is allowed, so no job starts on input the
pipeline would reject (or silently "round" as diffusers does).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidRequest
from .images import FITS
from .models import ModelSpec
from .speed.attention import CHOICES as ATTENTION_CHOICES

Mode = Literal["quality", "turbo", "fast"]
MODES = ("quality", "turbo", "fast")
ATTENTION = ("default", *ATTENTION_CHOICES)
MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**32 - 1
MAX_LORAS = 16
LORA_STRENGTH = (-4.0, 4.0)

# Invisible characters that change how text displays or reads but carry no meaning for the model:
# bidi embeddings/overrides/isolates and zero-width characters.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean_text(text: str) -> str:
    """Drop control and invisible formatting characters and collapse runs of spaces."""
    text = _INVISIBLE.sub("", text)
    text = "".join(ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def cleaning_notice(raw: object, cleaned: str) -> str | None:
    """Say so when cleaning removed more than surrounding whitespace: adjustments are announced, never silent."""
    if not isinstance(raw, str) or re.sub(r"\s+", " ", raw).strip() == re.sub(r"\s+", " ", cleaned).strip():
        return None
    removed = len(_INVISIBLE.findall(raw)) + sum(1 for ch in raw if unicodedata.category(ch) == "Cc" and ch not in "\n\t")
    return f"removed {removed} invisible or control character(s) from the prompt" if removed else None


def _has_words(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def frames_for_seconds(seconds: float, fps: int, max_frames: int) -> int:
    """The nearest valid 4k+1 frame count for a duration, within 5..max_frames."""
    k = round((seconds * fps - 1) / 4)
    return max(5, min(max_frames, 4 * k + 1))


@dataclass(frozen=True)
class GenerationRequest:
    """Everything needed to reproduce a video; `seed` is always concrete."""

    prompt: str
    model: str
    width: int
    height: int
    frames: int
    steps: int
    guidance_scale: float
    guidance_scale_2: float | None
    flow_shift: float
    seed: int
    fps: int
    negative_prompt: str | None = None
    translate: bool = True
    model_prompt: str | None = None
    preset: str | None = None
    mode: Mode = "quality"
    memory_plan: str = "auto"
    attention: str = "default"  # "default": the studio's STUDIO_ATTENTION; else a speed.attention choice
    loras: tuple[tuple[str, float, float | None], ...] = ()  # (library name, strength, low-noise strength or None)
    image: str | None = None  # the start image (image-to-video): a user's file until Studio.request stores it
    image_fit: str = "crop"  # how the image meets the video's size: crop or pad (studio.images)
    image_sha256: str | None = None  # set once stored: the stored copy's hash, checked when the job runs

    @classmethod
    def create(cls, spec: ModelSpec, prompt: Any, **values: Any) -> "GenerationRequest":
        """Fill the model's defaults for missing (None) values and validate everything."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InvalidRequest(unknown[0], values[unknown[0]], f"known settings are {', '.join(_FIELD_NAMES)}")
        given = {k: v for k, v in values.items() if v is not None}
        width, height = given.pop("width", None), given.pop("height", None)
        if (width is None) != (height is None):
            raise InvalidRequest("width" if width is None else "height", None, "give width and height together")
        if width is None:
            width, height = spec.default_size
        fps = _integer("fps", given.pop("fps", spec.fps), 4, 60)
        request = cls(
            prompt=_prompt("prompt", prompt, required=True),
            model=spec.name,
            width=_integer("width", width, 1, 100_000),
            height=_integer("height", height, 1, 100_000),
            frames=_integer("frames", given.pop("frames", spec.default_frames), -(10**9), 10**9),
            steps=_integer("steps", given.pop("steps", spec.steps), 1, 100),
            guidance_scale=_number("guidance_scale", given.pop("guidance_scale", spec.guidance_scale), 0.0, 20.0),
            guidance_scale_2=_guidance_2(spec, given.pop("guidance_scale_2", spec.guidance_scale_2)),
            flow_shift=_number("flow_shift", given.pop("flow_shift", spec.flow_shift), 0.1, 30.0),
            seed=_seed(given.pop("seed", None)),
            fps=fps,
            negative_prompt=_prompt("negative_prompt", given.pop("negative_prompt", None), required=False),
            translate=_boolean("translate", given.pop("translate", True)),
            model_prompt=_prompt("model_prompt", given.pop("model_prompt", None), required=False),
            preset=_preset_name(given.pop("preset", None)),
            mode=_choice("mode", given.pop("mode", "quality"), MODES),
            memory_plan=str(given.pop("memory_plan", "auto")),
            attention=_choice("attention", given.pop("attention", "default"), ATTENTION),
            loras=parse_loras(given.pop("loras", ())),
            image=_image(spec, given.pop("image", None)),
            image_fit=_choice("image_fit", given.pop("image_fit", "crop"), FITS),
            image_sha256=_sha256(given.pop("image_sha256", None)),
        )
        _check_size(spec, request.width, request.height)
        _check_frames(spec, request.frames)
        return request

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_seed(self, seed: int) -> "GenerationRequest":
        """The same job with another seed (variations)."""
        return dataclasses.replace(self, seed=_seed(seed))

    @classmethod
    def from_dict(cls, spec: ModelSpec, data: dict[str, Any]) -> "GenerationRequest":
        """Re-validate a stored request (history re-run, API) against the model's current rules."""
        values = {k: v for k, v in data.items() if k in _FIELD_NAMES and k not in ("prompt", "model")}
        return cls.create(spec, data.get("prompt"), **values)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(GenerationRequest))


def check_length(field: str, value: str) -> None:
    """The bound on every prompt-like text, wherever it enters (generate, the language panel, the API): at most
    MAX_PROMPT_CHARS once cleaned, and twice that as sent, so no edge ever cleans or translates megabytes."""
    if len(value) > MAX_PROMPT_CHARS * 2 or len(clean_text(value)) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            field, f"<{len(value):,} characters>",
            f"at most {MAX_PROMPT_CHARS:,} characters (the text encoder reads 512 tokens); shorten it",
        )


def _prompt(field: str, value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(field, _shown(value), "it must be text")
    check_length(field, value)
    text = clean_text(value)
    if not text:
        if not required:
            return None
        raise InvalidRequest(field, value, "describe what the video should show (it is empty)")
    if required and not _has_words(text):
        raise InvalidRequest(field, value, "it has no words, only symbols or emoji; describe the scene in words")
    return text


def _shown(value: Any) -> Any:
    """A value as an error message may quote it: a 5000-digit number or text is named by its size (Python
    refuses to print an int of more than 4300 digits), a dict or list by its type."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<a number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits>"
    if isinstance(value, str) and len(value) > 80:
        return f"<{len(value):,} characters: {value[:20]}…>"
    if isinstance(value, (dict, list, tuple, set)):
        return f"<{type(value).__name__}>"
    return value


def _integer(field: str, value: Any, low: int, high: int) -> int:
    given = value
    if isinstance(value, bool):
        raise InvalidRequest(field, value, f"it must be a whole number from {low} to {high}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidRequest(field, _shown(value), f"it must be a whole number from {low} to {high}") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidRequest(field, _shown(given), f"it must be a whole number from {low} to {high}")
        value = int(value)
    if not isinstance(value, int):
        raise InvalidRequest(field, _shown(given), f"it must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise InvalidRequest(field, _shown(given), f"use a whole number from {low} to {high}")
    return value


def _number(field: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidRequest(field, _shown(value), f"use a number from {low:g} to {high:g}")
    return number


def _guidance_2(spec: ModelSpec, value: Any) -> float | None:
    if not spec.two_experts:
        if value is not None:
            raise InvalidRequest(
                "guidance_scale_2", value, f"{spec.name} has one expert; leave it out and set guidance_scale"
            )
        return None
    return _number("guidance_scale_2", value, 0.0, 20.0)


def _seed(value: Any) -> int:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "random", "-1")) or value == -1:
        return secrets.randbelow(2**31)
    return _integer("seed", value, 0, MAX_SEED)


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequest(field, _shown(value), "use true or false")
    return value


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise InvalidRequest(field, _shown(value), f"choose one of {', '.join(choices)}")
    return value


def _image(spec: ModelSpec, value: Any) -> str | None:
    """A start image only for a model that takes one; one that needs one gets one."""
    if value is None or value == "":
        if spec.image == "required":
            other = f"; for text-to-video use {spec.partner}" if spec.partner else ""
            raise InvalidRequest("image", None, f"{spec.name} makes video from a start image: give one (--image FILE, or "
                                 f"the page's Scenes tab and its /scene API){other}")
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidRequest("image", _shown(value), "give the path of an image file")
    if spec.image == "none":
        takes = spec.partner or "wan2.2-ti2v-5b"
        raise InvalidRequest("image", str(value), f"{spec.name} makes video from text only; for image-to-video "
                             f"use {takes} (--model {takes})")
    return str(value)


def _sha256(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidRequest("image_sha256", _shown(value), "a sha256 is 64 hex digits")
    return value


def _preset_name(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,47}", value):
        raise InvalidRequest("preset", _shown(value), "preset names use a-z, 0-9, '-' and '_' (see `python -m studio presets`)")
    return value


def parse_loras(value: Any) -> tuple[tuple[str, float, float | None], ...]:
    """LoRAs as the CLI, a batch cell, the API or a stored request give them: "NAME[:STRENGTH[:STRENGTH_LOW]]"
    strings (several separated by commas or semicolons), [name, strength, strength_low] lists or
    {"name", "strength", "strength_low"} objects. Strength 1.0 unless given; strength_low None: the same."""
    if value is None or value == "":
        return ()
    items = [p for p in re.split(r"[,;\n]", value) if p.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise InvalidRequest("loras", _shown(value), 'give a list such as ["name:0.8", "other:1.0:0.5"]')
    if len(items) > MAX_LORAS:
        raise InvalidRequest("loras", f"<{len(items)} LoRAs>", f"use at most {MAX_LORAS} LoRAs in one job")
    loras, seen = [], set()
    for item in items:
        name, strength, low = _lora_item(item)
        if name.casefold() in seen:
            raise InvalidRequest("loras", name, "it is listed twice; give it once (separate strengths for the high- "
                                 "and low-noise experts: NAME:HIGH:LOW)")
        seen.add(name.casefold())
        loras.append((name, strength, low))
    return tuple(loras)


def _lora_item(item: Any) -> tuple[str, float, float | None]:
    low_bound, high_bound = LORA_STRENGTH
    if isinstance(item, str):
        item = item.strip().split(":")
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"name", "strength", "strength_low"})
        if unknown:
            raise InvalidRequest("loras", unknown[0], "a LoRA is {\"name\", \"strength\", \"strength_low\"}")
        item = [item.get("name"), item.get("strength", 1.0), item.get("strength_low")]
    if not isinstance(item, (list, tuple)) or not 1 <= len(item) <= 3:
        raise InvalidRequest("loras", _shown(item), "each LoRA is NAME[:STRENGTH[:STRENGTH_LOW]]")
    name = item[0].strip() if isinstance(item[0], str) else item[0]
    if not isinstance(name, str) or not name or len(name) > 128 or any(c in name for c in "/\\:\0"):
        raise InvalidRequest("loras", _shown(name), "name a LoRA of the library (`python -m studio loras`)")
    given = item[1] if len(item) > 1 and item[1] not in (None, "") else 1.0
    strength = _number(f"loras[{name}].strength", given, low_bound, high_bound)
    low = item[2] if len(item) > 2 else None
    low = None if low in (None, "") else _number(f"loras[{name}].strength_low", low, low_bound, high_bound)
    return name, strength, low


def _check_size(spec: ModelSpec, width: int, height: int) -> None:
    if (width, height) in spec.official_sizes:
        return
    official = ", ".join(f"{w}x{h}" for w, h in spec.official_sizes)
    for field, value in (("width", width), ("height", height)):
        if value % spec.size_multiple:
            nearest = max(spec.size_multiple, round(value / spec.size_multiple) * spec.size_multiple)
            raise InvalidRequest(
                field, value,
                f"{spec.name} needs a multiple of {spec.size_multiple} (nearest: {nearest}); "
                f"official sizes are {official}",
            )
        if not spec.min_side <= value <= spec.max_side:
            raise InvalidRequest(
                field, value, f"use {spec.min_side} to {spec.max_side} pixels; official sizes are {official}"
            )
    if width * height > spec.max_pixels:
        raise InvalidRequest(
            "width x height", f"{width}x{height}",
            f"{spec.name} renders at most {spec.max_pixels:,} pixels per frame; official sizes are {official}",
        )


def _check_frames(spec: ModelSpec, frames: int) -> None:
    if frames < 5 or frames > spec.max_frames or (frames - 1) % 4:
        if frames > spec.max_frames:
            hint = f" (the most is {spec.max_frames})"
        elif frames > 5:
            lower = (frames - 1) // 4 * 4 + 1
            hint = f" (nearest: {lower} or {lower + 4})"
        else:
            hint = ""
        raise InvalidRequest(
            "frames", frames,
            f"{spec.name} takes 4k+1 frames from 5 to {spec.max_frames}{hint}; "
            f"{spec.max_frames} frames is {spec.max_frames / spec.fps:.1f} s at {spec.fps} fps",
        )
