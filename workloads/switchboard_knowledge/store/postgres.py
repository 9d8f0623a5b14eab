"""The cluster store: PostgreSQL with `pgvector` (HNSW) and `tsvector` (GIN), a schema per tenant.

Each tenant's tables live in the schema `kb_<namespace>` (a namespace name cannot contain `_`,
so `-` → `_` is unambiguous); every statement names the schema, so a store opened for one tenant
has no way to read another's rows. Version `N` is the table `c{N}` with the chunk, its embedding
(`vector(d)`, HNSW cosine index) and a generated `tsvector` (English, GIN index).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

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
CONNECT_TIMEOUT_S = 10
#: HNSW candidates per query: above the default 40 for recall, still sub-millisecond here.
EF_SEARCH = 100


def tenant_schema(tenant: str) -> str:
    """The schema that holds `tenant`'s index."""
    if not _TENANT.match(tenant):
        raise StoreError(f"tenant {tenant!r} is not a namespace name")
    return "kb_" + tenant.replace("-", "_")


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


class PostgresIndexStore:
    """A tenant's knowledge-base index in its own PostgreSQL schema."""

    def __init__(self, url: str, tenant: str, *, max_connections: int = 4) -> None:
        self.schema = tenant_schema(tenant)
        self._s = sql.Identifier(self.schema)
        try:
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_connections,
                kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "autocommit": False},
                open=True,
                timeout=CONNECT_TIMEOUT_S,
            )
            self._pool.wait(timeout=CONNECT_TIMEOUT_S)
            with self._pool.connection() as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._s))
                for statement in _SCHEMA:
                    db.execute(sql.SQL(statement).format(s=self._s))
        except (psycopg.Error, TimeoutError) as error:
            self._close_quietly()
            raise StoreError(f"PostgreSQL index store unavailable: {error}") from error

    def _close_quietly(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()

    def _t(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(self._s, sql.Identifier(name))

    def begin_version(self, knowledge_base: str, model: str, dimensions: int) -> PostgresVersion:
        """Create the table of a new, not yet visible version."""
        created = datetime.now(UTC)
        with self._pool.connection() as db:
            row = db.execute(
                sql.SQL(
                    "INSERT INTO {}.versions (kb, name, model, dimensions, state, created_at) "
                    "VALUES (%s, '', %s, %s, 'building', %s) RETURNING id"
                ).format(self._s),
                (knowledge_base, model, dimensions, created),
            ).fetchone()
            if row is None:
                raise StoreError("INSERT … RETURNING returned no row")
            number = int(row[0])
            name = f"{knowledge_base}-{created:%Y%m%d%H%M%S}-{number}"
            db.execute(
                sql.SQL("UPDATE {}.versions SET name = %s WHERE id = %s").format(self._s),
                (name, number),
            )
            db.execute(
                sql.SQL(
                    "CREATE TABLE {} (id bigserial PRIMARY KEY, source text, title text, "
                    "page integer, heading text, start_pos integer, end_pos integer, "
                    "hash text, text text, embedding vector({}), "
                    "tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED)"
                ).format(self._t(f"c{number}"), sql.Literal(dimensions))
            )
        return PostgresVersion(
            self, PendingVersion(knowledge_base, number, name, model, dimensions, created)
        )

    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Embeddings already computed by `model`, by text hash."""
        with self._pool.connection() as db:
            rows = db.execute(
                sql.SQL(
                    "SELECT hash, vector FROM {}.embedding_cache WHERE model = %s "
                    "AND hash = ANY(%s)"
                ).format(self._s),
                (model, list(hashes)),
            ).fetchall()
        return {h: list(v) for h, v in rows}

    def cache_embeddings(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Remember embeddings for the next build."""
        with self._pool.connection() as db, db.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {}.embedding_cache (model, hash, vector) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING"
                ).format(self._s),
                [(model, h, list(v)) for h, v in vectors.items()],
            )

    def _live(self, db: psycopg.Connection[Any], kb: str) -> tuple[int, IndexVersion] | None:
        row = db.execute(
            sql.SQL(
                "SELECT v.id, v.name, v.model, v.dimensions, v.documents, v.chunks, v.created_at "
                "FROM {s}.live l JOIN {s}.versions v ON v.id = l.version_id WHERE l.kb = %s"
            ).format(s=self._s),
            (kb,),
        ).fetchone()
        if row is None:
            return None
        number, name, model, dimensions, documents, chunks, created = row
        return number, IndexVersion(kb, name, model, dimensions, documents, chunks, created)

    def live_version(self, knowledge_base: str) -> IndexVersion | None:
        """The version agents read."""
        with self._pool.connection() as db:
            live = self._live(db, knowledge_base)
        return live[1] if live else None

    def documents(self, knowledge_base: str) -> list[DocumentRecord]:
        """The documents of the live version."""
        with self._pool.connection() as db:
            live = self._live(db, knowledge_base)
            if live is None:
                return []
            rows = db.execute(
                sql.SQL(
                    "SELECT source, title, format, content_hash, etag, chunks FROM {}.documents "
                    "WHERE version_id = %s ORDER BY source"
                ).format(self._s),
                (live[0],),
            ).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def search(
        self, knowledge_base: str, embedding: Sequence[float] | None, query: str, limit: int
    ) -> SearchResult | None:
        """Both rankings over the live version, read in one transaction."""
        with self._pool.connection() as db:
            live = self._live(db, knowledge_base)
            if live is None:
                return None
            number, version = live
            table = self._t(f"c{number}")
            vector: list[Hit] = []
            if embedding is not None:
                db.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(EF_SEARCH)))
                rows = db.execute(
                    sql.SQL(
                        "SELECT id, 1 - (embedding <=> %s::vector) FROM {} "
                        "ORDER BY embedding <=> %s::vector LIMIT %s"
                    ).format(table),
                    (_vector(embedding), _vector(embedding), limit),
                ).fetchall()
                vector = [Hit(str(i), float(score)) for i, score in rows]
            words = keywords(query)
            keyword: list[Hit] = []
            if words:
                rows = db.execute(
                    sql.SQL(
                        "SELECT id, ts_rank_cd(tsv, q) AS rank FROM {}, "
                        "to_tsquery('english', %s) q WHERE tsv @@ q ORDER BY rank DESC, id "
                        "LIMIT %s"
                    ).format(table),
                    (" | ".join(words), limit),
                ).fetchall()
                keyword = [Hit(str(i), float(score)) for i, score in rows]
            ids = sorted({int(h.chunk_id) for h in (*vector, *keyword)})
            chunks: dict[str, StoredChunk] = {}
            if ids:
                for row in db.execute(
                    sql.SQL(
                        "SELECT id, text, source, title, page, heading FROM {} WHERE id = ANY(%s)"
                    ).format(table),
                    (ids,),
                ):
                    chunks[str(row[0])] = StoredChunk(str(row[0]), *row[1:])
        return SearchResult(version, vector, keyword, chunks)

    def collect_garbage(self, knowledge_base: str, keep_previous: int = 1) -> list[str]:
        """Drop old and abandoned versions (`versions_to_drop`) and unused cached embeddings."""
        with self._pool.connection() as db:
            live = self._live(db, knowledge_base)
            live_id = live[0] if live else None
            rows = [
                VersionRow(int(n), str(name), str(state), at)
                for n, name, state, at in db.execute(
                    sql.SQL(
                        "SELECT id, name, state, created_at FROM {}.versions WHERE kb = %s"
                    ).format(self._s),
                    (knowledge_base,),
                )
            ]
            dropped = versions_to_drop(rows, live_id, keep_previous, datetime.now(UTC))
            for row in dropped:
                self._drop(db, row.number)
            remaining = [
                r[0] for r in db.execute(sql.SQL("SELECT id FROM {}.versions").format(self._s))
            ]
            used = sql.SQL(" UNION ").join(
                sql.SQL("SELECT hash FROM {}").format(self._t(f"c{n}")) for n in remaining
            )
            if remaining:
                db.execute(
                    sql.SQL("DELETE FROM {}.embedding_cache WHERE hash NOT IN ({})").format(
                        self._s, used
                    )
                )
            else:
                db.execute(sql.SQL("DELETE FROM {}.embedding_cache").format(self._s))
        return [row.name for row in dropped]

    def _drop(self, db: psycopg.Connection[Any], number: int) -> None:
        db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._t(f"c{number}")))
        db.execute(
            sql.SQL("DELETE FROM {}.documents WHERE version_id = %s").format(self._s), (number,)
        )
        db.execute(sql.SQL("DELETE FROM {}.versions WHERE id = %s").format(self._s), (number,))

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {s}.versions (id bigserial PRIMARY KEY, kb text NOT NULL, "
    "name text NOT NULL, model text NOT NULL, dimensions integer NOT NULL, "
    "documents integer NOT NULL DEFAULT 0, chunks integer NOT NULL DEFAULT 0, "
    "state text NOT NULL, created_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.live (kb text PRIMARY KEY, version_id bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.documents (version_id bigint NOT NULL, source text NOT NULL, "
    "title text NOT NULL, format text NOT NULL, content_hash text NOT NULL, etag text, "
    "chunks integer NOT NULL, PRIMARY KEY (version_id, source))",
    "CREATE TABLE IF NOT EXISTS {s}.embedding_cache (model text NOT NULL, hash text NOT NULL, "
    "vector real[] NOT NULL, PRIMARY KEY (model, hash))",
)


class PostgresVersion:
    """A version being written into a `PostgresIndexStore`."""

    def __init__(self, store: PostgresIndexStore, pending: PendingVersion) -> None:
        self._store, self._v = store, pending
        self._number = pending.number

    @property
    def name(self) -> str:
        """The version's name."""
        return self._v.name

    def add_document(self, document: DocumentRecord, chunks: Sequence[ChunkRecord]) -> None:
        """Write a document and its chunks."""
        store, table = self._store, self._store._t(f"c{self._number}")
        self._v.check(chunks)
        with store._pool.connection() as db, db.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {}.documents VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
                    store._s
                ),
                (
                    self._number,
                    document.source,
                    document.title,
                    document.format,
                    document.content_hash,
                    document.etag,
                    len(chunks),
                ),
            )
            cursor.executemany(
                sql.SQL(
                    "INSERT INTO {} (source, title, page, heading, start_pos, end_pos, hash, "
                    "text, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::vector)"
                ).format(table),
                [
                    (
                        c.source,
                        c.title,
                        c.page,
                        c.heading,
                        c.start,
                        c.end,
                        c.content_hash,
                        c.text,
                        _vector(c.embedding),
                    )
                    for c in chunks
                ],
            )
        self._v.counted(len(chunks))

    def commit(self) -> IndexVersion:
        """Build the indexes, complete the version and point `live` at it in one transaction."""
        store, number = self._store, self._number
        table = store._t(f"c{number}")
        with store._pool.connection() as db:
            db.execute(
                sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops)").format(table)
            )
            db.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(table))
            db.execute(
                sql.SQL(
                    "UPDATE {}.versions SET state = 'complete', documents = %s, chunks = %s "
                    "WHERE id = %s"
                ).format(store._s),
                (self._v.documents, self._v.chunks, number),
            )
            db.execute(
                sql.SQL(
                    "INSERT INTO {}.live (kb, version_id) VALUES (%s, %s) "
                    "ON CONFLICT (kb) DO UPDATE SET version_id = excluded.version_id"
                ).format(store._s),
                (self._v.knowledge_base, number),
            )
        return self._v.info()

    def abort(self) -> None:
        """Drop the unfinished version."""
        with self._store._pool.connection() as db:
            self._store._drop(db, self._number)
