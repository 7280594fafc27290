"""Tokens that must reach the model exactly as written: numbers with units and camera jargon.

A translator may turn "35mm" into "35毫米" or "HDR" into "高动态范围"; the video model was trained
on prompts that keep them, so these tokens are cut out of the text before translation (and before
language detection: "8K, HDR" says nothing about the language).
"""

from __future__ import annotations

import re

_EDGE_START = r"(?<![A-Za-z0-9])"
_EDGE_END = r"(?![A-Za-z0-9])"

PROTECTED = re.compile(
    _EDGE_START
    + r"(?:"
    + r"[fƒ]/\d+(?:\.\d+)?"  # aperture: f/1.8
    + r"|ISO\s?\d+"  # sensitivity: ISO 800
    + r"|\d+(?:\.\d+)?:\d+(?:\.\d+)?"  # aspect ratio: 16:9, 2.39:1
    + r"|1/\d+s?"  # shutter: 1/250s
    + r"|\d+(?:\.\d+)?\s(?:mm|fps|FPS|K|MP|Hz)"  # spaced units: 35 mm, 24 fps
    + r"|(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"  # 4K 35mm 60fps 1080p 3D
    + r"|(?:HDR|SDR|UHD|FHD|QHD|HD|IMAX|CGI|CG|VFX|SFX|RGB|LED|DSLR|RAW|LUT|POV|FPV|VR|AR|DOF|GoPro|ARRI)"
    + r")"
    + _EDGE_END
)


def strip_protected(text: str) -> str:
    """The text with every protected token replaced by a space."""
    return PROTECTED.sub(" ", text)
