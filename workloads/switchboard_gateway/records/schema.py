"""The call-record tables and statements, once, rendered for SQLite and PostgreSQL.

Column order is the order of the values in `TurnRecord` and `ToolCallRecord` (after the call id,
and a position for tool calls), so rows are built with `dataclasses.astuple`; statements name
their columns, so a column added to an older table (at its end) lines up too. The turns' columns
are `TurnRecord`'s fields, one per latency stage among them: a stage added to `LatencyStage`
becomes a column, added to existing tables when a store opens them (`Statements.migrations`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from switchboard_gateway.records.model import TurnRecord
from switchboard_wire.latency import LatencyStage

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "bool": "INTEGER", "time": "TEXT"},
    "postgres": {"text": "TEXT", "int": "INTEGER", "bool": "BOOLEAN", "time": "TIMESTAMPTZ"},
}

#: A phone call's metadata (`CallHeader.phone_*`, from `events.TelephonyCall`), "" on other calls.
PHONE_CALL_COLUMNS = (
    ("phone_provider", "text"),
    ("phone_call_sid", "text"),
    ("phone_from", "text"),
    ("phone_to", "text"),
    ("phone_direction", "text"),
)
CALL_COLUMNS = (
    ("call_id", "text"),
    ("agent", "text"),
    ("channel", "text"),
    ("started_at", "time"),
    ("ended_at", "time"),
    ("end_reason", "text"),
    ("client_reference", "text"),
    ("truncated", "bool"),
    ("recording", "text"),
    *PHONE_CALL_COLUMNS,
)
#: Columns that calls tables made before them lack (false or "" in old rows), with their kinds.
ADDED_CALL_COLUMNS = (("truncated", "bool"), ("recording", "text"), *PHONE_CALL_COLUMNS)
_KINDS = {"int": "int", "str": "text", "bool": "bool"}
TURN_COLUMNS = tuple((f.name, _KINDS[str(f.type)]) for f in fields(TurnRecord))
#: Columns that tables made before their stage existed lack; 0 in old rows: "did not run".
STAGE_COLUMNS = tuple(stage.field for stage in LatencyStage)
TOOL_CALL_COLUMNS = (
    ("position", "int"),
    ("turn", "int"),
    ("name", "text"),
    ("ok", "bool"),
    ("error", "text"),
    ("latency_ms", "int"),
)


def call_header(row: Sequence[Any]) -> dict[str, Any]:
    """The `CallHeader` fields of a calls row (as `CALL_COLUMNS` orders them)."""
    return {name: value for (name, _), value in zip(CALL_COLUMNS, row, strict=False)}


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
    #: One page of a call's turns: (call id, first number, how many).
    select_turns_page: str
    #: The tool calls of a page's turns: (call id, first turn, last turn).
    select_tool_calls_page: str
    count_turns: str
    delete_ended_before: str
    select_recent: str
    #: The calls listed after a given call (the cursor): (cursor call id, how many).
    select_recent_before: str
    #: The tables' names (the parameter of `select_turn_columns`).
    calls: str
    turns: str
    #: The names of the turns table's columns, as the database has them.
    select_turn_columns: str
    #: Per latency column, the statement that adds it to a turns table that lacks it.
    add_stage_column: dict[str, str]
    #: Per added calls column, the statement that adds it to a calls table that lacks it.
    add_call_column: dict[str, str]

    def migrations(self, existing: Collection[str]) -> list[str]:
        """The statements that bring a turns table with `existing` columns up to date."""
        return [sql for column, sql in self.add_stage_column.items() if column not in existing]

    def call_migrations(self, existing: Collection[str]) -> list[str]:
        """The statements that bring a calls table with `existing` columns up to date."""
        return [sql for column, sql in self.add_call_column.items() if column not in existing]


def statements(dialect: Dialect, prefix: str = "") -> Statements:
    """The statements for `dialect`.

    Identifiers come from this module's constants and `prefix` (configuration, never input);
    values always travel as parameters, hence the S608 exemptions below.
    """
    types = _TYPES[dialect]
    mark = "?" if dialect == "sqlite" else "%s"
    calls, turns, tools = f"{prefix}calls", f"{prefix}turns", f"{prefix}tool_calls"

    false = "0" if dialect == "sqlite" else "FALSE"

    def column(name: str, kind: str) -> str:
        default = ""
        if name in STAGE_COLUMNS:
            default = " DEFAULT 0"
        elif name in dict(ADDED_CALL_COLUMNS):
            default = f" DEFAULT {false}" if kind == "bool" else " DEFAULT ''"
        return f"{name} {types[kind]} NOT NULL{default}"

    def columns(spec: tuple[tuple[str, str], ...]) -> str:
        return ",\n".join(f"    {column(name, kind)}" for name, kind in spec)

    def names(spec: tuple[tuple[str, str], ...]) -> str:
        return ", ".join(name for name, _ in spec)

    def insert(table: str, spec: tuple[tuple[str, str], ...]) -> str:
        values = ", ".join([mark] * len(spec))
        return f"INSERT INTO {table} ({names(spec)}) VALUES ({values})"  # noqa: S608

    parent_id = (("call_id", "text"),)
    if_missing = "IF NOT EXISTS " if dialect == "postgres" else ""
    if dialect == "sqlite":
        select_columns = "SELECT name FROM pragma_table_info(?)"
    else:
        select_columns = (
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s"
        )

    parent = f"    call_id TEXT NOT NULL REFERENCES {calls} (call_id) ON DELETE CASCADE"
    recent = (
        f"SELECT {names(CALL_COLUMNS)},"  # noqa: S608
        f" (SELECT COUNT(*) FROM {turns} t WHERE t.call_id = c.call_id) FROM {calls} c"
    )
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
        insert_call=insert(calls, CALL_COLUMNS),
        insert_turn=insert(turns, parent_id + TURN_COLUMNS),
        insert_tool_call=insert(tools, parent_id + TOOL_CALL_COLUMNS),
        select_call=f"SELECT {names(CALL_COLUMNS)} FROM {calls} WHERE call_id = {mark}",  # noqa: S608
        select_turns=f"SELECT {names(TURN_COLUMNS)} FROM {turns}"  # noqa: S608
        f" WHERE call_id = {mark} ORDER BY number",
        select_tool_calls=f"SELECT {names(TOOL_CALL_COLUMNS[1:])} FROM {tools}"  # noqa: S608
        f" WHERE call_id = {mark} ORDER BY position",
        select_turns_page=f"SELECT {names(TURN_COLUMNS)} FROM {turns}"  # noqa: S608
        f" WHERE call_id = {mark} AND number >= {mark} ORDER BY number LIMIT {mark}",
        select_tool_calls_page=f"SELECT {names(TOOL_CALL_COLUMNS[1:])} FROM {tools}"  # noqa: S608
        f" WHERE call_id = {mark} AND turn >= {mark} AND turn <= {mark} ORDER BY position",
        count_turns=f"SELECT COUNT(*) FROM {turns} WHERE call_id = {mark}",  # noqa: S608
        delete_ended_before=f"DELETE FROM {calls} WHERE ended_at < {mark}",  # noqa: S608
        select_recent=f"{recent} ORDER BY ended_at DESC, call_id DESC LIMIT {mark}",
        select_recent_before=f"{recent} WHERE (c.ended_at, c.call_id) < "  # noqa: S608
        f"(SELECT ended_at, call_id FROM {calls} WHERE call_id = {mark})"
        f" ORDER BY ended_at DESC, call_id DESC LIMIT {mark}",
        calls=calls,
        turns=turns,
        select_turn_columns=select_columns,
        add_stage_column={
            name: f"ALTER TABLE {turns} ADD COLUMN {if_missing}{column(name, 'int')}"
            for name in STAGE_COLUMNS
        },
        add_call_column={
            name: f"ALTER TABLE {calls} ADD COLUMN {if_missing}{column(name, kind)}"
            for name, kind in ADDED_CALL_COLUMNS
        },
    )
