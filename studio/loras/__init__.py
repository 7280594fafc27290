"""The LoRA library: files on disk (files.py), named entries and pairs (library.py), what each model's
experts accept (shapes.py), applying and removing sets of LoRAs (fusion.py) and the per-job hook (hook.py).

Importing it loads no weights: files are read when listed (headers only) or applied (tensors).
"""

from __future__ import annotations

from .library import LoraEntry, LoraLibrary, folders_from_env

__all__ = ["LoraEntry", "LoraLibrary", "folders_from_env"]
