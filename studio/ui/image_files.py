"""Images the page shows (previews, placeholder cards) as JPEG files written once under their content's hash.

Gradio caches an image array by rewriting `<hash>/image.jpeg` in place each time the same picture is shown again,
so a client still downloading the first copy can get a truncated file (a "Too little data for declared
Content-Length" traceback in the server log). A file path is instead copied into Gradio's cache once, atomically.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

FOLDER = Path(tempfile.gettempdir()) / "wan-studio-images"  # the system temp folder: Gradio serves outputs from it
MAX_FILES = 2000
_written: dict[Path, int] = {}  # files written per folder since it was last pruned


def image_file(array: np.ndarray, folder: Path = FOLDER, max_files: int = MAX_FILES) -> str:
    """The JPEG of `array`, written once (to a temporary name, then renamed). The oldest go past `max_files`, checked
    every twentieth of `max_files` writes (a listing of the folder each time would cost more than the write)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="JPEG", quality=88)
    data = buffer.getvalue()
    path = Path(folder) / f"{hashlib.sha256(data).hexdigest()[:32]}.jpg"
    if path.exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(staging, path)
    _written[path.parent] = _written.get(path.parent, 0) + 1
    if _written[path.parent] >= max(1, max_files // 20):
        _written[path.parent] = 0
        kept = sorted(path.parent.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        for old in kept[: max(0, len(kept) - max_files)]:
            old.unlink(missing_ok=True)
    return str(path)
