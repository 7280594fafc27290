"""Wan Studio: prompt -> language layer -> Wan2.2 pipeline -> previews -> H.264 MP4 -> history."""

import os

# Expandable segments keep the CUDA allocator from stranding memory between the big, differently
# sized tensors of a 720P job: measured on an H100 capped at 40 GB, `expert-swap` ran out of memory
# at 35.3 GB allocated without them and finished with them (BENCHMARKS.md). Read when CUDA first
# allocates, so setting it here (before any model loads) is early enough; a user's own setting wins.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
