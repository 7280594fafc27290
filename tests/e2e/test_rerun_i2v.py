"""Re-run of an image-to-video job from the History tab, in a real browser: the Create tab has no start-image
input, so the job's stored request (its image, seed and settings) is queued as it is and the Create tab follows it
to a playable video."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from PIL import Image

from studio import video
from studio.history import History
from studio.images import prepare_image
from studio.models import MODELS
from studio.request import GenerationRequest
from tests.e2e.test_browser import _open, _video_state, browser  # noqa: F401  (the module's browser fixture)
from tests.e2e.test_history_page import _select


def _i2v_job(outputs, tmp_path) -> str:
    """A finished tiny-i2v job as the studio records one: its start image stored under outputs/images."""
    y, x = np.mgrid[0:256, 0:256]
    picture = tmp_path / "start.png"
    Image.fromarray(np.stack([x, y, (x + y) // 2], -1).astype(np.uint8)).save(picture)
    request = GenerationRequest.create(MODELS["tiny-i2v"], "a lighthouse keeper waves from the gallery",
                                       image=str(picture), width=256, height=256, frames=9, steps=2, seed=4242)
    stored = prepare_image(picture, outputs / "images", request.width, request.height)
    request = dataclasses.replace(request, image=stored.path, image_sha256=stored.sha256)
    history = History(outputs)
    (outputs / "videos").mkdir(parents=True, exist_ok=True)
    job_id = history.create(request.to_dict(), status="running")  # never queued: no worker takes it
    thumbnail = video.write_thumbnail(np.asarray(Image.open(picture)), outputs / "videos" / f"{job_id}.jpg")
    history.update(job_id, status="done", model="tiny-i2v", thumbnail=str(thumbnail), created=time.time())
    return job_id


def test_rerun_an_image_to_video_job_from_history(browser, server, artifacts, tmp_path):  # noqa: F811
    original = _i2v_job(server.outputs, tmp_path)
    page = _open(browser, server, 1280, 900)
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector("#history_gallery .thumbnail-item", timeout=30_000)
    _select(page, "lighthouse keeper")
    page.click("#history_rerun")
    page.wait_for_function("() => document.querySelector('#tab_create-button').getAttribute('aria-selected') === 'true'",
                           timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#result video'); return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=180_000,
    )
    assert _video_state(page)["error"] is None
    page.screenshot(path=str(artifacts / "rerun-i2v-1280x900.png"), full_page=True)
    jobs = [j for j in History(server.outputs).list() if j["prompt"].startswith("a lighthouse keeper")]
    again = next(j for j in jobs if j["id"] != original)
    assert again["status"] == "done" and again["seed"] == 4242 and again["model"] == "tiny-i2v"
    assert again["request"]["image_sha256"] == History(server.outputs).get(original)["request"]["image_sha256"]
