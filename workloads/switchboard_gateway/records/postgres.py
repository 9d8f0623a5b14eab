"""Call records in PostgreSQL (clusters): one connection pool per gateway process."""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from switchboard_gateway.records.migrations import (
    CallStoreSchemaError,
    check_postgres,
    migrate_postgres,
)
from switchboard_gateway.records.model import (
    CallPage,
    CallRecord,
    CallStoreUnavailableError,
    CallSummary,
    ToolCallRecord,
    TurnRecord,
)
from switchboard_gateway.records.schema import call_header, statements

PREFIX = "switchboard_"
SQL = statements("postgres", prefix=PREFIX)


def unusable(dsn: str, timeout_s: float, error: Exception) -> CallStoreUnavailableError:
    """The error for a server that did not answer in time (its address, never credentials)."""
    where = conninfo_to_dict(dsn)
    return CallStoreUnavailableError(
        f"PostgreSQL at {where.get('host', 'localhost')}:{where.get('port', 5432)}"
        f" not usable within {timeout_s:g} s: {type(error).__name__}"
    )


class PostgresCallStore:
    """Call records in tables `switchboard_calls`, `switchboard_turns`, `switchboard_tool_calls`.

    Create with `await PostgresCallStore.open(dsn)` (see `records.migrations` for the schema).
    """

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection]) -> None:
        self._pool = pool

    @classmethod
    async def open(
        cls, dsn: str, max_connections: int = 4, timeout_s: float = 10.0, *, migrate: bool = True
    ) -> PostgresCallStore:
        """Connect (waiting at most `timeout_s`), then migrate the schema or only check it.

        `migrate=False` (gateways in clusters, where the chart's Job migrates once per release):
        a schema older than this code needs raises `CallStoreSchemaError`.
        """
        pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            dsn, min_size=1, max_size=max_connections, timeout=timeout_s, open=False
        )
        try:
            await pool.open(wait=True, timeout=timeout_s)
            async with pool.connection() as connection:
                await connection.set_autocommit(True)
                try:
                    if migrate:
                        await migrate_postgres(connection, SQL, PREFIX)
                    else:
                        await check_postgres(connection, SQL, PREFIX)
                finally:
                    await connection.set_autocommit(False)
        except CallStoreSchemaError:
            await pool.close()
            raise
        except (PoolTimeout, psycopg.Error) as error:
            await pool.close()
            raise unusable(dsn, timeout_s, error) from error
        return cls(pool)

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def save(self, record: CallRecord) -> None:
        """Store a finished call, replacing an earlier save of the same id, in one transaction."""
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(SQL.delete_call, (record.call_id,))
            await connection.execute(
                SQL.insert_call,
                (
                    record.call_id,
                    record.agent,
                    record.channel,
                    record.started_at,
                    record.ended_at,
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
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    SQL.insert_turn, [(record.call_id, *astuple(t)) for t in record.turns]
                )
                await cursor.executemany(
                    SQL.insert_tool_call,
                    [(record.call_id, i, *astuple(t)) for i, t in enumerate(record.tool_calls)],
                )

    async def get(self, call_id: str) -> CallRecord | None:
        """A call by id, with its turns and tool calls in order."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(SQL.select_call, (call_id,))
            row = await cursor.fetchone()
            if row is None:
                return None
            turns = await (await connection.execute(SQL.select_turns, (call_id,))).fetchall()
            tools = await (await connection.execute(SQL.select_tool_calls, (call_id,))).fetchall()
        return CallRecord(
            **call_header(row),
            turns=tuple(TurnRecord(*t) for t in turns),
            tool_calls=tuple(ToolCallRecord(*t) for t in tools),
        )

    async def page(self, call_id: str, turns_from: int, turns_limit: int) -> CallPage | None:
        """A call by id with one page of its turns and those turns' tool calls."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(SQL.select_call, (call_id,))
            row = await cursor.fetchone()
            if row is None:
                return None
            page = (call_id, turns_from, turns_limit + 1)
            turns = [
                TurnRecord(*t)
                for t in await (await connection.execute(SQL.select_turns_page, page)).fetchall()
            ]
            shown = turns[:turns_limit]
            span = (call_id, turns_from, shown[-1].number if shown else -1)
            tools = await (await connection.execute(SQL.select_tool_calls_page, span)).fetchall()
            counted = await (await connection.execute(SQL.count_turns, (call_id,))).fetchone()
        tool_calls = tuple(ToolCallRecord(*t) for t in tools)
        record = CallRecord(**call_header(row), turns=tuple(shown), tool_calls=tool_calls)
        more = len(turns) > turns_limit
        return CallPage(record, counted[0] if counted else 0, turns[-1].number if more else None)

    async def recent(self, limit: int, before: str | None = None) -> list[CallSummary]:
        """The latest `limit` calls, most recently ended first (after `before`, a call id)."""
        async with self._pool.connection() as connection:
            if before is None:
                cursor = await connection.execute(SQL.select_recent, (limit,))
            else:
                cursor = await connection.execute(SQL.select_recent_before, (before, limit))
            rows = await cursor.fetchall()
        return [CallSummary(*row) for row in rows]

    async def delete_ended_before(self, cutoff: datetime) -> int:
        """Retention by age (turns and tool calls go with their call)."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(SQL.delete_ended_before, (cutoff,))
            return cursor.rowcount
