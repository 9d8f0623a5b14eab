"""The voice-to-voice benchmark's arithmetic: turns from events, WER per voice, cache exclusion."""

from __future__ import annotations

import pytest
from bench.v2v_report import TurnOutcome, Utterance, summary, turns_from_events

from switchboard_gateway.events import (
    AgentTextEvent,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)

pytestmark = pytest.mark.unit

FIXED = frozenset({"One moment, please."})
SAID = [
    Utterance("What time do you open on Saturday?", "piper", b""),
    Utterance("Is there parking near your office?", "espeak:en-us+m3", b""),
    Utterance("Do you take new patients?", "piper", b""),
]


def test_each_turn_gets_what_the_gateway_heard_and_did_in_its_own_window() -> None:
    events: list[tuple[float, OutboundEvent]] = [
        (1.5, TranscriptEvent(1, "What time do you open on Saturday?", final=True)),
        (1.6, AgentTextEvent(1, "We open at nine.")),
        (2.5, TurnLatencyEvent(1, voice_to_voice_ms=700)),
        (3.2, TranscriptEvent(2, "This apartment", final=False)),
        (3.5, TranscriptEvent(2, "This apartment in your office", final=True)),
        (3.6, AgentTextEvent(2, "One moment, please.")),
        (4.0, TurnLatencyEvent(2, voice_to_voice_ms=300, phrase_cache_hit=True)),
    ]

    turns = turns_from_events(SAID, [1.0, 3.0], events, FIXED)

    assert [t.heard for t in turns] == [
        "What time do you open on Saturday?",
        "This apartment in your office",
        "",
    ]
    assert [t.phrase_cache_hit for t in turns] == [False, True, False]
    assert [t.fixed_phrase for t in turns] == [False, True, False]
    assert turns[0].stages["voice_to_voice_ms"] == 700
    assert turns[2].stages == {}, "a turn never spoken has no stages"


def test_a_turn_split_in_two_by_the_gateway_is_heard_as_both_parts() -> None:
    events: list[tuple[float, OutboundEvent]] = [
        (1.5, TranscriptEvent(1, "What time do you", final=True)),
        (1.9, TranscriptEvent(2, "open on Saturday?", final=True)),
    ]

    (turn,) = turns_from_events(SAID[:1], [1.0], events, FIXED)

    assert turn.heard == "What time do you open on Saturday?"


def test_replayed_replies_leave_the_latency_figures_unless_they_are_fixed_phrases() -> None:
    turns = [
        TurnOutcome("piper", "a b c d", "a b c d", 1.0),
        TurnOutcome("piper", "a b c d", "a b c d", 0.1, phrase_cache_hit=True),
        TurnOutcome("espeak:en-gb+f2", "e f g h", "e x g h", 0.2, True, fixed_phrase=True),
        TurnOutcome("espeak:en-us+f4", "i j k l", "", None),
    ]

    result = summary(turns, underruns=0)

    assert result["n"] == 2, "the replayed reply sentence is left out, the fixed phrase kept"
    assert result["p50_s"] == pytest.approx(0.6)
    assert result["phrase_cache_hits"] == 2
    assert result["phrase_cache_hits_fixed"] == 1
    assert result["excluded_from_latency"] == 1
    assert result["replies_missed"] == 1
    assert result["wer"] == {"espeak": pytest.approx(5 / 8, abs=1e-3), "piper": 0.0}
