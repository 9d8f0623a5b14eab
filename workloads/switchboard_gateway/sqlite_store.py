"""Call records in SQLite (the embedded default). Blocking sqlite3 calls run in a worker thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from switchboard_gateway.records import CallRecord, ToolCallRecord, TurnRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    channel TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    end_reason TEXT NOT NULL,
    client_reference TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_ended_at ON calls (ended_at);
CREATE TABLE IF NOT EXISTS turns (
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    caller_text TEXT NOT NULL,
    agent_text TEXT NOT NULL,
    endpointing_ms INTEGER NOT NULL,
    asr_final_ms INTEGER NOT NULL,
    llm_ttft_ms INTEGER NOT NULL,
    tts_ttfb_ms INTEGER NOT NULL,
    voice_to_voice_ms INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    PRIMARY KEY (call_id, number)
);
CREATE TABLE IF NOT EXISTS tool_calls (
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    turn INTEGER NOT NULL,
    name TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT NOT NULL,
    latency_ms INTEGER NOT NULL,
    PRIMARY KEY (call_id, position)
);
"""
_INSERT_TURN = "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT_TURNS = (
    "SELECT number, caller_text, agent_text, endpointing_ms, asr_final_ms, llm_ttft_ms,"
    " tts_ttfb_ms, voice_to_voice_ms, interrupted FROM turns WHERE call_id = ? ORDER BY number"
)


class SqliteCallStore:
    """One SQLite file; safe to share between the calls of one gateway process."""

    def __init__(self, path: Path | str) -> None:
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA foreign_keys = ON")
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._connection.close()

    async def save(self, record: CallRecord) -> None:
        """Store a finished call, replacing an earlier save of the same id."""
        await asyncio.to_thread(self._save, record)

    def _save(self, record: CallRecord) -> None:
        with self._lock, self._connection:
            db = self._connection
            db.execute("DELETE FROM calls WHERE call_id = ?", (record.call_id,))
            db.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
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
                _INSERT_TURN,
                [(record.call_id, *asdict(t).values()) for t in record.turns],
            )
            db.executemany(
                "INSERT INTO tool_calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (record.call_id, i, t.turn, t.name, t.ok, t.error, t.latency_ms)
                    for i, t in enumerate(record.tool_calls)
                ],
            )

    async def get(self, call_id: str) -> CallRecord | None:
        """A call by id, with its turns and tool calls in order."""
        return await asyncio.to_thread(self._get, call_id)

    def _get(self, call_id: str) -> CallRecord | None:
        with self._lock:
            db = self._connection
            row = db.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            if row is None:
                return None
            turns = db.execute(_SELECT_TURNS, (call_id,)).fetchall()
            tools = db.execute(
                "SELECT turn, name, ok, error, latency_ms FROM tool_calls"
                " WHERE call_id = ? ORDER BY position",
                (call_id,),
            ).fetchall()
        return CallRecord(
            call_id=row[0],
            agent=row[1],
            channel=row[2],
            started_at=datetime.fromisoformat(row[3]),
            ended_at=datetime.fromisoformat(row[4]),
            end_reason=row[5],
            client_reference=row[6],
            turns=tuple(_turn(t) for t in turns),
            tool_calls=tuple(ToolCallRecord(t[0], t[1], bool(t[2]), t[3], t[4]) for t in tools),
        )

    async def delete_ended_before(self, cutoff: datetime) -> int:
        """Retention by age."""
        return await asyncio.to_thread(self._delete, cutoff)

    def _delete(self, cutoff: datetime) -> int:
        with self._lock, self._connection:
            cursor = self._connection.execute(
                "DELETE FROM calls WHERE ended_at < ?", (cutoff.isoformat(),)
            )
            return cursor.rowcount


def _turn(row: tuple[int, str, str, int, int, int, int, int, int]) -> TurnRecord:
    number, caller, agent, endpointing, asr, ttft, ttfb, v2v, interrupted = row
    return TurnRecord(number, caller, agent, endpointing, asr, ttft, ttfb, v2v, bool(interrupted))
