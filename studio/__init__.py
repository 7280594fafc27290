"""Wan Studio: prompt -> language layer -> Wan2.2 pipeline -> previews -> H.264 MP4 -> history."""
