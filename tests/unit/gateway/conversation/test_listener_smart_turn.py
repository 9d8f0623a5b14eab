"""The listener with strategy smart-turn, on virtual time, the model replaced by fixed verdicts.

The verdict is asked for at each pause and fed back through the event loop; the audio path
never waits for it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

import pytest

from switchboard_gateway.conversation.listener import HeardTurn, Listener
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import EnergyVad, FakeTranscriber
from switchboard_gateway.testing.script import FRAME_S, CallScript
from switchboard_gateway.turns import smart_turn
from switchboard_wire.audio import Float32

pytestmark = pytest.mark.unit


class Hooks:
    """Keeps the caller turns."""

    def __init__(self) -> None:
        self.turns: list[HeardTurn] = []
        self.held: list[HeardTurn] = []  # answered in advance at a pause (speculation)
        self.dropped = 0

    def agent_busy(self) -> bool:
        return False

    def on_speech(self, started: bool) -> None:
        pass

    async def on_barge_in(self) -> None:
        raise AssertionError("the agent is not speaking")

    async def on_interim(self, text: str) -> None:
        pass

    async def on_caller_turn(self, turn: HeardTurn) -> None:
        self.turns.append(turn)

    async def on_no_words(self) -> None:
        pass

    def on_held_turn(self, turn: HeardTurn) -> None:
        self.held.append(turn)

    def on_held_dropped(self) -> None:
        self.dropped += 1


def _listen(
    monkeypatch: pytest.MonkeyPatch, probability: float, script: CallScript
) -> tuple[list[HeardTurn], list[int]]:
    asked: list[int] = []

    def judge(audio: Float32) -> Future[float]:
        asked.append(audio.size)
        future: Future[float] = Future()
        future.set_result(probability)
        return future

    monkeypatch.setattr(smart_turn, "judge", judge)
    monkeypatch.setattr(smart_turn, "preload", lambda: None)

    async def listen() -> list[HeardTurn]:
        clock = FakeClock(1000.0)
        hooks = Hooks()
        config = agent_config(pipeline={"turn": {"strategy": "smart-turn"}})
        listener = Listener(config, FakeTranscriber(clock, script), hooks, clock, EnergyVad())
        asr = asyncio.create_task(listener.run())
        t = 0.0
        while t < 5.0:
            await asyncio.wait_for(listener.feed(script.frame(t)), timeout=1.0)
            await clock.advance(FRAME_S)
            t = round(t + FRAME_S, 6)
        asr.cancel()
        await asyncio.gather(asr, return_exceptions=True)
        return hooks.turns

    return asyncio.run(listen()), asked


def test_a_complete_verdict_ends_the_turn_after_a_short_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = CallScript().say(at=0.2, seconds=0.8, text="what time do you open")
    turns, asked = _listen(monkeypatch, 0.9, script)
    assert [turn.text for turn in turns] == ["what time do you open"]
    assert len(asked) == 1
    assert asked[0] >= int(0.8 * 16_000), "the model hears the utterance, pre-roll included"
    assert turns[0].decided - turns[0].speech_end == pytest.approx(0.2, abs=0.05)


def test_an_incomplete_verdict_waits_for_the_longest_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = CallScript().say(at=0.2, seconds=0.8, text="i would like to book")
    turns, _ = _listen(monkeypatch, 0.1, script)
    assert [turn.text for turn in turns] == ["i would like to book"]
    assert turns[0].decided - turns[0].speech_end == pytest.approx(2.0, abs=0.05)


def test_a_pause_judged_incomplete_keeps_both_parts_in_one_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = (
        CallScript()
        .say(at=0.2, seconds=0.6, text="my number is")
        .say(at=1.6, seconds=0.6, text="five five five")
    )
    turns, asked = _listen(monkeypatch, 0.1, script)
    assert len(asked) == 2
    assert len(turns) == 1, "the first pause did not end the turn"
    assert turns[0].speech_end - 1000.0 == pytest.approx(2.2, abs=0.1), "it ends after part two"
    assert turns[0].decided - turns[0].speech_end == pytest.approx(2.0, abs=0.05)
