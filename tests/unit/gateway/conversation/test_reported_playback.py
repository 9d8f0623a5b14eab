"""The played position from the transport's reports (`CallerPlayed`), on virtual time."""

from __future__ import annotations

import asyncio

import pytest

from switchboard_gateway.conversation.pacer import FRAME_S
from switchboard_gateway.conversation.voice import REPORT_GRACE_S, AgentVoice
from switchboard_gateway.events import AgentAudioEvent, AudioFormat, OutboundEvent
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import WORD_S, FakeSynthesizer

pytestmark = pytest.mark.unit


async def spoken(voice: AgentVoice, clock: FakeClock, text: str) -> None:
    saying = asyncio.create_task(voice.say(1, text))
    while not saying.done():
        await clock.advance(FRAME_S)
    await saying


def voice_with_frames(reports: bool) -> tuple[AgentVoice, FakeClock, list[AgentAudioEvent]]:
    clock = FakeClock()
    frames: list[AgentAudioEvent] = []

    async def send(event: OutboundEvent) -> None:
        if isinstance(event, AgentAudioEvent):
            frames.append(event)

    return AgentVoice(FakeSynthesizer(clock), send, AudioFormat(), clock, reports), clock, frames


def test_the_played_position_is_the_frames_of_this_turn_up_to_the_last_report() -> None:
    async def scenario() -> None:
        voice, clock, frames = voice_with_frames(reports=True)
        voice.start_turn()
        await spoken(voice, clock, "one two three four")  # 1.2 s: 60 frames
        assert voice.played_s == 0.0, "sent and estimated played, but nothing reported"
        voice.played(frames[29].sequence)
        assert voice.played_s == pytest.approx(30 * FRAME_S)
        assert voice.heard() == "one two…"
        voice.played(frames[9].sequence)
        assert voice.played_s == pytest.approx(30 * FRAME_S), "an older report changes nothing"
        voice.played(frames[-1].sequence + 500)
        assert voice.played_s == pytest.approx(len(frames) * FRAME_S), "never more than was sent"
        assert voice.heard() == "one two three four"

        voice.start_turn()  # the next turn: the earlier turn's frames are not this turn's
        assert voice.played_s == 0.0
        await spoken(voice, clock, "five six")
        voice.played(frames[-1].sequence - 10)
        assert voice.played_s == pytest.approx((int(2 * WORD_S / FRAME_S) - 10) * FRAME_S)

    asyncio.run(scenario())


def test_without_reports_the_position_is_the_pacers_estimate_and_reports_are_ignored() -> None:
    async def scenario() -> None:
        voice, clock, frames = voice_with_frames(reports=False)
        voice.start_turn()
        await spoken(voice, clock, "one two three four")
        voice.played(frames[5].sequence)
        await clock.advance(1.0)
        assert voice.played_s == pytest.approx(len(frames) * FRAME_S)

    asyncio.run(scenario())


def test_played_out_waits_for_the_report_of_the_last_frame_but_not_for_ever() -> None:
    async def scenario() -> None:
        voice, clock, frames = voice_with_frames(reports=True)
        voice.start_turn()
        await spoken(voice, clock, "one two")
        waiting = asyncio.create_task(voice.played_out())
        await clock.advance(0.5)
        assert not waiting.done()
        voice.played(frames[-1].sequence)
        await clock.advance(FRAME_S)
        assert waiting.done()

        await spoken(voice, clock, "three")
        started = clock.now()
        silent = asyncio.create_task(voice.played_out())  # the transport never reports
        while not silent.done():
            await clock.advance(FRAME_S)
        assert clock.now() - started == pytest.approx(REPORT_GRACE_S, abs=0.15)

    asyncio.run(scenario())
