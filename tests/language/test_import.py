"""Importing the layer is free: no model, no torch, no thread."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, threading
before = threading.active_count()
import studio.language
from studio.language import LanguageLayer
LanguageLayer("marian")  # building a layer loads nothing either
assert threading.active_count() == before, threading.enumerate()
heavy = [name for name in ("torch", "transformers", "sentencepiece") if name in sys.modules]
assert not heavy, heavy
"""


def test_import_loads_nothing() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
