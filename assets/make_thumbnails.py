"""Draw the preset gallery cards: assets/presets/<name>.png for every built-in preset, and a sheet.

The cards are designed graphics (a palette, a drawn motif, the title), never anything that could be
mistaken for a model output. Everything is seeded, so running the script again gives identical files:

    python assets/make_thumbnails.py
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "assets" / "presets"
SIZE = (480, 320)
S = 2                                   # drawn at twice the size, then downsampled for smooth edges
W, H = SIZE[0] * S, SIZE[1] * S
BAND = 68 * S                           # the title band at the bottom of every card
ART_H = H - BAND                        # motifs are composed to read above the band
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))

Color = tuple[int, int, int]
RGBA = tuple[int, int, int, int]


# --- small drawing kit -----------------------------------------------------------------------

def rgb(hex_color: str) -> Color:
    value = hex_color.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def mix(a: Color, b: Color, t: float) -> Color:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def alpha(color: Color, a: int) -> RGBA:
    return (*color, a)


def font(size: int, bold: bool = True, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu when installed (crisp and predictable), else Pillow's built-in scalable font."""
    name = ("DejaVuSansMono" if mono else "DejaVuSans") + ("-Bold" if bold else "") + ".ttf"
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size=size)


def gradient(stops: Sequence[tuple[float, str]], size: tuple[int, int] = (W, H)) -> Image.Image:
    """A vertical gradient through (position 0..1, colour) stops."""
    height = size[1]
    column = Image.new("RGBA", (1, height))
    for y in range(height):
        t = y / (height - 1)
        for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
            if p0 <= t <= p1:
                column.putpixel((0, y), alpha(mix(rgb(c0), rgb(c1), (t - p0) / ((p1 - p0) or 1)), 255))
                break
    return column.resize(size, Image.Resampling.BILINEAR)


def layer(base: Color = (0, 0, 0)) -> Image.Image:
    return Image.new("RGBA", (W, H), alpha(base, 0))


def put(card: Image.Image, draw: Callable[[ImageDraw.ImageDraw], None], blur: float = 0,
        base: Color = (0, 0, 0), clip: Image.Image | None = None) -> None:
    """Draw on a transparent layer, optionally blurred or clipped to a mask, and composite it.

    `base` is the colour of the layer's transparent pixels: blurring mixes it into the edges, so a
    blurred shape needs its own colour there or it grows a dark fringe.
    """
    top = layer(base)
    draw(ImageDraw.Draw(top))
    if blur:
        top = top.filter(ImageFilter.GaussianBlur(blur))
    if clip is not None:
        top.putalpha(ImageChops.multiply(top.getchannel("A"), clip))
    card.alpha_composite(top)


def fill_mask(card: Image.Image, mask: Image.Image, paint: Color | Image.Image, opacity: float = 1.0) -> None:
    """Paint a colour or an image through a greyscale mask."""
    source = paint if isinstance(paint, Image.Image) else Image.new("RGBA", (W, H), alpha(paint, 255))
    if opacity < 1:
        mask = mask.point(lambda v: round(v * opacity))
    card.paste(source.convert("RGBA"), (0, 0), mask)


def new_mask(draw: Callable[[ImageDraw.ImageDraw], None]) -> Image.Image:
    mask = Image.new("L", (W, H), 0)
    draw(ImageDraw.Draw(mask))
    return mask


def shift(mask: Image.Image, dx: int, dy: int) -> Image.Image:
    """The mask moved by (dx, dy) without wrapping around (ImageChops.offset wraps)."""
    moved = Image.new(mask.mode, mask.size, 0)
    moved.paste(mask, (dx, dy))
    return moved


def glow(card: Image.Image, center: tuple[float, float], radius: float, color: Color, strength: int) -> None:
    x, y = center
    put(card, lambda d: d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=alpha(color, strength)),
        blur=radius / 2, base=color)


def grain(card: Image.Image, rng: random.Random, amount: float, blur: float = 0.7) -> None:
    """Seeded film/paper grain (Pillow's own noise generator is not seedable)."""
    noise = Image.frombytes("L", (W, H), rng.randbytes(W * H)).filter(ImageFilter.GaussianBlur(blur))
    noise = noise.point(lambda v: 128 + (v - 128) * 3)
    textured = ImageChops.soft_light(card.convert("RGB"), Image.merge("RGB", (noise, noise, noise)))
    card.paste(Image.blend(card.convert("RGB"), textured, amount).convert("RGBA"))


def vignette(card: Image.Image, strength: int = 120) -> None:
    mask = new_mask(lambda d: d.rectangle((0, 0, W, H), fill=strength))
    inner = new_mask(lambda d: d.ellipse((-W * 0.15, -H * 0.2, W * 1.15, H * 1.2), fill=255))
    mask = ImageChops.subtract(mask, inner).filter(ImageFilter.GaussianBlur(90))
    fill_mask(card, mask, (0, 0, 0))


def ridge(rng: random.Random, base: float, amplitude: float, roughness: float = 0.55,
          depth: int = 7) -> list[tuple[float, float]]:
    """A mountain profile across the card by midpoint displacement."""
    heights = [base + rng.uniform(-amplitude, amplitude), base + rng.uniform(-amplitude, amplitude)]
    spread = amplitude
    for _ in range(depth):
        spread *= roughness
        refined = []
        for a, b in zip(heights, heights[1:]):
            refined += [a, (a + b) / 2 + rng.uniform(-spread, spread)]
        heights = refined + [heights[-1]]
    step = (W + 40) / (len(heights) - 1)
    return [(-20 + i * step, h) for i, h in enumerate(heights)]


def blob(rng: random.Random, cx: float, cy: float, r: float, wobble: float = 0.22,
         points: int = 48) -> list[tuple[float, float]]:
    """An irregular closed shape: a circle with a smooth random wobble."""
    waves = [(rng.uniform(0.5, 1) * wobble / k, rng.uniform(0, math.tau), k) for k in (2, 3, 5)]
    shape = []
    for i in range(points):
        angle = math.tau * i / points
        scale = 1 + sum(a * math.sin(k * angle + phase) for a, phase, k in waves)
        shape.append((cx + r * scale * math.cos(angle), cy + r * scale * math.sin(angle) * 0.85))
    return shape


def corners(d: ImageDraw.ImageDraw, box: tuple[float, float, float, float], arm: float, color: RGBA,
            width: int) -> None:
    """Viewfinder corner brackets."""
    x0, y0, x1, y1 = box
    for x, y, dx, dy in ((x0, y0, 1, 1), (x1, y0, -1, 1), (x0, y1, 1, -1), (x1, y1, -1, -1)):
        d.line((x, y + dy * arm, x, y, x + dx * arm, y), fill=color, width=width, joint="curve")


# --- one motif per preset --------------------------------------------------------------------

def draw_none(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#f1efe9"), (1, "#d8d4ca")]))
    put(card, lambda d: corners(d, (300, 120, 660, 380), 46, (90, 86, 80, 255), 6))
    put(card, lambda d: d.text((480, 250), "{prompt}", font=font(46, bold=False, mono=True),
                               fill=(70, 66, 60, 255), anchor="mm"))
    put(card, lambda d: d.rectangle((646, 226, 651, 274), fill=(201, 106, 58, 255)))


def draw_cinematic(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#0b1f27"), (0.6, "#12303a"), (1, "#071218")]))
    cx, cy, outer, opening = 480, 252, 176, 70
    glow(card, (cx, cy), 260, rgb("#e0903a"), 80)
    put(card, lambda d: d.ellipse((cx - outer - 26, cy - outer - 26, cx + outer + 26, cy + outer + 26),
                                  fill=(18, 22, 26, 255), outline=(110, 124, 130, 255), width=6))
    blades = 7
    lens = new_mask(lambda d: d.ellipse((cx - outer, cy - outer, cx + outer, cy + outer), fill=255))

    def iris(d: ImageDraw.ImageDraw) -> None:
        reach = outer * 1.6
        for i in range(blades):
            a0, a1 = math.tau * i / blades, math.tau * (i + 1) / blades
            inner0 = (cx + opening * math.cos(a0), cy + opening * math.sin(a0))
            inner1 = (cx + opening * math.cos(a1), cy + opening * math.sin(a1))
            out0 = (cx + reach * math.cos(a0 + 0.7), cy + reach * math.sin(a0 + 0.7))
            out1 = (cx + reach * math.cos(a1 + 0.7), cy + reach * math.sin(a1 + 0.7))
            shade = 40 + 12 * (i % 2)
            d.polygon((inner0, inner1, out1, out0), fill=(shade, shade + 10, shade + 14, 255),
                      outline=(120, 136, 142, 255), width=3)

    put(card, iris, clip=lens)
    hole = new_mask(lambda d: d.regular_polygon((cx, cy, opening), blades, rotation=90 - 180 / blades, fill=255))
    fill_mask(card, hole, gradient([(0, "#ffe2a8"), (0.5, "#f0a048"), (1, "#b8561a")]))
    put(card, lambda d: d.ellipse((cx - 26, cy - 44, cx + 2, cy - 16), fill=(255, 248, 230, 230)), blur=6,
        base=(255, 248, 230))
    put(card, lambda d: d.rectangle((0, cy - 6, W, cy + 6), fill=(120, 200, 255, 160)), blur=6, base=(120, 200, 255))
    put(card, lambda d: d.rectangle((0, cy - 1, W, cy + 1), fill=(220, 244, 255, 230)))
    put(card, lambda d: (d.rectangle((0, 0, W, 52), fill=(0, 0, 0, 255)),
                         d.rectangle((0, ART_H - 40, W, H), fill=(0, 0, 0, 255))))
    grain(card, rng, 0.25)


def draw_documentary(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#b9cad3"), (0.5, "#eae3cf"), (1, "#b9b59e")]))
    glow(card, (700, 190), 110, rgb("#fff1c9"), 200)
    put(card, lambda d: d.ellipse((666, 156, 734, 224), fill=(255, 246, 222, 255)))
    for base, color in ((300, "#94a3a6"), (350, "#7f8d74"), (410, "#5f6b52"), (470, "#48503e")):
        profile = ridge(rng, base, 36, 0.5)
        put(card, lambda d, p=profile, c=color: d.polygon([*p, (W + 20, H), (-20, H)], fill=alpha(rgb(c), 255)))
    tree = (52, 58, 44, 255)
    put(card, lambda d: (d.rectangle((318, 290, 326, 372), fill=tree),
                         d.ellipse((278, 226, 366, 310), fill=tree), d.ellipse((300, 206, 356, 262), fill=tree)))
    put(card, lambda d: [d.line(((x - 12, y - 6), (x, y), (x + 12, y - 6)), fill=(60, 64, 60, 220), width=3)
                         for x, y in ((520, 150), (552, 170), (496, 178), (580, 140))])
    grain(card, rng, 0.2)
    hud = (255, 255, 255, 235)
    put(card, lambda d: corners(d, (56, 44, W - 56, ART_H - 20), 50, hud, 5))
    put(card, lambda d: [d.line((W * k / 3, 60, W * k / 3, ART_H - 36), fill=(255, 255, 255, 70), width=2)
                         for k in (1, 2)])
    put(card, lambda d: [d.line((72, 44 + (ART_H - 64) * k / 3, W - 72, 44 + (ART_H - 64) * k / 3),
                                fill=(255, 255, 255, 70), width=2) for k in (1, 2)])
    put(card, lambda d: (d.rounded_rectangle((80, 68, 200, 116), 10, fill=(0, 0, 0, 110)),
                         d.rounded_rectangle((W - 296, 68, W - 80, 116), 10, fill=(0, 0, 0, 110))))
    put(card, lambda d: d.ellipse((92, 78, 120, 106), fill=(226, 52, 40, 255)))
    put(card, lambda d: d.text((134, 92), "REC", font=font(30), fill=hud, anchor="lm"))
    put(card, lambda d: d.text((W - 92, 92), "00:12:48:07", font=font(28, bold=False, mono=True), fill=hud,
                               anchor="rm"))


def draw_anime(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#2f7fe0"), (0.7, "#8fd0ff"), (1, "#d8f1ff")]))
    cx, cy = 300, 150

    def rays(d: ImageDraw.ImageDraw) -> None:
        for i in range(40):
            a = math.tau * i / 40 + rng.uniform(-0.03, 0.03)
            spread = rng.uniform(0.012, 0.03)
            far = 1400
            d.polygon(((cx, cy), (cx + far * math.cos(a - spread), cy + far * math.sin(a - spread)),
                       (cx + far * math.cos(a + spread), cy + far * math.sin(a + spread))), fill=(255, 255, 255, 46))

    put(card, rays)
    glow(card, (cx, cy), 90, (255, 255, 240), 255)
    put(card, lambda d: d.ellipse((cx - 46, cy - 46, cx + 46, cy + 46), fill=(255, 252, 235, 255)))
    puffs = [(560, 300, 120), (690, 250, 140), (820, 310, 110), (450, 360, 90), (640, 370, 120), (900, 380, 90),
             (760, 400, 110)]
    cloud = new_mask(lambda d: [d.ellipse((x - r, y - r, x + r, y + r), fill=255) for x, y, r in puffs])
    lit = new_mask(lambda d: [d.ellipse((x - r - 16, y - r - 30, x + r - 16, y + r - 30), fill=255)
                              for x, y, r in puffs])
    fill_mask(card, cloud, rgb("#b9d4f0"))
    fill_mask(card, ImageChops.multiply(cloud, lit), (255, 255, 255))
    for base, top, shade in ((470, "#5cc46a", "#3f9e55"), (520, "#3fae5a", "#2c8648")):
        profile = ridge(rng, base, 30, 0.42, 5)
        hill = new_mask(lambda d, p=profile: d.polygon([*p, (W + 20, H), (-20, H)], fill=255))
        fill_mask(card, hill, rgb(shade))
        lit_hill = new_mask(lambda d, p=profile: d.polygon([(x - 40, y) for x, y in p] + [(W, H), (-60, H)], fill=255))
        fill_mask(card, ImageChops.multiply(hill, lit_hill), rgb(top))
    put(card, lambda d: [d.line((x, y, x + 120, y), fill=(255, 255, 255, 210), width=4)
                         for x, y in ((90, 300), (40, 330), (130, 360))])


def draw_chinese_ink(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#f4ecda"), (1, "#e6dac0")]))
    put(card, lambda d: [d.line((x, y, x + rng.uniform(6, 24), y + rng.uniform(-3, 3)),
                                fill=(150, 130, 100, rng.randrange(18, 45)), width=1)
                         for x, y in ((rng.uniform(0, W), rng.uniform(0, H)) for _ in range(900))])
    glow(card, (690, 150), 58, rgb("#d2553f"), 60)
    put(card, lambda d: d.ellipse((650, 110, 730, 190), fill=(196, 64, 48, 200)), blur=1.5, base=(196, 64, 48))
    for base, amplitude, ink, depth in ((230, 110, 150, 110), (320, 90, 95, 120), (420, 70, 35, 150)):
        profile = ridge(rng, base, amplitude, 0.6)
        wash = Image.new("L", (W, H), 0)
        d = ImageDraw.Draw(wash)
        for k in range(depth, -1, -3):      # dense ink at the ridge, thinning into mist below it
            d.line([(x, y + k) for x, y in profile], fill=round(255 * (1 - k / depth) ** 1.6), width=5)
        fill_mask(card, wash.filter(ImageFilter.GaussianBlur(2.5)), (ink, ink, ink + 6), 0.9)
    stroke = new_mask(lambda d: brush(d, rng, 110, 830, 480, 24))
    fill_mask(card, stroke.filter(ImageFilter.GaussianBlur(0.8)), (24, 22, 20), 0.92)
    put(card, lambda d: d.rounded_rectangle((830, 64, 894, 128), 6, fill=(178, 42, 34, 255)))
    put(card, lambda d: [d.line(seg, fill=(246, 224, 210, 255), width=5) for seg in
                         (((846, 80), (878, 80)), ((862, 80), (862, 112)), ((846, 112), (878, 112)),
                          ((846, 96), (856, 96)), ((868, 96), (878, 96)))])
    grain(card, rng, 0.18, blur=1.2)


def brush(d: ImageDraw.ImageDraw, rng: random.Random, x0: float, x1: float, y0: float, thickness: float) -> None:
    """One sweeping brushstroke made of bristles that run dry at different points: a dry-brush tail."""
    for j in range(48):
        offset = j / 47 - 0.5
        start, stop = rng.uniform(0, 0.05), rng.uniform(0.55, 1.0) if abs(offset) > 0.2 else rng.uniform(0.8, 1.0)
        points = []
        for i in range(101):
            t = start + (stop - start) * i / 100
            half = thickness * math.sin(math.pi * min(1.0, 0.15 + t)) ** 0.6
            y = y0 - 70 * math.sin(t * math.pi) + 16 * math.sin(t * 8)
            points.append((x0 + (x1 - x0) * t, y + offset * 2 * half))
        d.line(points, fill=255, width=3)


def clay(card: Image.Image, shape: Image.Image, color: Color, rng: random.Random) -> None:
    """Soft shadow, body, top-left highlight and thumbprint marks: plasticine, not vector."""
    shadow = shift(shape, 10, 16).filter(ImageFilter.GaussianBlur(12))
    fill_mask(card, shadow, (90, 40, 20), 0.35)
    fill_mask(card, shape, color)
    box = shape.getbbox() or (0, 0, W, H)
    x0, y0, x1, y1 = box
    light = new_mask(lambda d: d.ellipse((x0 + (x1 - x0) * 0.08, y0 + (y1 - y0) * 0.06,
                                          x0 + (x1 - x0) * 0.62, y0 + (y1 - y0) * 0.5), fill=150))
    light = ImageChops.multiply(shape, light.filter(ImageFilter.GaussianBlur(24)))
    fill_mask(card, light, mix(color, (255, 255, 255), 0.5))
    rim = ImageChops.subtract(shape, shift(shape, -6, -8)).filter(ImageFilter.GaussianBlur(4))
    fill_mask(card, rim, mix(color, (60, 20, 10), 0.45), 0.7)
    marks = new_mask(lambda d: [d.arc((x - r, y - r, x + r, y + r), a, a + 110, fill=255, width=2)
                                for x, y in ((rng.uniform(x0 + 20, x1 - 20), rng.uniform(y0 + 20, y1 - 20))
                                             for _ in range(3))
                                for r, a in ((10, 200), (16, 195), (22, 205))])
    fill_mask(card, ImageChops.multiply(shape, marks), mix(color, (60, 20, 10), 0.3), 0.5)


def draw_claymation(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#fbd9bd"), (1, "#f0ad86")]))
    clay(card, new_mask(lambda d: d.ellipse((640, 60, 820, 240), fill=255)), rgb("#ffc23d"), rng)
    clay(card, new_mask(lambda d: d.ellipse((-120, 330, 520, 760), fill=255)), rgb("#7cc47f"), rng)
    clay(card, new_mask(lambda d: d.ellipse((380, 370, 1100, 820), fill=255)), rgb("#5aa7a0"), rng)
    body = new_mask(lambda d: d.rounded_rectangle((380, 230, 540, 420), 80, fill=255))
    clay(card, body, rgb("#e8685a"), rng)
    put(card, lambda d: [d.ellipse((x - 17, 290, x + 17, 324), fill=(255, 255, 255, 255)) for x in (430, 490)])
    put(card, lambda d: [d.ellipse((x - 8, 302, x + 8, 318), fill=(40, 26, 24, 255)) for x in (434, 494)])
    put(card, lambda d: d.arc((440, 330, 480, 360), 20, 160, fill=(90, 30, 24, 255), width=5))
    grain(card, rng, 0.12, blur=1.5)


def draw_cyberpunk(card: Image.Image, rng: random.Random) -> None:
    horizon = 330
    card.paste(gradient([(0, "#0c0420"), (0.42, "#2a0b4a"), (0.52, "#b8236e"), (0.53, "#140626"), (1, "#07020f")]))
    glow(card, (480, horizon - 40), 200, rgb("#ff2e88"), 90)
    sun = new_mask(lambda d: d.ellipse((360, horizon - 170, 600, horizon + 70), fill=255))
    cuts = new_mask(lambda d: [d.rectangle((0, horizon - 70 + k * 16 + k * k, W, horizon - 62 + k * 16 + k * k * 1.6),
                                           fill=255) for k in range(7)])
    sun = ImageChops.subtract(sun, cuts)
    sun = ImageChops.multiply(sun, new_mask(lambda d: d.rectangle((0, 0, W, horizon), fill=255)))
    fill_mask(card, sun, gradient([(0, "#ffd24a"), (0.45, "#ffd24a"), (0.55, "#ff4f8b"), (1, "#ff4f8b")]))
    x = -10
    towers = []
    while x < W:
        width = rng.uniform(34, 80)
        height = rng.uniform(60, 230) * (1.25 if abs(x - 480) > 220 else 0.7)
        towers.append((x, horizon - height, x + width, horizon))
        x += width + rng.uniform(-6, 4)
    put(card, lambda d: [d.rectangle(t, fill=(12, 6, 30, 255)) for t in towers])
    put(card, lambda d: [d.rectangle((wx, wy, wx + 5, wy + 4), fill=rng.choice(((0, 240, 255, 220), (255, 60, 170, 220),
                                                                              (255, 214, 90, 200))))
                         for t in towers for wx in range(int(t[0]) + 8, int(t[2]) - 8, 12)
                         for wy in range(int(t[1]) + 10, horizon - 8, 14) if rng.random() < 0.22])

    def grid(d: ImageDraw.ImageDraw, width: int, a: int) -> None:
        for k in range(-16, 17):
            d.line((480 + k * 18, horizon, 480 + k * 150, H), fill=(0, 235, 255, a), width=width)
        for k in range(1, 12):
            y = horizon + (H - horizon) * (k / 11) ** 2.1
            d.line((0, y, W, y), fill=(0, 235, 255, a), width=width)

    put(card, lambda d: grid(d, 7, 120), blur=6)
    put(card, lambda d: grid(d, 2, 255))
    put(card, lambda d: d.line((0, horizon, W, horizon), fill=(255, 80, 200, 255), width=3))
    put(card, lambda d: [d.line((x0, y0, x0 - 14, y0 + 40), fill=(180, 210, 255, 60), width=1)
                         for x0, y0 in ((rng.uniform(0, W + 40), rng.uniform(0, H)) for _ in range(160))])


def draw_product_shot(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#e9ecf0"), (0.62, "#cfd4db"), (1, "#aab1bb")]))
    glow(card, (480, 200), 260, (255, 255, 255), 200)
    put(card, lambda d: d.polygon(((420, -10), (540, -10), (700, 470), (260, 470)), fill=(255, 255, 255, 40)), blur=20,
        base=(255, 255, 255))
    cx, top, bottom, rx, ry = 480, 380, 470, 170, 34
    put(card, lambda d: d.ellipse((cx - rx - 40, bottom - ry + 10, cx + rx + 60, bottom + ry + 30),
                                  fill=(40, 50, 60, 110)), blur=18)
    side = Image.new("RGBA", (W, H))
    for x in range(cx - rx, cx + rx + 1):
        t = (x - (cx - rx)) / (2 * rx)
        shade = mix(rgb("#fbfbfd"), rgb("#9aa3ae"), min(1, max(0, (t - 0.25) * 1.3)))
        ImageDraw.Draw(side).line((x, 0, x, H), fill=alpha(shade, 255))
    body = new_mask(lambda d: (d.rectangle((cx - rx, top, cx + rx, bottom), fill=255),
                               d.ellipse((cx - rx, bottom - ry, cx + rx, bottom + ry), fill=255)))
    fill_mask(card, body, side)
    put(card, lambda d: d.ellipse((cx - rx, top - ry, cx + rx, top + ry), fill=(246, 247, 250, 255),
                                  outline=(200, 205, 212, 255), width=2))
    put(card, lambda d: d.ellipse((cx - 80, top - 18, cx + 90, top + 22), fill=(60, 70, 80, 120)), blur=10)
    bottle = new_mask(lambda d: d.rounded_rectangle((cx - 70, 190, cx + 70, top + 4), 30, fill=255))
    fill_mask(card, bottle, gradient([(0, "#2f6f6a"), (1, "#163c3a")]), 0.95)
    put(card, lambda d: (d.rounded_rectangle((cx - 48, 206, cx - 30, top - 16), 9, fill=(255, 255, 255, 150)),
                         d.rounded_rectangle((cx + 36, 210, cx + 46, top - 20), 5, fill=(255, 255, 255, 60))),
        blur=2, base=(255, 255, 255))
    put(card, lambda d: d.rounded_rectangle((cx - 28, 130, cx + 28, 194), 8, fill=(196, 160, 92, 255)))
    put(card, lambda d: d.rectangle((cx - 20, 138, cx - 12, 186), fill=(255, 236, 190, 170)))


def draw_nature_macro(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#173a1c"), (1, "#0b2110")]))
    for _ in range(22):
        x, y, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(20, 80)
        color = rng.choice((rgb("#b8d96a"), rgb("#6fae4f"), rgb("#f2e38b")))
        put(card, lambda d, x=x, y=y, r=r, c=color: (d.ellipse((x - r, y - r, x + r, y + r), fill=alpha(c, 60)),
                                                     d.ellipse((x - r, y - r, x + r, y + r), outline=alpha(c, 90),
                                                               width=3)), blur=3, base=color)

    def leaf_outline(t: float, side: int) -> tuple[float, float]:
        x0, y0, x1, y1 = 120, 500, 860, 120
        x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        width = 150 * math.sin(math.pi * t) ** 0.8
        nx, ny = -(y1 - y0), x1 - x0
        n = math.hypot(nx, ny)
        return x + side * width * nx / n, y + side * width * ny / n

    outline = [leaf_outline(i / 60, 1) for i in range(61)] + [leaf_outline(1 - i / 60, -1) for i in range(61)]
    leaf = new_mask(lambda d: d.polygon(outline, fill=255))
    fill_mask(card, leaf, gradient([(0, "#8fd14f"), (1, "#2f7d32")]))
    put(card, lambda d: d.line((120, 500, 860, 120), fill=(214, 240, 160, 220), width=6))
    for i in range(1, 9):
        t = i / 9
        mx, my = 120 + 740 * t, 500 - 380 * t
        for side in (1, -1):
            ex, ey = leaf_outline(min(1, t + 0.08), side)
            put(card, lambda d, a=(mx, my), b=(ex * 0.85 + mx * 0.15, ey * 0.85 + my * 0.15):
                d.line((*a, *b), fill=(200, 235, 150, 130), width=3))
    for x, y, r in ((380, 300, 30), (560, 330, 20), (640, 220, 24), (300, 390, 14), (470, 420, 16), (720, 260, 11)):
        put(card, lambda d, x=x, y=y, r=r: d.ellipse((x - r + 6, y - r + 10, x + r + 6, y + r + 10),
                                                     fill=(10, 40, 10, 120)), blur=5)
        drop = new_mask(lambda d, x=x, y=y, r=r: d.ellipse((x - r, y - r, x + r, y + r), fill=255))
        fill_mask(card, drop, gradient([(0, "#1f5a22"), (0.5, "#79bf52"), (1, "#e4f7b8")]), 0.9)
        put(card, lambda d, x=x, y=y, r=r: d.ellipse((x - r, y - r, x + r, y + r), outline=(235, 255, 210, 150),
                                                     width=2))
        put(card, lambda d, x=x, y=y, r=r: d.ellipse((x - r * 0.55, y - r * 0.6, x - r * 0.1, y - r * 0.2),
                                                     fill=(255, 255, 255, 240)))


def draw_aerial_drone(card: Image.Image, rng: random.Random) -> None:
    field = Image.new("RGBA", (W * 2, H * 2), alpha(rgb("#6b7f3c"), 255))
    d = ImageDraw.Draw(field)
    colors = ("#8aa34a", "#c9b25a", "#6f8f3a", "#a7c05e", "#d6c27a", "#587a34", "#b78f4e")
    y = 0
    while y < H * 2:
        h = rng.uniform(90, 170)
        x = 0
        while x < W * 2:
            w = rng.uniform(110, 260)
            color = rgb(rng.choice(colors))
            d.rectangle((x + 4, y + 4, x + w - 4, y + h - 4), fill=alpha(color, 255))
            if rng.random() < 0.5:
                for k in range(int(x + 12), int(x + w - 8), 12):
                    d.line((k, y + 8, k, y + h - 8), fill=alpha(mix(color, (40, 50, 20), 0.18), 255), width=3)
            x += w
        y += h
    field = field.rotate(17, resample=Image.Resampling.BICUBIC).crop((W // 2, H // 2, W // 2 + W, H // 2 + H))
    card.paste(field)
    river = [(x, 150 + 0.3 * x + 70 * math.sin(x / 130) + 20 * math.sin(x / 47)) for x in range(-40, W + 60, 8)]
    put(card, lambda d: d.line(river, fill=(180, 220, 235, 255), width=46, joint="curve"))
    put(card, lambda d: d.line(river, fill=(52, 118, 160, 255), width=32, joint="curve"))
    put(card, lambda d: d.line(((-20, 560), (980, 40)), fill=(236, 226, 200, 255), width=8))
    put(card, lambda d: [d.ellipse((x - r, y - r, x + r, y + r), fill=(34, 62, 28, 255))
                         for x, y, r in ((rng.uniform(0, W), rng.uniform(0, H), rng.uniform(7, 14))
                                         for _ in range(70))])
    glow(card, (900, 0), 520, rgb("#ffb347"), 80)
    hud = (255, 255, 255, 235)
    put(card, lambda d: corners(d, (60, 44, W - 60, ART_H - 20), 46, hud, 5))
    put(card, lambda d: (d.ellipse((450, 200, 510, 260), outline=hud, width=4),
                         [d.line(tick, fill=hud, width=4) for tick in ((480, 176, 480, 210), (480, 250, 480, 284),
                                                                       (426, 230, 460, 230), (500, 230, 534, 230))]))
    put(card, lambda d: (d.rounded_rectangle((96, 72, 290, 120), 10, fill=(0, 0, 0, 110)),
                         d.rounded_rectangle((W - 230, 72, W - 96, 120), 10, fill=(0, 0, 0, 110))))
    put(card, lambda d: d.text((193, 96), "ALT 120 m", font=font(26, bold=False, mono=True), fill=hud, anchor="mm"))
    put(card, lambda d: d.text((W - 163, 96), "N 17°", font=font(26, bold=False, mono=True), fill=hud, anchor="mm"))


def draw_vintage_film(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#e6b57e"), (1, "#b8743f")]))
    top, bottom = 90, 420
    put(card, lambda d: d.rectangle((0, top, W, bottom), fill=(38, 26, 20, 255)))
    put(card, lambda d: [d.rounded_rectangle((x, y, x + 26, y + 20), 5, fill=(236, 206, 160, 255))
                         for x in range(18, W, 56) for y in (top + 14, bottom - 34)])
    for i, x in enumerate((30, 340, 650)):
        frame = (x, top + 56, x + 280, bottom - 56)
        scene = gradient([(0, "#f5c983"), (0.6, "#e08a4f"), (1, "#8a4a2a")], (280, bottom - top - 112))
        fx, fy = x, top + 56
        card.paste(scene, (fx, fy))
        put(card, lambda d, fx=fx, fy=fy, i=i: d.ellipse((fx + 90 + i * 30, fy + 50 - i * 6, fx + 150 + i * 30,
                                                          fy + 110 - i * 6), fill=(255, 236, 190, 230)))
        put(card, lambda d, fx=fx, fy=fy: d.polygon(((fx, fy + 150), (fx + 90, fy + 120), (fx + 180, fy + 160),
                                                     (fx + 280, fy + 130), (fx + 280, fy + 218), (fx, fy + 218)),
                                                    fill=(92, 52, 34, 255)))
        put(card, lambda d, f=frame: d.rectangle(f, outline=(20, 12, 8, 255), width=4))
    glow(card, (930, 240), 220, rgb("#ff5a1f"), 120)
    glow(card, (60, 500), 160, rgb("#ffd089"), 90)
    put(card, lambda d: [d.line((x, 0, x + rng.uniform(-10, 10), H), fill=(255, 240, 210, rng.randrange(40, 110)),
                                width=1) for x in (rng.uniform(0, W) for _ in range(9))])
    put(card, lambda d: [d.ellipse((x, y, x + s, y + s), fill=(30, 18, 10, 150))
                         for x, y, s in ((rng.uniform(0, W), rng.uniform(0, H), rng.uniform(2, 6)) for _ in range(40))])
    grain(card, rng, 0.45, blur=0.9)
    vignette(card, 150)


def draw_watercolour(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#fbf8f1"), (1, "#f2ece0")]))
    grain(card, rng, 0.35, blur=2.2)
    washes = ((300, 200, 200, "#7fb2d9"), (620, 180, 170, "#e99aa8"), (480, 360, 210, "#f0c977"),
              (760, 380, 150, "#94c7a3"), (160, 420, 140, "#b9a2d8"))
    for cx, cy, r, color in washes:
        shape = new_mask(lambda d, p=blob(rng, cx, cy, r, 0.34, 96): d.polygon(p, fill=255))
        blotches = Image.frombytes("L", (W // 16, H // 16), rng.randbytes(W * H // 256))
        blotches = blotches.resize((W, H), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(14))
        blotches = blotches.point(lambda v: max(150, min(255, 205 + (v - 128) * 3)))
        shape = ImageChops.multiply(shape.filter(ImageFilter.GaussianBlur(5)), blotches)
        edge = ImageChops.subtract(shape, shape.filter(ImageFilter.MinFilter(9)).filter(ImageFilter.GaussianBlur(8)))
        pigment = Image.new("RGB", (W, H), rgb(color))
        tinted = ImageChops.multiply(card.convert("RGB"), pigment)
        card.paste(Image.composite(tinted, card.convert("RGB"), shape.point(lambda v: v * 0.55)).convert("RGBA"))
        darker = ImageChops.multiply(card.convert("RGB"), pigment)
        edge = edge.point(lambda v: min(255, v * 1.6))
        card.paste(Image.composite(darker, card.convert("RGB"), edge).convert("RGBA"))
    put(card, lambda d: d.line([(60 + i * 14, 300 - 60 * math.sin(i / 9) - 20 * math.sin(i / 3)) for i in range(62)],
                               fill=(110, 100, 90, 120), width=2))
    put(card, lambda d: [d.ellipse((x, y, x + s, y + s), fill=alpha(rgb(rng.choice(washes)[3]), 170))
                         for x, y, s in ((rng.uniform(560, 900), rng.uniform(40, 200), rng.uniform(3, 12))
                                         for _ in range(34))])


def draw_3d_render(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#e5e1f7"), (0.58, "#cbc5ec"), (0.6, "#dcd7f2"), (1, "#b9b2e0")]))
    for shadow in ((230, 420, 470, 470), (560, 430, 820, 480), (180, 438, 300, 462)):
        put(card, lambda d, s=shadow: d.ellipse(s, fill=(60, 50, 110, 110)), blur=14)
    cx, cy, r = 350, 300, 130
    sphere = Image.new("RGBA", (W, H))
    d = ImageDraw.Draw(sphere)
    for k in range(r, 0, -2):
        t = 1 - k / r
        off = t * 0.45 * r
        color = mix(rgb("#4b2fb8"), rgb("#c7b8ff"), t ** 0.8)
        d.ellipse((cx - off - k, cy - off - k, cx - off + k, cy - off + k), fill=alpha(color, 255))
    clip = new_mask(lambda d: d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255))
    fill_mask(card, clip, sphere)
    put(card, lambda d: d.ellipse((cx - 80, cy - 88, cx - 36, cy - 50), fill=(255, 255, 255, 200)), blur=8,
        base=(255, 255, 255))
    rim = ImageChops.subtract(clip, shift(clip, -8, -6)).filter(ImageFilter.GaussianBlur(3))
    fill_mask(card, rim, rgb("#ffb3d1"), 0.7)
    bx, by, s = 690, 330, 110
    top_face = ((bx, by - s), (bx + s, by - s * 0.45), (bx, by + s * 0.1), (bx - s, by - s * 0.45))
    left = ((bx - s, by - s * 0.45), (bx, by + s * 0.1), (bx, by + s * 1.05), (bx - s, by + s * 0.5))
    right = ((bx, by + s * 0.1), (bx + s, by - s * 0.45), (bx + s, by + s * 0.5), (bx, by + s * 1.05))
    put(card, lambda d: (d.polygon(top_face, fill=(255, 214, 140, 255)), d.polygon(left, fill=(242, 156, 84, 255)),
                         d.polygon(right, fill=(196, 104, 60, 255))))
    put(card, lambda d: d.line((*top_face[3], *top_face[0], *top_face[1]), fill=(255, 240, 210, 255), width=3))
    cx2, cy2, r2 = 240, 420, 36
    small = new_mask(lambda d: d.ellipse((cx2 - r2, cy2 - r2, cx2 + r2, cy2 + r2), fill=255))
    fill_mask(card, small, gradient([(0.6, "#7fe0d0"), (0.72, "#2f9c92")]))
    put(card, lambda d: d.ellipse((cx2 - 20, cy2 - 24, cx2 - 4, cy2 - 10), fill=(255, 255, 255, 210)), blur=3,
        base=(255, 255, 255))


def draw_noir(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#2b2b2b"), (1, "#0a0a0a")]))
    slats = new_mask(lambda d: [d.polygon(((180 + k * 4, 40 + k * 52), (760 + k * 4, 0 + k * 52),
                                           (760 + k * 4, 26 + k * 52), (180 + k * 4, 66 + k * 52)), fill=255)
                                for k in range(10)])
    window = new_mask(lambda d: d.polygon(((150, 20), (800, -30), (860, 560), (120, 600)), fill=255))
    fill_mask(card, ImageChops.multiply(slats, window).filter(ImageFilter.GaussianBlur(3)), (236, 232, 222), 0.8)
    glow(card, (620, 330), 170, (200, 200, 196), 70)
    figure = (8, 8, 8, 255)
    coat = ((548, 300), (566, 276), (600, 266), (640, 266), (674, 276), (692, 300), (708, 420), (734, 560),
            (506, 560), (532, 420))
    put(card, lambda d: (d.polygon(coat, fill=figure),
                         d.polygon(((600, 266), (620, 330), (640, 266)), fill=(30, 30, 30, 255)),
                         d.ellipse((592, 196, 648, 268), fill=figure),
                         d.ellipse((548, 192, 692, 220), fill=figure),
                         d.chord((584, 140, 656, 240), 180, 360, fill=figure),
                         d.rectangle((585, 180, 655, 192), fill=(52, 52, 52, 255))))
    put(card, lambda d: d.line(((566, 276), (548, 300), (532, 420)), fill=(180, 180, 176, 160), width=3))
    put(card, lambda d: [d.line((x, y, x - 10, y + 44), fill=(200, 200, 200, 70), width=1)
                         for x, y in ((rng.uniform(0, W + 20), rng.uniform(-40, H)) for _ in range(200))])
    grain(card, rng, 0.3)
    vignette(card, 170)


def draw_fantasy(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#140f3a"), (0.45, "#4a2677"), (0.8, "#c2668a"), (1, "#f0b65e")]))
    put(card, lambda d: [d.ellipse((x, y, x + s, y + s), fill=(255, 250, 230, rng.randrange(120, 255)))
                         for x, y, s in ((rng.uniform(0, W), rng.uniform(0, 280), rng.uniform(1.5, 4))
                                         for _ in range(160))])
    glow(card, (230, 140), 120, rgb("#fff2c8"), 110)
    put(card, lambda d: d.ellipse((180, 90, 280, 190), fill=(255, 246, 220, 255)))
    rock = [(440, 300), (820, 300), (760, 360), (700, 400), (640, 470), (610, 520), (580, 450), (520, 390)]
    put(card, lambda d: d.polygon(rock, fill=(40, 24, 60, 255)))
    put(card, lambda d: d.polygon(((440, 300), (820, 300), (800, 318), (460, 318)), fill=(94, 160, 120, 255)))
    castle = (34, 20, 58, 255)

    def towers(d: ImageDraw.ImageDraw) -> None:
        d.rectangle((540, 200, 720, 300), fill=castle)
        for x, w, h in ((520, 44, 150), (600, 56, 200), (690, 46, 160)):
            d.rectangle((x, 300 - h, x + w, 300), fill=castle)
            d.polygon(((x - 8, 300 - h), (x + w + 8, 300 - h), (x + w / 2, 300 - h - 60)), fill=castle)
        d.rounded_rectangle((618, 250, 638, 300), 10, fill=(255, 200, 110, 255))
        for x, y in ((538, 190), (620, 150), (706, 180)):
            d.rectangle((x, y, x + 8, y + 14), fill=(255, 210, 120, 255))

    put(card, towers)
    for _ in range(40):
        x, y, r = rng.uniform(300, 960), rng.uniform(120, 520), rng.uniform(3, 7)
        put(card, lambda d, x=x, y=y, r=r: d.ellipse((x - r * 3, y - r * 3, x + r * 3, y + r * 3),
                                                     fill=(255, 214, 120, 90)), blur=r * 1.5, base=(255, 214, 120))
        put(card, lambda d, x=x, y=y, r=r: d.ellipse((x - r / 2, y - r / 2, x + r / 2, y + r / 2),
                                                     fill=(255, 240, 200, 255)))
    put(card, lambda d: d.rectangle((0, 470, W, 540), fill=(255, 210, 190, 90)), blur=26, base=(255, 210, 190))


def draw_custom(card: Image.Image, rng: random.Random) -> None:
    card.paste(gradient([(0, "#eceff3"), (1, "#d3d9e2")]))
    box = (370, 130, 590, 350)
    put(card, lambda d: [d.line(seg, fill=(110, 120, 140, 255), width=5) for seg in _dashes(box, 26, 16)])
    put(card, lambda d: (d.rounded_rectangle((474, 180, 486, 300), 6, fill=(88, 100, 220, 255)),
                         d.rounded_rectangle((420, 234, 540, 246), 6, fill=(88, 100, 220, 255))))


def _dashes(box: tuple[int, int, int, int], dash: int, gap: int) -> list[tuple[int, int, int, int]]:
    x0, y0, x1, y1 = box
    segments = []
    for start in range(x0, x1, dash + gap):
        end = min(start + dash, x1)
        segments += [(start, y0, end, y0), (start, y1, end, y1)]
    for start in range(y0, y1, dash + gap):
        end = min(start + dash, y1)
        segments += [(x0, start, x0, end), (x1, start, x1, end)]
    return segments


# --- the card --------------------------------------------------------------------------------

PALETTES = {
    "none": ("#f1efe9", "#c9c3b6", "#8c867b", "#46423c", "#c96a3a"),
    "cinematic": ("#0b1f27", "#1f4f5c", "#5f8f94", "#e0903a", "#ffd28a"),
    "documentary": ("#e6e2d3", "#9aa39a", "#5f6b52", "#4a5240", "#e2342a"),
    "anime": ("#2f7fe0", "#8fd0ff", "#ffffff", "#5cc46a", "#ffe066"),
    "chinese-ink": ("#f4ecda", "#b8b0a0", "#5a5650", "#1e1c1a", "#b22a22"),
    "claymation": ("#fbd9bd", "#ffc23d", "#e8685a", "#7cc47f", "#5aa7a0"),
    "cyberpunk": ("#0c0420", "#2a0b4a", "#ff2e88", "#00ebff", "#ffd24a"),
    "product-shot": ("#e9ecf0", "#aab1bb", "#2f6f6a", "#163c3a", "#c4a05c"),
    "nature-macro": ("#0b2110", "#2f7d32", "#8fd14f", "#e4f7b8", "#f2e38b"),
    "aerial-drone": ("#587a34", "#a7c05e", "#d6c27a", "#34769f", "#ffb347"),
    "vintage-film": ("#26181a", "#b8743f", "#e6b57e", "#ff5a1f", "#ffecbe"),
    "watercolour": ("#fbf8f1", "#7fb2d9", "#e99aa8", "#f0c977", "#94c7a3"),
    "3d-render": ("#e5e1f7", "#4b2fb8", "#c7b8ff", "#f29c54", "#7fe0d0"),
    "noir": ("#0a0a0a", "#2b2b2b", "#6e6e6e", "#b4b4b4", "#ece8de"),
    "fantasy": ("#140f3a", "#4a2677", "#c2668a", "#f0b65e", "#fff2c8"),
    "_custom": ("#eceff3", "#d3d9e2", "#8a94a6", "#6e78c8", "#5864dc"),
}
MOTIFS: dict[str, Callable[[Image.Image, random.Random], None]] = {
    "none": draw_none, "cinematic": draw_cinematic, "documentary": draw_documentary, "anime": draw_anime,
    "chinese-ink": draw_chinese_ink, "claymation": draw_claymation, "cyberpunk": draw_cyberpunk,
    "product-shot": draw_product_shot, "nature-macro": draw_nature_macro, "aerial-drone": draw_aerial_drone,
    "vintage-film": draw_vintage_film, "watercolour": draw_watercolour, "3d-render": draw_3d_render,
    "noir": draw_noir, "fantasy": draw_fantasy, "_custom": draw_custom,
}


def make_card(name: str, title: str) -> Image.Image:
    """Motif, then the shared frosted title band with the palette chips: one layout for every card."""
    rng = random.Random(f"wan-studio-card:{name}")
    card = Image.new("RGBA", (W, H))
    MOTIFS[name](card, rng)
    band = card.crop((0, H - BAND, W, H)).filter(ImageFilter.GaussianBlur(18))
    band = Image.blend(band, Image.new("RGBA", band.size, (12, 12, 16, 255)), 0.62)
    card.paste(band, (0, H - BAND))
    put(card, lambda d: d.line((0, H - BAND, W, H - BAND), fill=(255, 255, 255, 70), width=2))
    put(card, lambda d: d.text((20 * S, H - BAND / 2), title, font=font(25 * S), fill=(255, 255, 255, 255),
                               anchor="lm"))
    chips = PALETTES[name]
    for i, color in enumerate(reversed(chips)):
        x = W - 20 * S - 7 * S - i * 17 * S
        put(card, lambda d, x=x, c=color: d.ellipse((x - 7 * S, H - BAND / 2 - 7 * S, x + 7 * S, H - BAND / 2 + 7 * S),
                                                     fill=alpha(rgb(c), 255), outline=(255, 255, 255, 150), width=S))
    return card.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS)


def contact_sheet(cards: list[Image.Image], columns: int = 4) -> Image.Image:
    """All cards at half size on one page, to judge them as a set (kept small for the repository)."""
    gap, (w, h) = 12, (SIZE[0] // 2, SIZE[1] // 2)
    rows = math.ceil(len(cards) / columns)
    sheet = Image.new("RGB", (columns * (w + gap) + gap, rows * (h + gap) + gap), (28, 28, 32))
    for i, image in enumerate(cards):
        sheet.paste(image.resize((w, h), Image.Resampling.LANCZOS),
                    (gap + (i % columns) * (w + gap), gap + (i // columns) * (h + gap)))
    return sheet


def main() -> None:
    presets = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "presets").glob("*.json"))]
    presets.sort(key=lambda p: (p["order"], p["title"]))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cards = []
    for preset in [*presets, {"name": "_custom", "title": "Your preset"}]:
        image = make_card(preset["name"], preset["title"])
        image.save(OUT_DIR / f"{preset['name']}.png", optimize=True)
        cards.append(image)
    contact_sheet(cards).save(OUT_DIR / "_sheet.png", optimize=True)
    print(f"wrote {len(cards)} cards and _sheet.png to {OUT_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
