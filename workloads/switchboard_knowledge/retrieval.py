"""Hybrid retrieval over a knowledge base's live version: embed, search both ways, fuse.

Searches run in a worker thread (both stores are blocking clients) under the caller's
timeout. Each retriever asks the store for more candidates than it returns, so fusion has two
real rankings to merge; near-identical passages (overlapping chunks of one document, or the
same paragraph in two documents) are deduplicated before the top K is taken.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from switchboard_api.knowledgebase import RetrievalSpec
from switchboard_knowledge.embedding import Embedder
from switchboard_knowledge.fusion import Hit, fuse
from switchboard_knowledge.store.base import IndexStore, StoredChunk

#: Candidates fetched from each retriever per passage returned.
CANDIDATES_PER_RESULT = 5
MIN_CANDIDATES = 20
_WORD = re.compile(r"\w+")


class RetrievalError(RuntimeError):
    """The search cannot run as configured."""


@dataclass(frozen=True)
class RetrievedPassage:
    """A passage for the model: text, a citation and the fused score (1.0 is best)."""

    text: str
    citation: str
    score: float
    chunk: StoredChunk


@dataclass(frozen=True)
class Retrieval:
    """One search's passages and how long it took."""

    passages: list[RetrievedPassage]
    version: str | None
    seconds: float


def citation(chunk: StoredChunk) -> str:
    """Where a passage comes from: title, then page or section."""
    where = f"page {chunk.page}" if chunk.page else chunk.heading
    return f"{chunk.title} ({where})" if where and where != chunk.title else chunk.title


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _near_duplicate(a: str, b: str) -> bool:
    left, right = _words(a), _words(b)
    if not left or not right:
        return a == b
    return len(left & right) / min(len(left), len(right)) >= 0.9


def rank(
    vector: list[Hit],
    keyword: list[Hit],
    chunks: Mapping[str, StoredChunk],
    settings: RetrievalSpec,
    top_k: int,
) -> list[RetrievedPassage]:
    """Fuse the two rankings by `settings.mode`, drop near-duplicates, keep `top_k` (pure)."""
    if settings.mode == "vector":
        keyword, weight = [], 1.0
    elif settings.mode == "keyword":
        vector, weight = [], 0.0
    else:
        weight = settings.vector_weight
    fused = fuse(
        vector,
        keyword,
        mode=settings.fusion,
        vector_weight=weight,
        top_k=len(chunks),
        score_threshold=settings.score_threshold,
    )
    passages: list[RetrievedPassage] = []
    for hit in fused:
        chunk = chunks[hit.chunk_id]
        if any(_near_duplicate(chunk.text, p.text) for p in passages):
            continue
        passages.append(RetrievedPassage(chunk.text, citation(chunk), hit.score, chunk))
        if len(passages) == top_k:
            break
    return passages


class Retriever:
    """Searches knowledge bases (`namespace/name`) in their tenants' stores."""

    def __init__(
        self,
        store_for: Callable[[str], IndexStore],
        embedders: Mapping[str, Embedder],
        settings: Mapping[str, RetrievalSpec],
    ) -> None:
        """`store_for`: tenant (namespace) → its store; the mappings are by knowledge base."""
        self._store_for, self._embedders, self._settings = store_for, embedders, settings

    def search_now(self, knowledge_base: str, query: str, top_k: int) -> Retrieval:
        """Search synchronously (the Job's checks, benchmarks and the thread below)."""
        began = time.monotonic()
        namespace, _, name = knowledge_base.partition("/")
        settings = self._settings.get(knowledge_base, RetrievalSpec())
        embedder = self._embedders.get(knowledge_base)
        embedding = None
        if settings.mode != "keyword":
            if embedder is None:
                raise RetrievalError(f"no embedder for {knowledge_base}")
            embedding = embedder.embed([query])[0]
        limit = max(MIN_CANDIDATES, top_k * CANDIDATES_PER_RESULT)
        found = self._store_for(namespace).search(name, embedding, query, limit)
        if found is None:
            return Retrieval([], None, time.monotonic() - began)
        if embedder is not None and found.version.model != embedder.model:
            raise RetrievalError(
                f"{knowledge_base}'s live version was embedded with {found.version.model}, "
                f"not {embedder.model}: re-index it"
            )
        passages = rank(found.vector, found.keyword, found.chunks, settings, top_k)
        return Retrieval(passages, found.version.name, time.monotonic() - began)

    async def search(self, knowledge_base: str, query: str, top_k: int) -> Retrieval:
        """Search without blocking the event loop."""
        return await asyncio.to_thread(self.search_now, knowledge_base, query, top_k)
