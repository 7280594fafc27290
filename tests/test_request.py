import pytest

from studio.errors import InvalidRequest
from studio.models import MODELS
from studio.request import GenerationRequest, clean_text, frames_for_seconds

A14B = MODELS["wan2.2-t2v-a14b"]
TI2V = MODELS["wan2.2-ti2v-5b"]


def test_defaults_follow_the_model():
    request = GenerationRequest.create(A14B, "a crane over a misty lake")
    assert (request.width, request.height, request.frames) == (1280, 720, 81)
    assert (request.steps, request.guidance_scale, request.guidance_scale_2, request.flow_shift) == (40, 4.0, 3.0, 12.0)
    assert request.fps == 16 and 0 <= request.seed < 2**32
    five_b = GenerationRequest.create(TI2V, "a crane")
    assert (five_b.width, five_b.height, five_b.frames, five_b.steps, five_b.guidance_scale_2) == (1280, 704, 121, 50, None)


def test_seed_is_random_when_absent_and_kept_when_given():
    seeds = {GenerationRequest.create(A14B, "cat").seed for _ in range(5)}
    assert len(seeds) > 1
    assert GenerationRequest.create(A14B, "cat", seed=7).seed == 7
    assert GenerationRequest.create(A14B, "cat", seed="42").seed == 42


@pytest.mark.parametrize("size", A14B.official_sizes)
def test_official_sizes_pass(size):
    request = GenerationRequest.create(A14B, "cat", width=size[0], height=size[1])
    assert (request.width, request.height) == size


@pytest.mark.parametrize(
    "values, field, words",
    [
        ({"frames": 10}, "frames", "4k+1"),
        ({"frames": 1}, "frames", "from 5 to 81"),
        ({"frames": 85}, "frames", "the most is 81"),
        ({"width": 1000, "height": 720}, "width", "multiple of 16 (nearest: 992)"),
        ({"width": 1280, "height": 1280}, "width x height", "at most"),
        ({"width": -16, "height": 720}, "width", "from 1"),
        ({"width": 1280}, "height", "together"),
        ({"steps": 0}, "steps", "1 to 100"),
        ({"steps": 100_000}, "steps", "1 to 100"),
        ({"guidance_scale": -1}, "guidance_scale", "0 to 20"),
        ({"guidance_scale": float("nan")}, "guidance_scale", "0 to 20"),
        ({"flow_shift": 1e9}, "flow_shift", "0.1 to 30"),
        ({"seed": "abc"}, "seed", "whole number"),
        ({"seed": -5}, "seed", "0 to"),
        ({"seed": 1.5}, "seed", "whole number"),
        ({"fps": 0}, "fps", "4 to 60"),
        ({"mode": "warp"}, "mode", "quality, turbo, fast"),
        ({"preset": "../etc/passwd"}, "preset", "a-z"),
        ({"colour": "red"}, "colour", "known settings"),
    ],
)
def test_bad_values_name_the_field_the_value_and_the_rule(values, field, words):
    with pytest.raises(InvalidRequest) as caught:
        GenerationRequest.create(A14B, "cat", **values)
    message = str(caught.value)
    assert caught.value.field == field
    assert message.startswith(f"{field}:") and words in message


def test_frame_limit_follows_the_model():
    assert GenerationRequest.create(TI2V, "cat", frames=121).frames == 121
    with pytest.raises(InvalidRequest, match="from 5 to 81"):
        GenerationRequest.create(A14B, "cat", frames=121)
    with pytest.raises(InvalidRequest, match="multiple of 32"):
        GenerationRequest.create(TI2V, "cat", width=1280, height=720)
    with pytest.raises(InvalidRequest, match="one expert"):
        GenerationRequest.create(TI2V, "cat", guidance_scale_2=3.0)


@pytest.mark.parametrize(
    "prompt, words",
    [("", "empty"), ("   \n\t", "empty"), ("\u202e\u200b\u2066", "empty"), ("🐱🌙✨", "no words"),
     ("a" * 20_000, "at most 4,000"), (None, "text"), (12, "text")],
)
def test_bad_prompts(prompt, words):
    with pytest.raises(InvalidRequest, match=words):
        GenerationRequest.create(A14B, prompt)


def test_prompt_cleaning_drops_invisible_and_control_characters():
    assert clean_text("a\u202ecat\u200b  on\x07 a   mat \n\n") == "acat on a mat"
    assert GenerationRequest.create(A14B, "  雪山\u200b日出 ").prompt == "雪山日出"


def test_round_trip_through_dict():
    request = GenerationRequest.create(A14B, "cat", seed=3, frames=33, preset="cinematic")
    assert GenerationRequest.from_dict(A14B, request.to_dict()) == request


def test_seconds_map_to_valid_frame_counts():
    assert frames_for_seconds(5, 16, 81) == 81
    assert frames_for_seconds(2, 16, 81) == 33
    assert frames_for_seconds(100, 16, 81) == 81
    assert frames_for_seconds(0, 16, 81) == 5
    assert all((frames_for_seconds(s / 4, 24, 121) - 1) % 4 == 0 for s in range(0, 30))
