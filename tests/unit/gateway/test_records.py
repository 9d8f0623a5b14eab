"""Call records: pairing turns from history, and the SQLite store for real."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from switchboard_gateway.events import TurnLatencyEvent
from switchboard_gateway.records import CallRecord, ToolCallRecord, TurnRecord, turns_from_history
from switchboard_gateway.sqlite_store import SqliteCallStore

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _record(call_id: str, ended: datetime) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        agent="acme/receptionist",
        channel="grpc",
        started_at=ended - timedelta(minutes=2),
        ended_at=ended,
        end_reason="caller_hangup",
        client_reference="crm-42",
        turns=(
            TurnRecord(0, "", "Hello, how can I help?"),
            TurnRecord(1, "Opening hours?", "Nine to five.", 520, 130, 90, 110, 900, False),
        ),
        tool_calls=(ToolCallRecord(1, "get_hours", True, "", 12),),
    )


def test_turns_pair_caller_messages_with_what_the_agent_said() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": "Hello, thanks for…"},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": "{}"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    latencies = [TurnLatencyEvent(1, 500, 120, 80, 100, 950, False)]
    turns = turns_from_history(messages, latencies)
    assert [(t.number, t.caller_text, t.agent_text) for t in turns] == [
        (0, "", "Hello, thanks for…"),
        (1, "Weather in Paris?", "It is sunny."),
        (2, "Thanks", ""),
    ]
    assert turns[1].voice_to_voice_ms == 950
    assert turns[2].voice_to_voice_ms == 0


def test_sqlite_round_trips_a_record_and_replaces_it_by_id(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    record = _record("call-1", NOW)
    asyncio.run(store.save(record))
    asyncio.run(store.save(record))
    assert asyncio.run(store.get("call-1")) == record
    assert asyncio.run(store.get("nope")) is None
    store.close()
    reopened = SqliteCallStore(tmp_path / "calls.db")
    assert asyncio.run(reopened.get("call-1")) == record


def test_retention_removes_old_calls_with_their_turns(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    asyncio.run(store.save(_record("old", NOW - timedelta(days=40))))
    asyncio.run(store.save(_record("new", NOW - timedelta(days=1))))
    assert asyncio.run(store.delete_ended_before(NOW - timedelta(days=30))) == 1
    assert asyncio.run(store.get("old")) is None
    assert asyncio.run(store.get("new")) is not None
    orphans = store._connection.execute(
        "SELECT count(*) FROM turns WHERE call_id = 'old'"
    ).fetchone()[0]
    assert orphans == 0
