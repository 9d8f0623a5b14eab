"""Versioned migrations of the call-record schema, run once per release, and the gateways' check.

A table `<prefix>schema_migrations` holds one row per applied migration. Tables made before it
existed are version 1 (the schema as it was). In a cluster the chart's pre-install/pre-upgrade
Job runs `python -m switchboard_gateway.records migrate` under a PostgreSQL advisory lock (two
runs at once: one applies, the other waits and finds nothing to do); gateways there only check
the version and refuse to start on an older schema (`CallStoreSchemaError`). `switchboard up`
(SQLite, one process) migrates at start.

Migrations only add (tables, columns, indexes): a gateway of the previous release keeps working
on a newer schema while a rollout replaces it. A stage added to `LatencyStage` becomes a column
through the catch-up step every migration run ends with; a gateway that finds a column missing
refuses like on an older version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import AsyncConnection

from switchboard_gateway.records.model import CallStoreUnavailableError
from switchboard_gateway.records.schema import (
    CALL_COLUMNS,
    PHONE_CALL_COLUMNS,
    TURN_COLUMNS,
    Statements,
)

#: `pg_advisory_lock` key of call-record migrations (any 64-bit constant unique to them).
LOCK_KEY = 0x5357_4243_414C_4C53
MIGRATE_COMMAND = "python -m switchboard_gateway.records migrate"


class CallStoreSchemaError(CallStoreUnavailableError):
    """The database's call-record schema is older than this gateway needs."""


@dataclass(frozen=True)
class Migration:
    """One numbered step; `statements` renders it for a dialect's `Statements` and prefix."""

    version: int
    summary: str
    statements: Callable[[Statements, str], list[str]]


MIGRATIONS = (
    Migration(
        1,
        "calls, turns and tool calls (the schema from before versions)",
        lambda sql, prefix: [sql.create],
    ),
    Migration(
        2,
        "tool calls indexed by turn (a page of turns reads its turns' tool calls)",
        lambda sql, prefix: [
            f"CREATE INDEX IF NOT EXISTS {prefix}tool_calls_turn"
            f" ON {prefix}tool_calls (call_id, turn)"
        ],
    ),
    Migration(
        3,
        "calls reference their recording (callPolicy.recording) and keep a phone call's"
        " provider, call id, numbers and direction; '' when not recorded, not a phone call",
        lambda sql, prefix: [
            sql.add_call_column[name] for name in ("recording", *dict(PHONE_CALL_COLUMNS))
        ],
    ),
)
LATEST = MIGRATIONS[-1].version


def version_table(prefix: str) -> str:
    """The table of applied migrations."""
    return f"{prefix}schema_migrations"


def _create_version_table(prefix: str, time_type: str, now: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {version_table(prefix)} ("
        f" version INTEGER PRIMARY KEY, summary TEXT NOT NULL,"
        f" applied_at {time_type} NOT NULL DEFAULT {now})"
    )


def _record(prefix: str, mark: str) -> str:
    return f"INSERT INTO {version_table(prefix)} (version, summary) VALUES ({mark}, {mark})"  # noqa: S608


def too_old(found: int, missing: set[str]) -> str | None:
    """Why a schema at version `found` lacking columns `missing` cannot serve, or None."""
    if found < LATEST:
        return (
            f"the call-record schema is at version {found}, this gateway needs {LATEST}: run "
            f"`{MIGRATE_COMMAND}` (the chart's pre-upgrade hook Job does) before starting gateways"
        )
    if missing:
        return (
            f"the call-record tables lack {', '.join(sorted(missing))}: run "
            f"`{MIGRATE_COMMAND}` before starting gateways"
        )
    return None


@dataclass(frozen=True)
class MigrationReport:
    """What a run found and did."""

    before: int
    after: int
    applied: tuple[int, ...]


# PostgreSQL ---------------------------------------------------------------------------------


async def postgres_version(db: AsyncConnection, sql: Statements, prefix: str) -> int:
    """The schema's version: 0 without tables, 1 with tables but no version table."""
    cursor = await db.execute(
        "SELECT to_regclass(%s), to_regclass(%s)", (version_table(prefix), sql.calls)
    )
    row = await cursor.fetchone()
    versions, calls = row if row else (None, None)
    if versions is None:
        return 0 if calls is None else 1
    cursor = await db.execute(f"SELECT COALESCE(MAX(version), 0) FROM {version_table(prefix)}")  # noqa: S608
    found = await cursor.fetchone()
    current = int(found[0]) if found else 0
    return current if current or calls is None else 1


async def postgres_missing_columns(db: AsyncConnection, sql: Statements) -> set[str]:
    """Columns the database's turns and calls tables lack (as `table.column`).

    A database that went through an unreleased version of a migration (a development one)
    can be at the latest version and still lack a column that migration gained later.
    """
    missing: set[str] = set()
    for table, spec in ((sql.turns, TURN_COLUMNS), (sql.calls, CALL_COLUMNS)):
        cursor = await db.execute(sql.select_turn_columns, (table,))
        existing = {row[0] for row in await cursor.fetchall()}
        missing |= {f"{table}.{name}" for name, _ in spec if name not in existing}
    return missing


async def migrate_postgres(
    db: AsyncConnection, sql: Statements, prefix: str, lock_timeout_s: float = 300.0
) -> MigrationReport:
    """Bring the schema to `LATEST` under the advisory lock (`db` in autocommit mode)."""
    await db.execute(f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
    await db.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        before = await postgres_version(db, sql, prefix)
        await db.execute(_create_version_table(prefix, "TIMESTAMPTZ", "now()"))
        if before == 1:  # tables from before versions: record what they are
            cursor = await db.execute(f"SELECT 1 FROM {version_table(prefix)} WHERE version = 1")  # noqa: S608
            if await cursor.fetchone() is None:
                await db.execute(_record(prefix, "%s"), (1, MIGRATIONS[0].summary))
        applied: list[int] = []
        for migration in MIGRATIONS:
            if migration.version <= before:
                continue
            async with db.transaction():
                for statement in migration.statements(sql, prefix):
                    await db.execute(statement.encode())
                await db.execute(_record(prefix, "%s"), (migration.version, migration.summary))
            applied.append(migration.version)
        async with db.transaction():
            cursor = await db.execute(sql.select_turn_columns, (sql.turns,))
            turns = {row[0] for row in await cursor.fetchall()}
            cursor = await db.execute(sql.select_turn_columns, (sql.calls,))
            calls = {row[0] for row in await cursor.fetchall()}
            for statement in sql.migrations(turns) + sql.call_migrations(calls):
                await db.execute(statement.encode())
        return MigrationReport(before, await postgres_version(db, sql, prefix), tuple(applied))
    except psycopg.errors.LockNotAvailable as error:
        raise CallStoreUnavailableError(
            f"another migration held the lock for more than {lock_timeout_s:g} s"
        ) from error
    finally:
        if not db.closed:
            await db.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


async def check_postgres(db: AsyncConnection, sql: Statements, prefix: str) -> None:
    """Refuse (`CallStoreSchemaError`) a schema older than `LATEST`; never change it."""
    problem = too_old(
        await postgres_version(db, sql, prefix), await postgres_missing_columns(db, sql)
    )
    if problem is not None:
        raise CallStoreSchemaError(problem)


# SQLite (one process: `switchboard up`) -----------------------------------------------------


def migrate_sqlite(db: sqlite3.Connection, sql: Statements) -> MigrationReport:
    """Bring a SQLite file's schema to `LATEST` (no other process shares it)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.execute(_create_version_table("", "TEXT", "CURRENT_TIMESTAMP"))
    found = db.execute(f"SELECT COALESCE(MAX(version), 0) FROM {version_table('')}").fetchone()  # noqa: S608
    before = int(found[0]) or (1 if sql.calls in tables else 0)
    applied: list[int] = []
    with db:
        if before == 1 and not int(found[0]):
            db.execute(_record("", "?"), (1, MIGRATIONS[0].summary))
        for migration in MIGRATIONS:
            if migration.version <= before:
                continue
            for statement in migration.statements(sql, ""):
                if statement in sql.add_call_column.values():  # no ADD COLUMN IF NOT EXISTS
                    calls = {row[0] for row in db.execute(sql.select_turn_columns, (sql.calls,))}
                    if statement not in sql.call_migrations(calls):
                        continue  # the table was made with it (by step 1, at this version)
                if ";" in statement:  # executescript commits first: every step is idempotent
                    db.executescript(statement)
                else:
                    db.execute(statement)
            db.execute(_record("", "?"), (migration.version, migration.summary))
            applied.append(migration.version)
        turns = {row[0] for row in db.execute(sql.select_turn_columns, (sql.turns,))}
        calls = {row[0] for row in db.execute(sql.select_turn_columns, (sql.calls,))}
        for statement in sql.migrations(turns) + sql.call_migrations(calls):
            db.execute(statement)
    return MigrationReport(before, max(before, LATEST), tuple(applied))
