"""The token buckets: pure, on times the test passes."""

from __future__ import annotations

import pytest

from switchboard_gateway.conversation.rate import TokenBucket, turn_rate

pytestmark = pytest.mark.unit


def test_a_burst_is_allowed_back_to_back_and_the_next_turn_is_not() -> None:
    rate = turn_rate(per_minute=20, burst=5, now=0.0)

    assert [rate.allow(0.0) for _ in range(6)] == [True] * 5 + [False]


def test_turns_at_the_sustained_rate_are_always_allowed() -> None:
    rate = turn_rate(per_minute=20, burst=1, now=0.0)

    assert all(rate.allow(3.0 * n) for n in range(100))


def test_a_turn_just_faster_than_the_rate_after_the_burst_is_refused() -> None:
    rate = turn_rate(per_minute=20, burst=1, now=0.0)

    assert rate.allow(0.0)
    assert not rate.allow(2.9)
    assert rate.allow(3.0)


def test_a_quiet_spell_refills_the_bucket_only_up_to_the_burst() -> None:
    rate = turn_rate(per_minute=60, burst=3, now=0.0)

    assert [rate.allow(3600.0) for _ in range(4)] == [True, True, True, False]


def test_a_refused_turn_uses_no_token() -> None:
    rate = turn_rate(per_minute=60, burst=1, now=0.0)

    assert rate.allow(0.0)
    assert not rate.allow(0.5)
    assert rate.allow(1.0)


def test_reserving_past_the_burst_spaces_events_at_the_sustained_rate() -> None:
    bucket = TokenBucket(per_second=100, burst=3, now=0.0)

    waits = [bucket.reserve(0.0) for _ in range(6)]

    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.01, 0.02, 0.03])


def test_a_reservation_waited_for_leaves_the_bucket_empty_not_in_debt() -> None:
    bucket = TokenBucket(per_second=10, burst=1, now=0.0)

    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.1) == pytest.approx(0.1)  # the one due at 0.1 was taken
    assert bucket.reserve(10.0) == 0.0
