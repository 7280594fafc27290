"""The LoRA library: folders of `.safetensors` files, listed as named entries that jobs choose by name.

A high/low-noise pair (`x_high_noise` + `x_low_noise`, `x_HN` + `x_LN`, `x-high` + `x-low`) is one
entry, each file for its own expert; a sidecar `NAME.json` may name a pair outright
(`{"high": "a.safetensors", "low": "b.safetensors"}`), give trigger words, a description or mark a
step-distilled LoRA (`"fast": true`). A file named for one expert alone applies to that expert only.
An image beside a file (same name, .png/.jpg/.webp) is its thumbnail. A file that cannot be used is
still listed, with the reason, so the artist sees why it is missing from the picker.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest, StudioError
from .files import LoraFile, check_fits, inspect, load_factors
from .shapes import model_linears

IMAGES = (".png", ".jpg", ".jpeg", ".webp")
MAX_SIDECAR_BYTES = 64 * 1024
_EXPERT = re.compile(r"(?i)(?:^|(?<=[_\-. ]))(high[_\-]?noise|low[_\-]?noise|high|low|hn|ln)(?=$|[_\-. ])")
_DISTILLED = re.compile(r"(?i)lightx2v|lightning|4[_\-]?steps?|distill|causvid")


@dataclass(frozen=True)
class LoraEntry:
    """One choosable LoRA: a file for both experts (`parts` = [("both", f)]), a pair, or one expert's file."""

    name: str
    parts: tuple[tuple[str, LoraFile], ...] = ()
    thumbnail: Path | None = None
    trigger_words: tuple[str, ...] = ()
    base_model: str | None = None
    description: str = ""
    distilled: bool = False
    error: str | None = None  # why it cannot be used (then `parts` is empty)
    sources: tuple[Path, ...] = ()

    @property
    def size(self) -> int:
        return sum(f.size for _, f in self.parts)

    @property
    def rank(self) -> int:
        return max((f.rank for _, f in self.parts), default=0)

    @property
    def experts(self) -> tuple[str, ...]:
        """Which experts it has weights for: high, low or both."""
        roles = set()
        for role, lora in self.parts:
            if role == "both":
                roles |= {"high", "low"} if "any" in lora.targets else {"low"}
            else:
                roles.add(role)
        return tuple(r for r in ("high", "low") if r in roles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "size": self.size, "rank": self.rank, "experts": list(self.experts),
            "files": {role: str(lora.path) for role, lora in self.parts} or {"file": str(self.sources[0])},
            "layout": "/".join(sorted({lora.layout for _, lora in self.parts})) or None,
            "trigger_words": list(self.trigger_words), "base_model": self.base_model,
            "description": self.description, "distilled": self.distilled,
            "thumbnail": str(self.thumbnail) if self.thumbnail else None, "error": self.error,
            "ignored_keys": self.ignored_keys,
        }

    @property
    def ignored_keys(self) -> int:
        """Keys no layout maps to a linear (e.g. `.diff` norm deltas): listed, not applied."""
        return sum(len(lora.ignored) for _, lora in self.parts)


@dataclass(frozen=True)
class Application:
    """One file's factors applied to one expert (0 high-noise, 1 low-noise) at a strength; `slot` picks the
    file's keys ("any", or "low" for keys under `transformer_2.`)."""

    name: str
    lora: LoraFile
    slot: str
    expert: int
    strength: float


def folders_from_env(outputs: Path, env: dict[str, str] | None = None) -> tuple[Path, ...]:
    """STUDIO_LORAS (several folders separated by the system's path separator), else `loras/` under outputs."""
    raw = (os.environ if env is None else env).get("STUDIO_LORAS", "")
    given = tuple(Path(p) for p in raw.split(os.pathsep) if p.strip())
    return given or (Path(outputs) / "loras",)


class LoraLibrary:
    """The entries of some folders, read again when a folder's listing changes (names, sizes, times)."""

    def __init__(self, folders: tuple[Path, ...] | list[Path], hash_cache: Path | None = None) -> None:
        """`hash_cache`: a JSON file keeping the files' sha256 between processes (each CLI run is one)."""
        self.folders = tuple(Path(f) for f in folders)
        self.hash_cache = hash_cache
        self._lock = threading.Lock()
        self._scanned: tuple[tuple, list[LoraEntry], list[str]] | None = None
        self._hashes: dict[str, str] | None = None  # "path|mtime_ns|size" -> sha256
        self._verified: set[tuple[str, int, int]] = set()

    def entries(self) -> list[LoraEntry]:
        return self._scan()[0]

    @property
    def problems(self) -> list[str]:
        return self._scan()[1]

    def _scan(self) -> tuple[list[LoraEntry], list[str]]:
        key = _fingerprint(self.folders)
        with self._lock:
            if self._scanned is None or self._scanned[0] != key:
                entries, problems = _read_folders(self.folders)
                self._scanned = (key, entries, problems)
            return self._scanned[1], self._scanned[2]

    def get(self, name: str) -> LoraEntry:
        """The entry of this name (case-insensitive when unambiguous); an unknown one names the close matches."""
        entries = {e.name: e for e in self.entries()}
        entry = entries.get(name)
        if entry is None:
            folded = [e for n, e in entries.items() if n.lower() == str(name).lower()]
            entry = folded[0] if len(folded) == 1 else None
        if entry is None:
            close = difflib.get_close_matches(str(name), list(entries), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else (
                f"the library has {', '.join(sorted(entries)[:8])}" if entries else "the library is empty")
            raise InvalidRequest("lora", name, f"no LoRA has this name in {', '.join(map(str, self.folders))}; "
                                 f"{hint} (see `python -m studio loras`)")
        if entry.error:
            raise InvalidRequest("lora", entry.name, entry.error)
        return entry

    def distilled(self) -> LoraEntry | None:
        """The step-distilled LoRA fast mode uses: the first usable entry marked or named so."""
        return next((e for e in self.entries() if e.distilled and not e.error), None)

    def applications(self, loras: tuple, model: str, experts: int) -> list[Application]:
        """What a request's `loras` ((name, strength, strength_low | None), ...) apply to a model with this many
        experts; refuses unknown names and files that do not fit the model."""
        linears = model_linears(model)
        applied: list[Application] = []
        for name, strength, strength_low in loras:
            entry = self.get(name)
            low = strength if strength_low is None else strength_low
            for role, lora in entry.parts:
                if linears is not None:
                    check_fits(lora, linears, model)
                applied += assign(entry.name, role, lora, strength, low, experts)
        return applied

    def verify(self, applications: list[Application]) -> None:
        """Read each file's tensors once per version (path, time, size): NaN or Inf is refused before a job
        starts, not after the wait in the queue."""
        for app in applications:
            stat = app.lora.path.stat()
            key = (str(app.lora.path), stat.st_mtime_ns, stat.st_size)
            if key not in self._verified:
                load_factors(app.lora)
                self._verified.add(key)

    def sha256(self, path: Path) -> str:
        """The file's sha256, computed once per path, modification time and size (and kept in `hash_cache`)."""
        stat = Path(path).stat()
        key = f"{Path(path).resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
        hashes = self._known_hashes()
        if key not in hashes:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
            hashes[key] = digest.hexdigest()
            self._save_hashes(hashes)
        return hashes[key]

    def _known_hashes(self) -> dict[str, str]:
        if self._hashes is None:
            self._hashes = {}
            try:
                loaded = json.loads(self.hash_cache.read_text(encoding="utf-8")) if self.hash_cache else {}
                self._hashes.update({k: v for k, v in loaded.items() if isinstance(v, str)})
            except (OSError, ValueError, AttributeError):
                pass  # no cache yet, or an unreadable one: hashes are computed again
        return self._hashes

    def _save_hashes(self, hashes: dict[str, str]) -> None:
        if self.hash_cache is None:
            return
        try:
            self.hash_cache.parent.mkdir(parents=True, exist_ok=True)
            partial = self.hash_cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(hashes), encoding="utf-8")
            partial.replace(self.hash_cache)
        except OSError:
            pass  # a cache only: the next process computes the hash again

    def record(self, loras: tuple) -> list[dict[str, Any]]:
        """What history and MP4 metadata keep of a request's LoRAs: name, strengths, and each file with its hash."""
        rows = []
        for name, strength, strength_low in loras:
            entry = self.get(name)
            files = [{"expert": role, "file": lora.path.name, "sha256": self.sha256(lora.path)}
                     for role, lora in entry.parts]
            rows.append({"name": entry.name, "strength": strength, "strength_low": strength_low, "files": files})
        return rows


def assign(name: str, role: str, lora: LoraFile, strength: float, low: float, experts: int) -> list[Application]:
    """Which expert gets which of a file's keys: a pair's files their own expert, a file for both both (its
    `transformer_2.` keys, when it has them, the low-noise expert)."""
    if experts == 1:
        if "any" not in lora.targets or role == "low":
            raise InvalidRequest("lora", name, "it has weights only for the low-noise expert of a two-expert model "
                                 "(A14B), and this model has one expert. Fix: choose a LoRA for this model")
        return [Application(name, lora, "any", 0, strength)]
    if role == "high":
        return [Application(name, lora, "any" if "any" in lora.targets else "low", 0, strength)]
    if role == "low":
        return [Application(name, lora, "low" if "low" in lora.targets else "any", 1, low)]
    out = [Application(name, lora, "any", 0, strength)] if "any" in lora.targets else []
    return out + [Application(name, lora, "low" if "low" in lora.targets else "any", 1, low)]


def _read_folders(folders: tuple[Path, ...]) -> tuple[list[LoraEntry], list[str]]:
    entries: dict[str, LoraEntry] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in _read_folder(folder, problems):
            if entry.name in entries:
                problems.append(f"{entry.sources[0]}: the name {entry.name!r} is taken by {entries[entry.name].sources[0]}"
                                "; rename one of them")
                continue
            entries[entry.name] = entry
    return sorted(entries.values(), key=lambda e: e.name.lower()), problems


def _read_folder(folder: Path, problems: list[str]) -> list[LoraEntry]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".safetensors")
    sidecars = {p.stem: p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".json"}
    notes = {stem: _sidecar(path, problems) for stem, path in sidecars.items()}
    taken: set[Path] = set()
    entries = []
    for stem, note in notes.items():  # pairs named by a sidecar
        if "high" in note or "low" in note:
            paths = {role: folder / str(note[role]) for role in ("high", "low") if note.get(role)}
            taken |= set(paths.values())
            entries.append(_entry(stem, paths, folder, note))
    groups: dict[str, dict[str, Path]] = {}
    for path in files:
        if path in taken:
            continue
        match = _EXPERT.search(path.stem)
        if match is None:
            groups.setdefault(path.stem, {})["both"] = path
            continue
        base = (path.stem[: match.start()] + path.stem[match.end():]).strip("_-. ") or path.stem
        role = "high" if match.group(1).lower().startswith("h") else "low"
        groups.setdefault(base, {})[role] = path
    for base, paths in groups.items():
        if set(paths) == {"both"} or set(paths) == {"high", "low"}:
            entries.append(_entry(base, paths, folder, notes.get(base, {})))
            continue
        for role, path in paths.items():  # a lone file, or a name shared with a file for both: each on its own
            explicit = re.search(r"(?i)noise|(?:^|[_\-. ])[hl]n(?:$|[_\-. ])", path.stem)
            entries.append(_entry(path.stem, {role if explicit else "both": path}, folder, notes.get(path.stem, {})))
    return entries


def _entry(name: str, paths: dict[str, Path], folder: Path, note: dict[str, Any]) -> LoraEntry:
    sources = tuple(paths.values())
    thumbnail = next((p.with_suffix(ext) for p in (folder / name, *sources) for ext in IMAGES
                      if p.with_suffix(ext).is_file()), None)
    distilled = bool(note.get("fast")) or bool(_DISTILLED.search(name))
    common = dict(name=name, thumbnail=thumbnail, description=str(note.get("description") or ""),
                  distilled=distilled, sources=sources)
    try:
        parts = tuple((role, inspect(path)) for role, path in paths.items())
    except StudioError as exc:
        return LoraEntry(error=str(exc), **common)
    words = note.get("trigger_words")
    if isinstance(words, str):
        words = [w.strip() for w in words.split(",") if w.strip()]
    words = tuple(words or next((f.trigger_words for _, f in parts if f.trigger_words), ()))
    base = note.get("base_model") or next((f.base_model for _, f in parts if f.base_model), None)
    return LoraEntry(parts=parts, trigger_words=tuple(map(str, words)), base_model=base, **common)


def _sidecar(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"more than {MAX_SIDECAR_BYTES // 1024} KiB")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        problems.append(f"{path}: skipped ({exc}); a LoRA sidecar is a small JSON object")
        return {}
    for role in ("high", "low"):
        value = data.get(role)
        if value is not None and (not isinstance(value, str) or Path(value).name != value):
            problems.append(f"{path}: {role!r} must be a file name in the same folder; ignored")
            data.pop(role)
    return data


def _fingerprint(folders: tuple[Path, ...]) -> tuple:
    entries = []
    for folder in folders:
        try:
            for path in sorted(folder.iterdir()):
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            entries.append((str(folder), None))
    return tuple(entries)
