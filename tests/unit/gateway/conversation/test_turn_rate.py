"""The turn-rate token bucket: pure, on times the test passes."""

from __future__ import annotations

import pytest

from switchboard_gateway.conversation.turn_rate import TurnRate

pytestmark = pytest.mark.unit


def test_a_burst_is_allowed_back_to_back_and_the_next_turn_is_not() -> None:
    rate = TurnRate(per_minute=20, burst=5, now=0.0)

    assert [rate.allow(0.0) for _ in range(6)] == [True] * 5 + [False]


def test_turns_at_the_sustained_rate_are_always_allowed() -> None:
    rate = TurnRate(per_minute=20, burst=1, now=0.0)

    assert all(rate.allow(3.0 * n) for n in range(100))


def test_a_turn_just_faster_than_the_rate_after_the_burst_is_refused() -> None:
    rate = TurnRate(per_minute=20, burst=1, now=0.0)

    assert rate.allow(0.0)
    assert not rate.allow(2.9)
    assert rate.allow(3.0)


def test_a_quiet_spell_refills_the_bucket_only_up_to_the_burst() -> None:
    rate = TurnRate(per_minute=60, burst=3, now=0.0)

    assert [rate.allow(3600.0) for _ in range(4)] == [True, True, True, False]


def test_a_refused_turn_uses_no_token() -> None:
    rate = TurnRate(per_minute=60, burst=1, now=0.0)

    assert rate.allow(0.0)
    assert not rate.allow(0.5)
    assert rate.allow(1.0)
