"""User presets look like themselves in the gallery: a frame of a video made with them, else a card with their title."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from studio.config import StudioConfig
from studio.events import Done
from studio.preset_cards import drawn_card
from studio.presets import save_user_preset, user_folder
from studio.service import Studio


def _user_preset(studio: Studio, name: str, title: str):
    save_user_preset(user_folder(studio.user_presets_dir, None), name, title, "{prompt}, neon", None, {})
    return studio.preset(name)


def test_a_drawn_card_shows_its_title_and_is_drawn_once(tmp_path):
    first = drawn_card("霓虹夜景", tmp_path)
    assert drawn_card("霓虹夜景", tmp_path) == first, "read again, not drawn again"
    other = drawn_card("My neon look", tmp_path)
    pixels = [np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in (first, other)]
    assert pixels[0].shape == (320, 480, 3)
    assert np.abs(pixels[0] - pixels[1]).mean() > 10, "two titles, two different cards"
    title_area = pixels[0][80:200, 60:420]
    assert (title_area > 240).all(axis=2).sum() > 500, "the title is drawn in white over the gradient"


def test_a_user_preset_shows_a_frame_of_the_newest_video_made_with_it(tmp_path):
    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    builtin = studio.preset("cinematic")
    assert studio.preset_card(builtin) == builtin.thumbnail, "built-in presets keep their designed cards"
    mine, yours = _user_preset(studio, "mine", "Mine"), _user_preset(studio, "yours", "Yours")
    drawn = studio.preset_card(mine)
    assert drawn.parent.name == "cards" and drawn != studio.preset_card(yours)
    done = list(studio.generate(studio.request("a lighthouse", preset="mine", width=256, height=256, frames=5,
                                               steps=1)))[-1]
    assert isinstance(done, Done)
    assert studio.preset_card(mine) == Path(done.thumbnail)
    assert studio.preset_card(yours) == drawn_card("Yours", drawn.parent), "a preset nobody used keeps its card"
