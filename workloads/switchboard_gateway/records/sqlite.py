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

from switchboard_gateway.records.model import CallRecord, CallSummary, ToolCallRecord, TurnRecord
from switchboard_gateway.records.schema import TURN_COLUMNS, statements

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
        self._connection.executescript(SQL.create)
        existing = {
            row[0] for row in self._connection.execute(SQL.select_turn_columns, (SQL.turns,))
        }
        with self._connection:
            for migration in SQL.migrations(existing):
                self._connection.execute(migration)
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
        return await asyncio.to_thread(self._get, call_id)

    def _get(self, call_id: str) -> CallRecord | None:
        with self._lock:
            db = self._connection
            row = db.execute(SQL.select_call, (call_id,)).fetchone()
            if row is None:
                return None
            turn_rows = db.execute(SQL.select_turns, (call_id,)).fetchall()
            tool_rows = db.execute(SQL.select_tool_calls, (call_id,)).fetchall()
        return CallRecord(
            call_id=row[0],
            agent=row[1],
            channel=row[2],
            started_at=datetime.fromisoformat(row[3]),
            ended_at=datetime.fromisoformat(row[4]),
            end_reason=row[5],
            client_reference=row[6],
            turns=tuple(_turn(row) for row in turn_rows),
            tool_calls=tuple(ToolCallRecord(t[0], t[1], bool(t[2]), *t[3:]) for t in tool_rows),
        )

    async def recent(self, limit: int) -> list[CallSummary]:
        """The latest `limit` calls, most recently ended first."""
        return await asyncio.to_thread(self._recent, limit)

    def _recent(self, limit: int) -> list[CallSummary]:
        with self._lock:
            rows = self._connection.execute(SQL.select_recent, (limit,)).fetchall()
        return [
            CallSummary(
                row[0],
                row[1],
                row[2],
                datetime.fromisoformat(row[3]),
                datetime.fromisoformat(row[4]),
                row[5],
                row[6],
                row[7],
            )
            for row in rows
        ]

    async def delete_ended_before(self, cutoff: datetime) -> int:
        """Retention by age (turns and tool calls go with their call)."""
        return await asyncio.to_thread(self._delete, cutoff)

    def _delete(self, cutoff: datetime) -> int:
        with self._lock, self._connection:
            cursor = self._connection.execute(SQL.delete_ended_before, (cutoff.isoformat(),))
            return cursor.rowcount


def _turn(row: tuple[Any, ...]) -> TurnRecord:
    """A turn from its row (SQLite keeps booleans as integers)."""
    values: list[Any] = [
        bool(v) if kind == "bool" else v for v, (_, kind) in zip(row, TURN_COLUMNS, strict=True)
    ]
    return TurnRecord(*values)
