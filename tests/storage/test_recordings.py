"""Recordings stored for real: a directory, an S3 API server (moto's), and the record's reference.

The S3 tests run boto3 against moto's S3-protocol HTTP server (`ThreadedMotoServer`, in this
process), not against AWS or MinIO, and not through moto's mock decorator: every request is a
real HTTP request signed the way boto3 signs them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import psycopg
import pytest

from switchboard_api.gateway import RecordingsConfig, S3RecordingsConfig
from switchboard_gateway.records.migrations import LATEST
from switchboard_gateway.records.postgres import PostgresCallStore
from switchboard_gateway.records.recordings import (
    DirectoryRecordings,
    RecordingNotFoundError,
    open_recordings,
    relative_name,
)
from switchboard_gateway.records.recordings_s3 import S3Recordings
from switchboard_gateway.records.sqlite import SqliteCallStore
from tests.ports import free_port
from tests.storage.test_call_store_migrations import (
    _fresh_database,
    _run_migrate,
    _versions,
    previous_release_postgres,
    previous_release_sqlite,
)
from tests.storage.test_call_stores import NOW, _record

pytestmark = pytest.mark.storage

BUCKET = "call-recordings"
STARTED = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
MONTH = timedelta(days=31)


def _wav(tmp_path: Path, size: int = 300_000) -> Path:
    path = tmp_path / "recording.wav"
    path.write_bytes((b"RIFF" + bytes(range(256)) * (size // 256 + 1))[:size])
    return path


def test_a_recording_is_named_by_agent_day_and_call() -> None:
    assert relative_name("acme/desk", "c0ffee", STARTED) == "acme/desk/2026/11/21/c0ffee.wav"
    with pytest.raises(ValueError, match="not a storable"):
        relative_name("acme/../etc", "c0ffee", STARTED)


def test_a_directory_keeps_private_files_reads_ranges_and_refuses_other_paths(
    tmp_path: Path,
) -> None:
    store = open_recordings(RecordingsConfig(directory=str(tmp_path / "recordings")))
    assert isinstance(store, DirectoryRecordings)
    source = _wav(tmp_path)
    expected = source.read_bytes()
    reference = store.put(source, relative_name("acme/desk", "c1", STARTED))
    assert reference == "file:acme/desk/2026/11/21/c1.wav"
    assert not source.exists(), "the temporary file was moved into place"
    stored = tmp_path / "recordings/acme/desk/2026/11/21/c1.wav"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert store.size(reference) == len(expected)
    span = store.read(reference, 100, 199)
    assert (span.start, span.end, span.size, span.data) == (
        100,
        199,
        len(expected),
        expected[100:200],
    )
    tail = store.read(reference, len(expected) - 10, len(expected) + 1000)
    assert tail.data == expected[-10:]
    for bad in ("file:../outside.wav", "file:/etc/passwd", "s3://b/k", "file:acme/none.wav"):
        with pytest.raises(RecordingNotFoundError):
            store.size(bad)


def test_directory_retention_deletes_old_recordings_and_their_empty_folders(
    tmp_path: Path,
) -> None:
    store = DirectoryRecordings(tmp_path)
    old = store.put(_wav(tmp_path, 1000), relative_name("acme/desk", "old", NOW - MONTH))
    new = store.put(_wav(tmp_path, 1000), relative_name("acme/desk", "new", NOW))
    month_ago = time.time() - 31 * 86_400
    os.utime(tmp_path / old.removeprefix("file:"), (month_ago, month_ago))
    assert store.delete_older_than(datetime.now(UTC) - timedelta(days=30)) == 1
    with pytest.raises(RecordingNotFoundError):
        store.size(old)
    assert store.size(new) == 1000
    assert not (tmp_path / "acme/desk/2026/10").exists(), "its empty folders went too"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Recordings:
    """A recordings store on a fresh bucket, credentials from the environment (a Secret's)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "recorder")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-checked-by-moto")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if _exists(client):  # a fresh bucket for each test: empty the module's one
        for found in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=found["Key"])
    else:
        client.create_bucket(Bucket=BUCKET)
    config = RecordingsConfig(
        s3=S3RecordingsConfig(bucket=BUCKET, endpoint_url=s3_endpoint, region="us-east-1")
    )
    store = open_recordings(config)
    assert isinstance(store, S3Recordings)
    return store


def _exists(client: object) -> bool:
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    return BUCKET in names


def test_s3_keeps_a_recording_under_its_prefix_and_reads_it_in_ranges(
    s3: S3Recordings, tmp_path: Path, s3_endpoint: str
) -> None:
    source = _wav(tmp_path, 9 * 1024 * 1024)  # above boto3's 8 MiB threshold: a multipart upload
    expected = source.read_bytes()
    reference = s3.put(source, relative_name("acme/desk", "c1", STARTED))
    assert reference == f"s3://{BUCKET}/recordings/acme/desk/2026/11/21/c1.wav"
    assert not source.exists()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    head = client.head_object(Bucket=BUCKET, Key="recordings/acme/desk/2026/11/21/c1.wav")
    assert head["ContentType"] == "audio/wav"
    assert s3.size(reference) == len(expected)
    span = s3.read(reference, 1_000_000, 1_999_999)
    assert (span.start, span.end, span.size) == (1_000_000, 1_999_999, len(expected))
    assert span.data == expected[1_000_000:2_000_000]
    for bad in (
        "s3://other-bucket/recordings/acme/desk/2026/11/21/c1.wav",
        f"s3://{BUCKET}/elsewhere/c1.wav",
        f"s3://{BUCKET}/recordings/acme/missing.wav",
        "file:acme/desk/2026/11/21/c1.wav",
    ):
        with pytest.raises(RecordingNotFoundError):
            s3.read(bad, 0, 10)


def test_s3_retention_deletes_by_last_modified_and_only_under_its_prefix(
    s3: S3Recordings, tmp_path: Path, s3_endpoint: str
) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key="other/keep.wav", Body=b"x")
    references = [
        s3.put(_wav(tmp_path, 512), relative_name("acme/desk", f"c{n}", STARTED)) for n in range(3)
    ]
    # Nothing is older than a day: nothing goes.
    assert s3.delete_older_than(datetime.now(UTC) - timedelta(days=1)) == 0
    assert all(s3.size(r) == 512 for r in references)
    # Everything stored before a minute from now is past that cutoff.
    assert s3.delete_older_than(datetime.now(UTC) + timedelta(minutes=1)) == 3
    for reference in references:
        with pytest.raises(RecordingNotFoundError):
            s3.size(reference)
    assert client.head_object(Bucket=BUCKET, Key="other/keep.wav")["ContentLength"] == 1


def test_a_record_references_its_recording_in_sqlite(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteCallStore(tmp_path / "calls.db")
        try:
            with_recording = replace(_record("r1", NOW), recording="file:a/b/2026/11/21/r1.wav")
            await store.save(_record("r0", NOW - timedelta(minutes=1)))
            await store.save(with_recording)
            assert await store.get("r1") == with_recording
            listed = {c.call_id: c.recording for c in await store.recent(10)}
            assert listed == {"r1": "file:a/b/2026/11/21/r1.wav", "r0": ""}
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_record_references_its_recording_in_postgres(postgres_dsn: str) -> None:
    async def scenario() -> None:
        url = await _fresh_database(postgres_dsn, "rec_reference")
        store = await PostgresCallStore.open(url)
        try:
            with_recording = replace(_record("r1", NOW), recording=f"s3://{BUCKET}/k.wav")
            await store.save(with_recording)
            assert await store.get("r1") == with_recording
            page = await store.page("r1", 0, 1)
            assert page is not None
            assert page.record.recording == f"s3://{BUCKET}/k.wav"
            (summary,) = await store.recent(10)
            assert summary.recording == f"s3://{BUCKET}/k.wav"
        finally:
            await store.close()

    asyncio.run(scenario())


def _previous_release(url: str) -> None:
    """The schema as the release before recordings left it: version 2, no recording column."""
    previous_release_postgres(url)


def test_migration_3_adds_the_recording_column_and_old_rows_have_none(postgres_dsn: str) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "rec_migration"))
    _previous_release(url)
    with psycopg.connect(url, autocommit=True) as db:  # a call the previous release stored
        db.execute(
            "INSERT INTO switchboard_calls (call_id, agent, channel, started_at, ended_at,"
            " end_reason, client_reference, truncated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            ("old", "acme/desk", "grpc", NOW, NOW, "caller_hangup", "", False),
        )
    assert LATEST == 3
    assert "version 2 -> 3 (applied: 3)" in _run_migrate(url)
    assert _versions(url) == [1, 2, 3]
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT recording FROM switchboard_calls WHERE call_id = 'old'")
        assert row.fetchone() == ("",)
        # A gateway of the previous release (no recording column in its INSERT) still records.
        db.execute(
            "INSERT INTO switchboard_calls (call_id, agent, channel, started_at, ended_at,"
            " end_reason, client_reference, truncated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            ("older-gateway", "acme/desk", "grpc", NOW, NOW, "caller_hangup", "", False),
        )


def test_a_cluster_gateway_refuses_the_schema_before_recordings(postgres_dsn: str) -> None:
    url = asyncio.run(_fresh_database(postgres_dsn, "rec_refuse"))
    _previous_release(url)

    async def refused() -> str:
        with pytest.raises(Exception, match="version 2, this gateway needs 3") as error:
            await PostgresCallStore.open(url, migrate=False)
        return str(error.value)

    assert "switchboard_gateway.records migrate" in asyncio.run(refused())


def test_sqlite_from_the_previous_release_gains_the_column_at_start(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    previous_release_sqlite(path)

    async def opened() -> None:
        store = SqliteCallStore(path)
        try:
            saved = replace(_record("local", NOW), recording="file:x/y/2026/11/21/local.wav")
            await store.save(saved)
            assert await store.get("local") == saved
        finally:
            await store.close()

    asyncio.run(opened())
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [1, 2, 3]
