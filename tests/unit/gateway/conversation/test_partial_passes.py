"""Partial ASR passes wait for an idle model plane, unless barge-in needs their words."""

from __future__ import annotations

import asyncio

import pytest

from switchboard_gateway.conversation.listener import HeardTurn, Listener
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import EnergyVad, FakeTranscriber
from switchboard_gateway.testing.script import FRAME_S, CallScript

pytestmark = pytest.mark.unit


class Hooks:
    """The agent speaks (or not) throughout; barge-ins and turns are recorded."""

    def __init__(self, agent_busy: bool) -> None:
        self.busy = agent_busy
        self.barge_ins = 0
        self.turns: list[str] = []

    def agent_busy(self) -> bool:
        return self.busy

    def on_speech(self, started: bool) -> None:
        pass

    async def on_barge_in(self) -> None:
        self.barge_ins += 1
        self.busy = False

    async def on_interim(self, text: str) -> None:
        pass

    async def on_caller_turn(self, turn: HeardTurn) -> None:
        self.turns.append(turn.text)

    async def on_no_words(self) -> None:
        pass

    def on_held_turn(self, turn: HeardTurn) -> None:
        pass

    def on_held_dropped(self) -> None:
        pass


class LoadedTranscriber(FakeTranscriber):
    """A transcriber whose model plane is (or is not) idle enough for partial passes."""

    welcome = True

    def partial_welcome(self) -> bool:
        return self.welcome


def listen(welcome: bool, agent_busy: bool, **spec: object) -> tuple[Hooks, LoadedTranscriber]:
    script = CallScript().say(at=0.2, seconds=2.4, text="one two three four five six")

    async def run() -> tuple[Hooks, LoadedTranscriber]:
        clock = FakeClock(1000.0)
        hooks = Hooks(agent_busy)
        transcriber = LoadedTranscriber(clock, script)
        transcriber.welcome = welcome
        listener = Listener(agent_config(**spec), transcriber, hooks, clock, EnergyVad())
        asr = asyncio.create_task(listener.run())
        t = 0.0
        while t < 4.0:
            await listener.feed(script.frame(t))
            await clock.advance(FRAME_S)
            t = round(t + FRAME_S, 6)
        asr.cancel()
        await asyncio.gather(asr, return_exceptions=True)
        return hooks, transcriber

    return asyncio.run(run())


def partials(transcriber: FakeTranscriber) -> int:
    return sum(1 for _, final in transcriber.passes if not final)


def test_an_idle_model_plane_gets_a_partial_pass_every_interval() -> None:
    hooks, transcriber = listen(welcome=True, agent_busy=False)

    assert partials(transcriber) >= 3
    assert hooks.turns == ["one two three four five six"]


def test_a_busy_model_plane_gets_no_partial_pass_and_the_turn_is_still_heard() -> None:
    hooks, transcriber = listen(welcome=False, agent_busy=False)

    assert partials(transcriber) == 0
    assert [final for _, final in transcriber.passes] == [True]
    assert hooks.turns == ["one two three four five six"]


def test_barge_in_that_needs_words_still_gets_partial_passes_under_load() -> None:
    spec = {"callPolicy": {"bargeIn": {"minSpeechMs": 200, "minWords": 2}}}

    hooks, transcriber = listen(welcome=False, agent_busy=True, **spec)

    assert partials(transcriber) >= 1
    assert hooks.barge_ins == 1


def test_barge_in_on_speech_alone_needs_no_partial_pass_under_load() -> None:
    hooks, transcriber = listen(welcome=False, agent_busy=True)

    assert hooks.barge_ins == 1
    assert partials(transcriber) == 0
