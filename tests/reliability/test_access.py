"""Login settings and the per-user rate limit, with a clock the test controls."""

from __future__ import annotations

import pytest

from studio.access import InvalidSetting, RateLimit, RateLimited, parse_auth


def test_auth_pairs():
    assert parse_auth(None) is None and parse_auth("  ") is None
    assert parse_auth("alice:s3cret, bob:pa:ss") == [("alice", "s3cret"), ("bob", "pa:ss")]


@pytest.mark.parametrize("value, expect", [
    ("alice", r"entry 1 \('alice'\) is not user:password. Fix: write user:password pairs"),
    ("alice:x,:pw", r"entry 2 .* is not user:password"),
    ("alice:x,bob:", r"entry 2 \('bob'\) is not user:password"),
    ("alice:x,alice:y", r"user 'alice' appears twice. Fix:"),
])
def test_bad_auth_settings_name_the_entry_and_the_fix(value, expect):
    with pytest.raises(InvalidSetting, match=expect):
        parse_auth(value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_per_user_and_window():
    clock = Clock()
    limit = RateLimit(2, 60, clock)
    limit.admit("alice")
    limit.admit("alice")
    limit.admit("bob")  # each user has their own allowance
    clock.now += 20
    with pytest.raises(RateLimited, match=r"started 2 jobs in the last 60 s .*allows 2 per 60 s .*wait 40 s"):
        limit.admit("alice")
    clock.now += 40  # the first start leaves the window
    limit.admit("alice")


@pytest.mark.parametrize("value, jobs, seconds", [(None, 0, 0), ("0", 0, 0), ("5/60", 5, 60), (" 3 / 0.5 ", 3, 0.5)])
def test_rate_limit_settings(value, jobs, seconds):
    limit = RateLimit.from_setting(value)
    assert (limit.jobs, limit.seconds) == (jobs, seconds)


@pytest.mark.parametrize("value", ["5", "five/60", "5/0", "-1/60"])
def test_bad_rate_limit_settings(value):
    with pytest.raises(InvalidSetting, match=r"STUDIO_RATE_LIMIT: .* is not JOBS/SECONDS. Fix: e.g. 5/60"):
        RateLimit.from_setting(value)


def test_no_limit_admits_everyone():
    limit = RateLimit.from_setting(None)
    for _ in range(1000):
        limit.admit("alice")
