"""The listener on virtual time: the audio path never waits for a transcription."""

from __future__ import annotations

import asyncio

import pytest

from switchboard_gateway.audio import PIPELINE_RATE
from switchboard_gateway.conversation.listener import HeardTurn, Listener
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import EnergyVad, FakeTranscriber
from switchboard_gateway.testing.script import FRAME_S, CallScript

pytestmark = pytest.mark.unit

START = 1000.0


class Hooks:
    """Records what the listener reports, on the virtual clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.speech: list[tuple[float, bool]] = []
        self.turns: list[tuple[float, str]] = []
        self.held: list[tuple[float, str]] = []
        self.dropped: list[float] = []
        self.no_words: list[float] = []

    def agent_busy(self) -> bool:
        return False

    def on_speech(self, started: bool) -> None:
        self.speech.append((round(self.clock.now() - START, 2), started))

    async def on_barge_in(self) -> None:
        raise AssertionError("the agent is not speaking")

    async def on_interim(self, text: str) -> None:
        pass

    async def on_caller_turn(self, turn: HeardTurn) -> None:
        self.turns.append((round(self.clock.now() - START, 2), turn.text))

    async def on_no_words(self) -> None:
        self.no_words.append(round(self.clock.now() - START, 2))

    def on_held_turn(self, turn: HeardTurn) -> None:
        self.held.append((round(self.clock.now() - START, 2), turn.text))

    def on_held_dropped(self) -> None:
        self.dropped.append(round(self.clock.now() - START, 2))


def listen(script: CallScript, final_s: float, seconds: float = 8.0) -> Hooks:
    """Feed `script`'s audio frame by frame on virtual time; what the listener reported."""

    async def run() -> Hooks:
        clock = FakeClock(START)
        hooks = Hooks(clock)
        transcriber = FakeTranscriber(clock, script, final_s=final_s)
        listener = Listener(agent_config(), transcriber, hooks, clock, EnergyVad())
        asr = asyncio.create_task(listener.run())
        t = 0.0
        while t < seconds:
            samples = script.frame(t)
            assert samples.size == int(FRAME_S * PIPELINE_RATE)
            # Per-frame work only: a feed that waited for the ASR pass would never return here,
            # because nothing moves the virtual clock while it waits.
            await asyncio.wait_for(listener.feed(samples), timeout=1.0)
            await clock.advance(FRAME_S)
            t = round(t + FRAME_S, 6)
        asr.cancel()
        await asyncio.gather(asr, return_exceptions=True)
        return hooks

    return asyncio.run(run())


def test_speech_is_detected_while_a_slow_final_pass_runs() -> None:
    script = (
        CallScript().say(at=0.2, seconds=0.6, text="first").say(at=1.4, seconds=0.6, text="second")
    )

    hooks = listen(script, final_s=3.0)

    starts = [t for t, started in hooks.speech if started]
    assert len(starts) == 2
    first_final_done = hooks.turns[0][0]
    assert starts[1] < first_final_done, "the second utterance was heard during the first pass"
    assert starts[1] == pytest.approx(1.4, abs=0.1)
    assert [text for _, text in hooks.turns] == ["first", "second"]


@pytest.mark.parametrize(
    "final_s", [0.1, 0.6], ids=["pass-done-before-the-decision", "pass-done-after-it"]
)
def test_a_turn_with_no_words_is_reported_once_and_is_no_caller_turn(final_s: float) -> None:
    script = CallScript().say(at=0.2, seconds=0.6, text="").say(at=2.0, seconds=0.6, text="hi")

    hooks = listen(script, final_s=final_s, seconds=5.0)

    assert len(hooks.no_words) == 1, hooks.no_words
    assert 0.8 < hooks.no_words[0] < 2.0, "when the noise's turn ended, not later"
    assert [text for _, text in hooks.turns] == ["hi"]
