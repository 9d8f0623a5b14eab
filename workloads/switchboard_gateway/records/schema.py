"""The call-record tables and statements, once, rendered for SQLite and PostgreSQL.

Column order is the order of the values in `TurnRecord` and `ToolCallRecord` (after the call id,
and a position for tool calls), so rows are built with `dataclasses.astuple`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "bool": "INTEGER", "time": "TEXT"},
    "postgres": {"text": "TEXT", "int": "INTEGER", "bool": "BOOLEAN", "time": "TIMESTAMPTZ"},
}

CALL_COLUMNS = (
    ("call_id", "text"),
    ("agent", "text"),
    ("channel", "text"),
    ("started_at", "time"),
    ("ended_at", "time"),
    ("end_reason", "text"),
    ("client_reference", "text"),
)
TURN_COLUMNS = (
    ("number", "int"),
    ("caller_text", "text"),
    ("agent_text", "text"),
    ("endpointing_ms", "int"),
    ("asr_final_ms", "int"),
    ("llm_ttft_ms", "int"),
    ("tts_ttfb_ms", "int"),
    ("voice_to_voice_ms", "int"),
    ("interrupted", "bool"),
)
TOOL_CALL_COLUMNS = (
    ("position", "int"),
    ("turn", "int"),
    ("name", "text"),
    ("ok", "bool"),
    ("error", "text"),
    ("latency_ms", "int"),
)


@dataclass(frozen=True)
class Statements:
    """Every statement a store runs, for one dialect and table prefix."""

    create: str
    delete_call: str
    insert_call: str
    insert_turn: str
    insert_tool_call: str
    select_call: str
    select_turns: str
    select_tool_calls: str
    delete_ended_before: str
    select_recent: str


def statements(dialect: Dialect, prefix: str = "") -> Statements:
    """The statements for `dialect`.

    Identifiers come from this module's constants and `prefix` (configuration, never input);
    values always travel as parameters, hence the S608 exemptions below.
    """
    types = _TYPES[dialect]
    mark = "?" if dialect == "sqlite" else "%s"
    calls, turns, tools = f"{prefix}calls", f"{prefix}turns", f"{prefix}tool_calls"

    def columns(spec: tuple[tuple[str, str], ...]) -> str:
        return ",\n".join(f"    {name} {types[kind]} NOT NULL" for name, kind in spec)

    def names(spec: tuple[tuple[str, str], ...]) -> str:
        return ", ".join(name for name, _ in spec)

    def insert(table: str, count: int) -> str:
        return f"INSERT INTO {table} VALUES ({', '.join([mark] * count)})"  # noqa: S608

    parent = f"    call_id TEXT NOT NULL REFERENCES {calls} (call_id) ON DELETE CASCADE"
    return Statements(
        create=f"""
CREATE TABLE IF NOT EXISTS {calls} (
{columns(CALL_COLUMNS)},
    PRIMARY KEY (call_id)
);
CREATE INDEX IF NOT EXISTS {calls}_ended_at ON {calls} (ended_at);
CREATE TABLE IF NOT EXISTS {turns} (
{parent},
{columns(TURN_COLUMNS)},
    PRIMARY KEY (call_id, number)
);
CREATE TABLE IF NOT EXISTS {tools} (
{parent},
{columns(TOOL_CALL_COLUMNS)},
    PRIMARY KEY (call_id, position)
);
""",
        delete_call=f"DELETE FROM {calls} WHERE call_id = {mark}",  # noqa: S608
        insert_call=insert(calls, len(CALL_COLUMNS)),
        insert_turn=insert(turns, 1 + len(TURN_COLUMNS)),
        insert_tool_call=insert(tools, 1 + len(TOOL_CALL_COLUMNS)),
        select_call=f"SELECT {names(CALL_COLUMNS)} FROM {calls} WHERE call_id = {mark}",  # noqa: S608
        select_turns=f"SELECT {names(TURN_COLUMNS)} FROM {turns}"  # noqa: S608
        f" WHERE call_id = {mark} ORDER BY number",
        select_tool_calls=f"SELECT {names(TOOL_CALL_COLUMNS[1:])} FROM {tools}"  # noqa: S608
        f" WHERE call_id = {mark} ORDER BY position",
        delete_ended_before=f"DELETE FROM {calls} WHERE ended_at < {mark}",  # noqa: S608
        select_recent=f"SELECT {names(CALL_COLUMNS)},"  # noqa: S608
        f" (SELECT COUNT(*) FROM {turns} t WHERE t.call_id = c.call_id)"
        f" FROM {calls} c ORDER BY ended_at DESC LIMIT {mark}",
    )
