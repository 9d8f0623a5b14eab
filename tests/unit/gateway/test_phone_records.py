"""Through the gateway as a transport drives it: keypad turns and a handoff in the call record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from switchboard_gateway.events import (
    CallEndedEvent,
    CallerDtmf,
    CallerText,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TelephonyCall,
    TranscriptEvent,
    TransferEvent,
)
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.testing.calls import agent_config
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText
from switchboard_wire.transcription import PartialText

pytestmark = pytest.mark.unit

TWILIO = {"enabled": True, "authTokenSecretRef": {"name": "twilio", "key": "token"}}
PHONE = {"twilio": {**TWILIO, "accountSid": "AC" + "0" * 32}}
LINE = "Please hold."


class QuickModels:
    """Answers at once; speech is a tenth of a second of silence a piece (paced in real time)."""

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        return PartialText("", "", final, "")

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        yield ReplyText("Got it.")
        yield ReplyDone("stop")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        yield bytes(sample_rate // 10 * 2)


class Store:
    def __init__(self) -> None:
        self.saved: list[CallRecord] = []

    async def save(self, record: CallRecord) -> None:
        self.saved.append(record)


def test_keys_and_a_keyword_handoff_are_in_the_record_of_a_transferred_call() -> None:
    config = agent_config(
        prompt={"system": "Test.", "greeting": "Hi."},
        channels=PHONE,
        handoff={"transferTo": "+15550100200", "message": LINE, "keywords": ["operator"]},
    )
    store = Store()
    gateway = Gateway({config.key: AgentEntry(config, QuickModels())}, store=store)  # type: ignore[arg-type]
    call = TelephonyCall("twilio", "CA1", "+15550001111", "+15550002222", "inbound", "MZ1")
    start = StartCall(config.key, telephony=call, reports_playback=False)
    delivered: list[OutboundEvent] = []

    async def deliver(event: OutboundEvent) -> None:
        delivered.append(event)

    async def caller() -> AsyncIterator[InboundEvent]:
        await asyncio.sleep(0.3)
        yield CallerDtmf("7#")
        await asyncio.sleep(0.5)
        yield CallerText("Operator, please.")
        await asyncio.Event().wait()  # the call ends by the transfer, not by the caller

    async def scenario() -> CallEndedEvent:
        admission = gateway.admit(start, "twilio", provider_verified=True)
        assert isinstance(admission, Admission)
        return await asyncio.wait_for(
            gateway.run_call(admission, start, deliver, caller(), channel="twilio"), 10
        )

    ended = asyncio.run(scenario())

    assert ended.reason is EndReason.TRANSFERRED
    assert [e.text for e in delivered if isinstance(e, TranscriptEvent) and e.final] == [
        "The caller pressed 7 #.",
        "Operator, please.",
    ]
    transfer = delivered.index(TransferEvent("+15550100200", "keyword: operator"))
    assert delivered[transfer + 1 :] == [ended], "the end follows the transfer at once"
    (record,) = store.saved
    assert record.end_reason == "transferred"
    assert [(t.caller_text, t.agent_text) for t in record.turns] == [
        ("", "Hi."),
        ("The caller pressed 7 #.", "Got it."),
        ("Operator, please.", LINE),
    ]
