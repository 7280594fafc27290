"""Style presets: JSON files with a `{prompt}` template, a negative prompt and recommended settings.

Presets are data, not code, so artists can write, share and import them. Every file carries a
schema `version` and is upgraded on load by numbered functions, so old files keep working. User
presets only store what they change and inherit the rest from `USER_DEFAULTS`. Nothing read from a
file or an upload is trusted: size, JSON, schema, values and names are checked, and a name can never
reach a path outside its folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Literal

from .errors import StudioError

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 64 * 1024
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "presets"
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
_NAME_RULE = '1-48 characters from a-z, 0-9, "-" and "_", starting with a letter or digit'
PLACEHOLDER = "{prompt}"

# What a user preset inherits for every key it leaves out (its name comes from its file name).
USER_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "description": "",
    "order": 1000,
    "prompt": PLACEHOLDER,
    "negative_prompt": None,
    "settings": {},
    "thumbnail": "presets/_custom.png",
})

OFFICIAL_SIZES = ((1280, 720), (720, 1280), (832, 480), (480, 832))
# key -> (type, lowest, highest) for the numeric settings; width and height are checked as a pair.
SETTING_RANGES: Mapping[str, tuple[type, float, float]] = MappingProxyType({
    "width": (int, 1, 4096),
    "height": (int, 1, 4096),
    "frames": (int, 5, 81),
    "steps": (int, 1, 100),
    "guidance_scale": (float, 0.0, 20.0),
    "guidance_scale_2": (float, 0.0, 20.0),
    "flow_shift": (float, 0.0, 20.0),
    "fps": (int, 8, 30),
})

_KEYS = ("version", "name", "title", "description", "order", "prompt", "negative_prompt", "settings",
         "thumbnail")
_OPTIONAL_KEYS = ("negative_prompt", "settings")

Source = Literal["builtin", "user"]


class InvalidPreset(StudioError, ValueError):
    """A preset file, upload or name is unusable; the message names the file, field, value and fix."""

    kind = "invalid_preset"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PresetExists(InvalidPreset):
    """Saving or importing would replace a preset of the user's: asked for, never done silently."""

    kind = "preset_exists"

    def __init__(self, name: str, title: str) -> None:
        super().__init__(f'a preset named "{name}" ("{title}") already exists. Fix: choose another name, or '
                         f"confirm replacing it (save again, or overwrite=True).")
        self.name, self.title = name, title


@dataclass(frozen=True)
class Preset:
    """One validated style: `apply()` wraps the user's prompt, `settings` are recommendations."""

    name: str
    title: str
    description: str
    prompt: str
    negative_prompt: str | None
    settings: Mapping[str, int | float]
    thumbnail: Path | None
    order: int
    source: Source

    def apply(self, prompt: str) -> str:
        """The model prompt: the user's text in the template, with the seams tidied.

        Tidying matters because users end prompts with "." or leave them empty, and the model
        should not see "a cat., cinematic" or "still, , anamorphic".
        """
        before, after = self.prompt.split(PLACEHOLDER)
        text = " ".join(prompt.split())
        if after.lstrip()[:1] in (",", ";", "."):
            text = text.rstrip(",.;:，。；、 ")
        return _tidy(before + text + after)


class PresetList(list[Preset]):
    """Presets in display order, with `problems`: user files that were skipped, missing images."""

    def __init__(self, presets: Iterable[Preset] = (), problems: Iterable[str] = ()) -> None:
        super().__init__(presets)
        self.problems: list[str] = list(problems)


def load_presets(builtin_dir: Path = BUILTIN_DIR, user_dir: Path | None = None,
                 assets_dir: Path = ASSETS_DIR) -> PresetList:
    """All presets sorted by order then title.

    A broken built-in file is a bug in the studio and raises; a broken user file is skipped and
    described in `.problems`, so one bad upload never takes the gallery down.
    """
    problems: list[str] = []
    presets = [_load_file(path, "builtin", assets_dir, problems) for path in sorted(builtin_dir.glob("*.json"))]
    builtin_names = {preset.name for preset in presets}
    if user_dir is not None and user_dir.is_dir():
        for path in sorted(user_dir.glob("*.json")):
            try:
                preset = _load_file(path, "user", assets_dir, problems, user_dir)
            except InvalidPreset as error:
                problems.append(f"Skipped your preset: {error}")
                continue
            if preset.name in builtin_names:
                problems.append(f'Skipped your preset "{path.name}": the name "{preset.name}" belongs to a '
                                f'built-in preset. Fix: rename the file and its "name".')
                continue
            presets.append(preset)
    presets.sort(key=lambda preset: (preset.order, preset.title.casefold(), preset.name))
    return PresetList(presets, problems)


def get_preset(name: str, presets: Iterable[Preset]) -> Preset:
    """The preset called `name`; an unknown name lists the ones that exist."""
    check_name(name)
    presets = list(presets)
    for preset in presets:
        if preset.name == name:
            return preset
    available = ", ".join(preset.name for preset in presets) or "(none)"
    raise InvalidPreset(f'unknown preset "{name}". Fix: use one of: {available}.')


def save_user_preset(user_dir: Path, name: str, title: str, prompt_template: str,
                     negative_prompt: str | None, settings: Mapping[str, int | float], *,
                     description: str = "", overwrite: bool = False,
                     reserved: Collection[str] = ()) -> Path:
    """Validate and write a user preset; only the given keys are stored, the rest is inherited.

    `reserved` holds names that may not be taken (the built-ins). The write is atomic, so a crash
    never leaves half a file.
    """
    data: dict[str, Any] = {"version": SCHEMA_VERSION, "name": name, "title": title,
                            "prompt": prompt_template, "settings": dict(settings)}
    if description:
        data["description"] = description
    if negative_prompt is not None:
        data["negative_prompt"] = negative_prompt
    _parse(data, f"{name}.json", "user", None)
    return _write_user_file(user_dir, data, overwrite, reserved)


def export_preset(preset: Preset) -> str:
    """The preset as a version-1 JSON document for sharing.

    The thumbnail is left out: the image file does not travel with the text.
    """
    data: dict[str, Any] = {"version": SCHEMA_VERSION, "name": preset.name, "title": preset.title,
                            "description": preset.description, "order": preset.order,
                            "prompt": preset.prompt}
    if preset.negative_prompt is not None:
        data["negative_prompt"] = preset.negative_prompt
    data["settings"] = dict(preset.settings)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def import_preset(data: bytes | str, user_dir: Path, *, overwrite: bool = False, rename: bool = False,
                  reserved: Collection[str] = (), assets_dir: Path | None = None) -> Preset:
    """Check an uploaded preset (any schema version) and store it, upgraded, as a user preset.

    A name that is taken (one of the user's, or `reserved`) raises PresetExists / InvalidPreset, unless
    `overwrite` replaces the user's file or `rename` stores it as "name-2" titled "Title (2)" (then 3, ...).
    """
    label = "imported preset"
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        _check_size(len(raw), label)
        document = _decode(raw, label)
    except UnicodeError:  # text given with a lone surrogate
        raise InvalidPreset(f'preset "{label}" holds a lone surrogate (\\ud800-\\udfff), which is not text. '
                            "Fix: remove it, or import a preset JSON exported from Wan Studio.") from None
    except ValueError as error:  # json.loads turns a number past 4,300 digits into int(): Python refuses it
        if isinstance(error, InvalidPreset):
            raise
        raise InvalidPreset(f'preset "{label}" holds a number of more than 4,300 digits. Fix: write settings as '
                            "ordinary numbers, e.g. \"steps\": 40.") from None
    if _has_surrogate(document):
        raise InvalidPreset(f'preset "{label}" holds a lone surrogate (a \\ud800-\\udfff escape), which is not '
                            "text. Fix: remove it, or import a preset JSON exported from Wan Studio.")
    document = _upgrade(document, label)
    name = document.get("name")
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        label = f"{name}.json"
    preset = _parse(document, label, "user", assets_dir)
    if rename and not overwrite:
        taken = set(reserved) | ({path.stem for path in user_dir.glob("*.json")} if user_dir.is_dir() else set())
        original, number = preset, 1
        while preset.name in taken:
            number += 1
            suffix = f"-{number}"
            preset = replace(original, name=original.name[:48 - len(suffix)].rstrip("-_") + suffix,
                             title=f"{original.title[:60 - len(suffix) - 3]} ({number})")
        document = {**document, "name": preset.name, **({"title": preset.title} if number > 1 else {})}
    _write_user_file(user_dir, document, overwrite, reserved)
    return preset


def _has_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a lone surrogate (a "\\ud800" escape) in any key or string."""
    pending = [value]
    while pending:  # no recursion: a deeply nested document must not overflow the stack
        item = pending.pop()
        if isinstance(item, str) and any("\ud800" <= ch <= "\udfff" for ch in item):
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def check_name(name: object) -> str:
    """`name` if it is a safe preset name, so it can only ever name a file inside its folder."""
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        return name
    if isinstance(name, str) and ("/" in name or "\\" in name or ".." in name or name.startswith("~")):
        problem = "looks like a path; a preset name is a plain name, never a path"
    else:
        problem = "is not a valid preset name"
    raise InvalidPreset(f'preset name {_show(name)} {problem}. Fix: use {_NAME_RULE}, e.g. "{slugify(str(name))}".')


def slugify(title: str) -> str:
    """A valid preset name made from a title: "My Neon Look!" -> "my-neon-look".

    A title the ASCII slug cannot spell (other scripts, emoji, or longer than a name) also gets a short
    hash of the whole title, so "霓虹" and "水墨" or "Neon 🔥" and "Neon 🌊" never name the same file.
    """
    title = unicodedata.normalize("NFC", " ".join(str(title).split()))
    slug = re.sub(r"[^a-z0-9_-]+", "-", title.casefold()).strip("-_")
    if title.isascii() and 0 < len(slug) <= 48:
        return slug
    digest = hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug[:39].rstrip('-_') or 'preset'}-{digest}"


def user_folder(presets_dir: Path, user: str | None) -> Path:
    """Where `user`'s presets live: `presets_dir` itself without logins, else a folder of their own in it.

    A login name may hold anything (slashes, dots, capitals, other scripts); a plain lower-case name is
    used as it is, any other gets a safe slug plus a hash of the exact name after a ".", which a plain
    name cannot contain, so two logins never share a folder and none leaves `presets_dir`.
    """
    if not user:
        return presets_dir
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,47}", user):
        return presets_dir / user
    slug = re.sub(r"[^a-z0-9_-]+", "-", user.casefold()).strip("-_")[:32].rstrip("-_") or "user"
    digest = hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return presets_dir / f"{slug}.{digest}"


# --- schema versions -------------------------------------------------------------------------

def _upgrade_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (no `version` key) kept the template under "style"."""
    upgraded = {key: value for key, value in data.items() if key != "style"}
    if "style" in data and "prompt" not in data:
        upgraded["prompt"] = data["style"]
    upgraded["version"] = 1
    return upgraded


UPGRADES: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = MappingProxyType({0: _upgrade_0_to_1})


def _upgrade(data: dict[str, Any], label: str) -> dict[str, Any]:
    version = data.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise _invalid(label, "version", f"must be a whole number from 0 to {SCHEMA_VERSION}", version,
                       f'set "version": {SCHEMA_VERSION}')
    if version > SCHEMA_VERSION:
        raise _invalid(label, "version", f"is newer than this studio understands ({SCHEMA_VERSION})", version,
                       "update Wan Studio to use this preset")
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version = data["version"]
    return data


# --- reading and checking --------------------------------------------------------------------

def _load_file(path: Path, source: Source, assets_dir: Path, problems: list[str],
               folder: Path | None = None) -> Preset:
    if folder is not None and path.resolve().parent != folder.resolve():
        raise InvalidPreset(f'preset "{path.name}" points outside the presets folder. Fix: replace the '
                            f"link with the file itself.")
    if not path.is_file():
        raise InvalidPreset(f'preset "{path.name}" is not a regular file. Fix: remove it from the folder.')
    try:
        with path.open("rb") as file:
            _check_size(os.fstat(file.fileno()).st_size, path.name)
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidPreset(f'preset "{path.name}" could not be read ({error.strerror}). '
                            f"Fix: check the file's permissions.") from None
    _check_size(len(raw), path.name)
    data = _upgrade(_decode(raw, path.name), path.name)
    if source == "user":
        data.setdefault("name", path.stem)
    if data.get("name") != path.stem:
        raise _invalid(path.name, "name", "must match the file name", data.get("name"),
                       f'set "name": "{path.stem}" or rename the file')
    preset = _parse(data, path.name, source, assets_dir)
    if preset.thumbnail is not None and not preset.thumbnail.is_file():
        problems.append(f'preset "{path.name}": thumbnail "{data["thumbnail"]}" is missing; showing none. '
                        f"Fix: run python assets/make_thumbnails.py or correct the path.")
        preset = replace(preset, thumbnail=None)
    return preset


def _check_size(size: int, label: str) -> None:
    if size > MAX_FILE_BYTES:
        raise InvalidPreset(f'preset "{label}" is {size:,} bytes; presets may be at most '
                            f"{MAX_FILE_BYTES // 1024} KiB. Fix: this is not a preset file, or shorten it.")


def _decode(raw: bytes, label: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidPreset(f'preset "{label}" is not UTF-8 text. Fix: save it as UTF-8 JSON.') from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidPreset(f'preset "{label}" is not valid JSON (line {error.lineno}, column {error.colno}: '
                            f"{error.msg}). Fix: correct the JSON, e.g. check quotes and commas.") from None
    except RecursionError:
        raise InvalidPreset(f'preset "{label}" is nested too deeply to be a preset. '
                            f"Fix: use the preset format: one flat JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidPreset(f'preset "{label}" must be a JSON object {{...}}; got {type(data).__name__}. '
                            f'Fix: wrap it as {{"version": 1, "name": ..., "prompt": "... {{prompt}} ..."}}.')
    return data


def _parse(data: Mapping[str, Any], label: str, source: Source, assets_dir: Path | None) -> Preset:
    """Check every field of an upgraded document and build the Preset."""
    if source == "user":
        data = {**USER_DEFAULTS, **data}
        if isinstance(data.get("name"), str):
            data.setdefault("title", data["name"].replace("-", " ").replace("_", " ").capitalize())
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise _invalid(label, unknown[0], "is not a preset field", data[unknown[0]],
                       f"remove it; preset fields are {', '.join(_KEYS)}")
    missing = [key for key in _KEYS if key not in data and key not in _OPTIONAL_KEYS]
    if missing:
        raise InvalidPreset(f'preset "{label}": "{missing[0]}" is missing. Fix: add it '
                            f"(presets/cinematic.json is a complete example).")
    if not (isinstance(data["name"], str) and NAME_PATTERN.fullmatch(data["name"])):
        raise _invalid(label, "name", f"must be a plain name, never a path ({_NAME_RULE})", data["name"],
                       f'use e.g. "{slugify(str(data["name"]))}"')
    title = _text(data, "title", label, 60, "give it a short title, e.g. \"Neon Night\"")
    description = _text(data, "description", label, 200, "write one short line", allow_empty=True)
    prompt = _text(data, "prompt", label, 4000, "write the style text around {prompt}")
    if prompt.count(PLACEHOLDER) != 1:
        raise _invalid(label, "prompt", 'must contain "{prompt}" exactly once', prompt,
                       "add {prompt} where the user's text goes" if PLACEHOLDER not in prompt
                       else "keep one {prompt} and remove the others")
    negative = data.get("negative_prompt")
    if negative is not None:
        negative = _text(data, "negative_prompt", label, 4000, "write it as text, or leave it out",
                         allow_empty=True)
    order = data["order"]
    if isinstance(order, bool) or not isinstance(order, int) or not -10**6 <= order <= 10**6:
        raise _invalid(label, "order", "must be a whole number (smaller comes first)", order, "e.g. 100")
    return Preset(name=data["name"], title=title, description=description, prompt=prompt,
                  negative_prompt=negative, settings=_settings(data.get("settings", {}), label),
                  thumbnail=_thumbnail(data["thumbnail"], label, assets_dir), order=order, source=source)


def _text(data: Mapping[str, Any], key: str, label: str, limit: int, fix: str,
          allow_empty: bool = False) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise _invalid(label, key, "must be text", value, f"{fix} in quotes")
    value = value.strip()
    if not value and not allow_empty:
        raise _invalid(label, key, "must not be empty", value, fix)
    if len(value) > limit:
        raise _invalid(label, key, f"must be at most {limit} characters", value, f"shorten it ({len(value)} now)")
    if key in ("title", "description") and "\n" in value:
        raise _invalid(label, key, "must be one line", value, "remove the line breaks")
    return value


def _settings(settings: Any, label: str) -> Mapping[str, int | float]:
    if not isinstance(settings, dict):
        raise _invalid(label, "settings", "must be an object", settings, 'write e.g. {"steps": 40}, or {}')
    checked: dict[str, int | float] = {}
    for key, value in settings.items():
        field = f"settings.{key}"
        if key == "loras":
            checked[key] = _loras(value, label)
            continue
        if key not in SETTING_RANGES:
            raise _invalid(label, field, "is not a setting a preset may recommend", value,
                           f"remove it; allowed settings are {', '.join(SETTING_RANGES)}, loras")
        kind, low, high = SETTING_RANGES[key]
        whole = kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise _invalid(label, field, f"must be a {'whole ' if whole else ''}number", value,
                           f"write a number from {low:g} to {high:g} without quotes")
        if not low <= value <= high:
            raise _invalid(label, field, f"must be from {low:g} to {high:g}", value, "use a value in that range")
        if key == "frames" and (value - 1) % 4:
            lower = value - (value - 1) % 4
            raise _invalid(label, field, "must be 4k+1 (5, 9, ..., 81): the VAE packs 4 frames per latent",
                           value, f"use {lower} or {min(lower + 4, 81)}")
        checked[key] = value if whole else float(value)
    if ("width" in checked) != ("height" in checked):
        raise _invalid(label, "settings", 'must give "width" and "height" together', settings,
                       "add the other one, or remove both")
    if "width" in checked and (checked["width"], checked["height"]) not in OFFICIAL_SIZES:
        sizes = ", ".join(f"{w}x{h}" for w, h in OFFICIAL_SIZES)
        raise _invalid(label, "settings.width/height", f"must be an official Wan2.2 size ({sizes})",
                       f"{checked['width']}x{checked['height']}", "pick one of those sizes")
    return MappingProxyType(checked)


def _loras(value: Any, label: str) -> list:
    """A preset's LoRAs, as a request takes them ([["name", strength, strength_low]...]); whether the library has
    them is checked when a job uses the preset (the library may change after the preset was written)."""
    from .request import parse_loras

    try:
        return [list(item) for item in parse_loras(value)]
    except StudioError as exc:
        raise _invalid(label, "settings.loras", f"is not a list of LoRAs ({exc})", value,
                       'write e.g. ["ink:0.8", "hero:1.0:0.5"]') from None


def _thumbnail(value: Any, label: str, assets_dir: Path | None) -> Path | None:
    """The image path under `assets_dir`; anything that could leave that folder is refused."""
    if value is None:
        return None
    fix = 'use a path inside assets/, e.g. "presets/my-style.png", or null'
    if not isinstance(value, str) or not value.strip():
        raise _invalid(label, "thumbnail", "must be a path relative to assets/", value, fix)
    relative = PurePosixPath(value.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or re.match(r"^[A-Za-z]:", value):
        raise _invalid(label, "thumbnail", "must stay inside assets/", value, fix)
    if relative.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise _invalid(label, "thumbnail", "must be a .png, .jpg or .webp image", value, fix)
    if assets_dir is None:
        return None
    path = (assets_dir / relative).resolve()
    if not path.is_relative_to(assets_dir.resolve()):
        raise _invalid(label, "thumbnail", "must stay inside assets/", value, fix)
    return path


def _write_user_file(user_dir: Path, data: Mapping[str, Any], overwrite: bool,
                     reserved: Collection[str]) -> Path:
    name = check_name(data["name"])
    if name in reserved:
        raise InvalidPreset(f'preset name "{name}" belongs to a built-in preset. Fix: choose another name, '
                            f'e.g. "{slugify("my-" + name)}".')
    user_dir.mkdir(parents=True, exist_ok=True)
    folder = user_dir.resolve()
    path = (folder / f"{name}.json").resolve()
    if path.parent != folder:
        raise InvalidPreset(f'preset name "{name}" would leave the presets folder. Fix: use a plain name.')
    if path.exists() and not overwrite:
        raise PresetExists(name, _stored_title(path, name))
    descriptor, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _stored_title(path: Path, name: str) -> str:
    """The title of the file a save would replace (for the question), its name when it cannot be read."""
    try:
        title = None
        if path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            title = json.loads(path.read_text(encoding="utf-8")).get("title")
    except (OSError, ValueError, AttributeError, RecursionError):
        title = None
    return title if isinstance(title, str) and title.strip() else name


def _invalid(label: str, field: str, must: str, value: Any, fix: str) -> InvalidPreset:
    return InvalidPreset(f'preset "{label}": "{field}" {must}; got {_show(value)}. Fix: {fix}.')


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r"\s+([,;.])", r"\1", text)
    text = re.sub(r"([,;])(?:\s*[,;])+", r"\1", text)
    return text.strip(" ,;")
