"""Call records in SQLite (the embedded default). Blocking sqlite3 calls run in a worker thread."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from dataclasses import astuple
from datetime import datetime
from pathlib import Path
from typing import Any

from switchboard_gateway.records.migrations import migrate_sqlite
from switchboard_gateway.records.model import (
    CallPage,
    CallRecord,
    CallSummary,
    ToolCallRecord,
    TurnRecord,
)
from switchboard_gateway.records.schema import CALL_COLUMNS, TURN_COLUMNS, call_header, statements

SQL = statements("sqlite")


class SqliteCallStore:
    """One SQLite file; safe to share between the calls of one gateway process."""

    def __init__(self, path: Path | str) -> None:
        # Records hold transcripts: the file (and the journal files SQLite gives the same mode)
        # is readable by this user only.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA foreign_keys = ON")
        self._connection.execute("PRAGMA journal_mode = WAL")
        migrate_sqlite(self._connection, SQL)
        self._lock = threading.Lock()

    async def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()

    async def save(self, record: CallRecord) -> None:
        """Store a finished call, replacing an earlier save of the same id."""
        await asyncio.to_thread(self._save, record)

    def _save(self, record: CallRecord) -> None:
        with self._lock, self._connection:
            db = self._connection
            db.execute(SQL.delete_call, (record.call_id,))
            db.execute(
                SQL.insert_call,
                (
                    record.call_id,
                    record.agent,
                    record.channel,
                    record.started_at.isoformat(),
                    record.ended_at.isoformat(),
                    record.end_reason,
                    record.client_reference,
                    record.truncated,
                    record.recording,
                    record.phone_provider,
                    record.phone_call_sid,
                    record.phone_from,
                    record.phone_to,
                    record.phone_direction,
                ),
            )
            db.executemany(
                SQL.insert_turn,
                [(record.call_id, *astuple(t)) for t in record.turns],
            )
            db.executemany(
                SQL.insert_tool_call,
                [(record.call_id, i, *astuple(t)) for i, t in enumerate(record.tool_calls)],
            )

    async def get(self, call_id: str) -> CallRecord | None:
        """A call by id, with its turns and tool calls in order."""
        page = await asyncio.to_thread(self._page, call_id, 0, None)
        return page.record if page is not None else None

    async def page(self, call_id: str, turns_from: int, turns_limit: int) -> CallPage | None:
        """A call by id with one page of its turns and those turns' tool calls."""
        return await asyncio.to_thread(self._page, call_id, turns_from, turns_limit)

    def _page(self, call_id: str, turns_from: int, turns_limit: int | None) -> CallPage | None:
        with self._lock:
            db = self._connection
            row = db.execute(SQL.select_call, (call_id,)).fetchone()
            if row is None:
                return None
            if turns_limit is None:
                turn_rows = db.execute(SQL.select_turns, (call_id,)).fetchall()
                tool_rows = db.execute(SQL.select_tool_calls, (call_id,)).fetchall()
                total = len(turn_rows)
            else:
                page = (call_id, turns_from, turns_limit + 1)
                turn_rows = db.execute(SQL.select_turns_page, page).fetchall()
                shown = turn_rows[:turns_limit]
                last = shown[-1][0] if shown else -1
                span = (call_id, turns_from, last)
                tool_rows = db.execute(SQL.select_tool_calls_page, span).fetchall()
                total = db.execute(SQL.count_turns, (call_id,)).fetchone()[0]
        turns = tuple(_turn(row) for row in turn_rows)
        more = turns_limit is not None and len(turns) > turns_limit
        record = CallRecord(
            **_header(row),
            turns=turns[:turns_limit] if more else turns,
            tool_calls=tuple(ToolCallRecord(t[0], t[1], bool(t[2]), *t[3:]) for t in tool_rows),
        )
        return CallPage(record, total, turns[-1].number if more else None)

    async def recent(self, limit: int, before: str | None = None) -> list[CallSummary]:
        """The latest `limit` calls, most recently ended first (after `before`, a call id)."""
        return await asyncio.to_thread(self._recent, limit, before)

    def _recent(self, limit: int, before: str | None) -> list[CallSummary]:
        with self._lock:
            if before is None:
                rows = self._connection.execute(SQL.select_recent, (limit,)).fetchall()
            else:
                query = (SQL.select_recent_before, (before, limit))
                rows = self._connection.execute(*query).fetchall()
        return [CallSummary(**_header(row), turns=row[len(CALL_COLUMNS)]) for row in rows]

    async def delete_ended_before(self, cutoff: datetime) -> int:
        """Retention by age (turns and tool calls go with their call)."""
        return await asyncio.to_thread(self._delete, cutoff)

    def _delete(self, cutoff: datetime) -> int:
        with self._lock, self._connection:
            cursor = self._connection.execute(SQL.delete_ended_before, (cutoff.isoformat(),))
            return cursor.rowcount


def _header(row: tuple[Any, ...]) -> dict[str, Any]:
    """A calls row as `CallHeader` fields (SQLite keeps times as ISO text, booleans as ints)."""
    header = call_header(row)
    header["started_at"] = datetime.fromisoformat(header["started_at"])
    header["ended_at"] = datetime.fromisoformat(header["ended_at"])
    header["truncated"] = bool(header["truncated"])
    return header


def _turn(row: tuple[Any, ...]) -> TurnRecord:
    """A turn from its row (SQLite keeps booleans as integers)."""
    values: list[Any] = [
        bool(v) if kind == "bool" else v for v, (_, kind) in zip(row, TURN_COLUMNS, strict=True)
    ]
    return TurnRecord(*values)
