"""Start images: validation with clear messages, EXIF/alpha/CMYK/palette handling, crop and pad, stored copies."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from studio import images
from studio.errors import InvalidRequest


def _save(tmp_path, image: Image.Image, name: str, **options):
    path = tmp_path / name
    image.save(path, **options)
    return path


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = _save(tmp_path, image, "rotated.jpg", exif=exif)
    assert images.open_image(path).size == (20, 40)


def test_alpha_is_flattened_onto_white_and_modes_become_rgb(tmp_path):
    clear = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    opened = images.open_image(_save(tmp_path, clear, "clear.png"))
    assert opened.mode == "RGB" and opened.getpixel((5, 5)) == (255, 255, 255)
    cmyk = images.open_image(_save(tmp_path, Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "c.jpg"))
    assert cmyk.mode == "RGB" and cmyk.getpixel((5, 5))[0] > 200 and cmyk.getpixel((5, 5))[1] < 60
    palette = images.open_image(_save(tmp_path, Image.new("P", (32, 32), 3), "p.gif"))
    assert palette.mode == "RGB"
    deep = Image.fromarray(np.full((32, 32), 65535, np.uint16))
    assert images.open_image(_save(tmp_path, deep, "deep.png")).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"not an image at all"), "not an image"),
    (lambda p: Image.new("RGB", (8, 8)).save(p, format="PNG"), "at least 16"),
    (lambda p: p.write_bytes(_png_bytes()[:60]), "damaged"),
    (lambda p: Image.new("RGB", (32, 32)).save(p, format="ICO"), "not taken"),
])
def test_bad_images_get_clear_messages(tmp_path, make, words):
    path = tmp_path / "bad.img"
    make(path)
    with pytest.raises(InvalidRequest, match=words) as info:
        images.open_image(path)
    assert info.value.field == "image"


def test_missing_and_oversized_files_are_refused(tmp_path, monkeypatch):
    with pytest.raises(InvalidRequest, match="no such image"):
        images.open_image(tmp_path / "nope.png")
    monkeypatch.setattr(images, "MAX_BYTES", 100)
    with pytest.raises(InvalidRequest, match="MB are taken"):
        images.open_image(_save(tmp_path, Image.new("RGB", (64, 64)), "big.bmp"))
    monkeypatch.setattr(images, "MAX_BYTES", 2**30)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(InvalidRequest, match="pixels"):
        images.open_image(_save(tmp_path, Image.new("RGB", (64, 64)), "many.png"))


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_crop_fills_the_frame_and_pad_keeps_the_whole_picture():
    wide = Image.new("RGB", (200, 100), (0, 200, 0))
    cropped = images.fit_image(wide, 64, 64, "crop")
    padded = images.fit_image(wide, 64, 64, "pad")
    assert cropped.size == padded.size == (64, 64)
    assert cropped.getpixel((32, 2)) == (0, 200, 0)  # no bars
    assert padded.getpixel((32, 2)) == images.PAD_COLOUR and padded.getpixel((32, 32))[1] > 190
    with pytest.raises(InvalidRequest, match="crop, pad"):
        images.fit_image(wide, 64, 64, "stretch")


def test_stored_copy_is_named_by_its_hash_and_checked_on_load(tmp_path):
    source = _save(tmp_path, Image.new("RGB", (300, 200), (10, 20, 30)), "start.jpg")
    stored = images.prepare_image(source, tmp_path / "images", 64, 48, "crop")
    data = (tmp_path / "images" / f"{stored.sha256}.png").read_bytes()
    assert hashlib.sha256(data).hexdigest() == stored.sha256
    assert images.load_stored(stored.path, stored.sha256).size == (64, 48)
    Image.new("RGB", (64, 48), (1, 2, 3)).save(stored.path, format="PNG")
    with pytest.raises(InvalidRequest, match="sha256 differs"):
        images.load_stored(stored.path, stored.sha256)
