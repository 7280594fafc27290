"""Presets: the built-ins are valid and drawn, user presets round-trip, bad files get clear messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from studio.presets import (ASSETS_DIR, BUILTIN_DIR, MAX_FILE_BYTES, USER_DEFAULTS, InvalidPreset, PresetExists,
                            check_name, export_preset, get_preset, import_preset, load_presets, save_user_preset,
                            slugify)

BUILTIN_STYLES = {"none", "cinematic", "documentary", "anime", "chinese-ink", "claymation", "cyberpunk",
                  "product-shot", "nature-macro", "aerial-drone", "vintage-film", "watercolour", "3d-render"}


@pytest.fixture(scope="module")
def builtins():
    return load_presets(BUILTIN_DIR, None, ASSETS_DIR)


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def only_problem(user_dir: Path) -> str:
    """Load with one user file and return the problem it caused (it must not crash the list)."""
    presets = load_presets(BUILTIN_DIR, user_dir, ASSETS_DIR)
    assert all(preset.source == "builtin" for preset in presets)
    assert len(presets.problems) == 1, presets.problems
    return presets.problems[0]


# --- built-ins -------------------------------------------------------------------------------

def test_builtins_load_validate_and_have_thumbnails(builtins):
    assert builtins.problems == []
    assert len(builtins) >= 14
    assert BUILTIN_STYLES <= {preset.name for preset in builtins}
    for preset in builtins:
        assert preset.source == "builtin"
        assert preset.thumbnail is not None and preset.thumbnail.is_file(), preset.name
        assert preset.thumbnail.is_relative_to(ASSETS_DIR.resolve())
        assert preset.title and preset.description and "\n" not in preset.description
        assert preset.prompt.count("{prompt}") == 1


def test_builtin_files_are_complete_version_1():
    for path in BUILTIN_DIR.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["version"] == 1 and data["name"] == path.stem
        assert data["thumbnail"] == f"presets/{path.stem}.png"


def test_order_is_by_order_then_title_and_plain_comes_first(builtins):
    keys = [(preset.order, preset.title.casefold()) for preset in builtins]
    assert keys == sorted(keys)
    assert builtins[0].name == "none"
    assert builtins[0].apply("  a red fox   in snow ") == "a red fox in snow"
    assert builtins[0].negative_prompt is None and dict(builtins[0].settings) == {}


def test_apply_puts_the_prompt_in_place(builtins):
    cinematic = get_preset("cinematic", builtins)
    text = cinematic.apply("a lighthouse keeper climbs the stairs at dawn.")
    assert text.startswith("cinematic scene, a lighthouse keeper climbs the stairs at dawn, filmed on")
    assert "{prompt}" not in text and "  " not in text and ".," not in text
    assert cinematic.apply("").startswith("cinematic scene, filmed on")
    for preset in builtins:
        assert "雪山上的狐狸" in preset.apply("雪山上的狐狸")


def test_settings_are_recommendations_within_model_limits(builtins):
    sized = [preset for preset in builtins if "width" in preset.settings]
    assert len(sized) <= 3, "most presets leave the size alone"
    assert dict(get_preset("claymation", builtins).settings) == {"fps": 12}
    assert dict(get_preset("aerial-drone", builtins).settings) == {"width": 1280, "height": 720}


def test_preset_is_frozen(builtins):
    with pytest.raises(AttributeError):
        builtins[0].prompt = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        builtins[1].settings["steps"] = 4  # type: ignore[index]


# --- user presets ----------------------------------------------------------------------------

def test_save_and_load_round_trip_with_inheritance(tmp_path, builtins):
    path = save_user_preset(tmp_path, "neon-rain", "Neon Rain", "neon rain at night, {prompt}, wet streets", None,
                            {"steps": 30, "guidance_scale": 4.5})
    assert path == (tmp_path / "neon-rain.json").resolve()
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert "order" not in stored and "thumbnail" not in stored, "left-out keys are inherited, not copied"
    presets = load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)
    assert presets.problems == []
    mine = get_preset("neon-rain", presets)
    assert mine.source == "user" and mine.title == "Neon Rain"
    assert dict(mine.settings) == {"steps": 30, "guidance_scale": 4.5}
    assert mine.order == USER_DEFAULTS["order"] and presets[-1] is mine, "user presets come after the built-ins"
    assert mine.negative_prompt is None and mine.description == ""
    assert mine.thumbnail == (ASSETS_DIR / "presets" / "_custom.png").resolve()
    assert mine.apply("a cat") == "neon rain at night, a cat, wet streets"


def test_a_minimal_user_file_inherits_everything(tmp_path):
    write(tmp_path, "just-grain", {"version": 1, "prompt": "{prompt}, heavy film grain"})
    mine = get_preset("just-grain", load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR))
    assert mine.title == "Just grain" and mine.order == 1000 and dict(mine.settings) == {}


def test_save_refuses_overwrite_builtin_names_and_bad_values(tmp_path, builtins):
    save_user_preset(tmp_path, "mine", "Mine", "{prompt}", "blurry", {})
    with pytest.raises(InvalidPreset, match="already exists"):
        save_user_preset(tmp_path, "mine", "Mine", "{prompt}", None, {})
    save_user_preset(tmp_path, "mine", "Mine again", "{prompt}", None, {}, overwrite=True)
    builtin_names = {preset.name for preset in builtins}
    with pytest.raises(InvalidPreset, match="built-in"):
        save_user_preset(tmp_path, "cinematic", "Mine", "{prompt}", None, {}, reserved=builtin_names)
    with pytest.raises(InvalidPreset, match=r'"settings.steps" must be from 1 to 100; got 0'):
        save_user_preset(tmp_path, "zero", "Zero", "{prompt}", None, {"steps": 0})
    assert not (tmp_path / "zero.json").exists(), "nothing invalid reaches the disk"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.json"], "no temporary files left behind"


def test_user_file_with_a_builtin_name_is_skipped(tmp_path):
    write(tmp_path, "cinematic", {"version": 1, "prompt": "{prompt}"})
    assert "belongs to a built-in preset" in only_problem(tmp_path)


def test_export_import_round_trip(tmp_path, builtins):
    source = get_preset("vintage-film", builtins)
    text = export_preset(source)
    assert json.loads(text)["version"] == 1
    imported = import_preset(text.replace('"vintage-film"', '"my-super8"'), tmp_path)
    assert imported.source == "user" and imported.name == "my-super8"
    for field in ("title", "description", "prompt", "negative_prompt", "settings", "order"):
        assert getattr(imported, field) == getattr(source, field), field
    reloaded = get_preset("my-super8", load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR))
    assert export_preset(reloaded) == text.replace('"vintage-film"', '"my-super8"')
    with pytest.raises(InvalidPreset, match="already exists"):
        import_preset(text.replace('"vintage-film"', '"my-super8"').encode(), tmp_path)


# --- versions --------------------------------------------------------------------------------

def test_version_0_file_is_upgraded(tmp_path):
    write(tmp_path, "old-style", {"name": "old-style", "style": "oil painting of {prompt}, impasto"})
    presets = load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)
    old = get_preset("old-style", presets)
    assert presets.problems == [] and old.apply("a harbour") == "oil painting of a harbour, impasto"
    imported = import_preset(json.dumps({"name": "older", "style": "{prompt} in pastel"}), tmp_path)
    assert imported.prompt == "{prompt} in pastel"
    assert json.loads((tmp_path / "older.json").read_text())["version"] == 1, "stored upgraded"


def test_newer_version_asks_for_an_update(tmp_path):
    write(tmp_path, "future", {"version": 7, "name": "future", "prompt": "{prompt}"})
    assert "update Wan Studio" in only_problem(tmp_path)


# --- bad files: each names the file, the field, the value and the fix -------------------------

BAD_DOCUMENTS = [
    ("{not json", r'is not valid JSON \(line 1, column 2'),
    ("[1, 2, 3]", r'must be a JSON object'),
    ({"version": 1, "prompt": "neon city"},
     r'preset "bad.json": "prompt" must contain "\{prompt\}" exactly once; got "neon city". '
     r"Fix: add \{prompt\} where the user's text goes."),
    ({"version": 1, "prompt": "{prompt} and {prompt}"}, r'"prompt" must contain .* Fix: keep one \{prompt\}'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"seed": 1}},
     r'"settings.seed" is not a setting a preset may recommend; got 1. Fix: remove it; allowed settings are width'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"guidance_scale": 99}},
     r'"settings.guidance_scale" must be from 0 to 20; got 99'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"frames": 80}},
     r'"settings.frames" must be 4k\+1 .* got 80. Fix: use 77 or 81'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"width": 1000, "height": 700}},
     r'"settings.width/height" must be an official Wan2.2 size .* got "1000x700"'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"width": 1280}}, r'must give "width" and "height" together'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"steps": "forty"}},
     r'"settings.steps" must be a whole number; got "forty". Fix: write a number'),
    ({"version": 1, "prompt": "{prompt}", "settings": {"steps": True}}, r'"settings.steps" must be a whole number'),
    ({"version": 1, "prompt": "{prompt}", "settings": [1]}, r'"settings" must be an object'),
    ({"version": 1, "prompt": 42}, r'"prompt" must be text; got 42'),
    ({"version": 1, "prompt": "{prompt}", "title": ""}, r'"title" must not be empty'),
    ({"version": 1, "prompt": "{prompt}", "order": "first"}, r'"order" must be a whole number'),
    ({"version": 1, "prompt": "{prompt}", "colour": "red"}, r'"colour" is not a preset field; got "red"'),
    ({"version": "one", "prompt": "{prompt}"}, r'"version" must be a whole number'),
    ({"version": 1, "name": "other", "prompt": "{prompt}"}, r'"name" must match the file name; got "other"'),
    ({"version": 1, "prompt": "{prompt}", "thumbnail": "../../etc/passwd.png"},
     r'"thumbnail" must stay inside assets/'),
    ({"version": 1, "prompt": "{prompt}", "thumbnail": "/etc/hosts.png"}, r'"thumbnail" must stay inside assets/'),
]


@pytest.mark.parametrize(("document", "expected"), BAD_DOCUMENTS)
def test_bad_user_file_is_skipped_with_a_clear_problem(tmp_path, document, expected):
    write(tmp_path, "bad", document)
    problem = only_problem(tmp_path)
    assert '"bad.json"' in problem and "Fix:" in problem
    assert re.search(expected, problem), problem


@pytest.mark.parametrize(("document", "expected"), [case for case in BAD_DOCUMENTS if "file name" not in case[1]])
def test_bad_import_is_refused_and_nothing_is_stored(tmp_path, document, expected):
    data = document if isinstance(document, str) else json.dumps({"name": "bad", **document})
    with pytest.raises(InvalidPreset, match=expected):
        import_preset(data, tmp_path / "user")
    assert not (tmp_path / "user").exists()


def test_bad_builtin_raises_and_builtins_inherit_nothing(tmp_path):
    """A broken built-in is a bug in the studio, not a user's file to skip."""
    complete = json.loads((BUILTIN_DIR / "noir.json").read_text(encoding="utf-8"))
    write(tmp_path, "noir", {**complete, "prompt": "no placeholder"})
    with pytest.raises(InvalidPreset, match='"noir.json": "prompt" must contain'):
        load_presets(tmp_path, None, ASSETS_DIR)
    write(tmp_path, "noir", {key: value for key, value in complete.items() if key != "description"})
    with pytest.raises(InvalidPreset, match='"noir.json": "description" is missing'):
        load_presets(tmp_path, None, ASSETS_DIR)


def test_huge_file_is_refused_before_parsing(tmp_path):
    write(tmp_path, "huge", '{"version": 1, "prompt": "{prompt}", "x": "' + "a" * MAX_FILE_BYTES + '"}')
    assert "at most 64 KiB" in only_problem(tmp_path)
    with pytest.raises(InvalidPreset, match="at most 64 KiB"):
        import_preset(b"[" * (MAX_FILE_BYTES + 1), tmp_path)


def test_deeply_nested_json_is_refused(tmp_path):
    with pytest.raises(InvalidPreset, match="nested too deeply|not valid JSON"):
        import_preset("[" * 60_000, tmp_path)


def test_not_utf8_is_refused(tmp_path):
    with pytest.raises(InvalidPreset, match="not UTF-8"):
        import_preset(b"\xff\xfe{\x00", tmp_path)


@pytest.mark.parametrize("name", ["../evil", "../../etc/passwd", "/etc/passwd", "a/b", "..", "C:\\x",
                                  "~root", "Cinematic", "", "x" * 49, "-dash"])
def test_names_that_could_escape_are_rejected(tmp_path, builtins, name):
    with pytest.raises(InvalidPreset, match="preset name"):
        check_name(name)
    with pytest.raises(InvalidPreset, match="preset name"):
        get_preset(name, builtins)
    with pytest.raises(InvalidPreset):
        save_user_preset(tmp_path / "user", name, "T", "{prompt}", None, {})
    with pytest.raises(InvalidPreset, match='"name"'):
        import_preset(json.dumps({"version": 1, "name": name, "prompt": "{prompt}"}), tmp_path / "user")
    assert not any(tmp_path.rglob("*.json")), "nothing was written anywhere"


def test_path_like_name_message_says_so():
    with pytest.raises(InvalidPreset, match=r'preset name "../evil" looks like a path.* Fix: use .*"evil"'):
        check_name("../evil")


def test_symlink_out_of_the_user_folder_is_skipped(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"version": 1, "prompt": "{prompt}"}))
    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "sneaky.json").symlink_to(outside)
    assert "points outside the presets folder" in only_problem(user_dir)


def test_unknown_name_lists_the_available_ones(builtins):
    with pytest.raises(InvalidPreset, match=r'unknown preset "nope". Fix: use one of: none, cinematic, '):
        get_preset("nope", builtins)


def test_slugify_makes_valid_names():
    assert slugify("My Neon Look!") == "my-neon-look"
    assert slugify("  My   Neon Look ") == "my-neon-look"
    assert re.fullmatch(r"preset-[0-9a-f]{8}", check_name(slugify("???")))
    long = check_name(slugify("x" * 100 + " y"))
    assert long.startswith("x" * 39) and len(long) == 48 and long != slugify("x" * 100 + " z")


def test_titles_a_slug_cannot_spell_never_share_a_name():
    """Issue 23.5: every Chinese or emoji title became "my-preset", so each save erased the one before."""
    titles = ["霓虹", "水墨", "🔥", "🌊", "Neon 🔥", "Neon 🌊", "Café noir", "Cafe noir", "Кино", "アニメ"]
    names = [check_name(slugify(title)) for title in titles]
    assert len(set(names)) == len(titles), dict(zip(titles, names))
    assert slugify("霓虹") == slugify("霓虹") and slugify("Neon 🔥").startswith("neon-")


def test_saving_a_taken_name_asks_and_names_what_it_would_replace(tmp_path):
    first = save_user_preset(tmp_path, slugify("霓虹"), "霓虹", "neon, {prompt}", None, {})
    second = save_user_preset(tmp_path, slugify("水墨"), "水墨", "ink, {prompt}", None, {})
    assert first != second and len(list(tmp_path.glob("*.json"))) == 2
    with pytest.raises(PresetExists, match=r'"霓虹"\) already exists\. Fix: choose another name, or confirm') as asked:
        save_user_preset(tmp_path, slugify("霓虹"), "霓虹", "other, {prompt}", None, {})
    assert asked.value.title == "霓虹" and asked.value.name == first.stem
    assert get_preset(first.stem, load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)).prompt == "neon, {prompt}"
    save_user_preset(tmp_path, slugify("霓虹"), "霓虹", "other, {prompt}", None, {}, overwrite=True)
    assert get_preset(first.stem, load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)).prompt == "other, {prompt}"


def test_import_of_a_taken_name_asks_or_is_stored_as_a_copy(tmp_path, builtins):
    text = export_preset(get_preset("vintage-film", builtins)).replace('"vintage-film"', '"super8"')
    import_preset(text, tmp_path)
    with pytest.raises(PresetExists):
        import_preset(text, tmp_path)
    copy = import_preset(text, tmp_path, rename=True)
    third = import_preset(text, tmp_path, rename=True)
    title = get_preset("vintage-film", builtins).title
    assert (copy.name, copy.title) == ("super8-2", f"{title} (2)")
    assert (third.name, third.title) == ("super8-3", f"{title} (3)")
    presets = load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)
    assert presets.problems == [] and get_preset("super8-3", presets).title == f"{title} (3)"
    assert get_preset("super8", presets).title == title, "the original is untouched"


# --- the page: Save asks before replacing, Import never replaces ------------------------------

SAVE_VALUES = ("none", "", "832x480", 5 / 16, 16, 4, 5.0, 5.0, 3.0, "tiny")


@pytest.fixture
def studio(tmp_path):
    from studio.config import StudioConfig
    from studio.service import Studio

    return Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))


def test_the_save_button_asks_before_replacing(studio):
    """Issue 23.5: Save replaced a preset of the same name and said it succeeded."""
    import gradio as gr

    from studio.ui.create import SAVE_LABEL, _save_preset

    _save_preset(studio, "霓虹", *SAVE_VALUES)
    (name,) = [p.name for p in studio.presets() if p.source == "user"]
    _save_preset(studio, "水墨", *SAVE_VALUES)
    assert len([p for p in studio.presets() if p.source == "user"]) == 2, "another title is another preset"
    changed = ("none", "ugly", *SAVE_VALUES[2:4], 16, 30, *SAVE_VALUES[6:])
    with pytest.warns(UserWarning, match="You already have a preset “霓虹”"):
        _, _, button = _save_preset(studio, "霓虹", *changed, SAVE_LABEL)
    assert button["value"] == "Replace “霓虹”?" and button["variant"] == "stop"
    assert studio.preset(name).settings["steps"] == 4, "nothing was replaced yet"
    with pytest.warns(UserWarning, match="already have"):  # a stale question (another title) asks again
        _save_preset(studio, "霓虹", *changed, "Replace “水墨”?")
    chosen, _, button = _save_preset(studio, "霓虹", *changed, "Replace “霓虹”?")
    assert button["value"] == SAVE_LABEL and chosen["value"] == name
    assert studio.preset(name).settings["steps"] == 30 and studio.preset(name).negative_prompt == "ugly"
    with pytest.raises(gr.Error, match="empty"):
        _save_preset(studio, "  ", *SAVE_VALUES)


def test_importing_a_taken_name_keeps_both(studio, tmp_path):
    from studio.ui.create import _import

    upload = tmp_path / "mine.json"
    upload.write_text(json.dumps({"version": 1, "name": "mine", "title": "Mine", "prompt": "a, {prompt}"}))
    _import(studio, str(upload))
    upload.write_text(json.dumps({"version": 1, "name": "mine", "title": "Mine", "prompt": "b, {prompt}"}))
    with pytest.warns(UserWarning, match="imported as “Mine \\(2\\)”; nothing was replaced"):
        dropdown, _, _ = _import(studio, str(upload))
    assert dropdown["value"] == "mine-2"
    assert (studio.preset("mine").prompt, studio.preset("mine-2").prompt) == ("a, {prompt}", "b, {prompt}")


@pytest.mark.parametrize("content", [b"{not json", b" " * (65 * 1024)], ids=["not JSON", "too big"])
def test_a_rejected_import_is_said_once_and_lets_the_file_go(studio, tmp_path, content):
    from studio.ui.create import _import

    upload = tmp_path / "bad.json"
    upload.write_bytes(content)
    with pytest.warns(UserWarning, match=r"Not imported: .*Fix: ") as said:
        dropdown, gallery, file = _import(studio, str(upload))
    assert len(said) == 1 and file is None, "the drop zone is cleared, not left holding the rejected file"
    assert not [p for p in studio.presets() if p.source == "user"]


def test_missing_thumbnail_is_a_problem_not_a_crash(tmp_path):
    write(tmp_path, "no-image", {"version": 1, "prompt": "{prompt}", "thumbnail": "presets/missing.png"})
    presets = load_presets(BUILTIN_DIR, tmp_path, ASSETS_DIR)
    assert get_preset("no-image", presets).thumbnail is None
    assert "thumbnail" in presets.problems[0] and "missing" in presets.problems[0]


def test_studio_reads_presets_again_only_when_the_folders_change(tmp_path):
    """The language panel asks on every keystroke; a save, an edit or a delete is still seen at once."""
    from studio.config import StudioConfig
    from studio.service import Studio

    studio = Studio(StudioConfig(model="tiny", outputs=tmp_path / "outputs", translator="none"))
    first = studio.presets()
    assert studio.presets() is first
    path = save_user_preset(studio.user_presets_dir, "neon-rain", "Neon Rain", "neon, {prompt}", None, {"steps": 30})
    assert get_preset("neon-rain", studio.presets()).title == "Neon Rain"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "title": "Neon Rain at Night"}), encoding="utf-8")
    assert get_preset("neon-rain", studio.presets()).title == "Neon Rain at Night"
    path.unlink()
    assert {p.name for p in studio.presets()} == {p.name for p in first}
