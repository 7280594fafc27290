import av
import numpy as np
import pytest

from studio.errors import StorageError
from studio.video import read_metadata, write_json, write_mp4, write_thumbnail


def _frames(count=9, height=64, width=96):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (count, height, width, 3), dtype=np.uint8)


def test_mp4_is_h264_yuv420p_faststart_with_metadata(tmp_path):
    path = write_mp4(_frames(), tmp_path / "a.mp4", 16, {"prompt": "一只猫", "seed": 7, "settings": {"steps": 2}})
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (96, 64)
        assert float(stream.average_rate) == 16
        assert sum(1 for _ in container.decode(stream)) == 9
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading
    assert read_metadata(path) == {"prompt": "一只猫", "seed": 7, "settings": {"steps": 2}}
    assert not list(tmp_path.glob(".*partial*"))


def test_odd_sizes_and_wrong_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_mp4(_frames(height=63), tmp_path / "a.mp4", 16, {})
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(_frames().astype(np.float32), tmp_path / "a.mp4", 16, {})


def test_full_disk_is_a_storage_error(tmp_path, monkeypatch):
    """A write that fails with ENOSPC surfaces as a StorageError naming the fix, and leaves nothing behind."""
    import errno
    import os as os_module

    real_replace = os_module.replace

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("studio.video.os.replace", no_space)
    with pytest.raises(StorageError, match="No space left on device.*free disk space"):
        write_mp4(_frames(), tmp_path / "a.mp4", 16, {})
    monkeypatch.setattr("studio.video.os.replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def test_sidecar_and_thumbnail(tmp_path):
    sidecar = write_json({"prompt": "雪山", "seed": 1}, tmp_path / "a.json")
    assert '"雪山"' in sidecar.read_text(encoding="utf-8")
    thumb = write_thumbnail(_frames(1, 720, 1280)[0], tmp_path / "a.jpg")
    import cv2

    image = cv2.imread(str(thumb))
    assert image.shape == (216, 384, 3)
