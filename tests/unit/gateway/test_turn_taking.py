"""Turn-taking policies, driven by made-up VAD windows and times."""

from __future__ import annotations

import pytest

from switchboard_gateway.turns.barge_in import BargeInPolicy
from switchboard_gateway.turns.endpointing import SilenceEndpointing
from switchboard_gateway.turns.speech import SpeechDetector, SpeechStarted, SpeechStopped
from switchboard_gateway.turns.vad import WINDOW_S, VadWindow

pytestmark = pytest.mark.unit


def _events(
    detector: SpeechDetector, probabilities: list[float]
) -> list[SpeechStarted | SpeechStopped]:
    events = []
    for i, probability in enumerate(probabilities):
        event = detector.update(VadWindow(round((i + 1) * WINDOW_S, 6), probability))
        if event is not None:
            events.append(event)
    return events


def test_speech_starts_after_the_minimum_duration_dated_from_its_onset() -> None:
    detector = SpeechDetector(threshold=0.5, min_speech_s=0.096, min_silence_s=0.096)
    events = _events(detector, [0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    assert len(events) == 1
    assert isinstance(events[0], SpeechStarted)
    assert events[0].at == pytest.approx(2 * WINDOW_S)
    assert detector.speaking


def test_a_blip_shorter_than_the_minimum_is_not_speech() -> None:
    detector = SpeechDetector(min_speech_s=0.096)
    assert _events(detector, [0.1, 0.9, 0.9, 0.1, 0.9, 0.1]) == []
    assert not detector.speaking


def test_speech_stops_after_enough_silence_with_hysteresis() -> None:
    detector = SpeechDetector(threshold=0.5, min_speech_s=0.064, min_silence_s=0.096)
    # 0.4 is below the start threshold but above the stop threshold (0.35): still speech.
    probabilities = [0.9, 0.9, 0.4, 0.4, 0.9, 0.1, 0.1, 0.1, 0.1]
    events = _events(detector, probabilities)
    assert events[0] == SpeechStarted(0.0)
    assert isinstance(events[1], SpeechStopped)
    assert events[1].at == pytest.approx(5 * WINDOW_S)
    assert len(events) == 2


def test_a_short_pause_inside_speech_does_not_stop_it() -> None:
    detector = SpeechDetector(min_speech_s=0.064, min_silence_s=0.2)
    events = _events(detector, [0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9])
    assert events == [SpeechStarted(0.0)]


def test_silence_endpointing_waits_for_the_silence_and_fires_once() -> None:
    policy = SilenceEndpointing(silence_s=0.5)
    assert not policy.turn_ended(10.0)
    policy.speech_started(1.0)
    policy.speech_stopped(2.0)
    assert not policy.turn_ended(2.4)
    assert policy.turn_ended(2.5)
    assert not policy.turn_ended(3.0)


def test_silence_endpointing_forgets_a_pause_when_speech_resumes() -> None:
    policy = SilenceEndpointing(silence_s=0.5)
    policy.speech_stopped(2.0)
    policy.speech_started(2.3)
    assert not policy.turn_ended(2.6)
    policy.speech_stopped(3.0)
    assert policy.turn_ended(3.5)


def test_barge_in_needs_the_agent_speaking_and_enough_caller_speech() -> None:
    policy = BargeInPolicy(min_speech_s=0.2)
    assert not policy.should_interrupt(False, 1.0, 5.0)
    assert not policy.should_interrupt(True, None, 5.0)
    assert not policy.should_interrupt(True, 1.0, 1.19)
    assert policy.should_interrupt(True, 1.0, 1.2)


def test_barge_in_can_require_words_and_can_be_disabled() -> None:
    wordy = BargeInPolicy(min_speech_s=0.2, min_words=2)
    assert not wordy.should_interrupt(True, 1.0, 2.0, words_heard=1)
    assert wordy.should_interrupt(True, 1.0, 2.0, words_heard=2)
    assert not BargeInPolicy(enabled=False).should_interrupt(True, 0.0, 10.0, 10)
