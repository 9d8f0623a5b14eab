"""The embedded store: one SQLite file per tenant, `sqlite-vec` for vectors, FTS5 for keywords.

Python's own `sqlite3` may be built without extension loading, so the store uses `apsw` (its
SQLite has FTS5) and loads `sqlite-vec` into it. Each version `N` has three tables: `c{N}` (chunk
text and provenance), `f{N}` (FTS5 over `c{N}`, Porter-stemmed) and `v{N}` (a `vec0` table of
cosine-distance embeddings keyed by the chunk's rowid).
"""

from __future__ import annotations

import os
import re
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apsw
import sqlite_vec

from switchboard_knowledge.fusion import Hit
from switchboard_knowledge.store.base import (
    ChunkRecord,
    DocumentRecord,
    IndexVersion,
    PendingVersion,
    SearchResult,
    StoredChunk,
    StoreError,
    VersionRow,
    keywords,
    versions_to_drop,
)

_TENANT = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY, kb TEXT NOT NULL, name TEXT NOT NULL UNIQUE, model TEXT NOT NULL,
    dimensions INTEGER NOT NULL, documents INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS live (kb TEXT PRIMARY KEY, version_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    version_id INTEGER NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL, format TEXT NOT NULL,
    content_hash TEXT NOT NULL, etag TEXT, chunks INTEGER NOT NULL,
    PRIMARY KEY (version_id, source));
CREATE TABLE IF NOT EXISTS embedding_cache (
    model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, hash));
"""


def _pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"{len(vector)}f", *vector)


def _unpack(blob: bytes) -> list[float]:
    return list(struct.unpack(f"{len(blob) // 4}f", blob))


def tenant_database(root: Path, tenant: str) -> Path:
    """The database file of `tenant` under `root`."""
    if not _TENANT.match(tenant):
        raise StoreError(f"tenant {tenant!r} is not a namespace name")
    return root / f"{tenant}.sqlite3"


class SqliteIndexStore:
    """A tenant's knowledge-base index in its own SQLite file."""

    def __init__(self, root: Path, tenant: str) -> None:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = tenant_database(root, tenant)
        # A tenant's documents: readable by this user only (SQLite's journals get the same mode).
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
        self._lock = threading.RLock()
        try:
            self._db = apsw.Connection(str(self.path))
            self._db.enable_load_extension(True)
            self._db.load_extension(sqlite_vec.loadable_path())
            self._db.enable_load_extension(False)
        except apsw.Error as error:
            raise StoreError(f"cannot open {self.path} with sqlite-vec: {error}") from error
        self._db.set_busy_timeout(10_000)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[apsw.Connection]:
        with self._lock, self._db:
            yield self._db

    def begin_version(self, knowledge_base: str, model: str, dimensions: int) -> SqliteVersion:
        """Create the tables of a new, not yet visible version."""
        created = datetime.now(UTC)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO versions (kb, name, model, dimensions, state, created_at) "
                "VALUES (?, ?, ?, ?, 'building', ?)",
                (knowledge_base, "", model, dimensions, created.isoformat()),
            )
            number = db.last_insert_rowid()
            name = f"{knowledge_base}-{created:%Y%m%d%H%M%S}-{number}"
            db.execute("UPDATE versions SET name = ? WHERE id = ?", (name, number))
            db.execute(
                f"CREATE TABLE c{number} (id INTEGER PRIMARY KEY, source TEXT, title TEXT, "
                "page INTEGER, heading TEXT, start INTEGER, end INTEGER, hash TEXT, text TEXT)"
            )
            db.execute(
                f"CREATE VIRTUAL TABLE f{number} USING fts5(text, content='c{number}', "
                "content_rowid='id', tokenize='porter unicode61')"
            )
            db.execute(
                f"CREATE VIRTUAL TABLE v{number} USING "
                f"vec0(embedding float[{dimensions}] distance_metric=cosine)"
            )
        return SqliteVersion(
            self, PendingVersion(knowledge_base, number, name, model, dimensions, created)
        )

    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Embeddings already computed by `model`, by text hash."""
        found: dict[str, list[float]] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                part = list(hashes[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    "SELECT hash, vector FROM embedding_cache "
                    f"WHERE model = ? AND hash IN ({marks})",
                    (model, *part),
                )
                found.update({h: _unpack(v) for h, v in rows})
        return found

    def cache_embeddings(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Remember embeddings for the next build."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO embedding_cache (model, hash, vector) VALUES (?, ?, ?)",
                [(model, h, _pack(v)) for h, v in vectors.items()],
            )

    def _live(self, db: apsw.Connection, knowledge_base: str) -> tuple[int, IndexVersion] | None:
        for row in db.execute(
            "SELECT v.id, v.name, v.model, v.dimensions, v.documents, v.chunks, v.created_at "
            "FROM live l JOIN versions v ON v.id = l.version_id WHERE l.kb = ?",
            (knowledge_base,),
        ):
            number, name, model, dimensions, documents, chunks, created = row
            version = IndexVersion(
                knowledge_base,
                name,
                model,
                dimensions,
                documents,
                chunks,
                datetime.fromisoformat(created),
            )
            return number, version
        return None

    def live_version(self, knowledge_base: str) -> IndexVersion | None:
        """The version agents read."""
        with self._lock:
            live = self._live(self._db, knowledge_base)
        return live[1] if live else None

    def documents(self, knowledge_base: str) -> list[DocumentRecord]:
        """The documents of the live version."""
        with self._transaction() as db:
            live = self._live(db, knowledge_base)
            if live is None:
                return []
            rows = db.execute(
                "SELECT source, title, format, content_hash, etag, chunks FROM documents "
                "WHERE version_id = ? ORDER BY source",
                (live[0],),
            ).fetchall()
        return [_document(row) for row in rows]

    def search(
        self, knowledge_base: str, embedding: Sequence[float] | None, query: str, limit: int
    ) -> SearchResult | None:
        """Both rankings over the live version, read in one transaction."""
        with self._transaction() as db:
            live = self._live(db, knowledge_base)
            if live is None:
                return None
            number, version = live
            vector: list[Hit] = []
            if embedding is not None:
                rows = db.execute(
                    f"SELECT rowid, distance FROM v{number} WHERE embedding MATCH ? AND k = ? "
                    "ORDER BY distance",
                    (_pack(embedding), limit),
                )
                vector = [Hit(str(rowid), 1.0 - distance) for rowid, distance in rows]
            words = keywords(query)
            keyword: list[Hit] = []
            if words:
                match = " OR ".join(f'"{w}"' for w in words)
                rows = db.execute(
                    f"SELECT rowid, bm25(f{number}) FROM f{number} WHERE f{number} MATCH ? "
                    f"ORDER BY bm25(f{number}) LIMIT ?",
                    (match, limit),
                )
                keyword = [Hit(str(rowid), -score) for rowid, score in rows]
            ids = sorted({int(h.chunk_id) for h in (*vector, *keyword)})
            chunks: dict[str, StoredChunk] = {}
            if ids:
                marks = ",".join("?" * len(ids))
                for row in db.execute(
                    f"SELECT id, text, source, title, page, heading FROM c{number} "
                    f"WHERE id IN ({marks})",
                    ids,
                ):
                    chunks[str(row[0])] = StoredChunk(str(row[0]), *row[1:])
        return SearchResult(version, vector, keyword, chunks)

    def collect_garbage(self, knowledge_base: str, keep_previous: int = 1) -> list[str]:
        """Drop old and abandoned versions (`versions_to_drop`) and unused cached embeddings."""
        with self._transaction() as db:
            live = self._live(db, knowledge_base)
            live_id = live[0] if live else None
            rows = [
                VersionRow(int(str(n)), str(name), str(state), datetime.fromisoformat(str(at)))
                for n, name, state, at in db.execute(
                    "SELECT id, name, state, created_at FROM versions WHERE kb = ?",
                    (knowledge_base,),
                )
            ]
            dropped = versions_to_drop(rows, live_id, keep_previous, datetime.now(UTC))
            for row in dropped:
                _drop_version(db, row.number)
            remaining = [int(str(r[0])) for r in db.execute("SELECT id FROM versions")]
            used = " UNION ".join(f"SELECT hash FROM c{n}" for n in remaining)
            db.execute(
                "DELETE FROM embedding_cache" + (f" WHERE hash NOT IN ({used})" if used else "")
            )
        return [row.name for row in dropped]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _document(row: Sequence[object]) -> DocumentRecord:
    source, title, kind, content_hash, etag, chunks = row
    return DocumentRecord(
        str(source),
        str(title),
        str(kind),
        str(content_hash),
        None if etag is None else str(etag),
        int(str(chunks)),
    )


def _drop_version(db: apsw.Connection, number: int) -> None:
    for table in (f"f{number}", f"v{number}", f"c{number}"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute("DELETE FROM documents WHERE version_id = ?", (number,))
    db.execute("DELETE FROM versions WHERE id = ?", (number,))


class SqliteVersion:
    """A version being written into a `SqliteIndexStore`."""

    def __init__(self, store: SqliteIndexStore, pending: PendingVersion) -> None:
        self._store, self._v = store, pending
        self._number = pending.number

    @property
    def name(self) -> str:
        """The version's name."""
        return self._v.name

    def add_document(self, document: DocumentRecord, chunks: Sequence[ChunkRecord]) -> None:
        """Write a document's chunks into all three tables."""
        self._v.check(chunks)
        n = self._number
        with self._store._transaction() as db:
            db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    document.source,
                    document.title,
                    document.format,
                    document.content_hash,
                    document.etag,
                    len(chunks),
                ),
            )
            for chunk in chunks:
                db.execute(
                    f"INSERT INTO c{n} (source, title, page, heading, start, end, hash, text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    _chunk_row(chunk),
                )
                rowid = db.last_insert_rowid()
                db.execute(f"INSERT INTO f{n} (rowid, text) VALUES (?, ?)", (rowid, chunk.text))
                db.execute(
                    f"INSERT INTO v{n} (rowid, embedding) VALUES (?, ?)",
                    (rowid, _pack(chunk.embedding)),
                )
        self._v.counted(len(chunks))

    def commit(self) -> IndexVersion:
        """Complete the version and point `live` at it in one transaction."""
        with self._store._transaction() as db:
            db.execute(
                "UPDATE versions SET state = 'complete', documents = ?, chunks = ? WHERE id = ?",
                (self._v.documents, self._v.chunks, self._number),
            )
            db.execute(
                "INSERT INTO live (kb, version_id) VALUES (?, ?) "
                "ON CONFLICT (kb) DO UPDATE SET version_id = excluded.version_id",
                (self._v.knowledge_base, self._number),
            )
        return self._v.info()

    def abort(self) -> None:
        """Drop the unfinished version."""
        with self._store._transaction() as db:
            _drop_version(db, self._number)


def _chunk_row(chunk: ChunkRecord) -> tuple[Any, ...]:
    return (
        chunk.source,
        chunk.title,
        chunk.page,
        chunk.heading,
        chunk.start,
        chunk.end,
        chunk.content_hash,
        chunk.text,
    )
