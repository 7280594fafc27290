"""Cards for the user's own presets, so that each one looks like itself in the gallery: a frame of the newest video
made with it, else a card drawn with its title. Built-in presets keep their designed cards."""

from __future__ import annotations

import hashlib
import textwrap
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .presets import Preset

GENERIC_CARD = "_custom.png"  # the card a user preset gets when it names none (presets.USER_DEFAULTS)
SIZE = (480, 320)
BAND = 68
# Fonts tried in order: CJK first, since users title presets in their own language; Pillow's own font last.
FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
PALETTES = (("#1e3a8a", "#7c3aed"), ("#0f766e", "#65a30d"), ("#9a3412", "#db2777"), ("#334155", "#0ea5e9"),
            ("#4c1d95", "#c026d3"), ("#854d0e", "#ea580c"), ("#164e63", "#14b8a6"), ("#7f1d1d", "#f59e0b"))


def needs_card(preset: Preset) -> bool:
    return preset.source == "user" and preset.thumbnail is not None and preset.thumbnail.name == GENERIC_CARD


def drawn_card(title: str, folder: Path) -> Path:
    """A card with `title` on a gradient chosen by the title; drawn once, then read from `folder`."""
    digest = hashlib.sha256(title.encode("utf-8")).hexdigest()[:16]
    path = Path(folder) / f"{digest}.png"
    if path.is_file():
        return path
    top, bottom = (_rgb(c) for c in PALETTES[int(digest, 16) % len(PALETTES)])
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE[1]):
        t = y / (SIZE[1] - 1)
        draw.line([(0, y), (SIZE[0], y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    # Emoji and other symbols are left out: no installed font draws them, and a box would stand in their place.
    lines = _wrap(" ".join("".join(ch for ch in title if unicodedata.category(ch) not in ("So", "Cs", "Co")).split())
                  or title)
    size = 56 if len(lines) == 1 else 44
    font = _font(size)
    height = len(lines) * int(size * 1.25)
    y = (SIZE[1] - BAND - height) // 2 + 8
    for line in lines:
        width = draw.textlength(line, font=font)
        draw.text(((SIZE[0] - width) / 2, y), line, font=font, fill=(255, 255, 255))
        y += int(size * 1.25)
    draw.rectangle([(0, SIZE[1] - BAND), SIZE], fill=(15, 23, 42))
    draw.text((20, SIZE[1] - BAND + 20), "Your preset", font=_font(24), fill=(226, 232, 240))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    image.save(partial, format="PNG")
    partial.replace(path)
    return path


def _wrap(title: str) -> list[str]:
    """Two lines at most: words where the title has spaces, characters where it has none (Chinese, Japanese)."""
    wide = sum(1 for ch in title if ord(ch) > 0x2E80)
    width = 9 if wide > len(title) / 2 else 16
    lines = textwrap.wrap(title, width=width, break_long_words=True) or [title]
    return lines[:1] + [textwrap.shorten(" ".join(lines[1:]), width=width, placeholder="…")] if len(lines) > 2 else lines


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in FONTS:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
