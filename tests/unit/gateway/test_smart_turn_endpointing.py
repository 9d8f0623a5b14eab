"""Smart Turn endpointing: a short pause ends a complete turn, an incomplete one waits longer.

Made-up times on the call's audio timeline; the verdicts stand in for the model.
"""

from __future__ import annotations

import pytest

from switchboard_api.pipeline import TurnSpec
from switchboard_gateway.turns.endpointing import (
    SilenceEndpointing,
    SmartTurnEndpointing,
    make_endpointing,
)

pytestmark = pytest.mark.unit


def _paused(at: float = 2.0) -> SmartTurnEndpointing:
    policy = SmartTurnEndpointing(silence_s=0.2, max_silence_s=2.0)
    policy.speech_started(1.0)
    policy.speech_stopped(at)
    return policy


def test_a_complete_verdict_ends_the_turn_after_the_short_silence_and_only_once() -> None:
    policy = _paused()
    policy.verdict(2.0, complete=True)
    assert not policy.turn_ended(2.15)
    assert policy.turn_ended(2.2)
    assert not policy.turn_ended(2.3)
    assert not policy.turn_ended(5.0)


def test_a_late_complete_verdict_ends_the_turn_as_soon_as_it_arrives() -> None:
    policy = _paused()
    assert not policy.turn_ended(2.3)
    policy.verdict(2.0, complete=True)
    assert policy.turn_ended(2.35)


def test_an_incomplete_verdict_waits_for_the_longest_silence() -> None:
    policy = _paused()
    policy.verdict(2.0, complete=False)
    assert not policy.turn_ended(2.2)
    assert not policy.turn_ended(3.9)
    assert policy.turn_ended(4.0)


def test_without_any_verdict_the_turn_ends_at_the_longest_silence() -> None:
    policy = _paused()
    assert not policy.turn_ended(3.5)
    assert policy.turn_ended(4.0)


def test_a_verdict_for_a_pause_that_speech_ended_is_ignored() -> None:
    policy = _paused(at=2.0)
    policy.speech_started(2.1)
    policy.verdict(2.0, complete=True)
    assert not policy.turn_ended(2.5)
    policy.speech_stopped(3.0)
    policy.verdict(2.0, complete=True)  # still the old pause's: the new one has none
    assert not policy.turn_ended(3.3)
    policy.verdict(3.0, complete=True)
    assert policy.turn_ended(3.3)


def test_a_verdict_after_the_turn_ended_does_not_end_another() -> None:
    policy = _paused()
    assert policy.turn_ended(4.0)
    policy.verdict(2.0, complete=True)
    assert not policy.turn_ended(4.1)


def test_resumed_speech_forgets_a_complete_verdict() -> None:
    policy = _paused()
    policy.verdict(2.0, complete=True)
    policy.speech_started(2.1)
    assert not policy.turn_ended(2.4)


def test_the_short_silence_must_be_below_the_longest() -> None:
    with pytest.raises(ValueError, match="below max_silence_s"):
        SmartTurnEndpointing(silence_s=2.0, max_silence_s=2.0)


def test_the_factory_builds_smart_turn_with_its_short_defaults() -> None:
    policy = make_endpointing(TurnSpec(strategy="smart-turn"))
    assert isinstance(policy, SmartTurnEndpointing)
    assert policy.threshold == 0.5
    policy.speech_stopped(1.0)
    policy.verdict(1.0, complete=True)
    assert not policy.turn_ended(1.19)
    assert policy.turn_ended(1.2)
    policy.speech_stopped(5.0)
    assert not policy.turn_ended(6.99)
    assert policy.turn_ended(7.0)


def test_the_factory_passes_the_configured_silences_and_threshold() -> None:
    spec = TurnSpec(
        strategy="smart-turn",
        endpointing_silence_ms=300,
        max_endpointing_silence_ms=1200,
        smart_turn_threshold=0.7,
    )
    policy = make_endpointing(spec)
    assert isinstance(policy, SmartTurnEndpointing)
    assert policy.threshold == 0.7
    policy.speech_stopped(1.0)
    assert not policy.turn_ended(2.19)
    assert policy.turn_ended(2.2)


def test_the_silence_strategy_keeps_its_500_ms_default() -> None:
    policy = make_endpointing(TurnSpec())
    assert isinstance(policy, SilenceEndpointing)
    policy.speech_stopped(1.0)
    assert not policy.turn_ended(1.49)
    assert policy.turn_ended(1.5)
