"""Wan Studio: prompt -> language layer -> Wan2.2 pipeline -> previews -> H.264 MP4 -> history."""

import logging
import os

# Expandable segments keep the CUDA allocator from stranding memory between the big, differently
# sized tensors of a 720P job: measured on an H100 capped at 40 GB, `expert-swap` ran out of memory
# at 35.3 GB allocated without them and finished with them (BENCHMARKS.md). Read when CUDA first
# allocates, so setting it here (before any model loads) is early enough; a user's own setting wins.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


class _NoTorchvisionNotice(logging.Filter):
    """diffusers' image-to-video pipeline module imports transformers' CLIP image processor, which warns on every
    start that torchvision is missing. No Wan2.2 model the studio runs uses that processor (I2V-A14B has no image
    encoder; start images are prepared by studio.images), so the line says nothing true about the studio."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision" not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_NoTorchvisionNotice())
