"""Both call-record stores against one contract: SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from switchboard_gateway.records.model import (
    CallRecord,
    CallStore,
    CallStoreUnavailableError,
    CallSummary,
    ToolCallRecord,
    TurnRecord,
)
from switchboard_gateway.records.postgres import PostgresCallStore
from switchboard_gateway.records.sqlite import SqliteCallStore

pytestmark = pytest.mark.storage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OpenStore = Callable[[], AbstractAsyncContextManager[CallStore]]


def _record(call_id: str, ended: datetime, reason: str = "caller_hangup") -> CallRecord:
    return CallRecord(
        call_id=call_id,
        agent="acme/receptionist",
        channel="grpc",
        started_at=ended - timedelta(minutes=2),
        ended_at=ended,
        end_reason=reason,
        client_reference="crm-42",
        turns=(
            TurnRecord(0, "", "Hello, how can I help?"),
            TurnRecord(1, "Opening hours?", "Nine to five.", 520, 130, 90, 110, 900, False, 40),
            TurnRecord(2, "And on Sunday?", "We are", 480, 120, 85, 100, 870, True),
        ),
        tool_calls=(
            ToolCallRecord(1, "get_hours", True, "", 12),
            ToolCallRecord(2, "get_hours", False, "timed out after 2.0 s", 2001),
        ),
    )


async def postgres_database(dsn: str, name: str) -> str:
    """A database of its own (created when missing), so tests never see each other's rows."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        found = await admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if await found.fetchone() is None:
            await admin.execute(f'CREATE DATABASE "{name}"')
    return dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens the store under test; each opening is a new connection to the same data."""
    if request.param == "sqlite":

        @asynccontextmanager
        async def sqlite() -> AsyncIterator[CallStore]:
            store = SqliteCallStore(tmp_path / "calls.db")
            try:
                yield store
            finally:
                await store.close()

        return sqlite
    dsn: str = request.getfixturevalue("postgres_dsn")
    name = "t_" + request.node.originalname.removeprefix("test_")[:50]

    @asynccontextmanager
    async def postgres() -> AsyncIterator[CallStore]:
        store = await PostgresCallStore.open(await postgres_database(dsn, name))
        try:
            yield store
        finally:
            await store.close()

    return postgres


def test_a_record_round_trips_and_a_second_save_replaces_it(open_store: OpenStore) -> None:
    record = _record("call-1", NOW)

    async def scenario() -> None:
        async with open_store() as store:
            await store.save(_record("call-1", NOW, reason="timeout"))
            await store.save(record)
            assert await store.get("call-1") == record
            assert await store.get("nope") is None
        async with open_store() as reopened:  # stored, not just held in memory
            assert await reopened.get("call-1") == record

    asyncio.run(scenario())


def test_retention_removes_old_calls_with_their_turns_and_tool_calls(
    open_store: OpenStore,
) -> None:
    async def scenario() -> None:
        async with open_store() as store:
            await store.save(_record("old", NOW - timedelta(days=40)))
            await store.save(_record("new", NOW - timedelta(days=1)))
            assert await store.delete_ended_before(NOW - timedelta(days=30)) == 1
            assert await store.get("old") is None
            assert await store.get("new") == _record("new", NOW - timedelta(days=1))
            # Saving the old call again brings back exactly one copy of its children.
            await store.save(_record("old", NOW - timedelta(days=40)))
            restored = await store.get("old")
            assert restored is not None
            assert len(restored.turns) == 3

    asyncio.run(scenario())


def test_recent_lists_the_latest_calls_first_with_their_turn_counts(
    open_store: OpenStore,
) -> None:
    async def scenario() -> None:
        async with open_store() as store:
            for hours in (3, 1, 2):
                await store.save(_record(f"call-{hours}h", NOW - timedelta(hours=hours)))
            latest = await store.recent(2)
            assert [c.call_id for c in latest] == ["call-1h", "call-2h"]
            assert latest[0] == CallSummary(
                "call-1h",
                "acme/receptionist",
                "grpc",
                NOW - timedelta(hours=1, minutes=2),
                NOW - timedelta(hours=1),
                "caller_hangup",
                "crm-42",
                turns=3,
            )
            assert len(await store.recent(10)) == 3

    asyncio.run(scenario())


def test_calls_are_listed_a_page_at_a_time_after_a_cursor(open_store: OpenStore) -> None:
    async def scenario() -> None:
        async with open_store() as store:
            for minutes in range(7):
                await store.save(_record(f"call-{minutes}m", NOW - timedelta(minutes=minutes)))
            # Two calls that ended at the same moment still each appear exactly once.
            await store.save(_record("call-tie", NOW - timedelta(minutes=3)))
            listed: list[str] = []
            before: str | None = None
            while True:
                page = await store.recent(3, before)
                listed += [c.call_id for c in page]
                if len(page) < 3:
                    break
                before = page[-1].call_id
            assert listed == [
                "call-0m", "call-1m", "call-2m", "call-tie", "call-3m", "call-4m", "call-5m",
                "call-6m",
            ]  # fmt: skip
            assert await store.recent(3, "no-such-call") == []

    asyncio.run(scenario())


def test_a_calls_turns_are_read_a_page_at_a_time_with_their_tool_calls(
    open_store: OpenStore,
) -> None:
    record = _record("call-1", NOW)

    async def scenario() -> None:
        async with open_store() as store:
            await store.save(record)
            first = await store.page("call-1", 0, 2)
            assert first is not None
            assert first.record.turns == record.turns[:2]
            assert first.record.tool_calls == record.tool_calls[:1]
            assert (first.turns_total, first.next_turns_from) == (3, 2)
            assert first.record.client_reference == "crm-42"
            last = await store.page("call-1", 2, 2)
            assert last is not None
            assert last.record.turns == record.turns[2:]
            assert last.record.tool_calls == record.tool_calls[1:]
            assert (last.turns_total, last.next_turns_from) == (3, None)
            beyond = await store.page("call-1", 50, 2)
            assert beyond is not None
            assert (beyond.record.turns, beyond.record.tool_calls) == ((), ())
            assert await store.page("nope", 0, 2) is None

    asyncio.run(scenario())


def test_a_truncated_record_keeps_its_flag(open_store: OpenStore) -> None:
    record = replace(_record("cut", NOW), truncated=True)

    async def scenario() -> None:
        async with open_store() as store:
            await store.save(record)
            assert await store.get("cut") == record
            (summary,) = await store.recent(1)
            assert summary.truncated

    asyncio.run(scenario())


def test_a_phone_calls_metadata_round_trips_in_the_record_its_page_and_the_list(
    open_store: OpenStore,
) -> None:
    record = replace(
        _record("phone", NOW),
        channel="twilio",
        phone_provider="twilio",
        phone_call_sid="CA0123456789abcdef0123456789abcdef",
        phone_from="+15550001111",
        phone_to="+15550002222",
        phone_direction="outbound",
    )
    phone = (record.phone_provider, record.phone_call_sid, "+15550001111", "+15550002222")

    async def scenario() -> None:
        async with open_store() as store:
            await store.save(record)
            await store.save(_record("web", NOW - timedelta(hours=1)))
        async with open_store() as reopened:
            assert await reopened.get("phone") == record
            page = await reopened.page("phone", 1, 1)
            assert page is not None
            shown = replace(record, turns=record.turns[1:2], tool_calls=record.tool_calls[:1])
            assert page.record == shown
            listed = await reopened.recent(10)
            assert [(c.call_id, c.phone_provider, c.phone_call_sid) for c in listed] == [
                ("phone", *phone[:2]),
                ("web", "", ""),
            ]
            assert [(c.phone_from, c.phone_to) for c in listed] == [phone[2:], ("", "")]
            assert [c.phone_direction for c in listed] == ["outbound", ""]

    asyncio.run(scenario())


def test_concurrent_saves_from_many_calls_all_land(open_store: OpenStore) -> None:
    async def scenario() -> None:
        async with open_store() as store:
            ids = [f"call-{i}" for i in range(20)]
            await asyncio.gather(*(store.save(_record(i, NOW)) for i in ids))
            found = await asyncio.gather(*(store.get(i) for i in ids))
            assert [r.call_id if r else None for r in found] == ids

    asyncio.run(scenario())


def test_postgres_children_are_gone_after_retention(postgres_dsn: str) -> None:
    async def scenario() -> None:
        dsn = await postgres_database(postgres_dsn, "t_children")
        store = await PostgresCallStore.open(dsn)
        await store.save(_record("old", NOW - timedelta(days=40)))
        await store.delete_ended_before(NOW)
        await store.close()
        async with await psycopg.AsyncConnection.connect(dsn) as db:
            turns = await db.execute("SELECT count(*) FROM switchboard_turns")
            tools = await db.execute("SELECT count(*) FROM switchboard_tool_calls")
            assert (await turns.fetchone(), await tools.fetchone()) == ((0,), (0,))

    asyncio.run(scenario())


#: The turns table as the first release made it, before the retrieval stage had a column.
OLD_TURNS = """
CREATE TABLE {p}turns (
    call_id TEXT NOT NULL REFERENCES {p}calls (call_id) ON DELETE CASCADE,
    number INTEGER NOT NULL, caller_text TEXT NOT NULL, agent_text TEXT NOT NULL,
    endpointing_ms INTEGER NOT NULL, asr_final_ms INTEGER NOT NULL, llm_ttft_ms INTEGER NOT NULL,
    tts_ttfb_ms INTEGER NOT NULL, voice_to_voice_ms INTEGER NOT NULL, interrupted {bool} NOT NULL,
    PRIMARY KEY (call_id, number)
)"""
#: Replacing the turns table with the old one, holding one row the old code wrote.
TO_OLD_TURNS = {
    "sqlite": (
        "DROP TABLE turns",
        OLD_TURNS.format(p="", bool="INTEGER"),
        "INSERT INTO turns VALUES ('old', 1, 'Hi?', 'Hello.', 5, 4, 3, 2, 1, 0)",
    ),
    "postgres": (
        "DROP TABLE switchboard_turns",
        OLD_TURNS.format(p="switchboard_", bool="BOOLEAN"),
        "INSERT INTO switchboard_turns VALUES ('old', 1, 'Hi?', 'Hello.', 5, 4, 3, 2, 1, false)",
    ),
}


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_turns_table_from_before_a_stage_existed_gains_its_column(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async def scenario() -> None:
        if dialect == "sqlite":
            path = tmp_path / "calls.db"
            opened: CallStore = SqliteCallStore(path)

            def run(*sql: str) -> None:
                with sqlite3.connect(path) as db:
                    for statement in sql:
                        db.execute(statement)
        else:
            dsn = await postgres_database(request.getfixturevalue("postgres_dsn"), "t_migration")
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
                await db.execute("DROP TABLE IF EXISTS switchboard_turns, switchboard_tool_calls")
                await db.execute("DROP TABLE IF EXISTS switchboard_calls")
            opened = await PostgresCallStore.open(dsn)

            def run(*sql: str) -> None:
                with psycopg.connect(dsn, autocommit=True) as db:
                    for statement in sql:
                        db.execute(statement.encode())

        header = replace(_record("old", NOW), turns=(), tool_calls=())
        await opened.save(header)
        await opened.close()
        run(*TO_OLD_TURNS[dialect])
        store = (
            SqliteCallStore(tmp_path / "calls.db")
            if dialect == "sqlite"
            else await PostgresCallStore.open(dsn)
        )
        try:
            old = await store.get("old")
            assert old is not None
            assert old.turns == (TurnRecord(1, "Hi?", "Hello.", 5, 4, 3, 2, 1, False, 0),)
            await store.save(_record("new", NOW))
            assert await store.get("new") == _record("new", NOW)
        finally:
            await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_a_calls_table_from_before_truncation_gains_its_column(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async def scenario() -> None:
        if dialect == "sqlite":
            path = tmp_path / "calls.db"
            first: CallStore = SqliteCallStore(path)
            await first.save(replace(_record("old", NOW), turns=(), tool_calls=()))
            await first.close()
            with sqlite3.connect(path) as db:
                db.execute("ALTER TABLE calls DROP COLUMN truncated")
            store: CallStore = SqliteCallStore(path)
        else:
            dsn = await postgres_database(request.getfixturevalue("postgres_dsn"), "t_truncated")
            first = await PostgresCallStore.open(dsn)
            await first.save(replace(_record("old", NOW), turns=(), tool_calls=()))
            await first.close()
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as db:
                await db.execute("ALTER TABLE switchboard_calls DROP COLUMN truncated")
            store = await PostgresCallStore.open(dsn)
        try:
            old = await store.get("old")
            assert old is not None
            assert old.truncated is False
            cut = replace(_record("new", NOW), truncated=True)
            await store.save(cut)
            assert await store.get("new") == cut
        finally:
            await store.close()

    asyncio.run(scenario())


def test_postgres_unreachable_fails_within_its_timeout() -> None:
    dsn = "postgresql://nobody:hunter2@127.0.0.1:1/none"
    began = time.monotonic()
    with pytest.raises(CallStoreUnavailableError, match=r"127\.0\.0\.1:1 not usable") as caught:
        asyncio.run(PostgresCallStore.open(dsn, timeout_s=1.0))
    assert time.monotonic() - began < 5.0
    assert "hunter2" not in str(caught.value)
