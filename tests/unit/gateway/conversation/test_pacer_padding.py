"""The last partial frame of a turn is padded with silence in the output format."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from switchboard_gateway.conversation.pacer import OutputPacer
from switchboard_gateway.events import AgentAudioEvent, AudioFormat, Encoding, OutboundEvent
from switchboard_gateway.testing.clock import FakeClock
from switchboard_wire.audio import mulaw_decode

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("encoding", [Encoding.MULAW, Encoding.PCM16])
def test_a_partial_last_frame_is_padded_with_silence_not_noise(encoding: Encoding) -> None:
    fmt = AudioFormat(8000, encoding)
    sent: list[AgentAudioEvent] = []

    async def send(event: OutboundEvent) -> None:
        assert isinstance(event, AgentAudioEvent)
        sent.append(event)

    async def scenario() -> None:
        pacer = OutputPacer(send, fmt, FakeClock())
        pacer.start_turn()
        silent = b"\xff" if encoding is Encoding.MULAW else b"\x00"
        await pacer.play(1, silent * 10)  # 10 bytes: less than one 20 ms frame
        await pacer.finish(1)

    asyncio.run(scenario())
    (frame,) = sent
    if encoding is Encoding.MULAW:
        assert len(frame.data) == 160
        assert float(np.abs(mulaw_decode(frame.data)).max()) == 0.0
    else:
        assert frame.data == bytes(320)
