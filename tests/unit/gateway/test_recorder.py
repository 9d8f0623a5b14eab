"""Every admitted call leaves a record, with text every store can keep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    InboundEvent,
    OutboundEvent,
    StartCall,
    ToolCallEvent,
    ToolResultEvent,
)
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recorder import CallRecorder, storable
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.testing.calls import agent_config

pytestmark = pytest.mark.unit

HOSTILE = "caller \ud800 said\x00 this"


def test_nuls_and_lone_surrogates_are_made_storable() -> None:
    assert storable(HOSTILE) == "caller \ufffd said this"
    assert storable("plain é 😀") == "plain é 😀"


def test_a_record_with_hostile_text_is_stored_in_a_private_sqlite_file(tmp_path: Path) -> None:
    recorder = CallRecorder("c1", "test/tester", "websocket", client_reference=HOSTILE)
    messages = [{"role": "user", "content": HOSTILE}, {"role": "assistant", "content": "ok"}]
    record = recorder.record("caller_hangup", messages, [])
    path = tmp_path / "calls.db"

    async def store_and_read() -> CallRecord | None:
        store = SqliteCallStore(path)
        try:
            await store.save(record)
            return await store.get("c1")
        finally:
            await store.close()

    stored = asyncio.run(store_and_read())
    assert stored is not None, "the record was kept"
    assert stored.client_reference == "caller \ufffd said this"
    assert stored.turns[0].caller_text == "caller \ufffd said this"
    assert path.stat().st_mode & 0o777 == 0o600


class _Store:
    def __init__(self) -> None:
        self.saved: list[CallRecord] = []

    async def save(self, record: CallRecord) -> None:
        self.saved.append(record)


async def _silent_caller() -> AsyncIterator[InboundEvent]:
    await asyncio.Event().wait()  # never speaks, never hangs up
    yield  # type: ignore[misc]  # pragma: no cover


def test_a_call_whose_transport_goes_away_is_recorded_as_cancelled() -> None:
    config = agent_config(prompt={"system": "Test."})  # no greeting: no model is asked
    store = _Store()
    gateway = Gateway(
        {config.key: AgentEntry(config, backend=None)},  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
    )

    async def deliver(event: OutboundEvent) -> None:
        pass

    async def scenario() -> None:
        admission = gateway.admit(StartCall(agent=config.key, client_reference="ref-1"), "grpc")
        assert isinstance(admission, Admission), admission
        call = asyncio.create_task(
            gateway.run_call(admission, StartCall(agent=config.key), deliver, _silent_caller())
        )
        await asyncio.sleep(0.05)
        call.cancel()  # the client disappeared
        await asyncio.gather(call, return_exceptions=True)
        await gateway.records_saved()

    asyncio.run(scenario())
    (record,) = store.saved
    assert record.end_reason == "cancelled"
    assert record.agent == config.key
    assert gateway.active == 0
    assert (
        gateway.metrics.value("switchboard_calls_total", agent=config.key, outcome="cancelled") == 1
    )


def _conversation(turns: int, text: str = "question") -> list[dict[str, object]]:
    messages: list[dict[str, object]] = []
    for n in range(1, turns + 1):
        messages += [
            {"role": "user", "content": f"{text} {n}"},
            {"role": "assistant", "content": f"answer {n}"},
        ]
    return messages


def test_a_record_keeps_its_first_turns_up_to_the_turn_limit_and_says_it_was_cut() -> None:
    recorder = CallRecorder("c1", "test/tester", "websocket", max_turns=5)
    for turn in (2, 9):
        recorder.observe(ToolCallEvent(turn, f"t{turn}", "lookup", "{}"))
        recorder.observe(ToolResultEvent(turn, f"t{turn}", True, "", 3))

    record = recorder.record("caller_hangup", _conversation(40), [])

    assert [t.number for t in record.turns] == [1, 2, 3, 4, 5]
    assert record.truncated
    assert [c.turn for c in record.tool_calls] == [2], "tool calls of the kept turns only"


def test_a_record_keeps_its_first_turns_up_to_the_byte_limit() -> None:
    recorder = CallRecorder("c1", "test/tester", "grpc", max_bytes=10_000)

    record = recorder.record("caller_hangup", _conversation(100, "é" * 500), [])

    size = sum(len(t.caller_text.encode()) + len(t.agent_text.encode()) for t in record.turns)
    assert size <= 10_000
    assert len(record.turns) == 9  # each turn is ~1,000 bytes of caller text plus its answer
    assert record.truncated


def test_a_record_within_its_limits_is_whole_and_not_marked_truncated() -> None:
    record = CallRecorder("c1", "test/tester", "grpc").record("agent_ended", _conversation(3), [])

    assert len(record.turns) == 3
    assert not record.truncated


def test_a_call_of_many_typed_turns_is_stored_within_the_agents_record_limits() -> None:
    config = agent_config(
        prompt={"system": "Test."},
        callPolicy={"limits": {"maxRecordTurns": 3, "turnsPerMinute": 600, "turnBurst": 100}},
    )
    store = _Store()
    gateway = Gateway(
        {config.key: AgentEntry(config, backend=None)},  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
    )
    sessions: list[CallSession] = []

    async def deliver(event: OutboundEvent) -> None:
        pass

    async def scenario() -> None:
        admission = gateway.admit(StartCall(agent=config.key), "grpc")
        assert isinstance(admission, Admission), admission
        call = asyncio.create_task(
            gateway.run_call(admission, StartCall(agent=config.key), deliver, _silent_caller())
        )
        await asyncio.sleep(0.05)
        sessions.extend(gateway._sessions)
        for message in _conversation(10):  # as if answered: the history the record is built from
            sessions[0].history.add(message)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        await gateway.records_saved()

    asyncio.run(scenario())
    (record,) = store.saved
    assert [t.number for t in record.turns] == [1, 2, 3]
    assert record.truncated
