"""Versioned call-record migrations on a real PostgreSQL: once per release, never by gateways."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from switchboard_api.gateway import CallStoreConfig
from switchboard_gateway.records.migrations import LATEST, MIGRATIONS, CallStoreSchemaError
from switchboard_gateway.records.model import CallHeader, CallRecord
from switchboard_gateway.records.postgres import SQL, PostgresCallStore
from switchboard_gateway.records.schema import PHONE_CALL_COLUMNS
from switchboard_gateway.records.sqlite import SQL as SQLITE
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.records.stores import STORE_URL_ENV, open_store
from tests.storage.test_call_stores import NOW, _record
from tests.tools import REPO_ROOT

pytestmark = pytest.mark.storage


async def _fresh_database(dsn: str, name: str) -> str:
    """An empty database of this name (dropped first if an earlier run left it)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    return dsn.rsplit("/", 1)[0] + f"/{name}"


def _migrate(url: str) -> subprocess.Popen[str]:
    env = os.environ | {STORE_URL_ENV: url}
    env["PYTHONPATH"] = f"{REPO_ROOT / 'operator'}:{REPO_ROOT / 'workloads'}"
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard_gateway.records", "migrate", "--timeout", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_migrate(url: str) -> str:
    process = _migrate(url)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


#: What migration 3 added to the calls table; the release before it (version 2) had none.
MIGRATION_3_COLUMNS = ("recording", *dict(PHONE_CALL_COLUMNS))
#: A call as the release before migration 3 stored it (its INSERT names no newer column).
V2_INSERT = (
    "INSERT INTO {calls} (call_id, agent, channel, started_at, ended_at, end_reason,"
    " client_reference, truncated) VALUES ({marks})"
)


def previous_release_postgres(url: str) -> None:
    """The schema as the release before migration 3 left it: version 2."""
    _run_migrate(url)
    with psycopg.connect(url, autocommit=True) as db:
        for column in MIGRATION_3_COLUMNS:
            db.execute(f"ALTER TABLE switchboard_calls DROP COLUMN {column}".encode())
        db.execute("DELETE FROM switchboard_schema_migrations WHERE version > 2")


def previous_release_sqlite(path: Path) -> None:
    """A `switchboard up` file as the release before migration 3 left it: version 2."""
    with sqlite3.connect(path) as db:
        db.executescript(SQLITE.create)
        for column in MIGRATION_3_COLUMNS:
            db.execute(f"ALTER TABLE calls DROP COLUMN {column}")
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, summary TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        db.executemany("INSERT INTO schema_migrations VALUES (?, 's', 'x')", [(1,), (2,)])


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT version FROM switchboard_schema_migrations ORDER BY 1")
        return [row[0] for row in rows.fetchall()]


def test_migrate_from_an_empty_database_applies_every_step_and_records_them(
    postgres_dsn: str,
) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_empty"))
    out = _run_migrate(url)
    every = ", ".join(str(m.version) for m in MIGRATIONS)
    assert f"version 0 -> {LATEST} (applied: {every})" in out
    assert _versions(url) == [m.version for m in MIGRATIONS]
    # Run again (the next release's hook with nothing new): nothing applied, nothing broken.
    assert f"version {LATEST} -> {LATEST} (applied: none)" in _run_migrate(url)


def test_migrate_takes_the_schema_from_before_versions_as_version_1_and_keeps_its_rows(
    postgres_dsn: str,
) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_previous"))
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SQL.create.encode())  # what gateways created before versions
        db.execute(
            "INSERT INTO switchboard_calls (call_id, agent, channel, started_at, ended_at,"
            " end_reason, client_reference, truncated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            ("old", "acme/desk", "grpc", NOW, NOW, "caller_hangup", "", False),
        )
    out = _run_migrate(url)
    later = ", ".join(str(m.version) for m in MIGRATIONS if m.version > 1)
    assert f"version 1 -> {LATEST} (applied: {later})" in out
    assert _versions(url) == [m.version for m in MIGRATIONS]

    async def read() -> None:
        store = await PostgresCallStore.open(url, migrate=False)
        try:
            old = await store.get("old")
            assert old is not None
            assert old.agent == "acme/desk"
        finally:
            await store.close()

    asyncio.run(read())


def test_two_migrations_at_once_apply_each_step_once_and_both_end_at_the_latest(
    postgres_dsn: str,
) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_race"))
    first, second = _migrate(url), _migrate(url)
    outcomes = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outcomes
    outputs = sorted(out for out, _ in outcomes)
    every = ", ".join(str(m.version) for m in MIGRATIONS)
    applied = [out for out in outputs if f"(applied: {every})" in out]
    idle = [out for out in outputs if f"-> {LATEST} (applied: none)" in out]
    assert (len(applied), len(idle)) == (1, 1), outputs
    assert _versions(url) == [m.version for m in MIGRATIONS]


def test_a_cluster_gateway_refuses_an_older_schema_and_starts_once_migrated(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_refuse"))
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SQL.create.encode())
    monkeypatch.setenv(STORE_URL_ENV, url)
    config = CallStoreConfig(url=None, url_env=STORE_URL_ENV, migrate=False)

    async def refused() -> str:
        with pytest.raises(CallStoreSchemaError) as error:
            await open_store(config)
        return str(error.value)

    message = asyncio.run(refused())
    assert f"version 1, this gateway needs {LATEST}" in message
    assert "python -m switchboard_gateway.records migrate" in message
    with psycopg.connect(url) as db:  # the check changed nothing
        found = db.execute("SELECT to_regclass('switchboard_schema_migrations')").fetchone()
        assert found == (None,)

    _run_migrate(url)

    async def accepted() -> None:
        store = await open_store(config)
        try:
            await store.save(_record("after", NOW))
            assert await store.get("after") == _record("after", NOW)
        finally:
            await store.close()

    asyncio.run(accepted())


def test_a_gateway_of_the_previous_release_accepts_a_newer_schema(postgres_dsn: str) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_newer"))
    _run_migrate(url)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "INSERT INTO switchboard_schema_migrations (version, summary) VALUES (%s, 'next')",
            (LATEST + 1,),
        )

    async def records_a_call() -> bool:
        store = await PostgresCallStore.open(url, migrate=False)
        try:
            await store.save(_record("newer-schema", NOW))
            return await store.get("newer-schema") is not None
        finally:
            await store.close()

    assert asyncio.run(records_a_call()), "the older gateway keeps recording on the newer schema"
    with psycopg.connect(url, autocommit=True) as db:
        versions = [
            row[0] for row in db.execute("SELECT version FROM switchboard_schema_migrations")
        ]
    assert max(versions) == LATEST + 1, "opening never rewrites the newer release's version"


def test_a_cluster_gateway_without_its_url_variable_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CALLS_URL", raising=False)
    config = CallStoreConfig(url=None, url_env="CALLS_URL", migrate=False)
    with pytest.raises(Exception, match=r"\$CALLS_URL, which is unset"):
        asyncio.run(open_store(config))


def test_sqlite_migrates_itself_at_start_from_a_file_without_versions(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    with sqlite3.connect(path) as db:
        db.executescript(SQLITE.create)  # what `switchboard up` made before versions

    async def opened() -> None:
        store = SqliteCallStore(path)
        await store.save(_record("local", NOW))
        assert await store.get("local") == _record("local", NOW)
        await store.close()

    asyncio.run(opened())
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in MIGRATIONS]


def test_migrate_retries_an_absent_database_until_its_timeout_then_says_where() -> None:
    from tests.ports import free_port

    url = f"postgresql://switchboard@127.0.0.1:{free_port()}/calls"
    env = os.environ | {STORE_URL_ENV: url}
    env["PYTHONPATH"] = f"{REPO_ROOT / 'operator'}:{REPO_ROOT / 'workloads'}"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_gateway.records", "migrate", "--timeout", "5"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"PostgreSQL at 127.0.0.1:{url.split(':')[2].split('/')[0]} not usable" in done.stderr
    assert time.monotonic() - started >= 4  # retried, not given up at the first refusal


PHONE = {
    "phone_provider": "jambonz",
    "phone_call_sid": "b3f1c2d4-0000-4000-8000-000000000001",
    "phone_from": "+15550001111",
    "phone_to": "sip:desk@pbx.example",
    "phone_direction": "inbound",
}
NO_PHONE = dict.fromkeys(PHONE, "")


def _phoned() -> CallRecord:
    """A call with `PHONE`'s metadata."""
    return replace(
        _record("phoned", NOW),
        phone_provider=PHONE["phone_provider"],
        phone_call_sid=PHONE["phone_call_sid"],
        phone_from=PHONE["phone_from"],
        phone_to=PHONE["phone_to"],
        phone_direction=PHONE["phone_direction"],
    )


def _phone(record: CallHeader) -> dict[str, str]:
    return {name: getattr(record, name) for name in PHONE}


def test_a_version_2_postgres_gains_phone_columns_and_its_calls_read_back_without_them(
    postgres_dsn: str,
) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "m_phone"))
    previous_release_postgres(url)
    old = ("old", "acme/desk", "grpc", NOW, NOW, "caller_hangup", "", False)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(V2_INSERT.format(calls="switchboard_calls", marks=", ".join(["%s"] * 8)), old)
    assert f"version 2 -> {LATEST} (applied: 3)" in _run_migrate(url)
    with psycopg.connect(url, autocommit=True) as db:  # a gateway of the previous release
        db.execute(
            V2_INSERT.format(calls="switchboard_calls", marks=", ".join(["%s"] * 8)),
            ("older-gateway", *old[1:]),
        )

    async def read() -> None:
        store = await PostgresCallStore.open(url, migrate=False)
        try:
            for call_id in ("old", "older-gateway"):
                found = await store.get(call_id)
                assert found is not None
                assert (found.agent, found.recording, _phone(found)) == ("acme/desk", "", NO_PHONE)
            assert [_phone(c) for c in await store.recent(10)] == [NO_PHONE, NO_PHONE]
            phoned = _phoned()
            await store.save(phoned)
            assert await store.get("phoned") == phoned
        finally:
            await store.close()

    asyncio.run(read())


def test_a_version_2_sqlite_file_gains_phone_columns_at_start_and_old_calls_read_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    previous_release_sqlite(path)
    with sqlite3.connect(path) as db:
        stamp = NOW.isoformat()
        old = ("old", "acme/desk", "grpc", stamp, stamp, "caller_hangup", "", 0)
        db.execute(V2_INSERT.format(calls="calls", marks=", ".join(["?"] * 8)), old)

    async def opened() -> None:
        store = SqliteCallStore(path)
        try:
            found = await store.get("old")
            assert found is not None
            assert (found.agent, found.recording, _phone(found)) == ("acme/desk", "", NO_PHONE)
            phoned = _phoned()
            await store.save(phoned)
            assert await store.get("phoned") == phoned
        finally:
            await store.close()

    asyncio.run(opened())
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [1, 2, 3]


def test_a_cluster_gateway_refuses_a_latest_schema_missing_a_column_until_migrated_again(
    postgres_dsn: str,
) -> None:
    """A development database that ran migration 3 before it gained the phone columns."""
    url = asyncio.run(_fresh_database(postgres_dsn, "m_phone_dev"))
    _run_migrate(url)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE switchboard_calls DROP COLUMN phone_from")

    async def refused() -> str:
        with pytest.raises(CallStoreSchemaError) as error:
            await PostgresCallStore.open(url, migrate=False)
        return str(error.value)

    message = asyncio.run(refused())
    assert "lack switchboard_calls.phone_from" in message
    assert "python -m switchboard_gateway.records migrate" in message
    assert f"version {LATEST} -> {LATEST} (applied: none)" in _run_migrate(url)

    async def accepted() -> None:
        store = await PostgresCallStore.open(url, migrate=False)
        try:
            phoned = _phoned()
            await store.save(phoned)
            assert await store.get("phoned") == phoned
        finally:
            await store.close()

    asyncio.run(accepted())
