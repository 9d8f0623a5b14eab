"""`python -m switchboard_gateway.records migrate`: bring the call-record schema up to date.

The chart runs it as a pre-install/pre-upgrade hook Job (the gateway image) when a call store is
configured. The database's URL comes from `SWITCHBOARD_CALL_STORE_URL` (a Secret), never from
the command line, where it would show in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import psycopg

from switchboard_gateway.records.migrations import MigrationReport, migrate_postgres
from switchboard_gateway.records.model import CallStoreUnavailableError
from switchboard_gateway.records.postgres import PREFIX, SQL, unusable
from switchboard_gateway.records.stores import STORE_URL_ENV

#: Between connection attempts while the database starts.
RETRY_S = 2.0


async def migrate(url: str, timeout_s: float) -> MigrationReport:
    """Migrate; wait at most `timeout_s` for the database, then as long for another run's lock.

    A refused connection (a database still starting: the dev PostgreSQL after install) is
    retried every `RETRY_S` until the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            async with await asyncio.wait_for(
                psycopg.AsyncConnection.connect(url, autocommit=True),
                max(0.1, deadline - loop.time()),
            ) as db:
                return await migrate_postgres(db, SQL, PREFIX, lock_timeout_s=timeout_s)
        except psycopg.OperationalError as error:
            if loop.time() + RETRY_S >= deadline:
                raise unusable(url, timeout_s, error) from error
            await asyncio.sleep(RETRY_S)
        except (TimeoutError, psycopg.Error) as error:
            raise unusable(url, timeout_s, error) from error


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 2 with a one-line reason when the schema cannot be migrated."""
    parser = argparse.ArgumentParser(prog="python -m switchboard_gateway.records")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("migrate", help=f"migrate the PostgreSQL in ${STORE_URL_ENV}")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    args = parser.parse_args(argv)
    url = os.environ.get(STORE_URL_ENV, "")
    if not url.startswith(("postgres://", "postgresql://")):
        print(f"migrate: {STORE_URL_ENV} must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(migrate(url, args.timeout))
    except CallStoreUnavailableError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 2
    applied = ", ".join(map(str, report.applied)) or "none"
    print(f"call-record schema: version {report.before} -> {report.after} (applied: {applied})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
