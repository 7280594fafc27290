"""Start images for image-to-video: checked, made plain RGB, fitted to the job's size and kept with its hash.

Every image a user gives passes `open_image` (a real image file of a format Pillow reads, within byte and
pixel bounds, turned upright by its EXIF orientation, alpha flattened onto white, CMYK/palette/16-bit made
RGB), then `fit_image` (the job's exact size: `crop` fills the frame and cuts the overflow, `pad` keeps the
whole picture and fills the rest with black), then `store_image` keeps the fitted PNG under
`<outputs>/images/<sha256>.png`, so a job, its re-run and a scene's next shot read exactly the pixels the
first one did, and a changed or missing file is noticed by its hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidRequest

FITS = ("crop", "pad")
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 8192 * 8192
MIN_SIDE = 16
PAD_COLOUR = (0, 0, 0)
ALPHA_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class StoredImage:
    """A fitted start image as kept in the outputs folder."""

    path: str
    sha256: str


def open_image(source: str | Path, field: str = "image") -> Image.Image:
    """The image at `source` as upright RGB, or InvalidRequest saying what is wrong and how to fix it."""
    path = Path(source)
    if not path.is_file():
        raise InvalidRequest(field, str(source), "no such image file. Fix: give the path of a PNG, JPEG or WebP file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidRequest(field, str(source), "the file is empty. Fix: give a PNG, JPEG or WebP image")
    if size > MAX_BYTES:
        raise InvalidRequest(field, str(source), f"it is {size / 2**20:.0f} MB; images up to {MAX_BYTES // 2**20} MB "
                             "are taken. Fix: save it smaller (e.g. as JPEG)")
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise InvalidRequest(field, str(source), f"{image.format} images are not taken; use one of "
                                     f"{', '.join(FORMATS)}")
            _check_pixels(field, source, image.size)
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise InvalidRequest(field, str(source), "it is not an image Pillow can read. Fix: give a PNG, JPEG "
                                 "or WebP file") from None
        raise InvalidRequest(field, str(source), f"it has too many pixels (at most {MAX_PIXELS:,}). Fix: scale "
                             "it down") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(field, str(source), f"the image is damaged or truncated ({exc}). Fix: export it "
                             "again") from None
    return to_rgb(ImageOps.exif_transpose(image))


def _check_pixels(field: str, source: str | Path, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise InvalidRequest(field, str(source), f"it is {width}x{height}, more than {MAX_PIXELS:,} pixels. "
                             "Fix: scale it down")
    if min(width, height) < MIN_SIDE:
        raise InvalidRequest(field, str(source), f"it is {width}x{height}; each side needs at least {MIN_SIDE} "
                             "pixels. Fix: use a larger image")


def to_rgb(image: Image.Image) -> Image.Image:
    """Plain 8-bit RGB: alpha (also a palette's transparency) flattened onto white, CMYK and 16-bit converted."""
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
    if image.mode == "F":
        image = Image.fromarray(np.asarray(image).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, ALPHA_BACKGROUND)
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def fit_image(image: Image.Image, width: int, height: int, fit: str = "crop") -> Image.Image:
    """Exactly width x height: `crop` scales to cover and cuts the centre, `pad` scales to fit and adds black bars."""
    if fit not in FITS:
        raise InvalidRequest("image_fit", fit, f"choose one of {', '.join(FITS)}")
    if fit == "crop":
        return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS)
    return ImageOps.pad(image, (width, height), method=Image.Resampling.LANCZOS, color=PAD_COLOUR)


def store_image(image: Image.Image, folder: Path) -> StoredImage:
    """Keep a fitted image as `<folder>/<sha256>.png` (the same pixels are stored once) and return where."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.png"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)
    return StoredImage(str(path), digest)


def prepare_image(source: str | Path, folder: Path, width: int, height: int, fit: str = "crop") -> StoredImage:
    """Check, fit and store a user's image: what a job's request then points at."""
    return store_image(fit_image(open_image(source), width, height, fit), folder)


def store_frame(frame: np.ndarray, folder: Path) -> StoredImage:
    """Keep a video frame (uint8 [H, W, 3]) as a start image, e.g. a shot's last frame for the next shot."""
    return store_image(Image.fromarray(np.ascontiguousarray(frame)), folder)


def load_stored(path: str, sha256: str | None) -> Image.Image:
    """A stored start image, checked against its hash (a replaced or damaged file is refused, not used)."""
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest("image", path, "the job's start image is gone from the outputs folder. Fix: give the "
                             "image again")
    data = file.read_bytes()
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise InvalidRequest("image", path, "the stored start image changed since the job was made (its sha256 "
                             "differs). Fix: give the image again")
    return Image.open(io.BytesIO(data)).convert("RGB")
