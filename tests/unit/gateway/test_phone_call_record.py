"""A phone call's provider, call id, numbers and direction reach its record, and never the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from switchboard_gateway.events import InboundEvent, OutboundEvent, StartCall, TelephonyCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recorder import MAX_PHONE_FIELD, CallRecorder
from switchboard_gateway.testing.calls import agent_config

pytestmark = pytest.mark.unit

CALLER = "+15550001111"
AGENT_NUMBER = "+15550002222"
PHONE = {"twilio": {"enabled": True, "authTokenSecretRef": {"name": "twilio", "key": "token"}}}


def test_a_phone_calls_provider_sid_numbers_and_direction_are_in_its_record() -> None:
    call = TelephonyCall("twilio", "CA123", CALLER, AGENT_NUMBER, "outbound", "MZ9", "Ann")
    recorder = CallRecorder("c1", "acme/desk", "twilio", telephony=call)

    record = recorder.record("caller_hangup", [], [])

    assert (
        record.phone_provider,
        record.phone_call_sid,
        record.phone_from,
        record.phone_to,
        record.phone_direction,
    ) == ("twilio", "CA123", CALLER, AGENT_NUMBER, "outbound")


def test_a_call_over_another_transport_has_empty_phone_fields() -> None:
    record = CallRecorder("c1", "acme/desk", "websocket").record("caller_hangup", [], [])

    assert (
        record.phone_provider,
        record.phone_call_sid,
        record.phone_from,
        record.phone_to,
        record.phone_direction,
    ) == ("", "", "", "", "")


def test_phone_fields_are_made_storable_and_bounded() -> None:
    sip = "sip:" + "a" * 1000 + "@carrier.example"
    call = TelephonyCall("jambonz", "id\x00\ud800", sip, AGENT_NUMBER, "inbound")

    record = CallRecorder("c1", "acme/desk", "jambonz", telephony=call).record("x", [], [])

    assert record.phone_call_sid == "id\ufffd"
    assert record.phone_from == sip[:MAX_PHONE_FIELD]
    assert record.phone_to == AGENT_NUMBER


class _Store:
    def __init__(self) -> None:
        self.saved: list[CallRecord] = []

    async def save(self, record: CallRecord) -> None:
        self.saved.append(record)


async def _silent_caller() -> AsyncIterator[InboundEvent]:
    await asyncio.Event().wait()  # never speaks, never hangs up
    yield  # type: ignore[misc]  # pragma: no cover


def test_the_gateway_records_a_phone_calls_metadata_and_logs_none_of_its_numbers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = agent_config(prompt={"system": "Test."}, channels=PHONE)  # no greeting: no model
    store = _Store()
    gateway = Gateway(
        {config.key: AgentEntry(config, backend=None)},  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
    )
    call = TelephonyCall("twilio", "CA77", CALLER, AGENT_NUMBER, "inbound", "MZ77")
    start = StartCall(config.key, telephony=call)

    async def deliver(event: OutboundEvent) -> None:
        pass

    async def scenario() -> None:
        admission = gateway.admit(start, "twilio", provider_verified=True)
        assert isinstance(admission, Admission), admission
        running = asyncio.create_task(
            gateway.run_call(admission, start, deliver, _silent_caller(), channel="twilio")
        )
        await asyncio.sleep(0.05)
        running.cancel()  # the phone transport went away
        await asyncio.gather(running, return_exceptions=True)
        await gateway.records_saved()

    asyncio.run(scenario())

    (record,) = store.saved
    assert record.channel == "twilio"
    assert (record.phone_provider, record.phone_call_sid) == ("twilio", "CA77")
    assert (record.phone_from, record.phone_to, record.phone_direction) == (
        CALLER,
        AGENT_NUMBER,
        "inbound",
    )
    assert caplog.records, "the call logged something (so the check below means something)"
    for logged in caplog.records:
        text = logged.getMessage()
        assert CALLER not in text
        assert AGENT_NUMBER not in text
