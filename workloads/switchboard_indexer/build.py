"""One index build: sources → documents → chunks → embeddings → a new live version.

Everything is read, parsed, chunked and embedded before the store is touched, and the new
version becomes live only by its final commit, so any failure (a source with `failurePolicy:
fail`, an unreachable model plane, a store error) leaves the previous version serving. Chunks
whose text was embedded before by the same model reuse that embedding: re-indexing unchanged
sources embeds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from switchboard_api.resources import KnowledgeBase
from switchboard_indexer.chunking import Chunk, chunk_document
from switchboard_indexer.documents import Document, Skipped, parse
from switchboard_indexer.sources import RawDocument, SourceError, SourceReader
from switchboard_knowledge.embedding import Embedder
from switchboard_knowledge.store.base import ChunkRecord, DocumentRecord, IndexStore, IndexVersion

log = logging.getLogger(__name__)


class BuildError(RuntimeError):
    """The build failed; the previous version (if any) stays live."""


@dataclass
class BuildReport:
    """What a build did: its version, counts, and every document or source it skipped."""

    knowledge_base: str
    version: IndexVersion | None = None
    documents: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    #: Sources that failed under `failurePolicy: skip`: (source name, reason).
    failed_sources: list[tuple[str, str]] = field(default_factory=list)
    pages_without_text: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Prepared:
    raw: RawDocument
    document: Document
    chunks: list[Chunk]
    inputs: list[str]
    hashes: list[str]


def embedding_input(document: Document, chunk: Chunk) -> str:
    """What is embedded for a chunk: its text under its document title and section heading."""
    header = " — ".join(part for part in (document.title, chunk.heading) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read_all(kb: KnowledgeBase, reader: SourceReader, report: BuildReport) -> list[RawDocument]:
    documents: list[RawDocument] = []
    seen: set[str] = set()
    for source in kb.spec.sources:
        try:
            raw, skipped = reader.read(source)
        except SourceError as error:
            if source.failure_policy == "fail":
                raise BuildError(f"source {source.name}: {error}") from None
            log.warning("source %s skipped (failurePolicy skip): %s", source.name, error)
            report.failed_sources.append((source.name, str(error)))
            continue
        report.skipped.extend(skipped)
        for document in raw:
            if document.name in seen:
                report.skipped.append(Skipped(document.name, "a document of that name was read"))
                continue
            seen.add(document.name)
            documents.append(document)
        log.info("source %s: %d documents, %d skipped", source.name, len(raw), len(skipped))
    return documents


def _prepare(
    kb: KnowledgeBase,
    raw: Sequence[RawDocument],
    count_tokens: Callable[[str], int],
    report: BuildReport,
) -> list[_Prepared]:
    spec = kb.spec
    prepared: list[_Prepared] = []
    for item in raw:
        parsed = parse(
            item.name,
            item.data,
            item.content_type,
            max_bytes=spec.parsing.max_document_bytes,
            html_main_content_only=spec.parsing.html_main_content_only,
        )
        if isinstance(parsed, Skipped):
            log.warning("document skipped: %s", parsed.reason)
            report.skipped.append(parsed)
            continue
        if item.title:
            parsed = Document(
                parsed.source, item.title, parsed.format, parsed.sections, parsed.pages_without_text
            )
        if parsed.pages_without_text:
            report.pages_without_text[item.name] = parsed.pages_without_text
        chunks = chunk_document(
            parsed, spec.chunking.size_tokens, spec.chunking.overlap_tokens, count_tokens
        )
        inputs = [embedding_input(parsed, c) for c in chunks]
        prepared.append(_Prepared(item, parsed, chunks, inputs, [_digest(t) for t in inputs]))
    return prepared


def _embed(
    prepared: Sequence[_Prepared],
    store: IndexStore,
    embedder: Embedder,
    batch_size: int,
    report: BuildReport,
) -> dict[str, list[float]]:
    wanted = {h: t for p in prepared for h, t in zip(p.hashes, p.inputs, strict=True)}
    vectors = store.cached_embeddings(embedder.model, list(wanted))
    missing = [h for h in wanted if h not in vectors]
    report.reused, report.embedded = len(wanted) - len(missing), len(missing)
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        fresh = dict(zip(batch, embedder.embed([wanted[h] for h in batch]), strict=True))
        store.cache_embeddings(embedder.model, fresh)
        vectors |= fresh
        log.info(
            "embedded %d of %d new chunks", min(start + batch_size, len(missing)), len(missing)
        )
    return vectors


def build_index(
    kb: KnowledgeBase,
    store: IndexStore,
    embedder: Embedder,
    reader: SourceReader,
    count_tokens: Callable[[str], int],
) -> BuildReport:
    """Build and switch to a new version of `kb`'s index; raises `BuildError` on failure."""
    began = time.monotonic()
    name = kb.metadata.name
    report = BuildReport(name)
    prepared = _prepare(kb, _read_all(kb, reader, report), count_tokens, report)
    prepared = [p for p in prepared if p.chunks]
    if not prepared:
        raise BuildError("no document could be indexed (see the skipped documents)")
    try:
        vectors = _embed(prepared, store, embedder, kb.spec.embedding.batch_size, report)
    except Exception as error:
        raise BuildError(f"embedding failed: {error}") from error
    dimensions = len(next(iter(vectors.values())))
    writer = store.begin_version(name, embedder.model, dimensions)
    try:
        for p in prepared:
            records = [
                ChunkRecord(
                    c.text,
                    p.raw.name,
                    p.document.title,
                    c.page,
                    c.heading,
                    c.start,
                    c.end,
                    h,
                    vectors[h],
                )
                for c, h in zip(p.chunks, p.hashes, strict=True)
            ]
            document = DocumentRecord(
                p.raw.name,
                p.document.title,
                p.document.format,
                _digest(p.document.text),
                p.raw.etag,
                len(records),
            )
            writer.add_document(document, records)
        report.version = writer.commit()
    except BaseException:
        writer.abort()
        raise
    report.documents, report.chunks = report.version.documents, report.version.chunks
    dropped = store.collect_garbage(name)
    if dropped:
        log.info("garbage-collected versions %s", ", ".join(dropped))
    report.seconds = time.monotonic() - began
    return report
