"""The History tab in a real browser, with a history of 60 jobs: search, filter, page, favourite, re-queue, delete;
then Re-run of an image-to-video job, whose start image the Create tab cannot hold (its stored request is queued as
it is and the Create tab follows it to a playable video)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import video
from studio.history import History
from studio.images import prepare_image
from studio.models import MODELS
from studio.request import GenerationRequest
from tests.e2e.test_browser import ARGS, CHROMIUM, _open, _video_state, browser  # noqa: F401  (its browser fixture)

PROMPTS = ["a lighthouse in a winter storm, waves breaking", "a paper boat drifting down a rainy street",
           "a red fox running through fresh snow at dawn", "neon city at night, slow dolly forward",
           "a lighthouse at dusk seen from a cliff", "雪山上的日出，金色的云海"]


def _fill(outputs: Path) -> str:
    """62 jobs, newest first every 5 hours back: mostly done with real thumbnails, one failed, cancelled and
    interrupted, one done with its MP4, thumbnail and sidecar (its id is returned), and one still running."""
    history, videos = History(outputs), outputs / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for n in range(60):
        status = {7: "failed", 13: "cancelled", 21: "interrupted"}.get(n, "done")
        request = {"prompt": PROMPTS[n % len(PROMPTS)], "model": "tiny", "seed": n, "width": 832, "height": 480,
                   "frames": 81, "steps": 40}
        if status == "interrupted":
            request["width"] = 7  # re-queued by the test: the worker refuses it at once instead of running it
        job_id = history.create(request, status="running")  # never queued: the studio's worker would take it
        fields = {"status": status, "created": time.time() - (59 - n) * 5 * 3600,
                  "model": "tiny-5b" if n % 4 == 0 else "tiny", "batch_id": "storyboard-3" if 40 <= n < 50 else None}
        if status == "done":
            fields["thumbnail"] = str(video.write_thumbnail(_frame(n), videos / f"{job_id}.jpg"))
        history.update(job_id, **fields)
    with_files = _done_with_files(history, videos)
    history.create({"prompt": "the job still running", "model": "tiny"})  # owned by this process: stays running
    return with_files


def _frame(n: int) -> np.ndarray:
    """A colour gradient with a bright diagonal band: cards that look like different videos."""
    y, x = np.mgrid[0:216, 0:384]
    hue = n * 37 % 255
    band = 120 * np.exp(-((((x + 0.6 * y - 23 * n) % 500) - 250) / 40.0) ** 2)
    return np.stack([(x / 384 * 200 + hue) % 255, (y / 216 * 160 + hue / 2) % 255, np.clip(90 + band, 0, 255)],
                    -1).astype(np.uint8)


def _done_with_files(history: History, videos: Path) -> str:
    job_id = history.create({"prompt": "the one to delete: a paper crane unfolding", "model": "tiny", "seed": 99,
                             "width": 832, "height": 480, "frames": 81, "steps": 40})
    frames = np.stack([_frame(n) for n in range(8)])
    with video.Mp4Writer(videos / f"{job_id}.mp4", 8, {"job_id": job_id}) as writer:
        writer.add(frames)
    thumbnail = video.write_thumbnail(frames[4], videos / f"{job_id}.jpg")
    sidecar = videos / f"{job_id}.json"
    sidecar.write_text("{}")
    history.finish(job_id, "done", output=str(videos / f"{job_id}.mp4"), thumbnail=str(thumbnail),
                   sidecar=str(sidecar), seconds=3.2)
    return job_id


def test_browse_search_filter_page_favourite_requeue_and_delete(server, artifacts):
    sync_api = pytest.importorskip("playwright.sync_api")
    with_files = _fill(server.outputs)
    videos = server.outputs / "videos"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = _history(browser, server, 1440, 900)
        _expect_page(page, "page 1 of 3 · 62 jobs")
        assert "running" in _captions(page)[0]  # newest first: the job still running
        _screenshot(page, artifacts / "history-1440x900.png")

        page.click("#history_next")
        _expect_page(page, "page 2 of 3 · 62 jobs")
        page.click("#history_next")
        _expect_page(page, "page 3 of 3 · 62 jobs")
        assert len(_captions(page)) == 62 - 48 and page.locator("#history_next").is_disabled()
        page.click("#history_prev")
        _expect_page(page, "page 2 of 3 · 62 jobs")

        page.fill("#history_search input", "PAPER BOAT")  # any case; back to the first page
        _expect_page(page, "page 1 of 1 · 10 jobs")
        assert all("paper boat" in caption for caption in _captions(page))
        _choose(page, "history_status", "Failed")
        _expect_page(page, "page 1 of 1 · 1 job")
        page.fill("#history_search input", "")
        _choose(page, "history_status", "All statuses")
        _choose(page, "history_model", "tiny-5b")
        _expect_page(page, "page 1 of 1 · 15 jobs")
        _choose(page, "history_batch", "storyboard-3")
        _expect_page(page, "page 1 of 1 · 3 jobs")
        _screenshot(page, artifacts / "history-1440x900-filtered.png")
        page.close()

        page = _history(browser, server, 1440, 900)
        _select(page, "the one to delete")
        page.click("#history_favourite")
        page.wait_for_function("() => document.querySelector('#history_favourite').innerText.includes('★')")
        page.check("#history_favourites input")
        _expect_page(page, "page 1 of 1 · 1 job")
        assert _captions(page)[0].startswith("★ the one to delete")

        page.click("#history_delete")
        page.wait_for_function("() => document.querySelector('#history_delete').innerText.includes('Confirm')")
        assert (videos / f"{with_files}.mp4").exists()  # the first click only asks
        _screenshot(page, artifacts / "history-1440x900-confirm-delete.png")
        page.click("#history_delete")
        _expect_page(page, "page 1 of 1 · 0 jobs")
        assert "No jobs match" in page.inner_text("#history_count")
        assert not any(videos.glob(f"{with_files}.*"))  # its MP4, thumbnail and sidecar are gone

        page.uncheck("#history_favourites input")
        _select(page, "the job still running")
        assert page.locator("#history_delete").is_disabled() and page.locator("#history_requeue").is_disabled()
        _choose(page, "history_status", "Interrupted")
        _select(page, "neon city")
        page.click("#history_requeue")
        page.wait_for_function("() => document.body.innerText.includes('is queued again')")
        page.close()

        phone = _history(browser, server, 390, 844)
        _expect_page(phone, "page 1 of 3 · 61 jobs")
        _screenshot(phone, artifacts / "history-390x844.png")
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 400, f"the History tab scrolls sideways on a phone ({width} px wide)"
        browser.close()


def _history(browser, server, width: int, height: int):
    """A new page at this size with the History tab open."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(server.url, wait_until="load")
    page.get_by_role("tab", name="History").click()
    page.wait_for_selector("#history_gallery .thumbnail-item", timeout=30_000)
    return page


def _expect_page(page, label: str) -> None:
    page.wait_for_function("label => document.querySelector('#history_page').innerText.trim() === label", arg=label,
                           timeout=15_000)


def _captions(page) -> list[str]:
    return page.locator("#history_gallery .caption-label").all_inner_texts()


def _choose(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def _select(page, words: str) -> None:
    """Search for these words, click the first card, then wait for its details."""
    page.fill("#history_search input", words)
    page.wait_for_function("text => { const captions = [...document.querySelectorAll('#history_gallery .caption-label')];"
                           " return captions.length > 0 && captions.every(c => c.innerText.includes(text)); }",
                           arg=words, timeout=15_000)
    page.locator("#history_gallery .thumbnail-item").first.click()
    page.wait_for_function("text => document.querySelector('#history_details').innerText.includes(text)", arg=words,
                           timeout=60_000)  # 30 s ran out once on a machine running four test sessions


def _screenshot(page, path: Path) -> None:
    """A full-page screenshot once the History tab is quiet and every card's thumbnail has loaded (the page load
    refreshes the history more than once, and the gallery loads thumbnails lazily)."""
    page.wait_for_function("""() => {
        const busy = document.querySelector('#tab_history [data-testid=status-tracker]:not(.hide)');
        window.quietSince = busy ? null : (window.quietSince || Date.now());
        return !busy && Date.now() - window.quietSince > 1000; }""", polling=100)
    # Eager on every poll: a refresh that lands after the quiet second renders new, lazy images off screen.
    page.wait_for_function("() => { const images = [...document.querySelectorAll('#history_gallery img')];"
                           " images.forEach(img => img.loading = 'eager');"
                           " return images.every(img => img.complete && img.naturalWidth > 0); }", polling=250)
    page.screenshot(path=str(path), full_page=True)


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
    page.click("#history_use")  # its settings fill Create, and the page says where its start image went
    page.wait_for_selector(".toast-body:has-text('Re-run makes this job again with its image')", timeout=30_000)
    page.get_by_role("tab", name="History").click()
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
