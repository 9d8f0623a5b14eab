"""One interface over the index stores: immutable versions, a live pointer, hybrid search.

A store object is bound to one tenant (a namespace) when it is opened, and its backend keeps
each tenant physically apart: a database file per tenant (SQLite) or a schema per tenant
(PostgreSQL). Nothing in the interface takes a tenant, so no query can name another one.

Within a tenant, each version of a knowledge base has its own tables, written once by a
`VersionWriter` and never changed: `commit()` marks it complete and moves the live pointer in
the same transaction, `abort()` drops it. Readers look up the live version and search it in one
read transaction, so a switch or a garbage collection never shows them half of anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from switchboard_knowledge.fusion import Hit

#: Words too common to help a keyword search (both backends drop them the same way).
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "us",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def keywords(query: str, limit: int = 32) -> list[str]:
    """The distinct search words of a query, lower-cased, without stop words, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOP_WORDS and len(seen) < limit:
            seen.setdefault(word, None)
    return list(seen)


#: A version still `building` after this long was left by a crashed build (Jobs end by 6 h).
ABANDONED_AFTER = timedelta(hours=7)


@dataclass(frozen=True)
class VersionRow:
    """A version as garbage collection sees it."""

    number: int
    name: str
    state: str
    created_at: datetime


def versions_to_drop(
    rows: Sequence[VersionRow], live: int | None, keep_previous: int, now: datetime
) -> list[VersionRow]:
    """Which versions of one knowledge base to drop (pure).

    Never the live one; the newest `keep_previous` complete ones stay for a quick rollback;
    a build in progress stays unless it is older than `ABANDONED_AFTER` (another Job may be
    writing it right now).
    """
    kept, dropped = 0, []
    for row in sorted(rows, key=lambda r: -r.number):
        if row.number == live:
            continue
        if row.state == "complete" and kept < keep_previous:
            kept += 1
        elif row.state != "building" or now - row.created_at > ABANDONED_AFTER:
            dropped.append(row)
    return dropped


class StoreError(RuntimeError):
    """The store is unreachable, misconfigured or lacks an extension."""


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as written into a version: text, provenance and its embedding."""

    text: str
    source: str
    title: str
    page: int | None
    heading: str | None
    start: int
    end: int
    #: SHA-256 of the text: the key of the embedding cache.
    content_hash: str
    embedding: Sequence[float]


@dataclass(frozen=True)
class DocumentRecord:
    """A document of a version, with what change detection needs next time."""

    source: str
    title: str
    format: str
    content_hash: str
    etag: str | None
    chunks: int


@dataclass(frozen=True)
class IndexVersion:
    """A complete version of a knowledge base's index."""

    knowledge_base: str
    name: str
    model: str
    dimensions: int
    documents: int
    chunks: int
    created_at: datetime


@dataclass(frozen=True)
class StoredChunk:
    """A chunk read back for a search result."""

    chunk_id: str
    text: str
    source: str
    title: str
    page: int | None
    heading: str | None


@dataclass(frozen=True)
class SearchResult:
    """Both rankings of one search against the live version, and the chunks they name."""

    version: IndexVersion
    vector: list[Hit]
    keyword: list[Hit]
    chunks: dict[str, StoredChunk]


@dataclass
class PendingVersion:
    """What the stores' version writers share: the version's identity, model and counts."""

    knowledge_base: str
    number: int
    name: str
    model: str
    dimensions: int
    created: datetime
    documents: int = 0
    chunks: int = 0

    def check(self, chunks: Sequence[ChunkRecord]) -> None:
        """Refuse embeddings of another length than the version's."""
        for chunk in chunks:
            if len(chunk.embedding) != self.dimensions:
                raise StoreError(
                    f"an embedding has {len(chunk.embedding)} dimensions, the version "
                    f"{self.dimensions}"
                )

    def counted(self, chunks: int) -> None:
        """One more document, with `chunks` chunks."""
        self.documents += 1
        self.chunks += chunks

    def info(self) -> IndexVersion:
        """The version as readers see it once committed."""
        return IndexVersion(
            self.knowledge_base,
            self.name,
            self.model,
            self.dimensions,
            self.documents,
            self.chunks,
            self.created,
        )


class VersionWriter(Protocol):
    """Writes one new version; nothing is visible to readers before `commit()`."""

    @property
    def name(self) -> str:
        """The version's name (unique within the tenant)."""
        ...

    def add_document(self, document: DocumentRecord, chunks: Sequence[ChunkRecord]) -> None:
        """Store a document and its chunks (embeddings already computed)."""
        ...

    def commit(self) -> IndexVersion:
        """Mark the version complete and make it the live one, atomically."""
        ...

    def abort(self) -> None:
        """Drop everything written; the live version stays as it was."""
        ...


class IndexStore(Protocol):
    """A tenant's index store."""

    def begin_version(self, knowledge_base: str, model: str, dimensions: int) -> VersionWriter:
        """Start writing a new version of `knowledge_base`."""
        ...

    def cached_embeddings(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Embeddings already computed by `model` for texts with these hashes."""
        ...

    def cache_embeddings(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        """Remember embeddings by text hash for the next build."""
        ...

    def live_version(self, knowledge_base: str) -> IndexVersion | None:
        """The version agents read, or None before the first complete build."""
        ...

    def documents(self, knowledge_base: str) -> list[DocumentRecord]:
        """The documents of the live version."""
        ...

    def search(
        self, knowledge_base: str, embedding: Sequence[float] | None, query: str, limit: int
    ) -> SearchResult | None:
        """Vector (when `embedding` is given) and keyword rankings in the live version."""
        ...

    def collect_garbage(self, knowledge_base: str, keep_previous: int = 1) -> list[str]:
        """Drop all but the live and `keep_previous` newest complete versions; their names."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
