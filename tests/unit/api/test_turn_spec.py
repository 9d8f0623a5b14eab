"""`turn`: strategy smart-turn with its own fields is accepted; the silence strategy is unchanged."""

from __future__ import annotations

import pytest

from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from tests.cases.invalid import AGENT, example, with_changes

pytestmark = pytest.mark.unit


def _turn(turn: dict[str, object]) -> VoiceAgent:
    agent = parse_manifest(with_changes(example(AGENT), {"spec.pipeline.turn": turn}), "test")
    assert isinstance(agent, VoiceAgent)
    return agent


def test_smart_turn_with_every_field_is_accepted_as_given() -> None:
    turn = _turn(
        {
            "strategy": "smart-turn",
            "endpointingSilenceMs": 250,
            "maxEndpointingSilenceMs": 1500,
            "smartTurnThreshold": 0.6,
        }
    ).spec.pipeline.turn
    assert turn is not None
    assert (turn.endpointing_silence_ms, turn.max_endpointing_silence_ms) == (250, 1500)
    assert turn.smart_turn_threshold == 0.6


def test_smart_turn_alone_leaves_its_defaults_to_the_gateway() -> None:
    turn = _turn({"strategy": "smart-turn"}).spec.pipeline.turn
    assert turn is not None
    assert turn.endpointing_silence_ms is None
    assert turn.max_endpointing_silence_ms is None


def test_a_silence_above_the_default_longest_wait_is_refused_for_smart_turn_only() -> None:
    assert _turn({"endpointingSilenceMs": 2500}).spec.pipeline.turn is not None
    with pytest.raises(ValueError, match="endpointingSilenceMs must be below"):
        _turn({"strategy": "smart-turn", "endpointingSilenceMs": 2500})
