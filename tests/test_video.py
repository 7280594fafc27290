import av
import numpy as np
import pytest

from studio.errors import StorageError
from studio.video import Mp4Writer, read_metadata, write_json, write_mp4, write_thumbnail


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


def test_writer_encodes_chunks_as_they_come(tmp_path):
    frames = _frames(9)
    with Mp4Writer(tmp_path / "a.mp4", 16, {"prompt": "雪山", "seed": 1}) as writer:
        for chunk in (frames[:1], frames[1:5], frames[5:5], frames[5:]):
            writer.add(chunk)
        assert writer.frames_added == 9
        path = writer.close()
    assert path == tmp_path / "a.mp4"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height) == (96, 64)
        assert sum(1 for _ in container.decode(stream)) == 9
    assert read_metadata(path) == {"prompt": "雪山", "seed": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_writer_refuses_chunks_unlike_the_first(tmp_path):
    with Mp4Writer(tmp_path / "a.mp4", 16, {}) as writer:
        writer.add(_frames(2))
        with pytest.raises(ValueError, match="expected frames of 96x64 like the first ones, got 64x64"):
            writer.add(_frames(2, width=64))
        with pytest.raises(ValueError, match="uint8"):
            writer.add(_frames(2).astype(np.float32))
    assert writer.frames_added == 2 and (tmp_path / "a.mp4").is_file()


def test_abort_leaves_nothing_and_can_be_repeated(tmp_path):
    writer = Mp4Writer(tmp_path / "a.mp4", 16, {})
    writer.add(_frames(9))
    writer.abort()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="already closed or aborted"):
        writer.add(_frames(1))
    Mp4Writer(tmp_path / "b.mp4", 16, {}).abort()  # nothing added: nothing to stop
    assert list(tmp_path.iterdir()) == []


def test_an_exception_in_the_with_block_aborts(tmp_path):
    with pytest.raises(KeyError):
        with Mp4Writer(tmp_path / "a.mp4", 16, {}) as writer:
            writer.add(_frames(4))
            raise KeyError("the producer failed")
    assert list(tmp_path.iterdir()) == []


def test_abort_after_close_keeps_the_video(tmp_path):
    writer = Mp4Writer(tmp_path / "a.mp4", 16, {})
    writer.add(_frames(2))
    writer.close()
    writer.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


def test_writer_rename_failure_is_a_storage_error(tmp_path, monkeypatch):
    import errno

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = Mp4Writer(tmp_path / "a.mp4", 16, {})
    writer.add(_frames(4))
    monkeypatch.setattr("studio.video.os.replace", no_space)
    with pytest.raises(StorageError, match="could not write .*a.mp4: No space left on device.*free disk space"):
        writer.close()
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_encoder_failure_reaches_the_producer_as_a_storage_error(tmp_path, monkeypatch):
    """The encoding thread cannot write (ENOSPC as the file opens): the next add, or close, raises it."""
    import errno

    real_open = av.open

    def full_disk(path, mode="r", **options):
        if mode == "w":
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real_open(path, mode, **options)

    monkeypatch.setattr("studio.video.av.open", full_disk)
    with pytest.raises(StorageError, match="No space left on device.*free disk space"):
        with Mp4Writer(tmp_path / "a.mp4", 16, {}) as writer:
            for chunk in np.split(_frames(8), 8):
                writer.add(chunk)
    assert list(tmp_path.iterdir()) == []
