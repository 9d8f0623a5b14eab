"""Knowledge bases: indexing throughput and retrieval latency/quality on both index stores.

    .venv/bin/python bench/knowledge.py [--copies 10] [--repeats 5]

Indexes the clinic corpus of tests/knowledge/corpus.py (12 documents, five formats; `--copies`
renamed copies of it for throughput) into SQLite+sqlite-vec+FTS5 and into a throwaway
PostgreSQL+pgvector server, embedding in-process with the packaged all-MiniLM-L6-v2. Reports
chunks/s of a cold build (parse, chunk, embed, write, index) and of a re-index (nothing to
embed), retrieval p50/p95 per query (query embedding included), and recall@1/3/5 of the 29
questions for hybrid, vector-only and keyword-only retrieval. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from tests.knowledge.corpus import QUESTIONS, documents, write
from tests.postgres import postgres_server

from switchboard_api.egress import EgressPolicy
from switchboard_api.knowledgebase import RetrievalSpec
from switchboard_api.resources import KnowledgeBase
from switchboard_indexer.build import build_index
from switchboard_indexer.embedding import InProcessEmbedder, token_counter
from switchboard_indexer.sources import SourceReader
from switchboard_knowledge.retrieval import Retriever
from switchboard_knowledge.store import IndexStore, open_store

MODEL = "all-MiniLM-L6-v2"
Mode = Literal["hybrid", "vector", "keyword"]


def knowledge_base(name: str, directory: Path) -> KnowledgeBase:
    """A knowledge base over one directory, with the chunking the storage tests use."""
    return KnowledgeBase.model_validate(
        {
            "metadata": {"name": name, "namespace": "bench"},
            "spec": {
                "sources": [{"name": "docs", "files": {"path": str(directory)}}],
                "chunking": {"sizeTokens": 48, "overlapTokens": 8},
            },
        }
    )


def measure(
    store: IndexStore, root: Path, embedder: InProcessEmbedder, repeats: int
) -> dict[str, object]:
    """Build throughput, then retrieval latency and recall per mode, on one store."""
    reader = SourceReader(max_bytes=20 * 1024 * 1024, egress=EgressPolicy())
    count = token_counter(MODEL)
    big = knowledge_base("throughput", root / "copies")
    began = time.perf_counter()
    cold = build_index(big, store, embedder, reader, count)
    cold_s = time.perf_counter() - began
    began = time.perf_counter()
    warm = build_index(big, store, embedder, reader, count)
    warm_s = time.perf_counter() - began
    small = knowledge_base("handbook", root / "docs")
    build_index(small, store, embedder, reader, count)
    result: dict[str, object] = {
        "cold_build": {
            "documents": cold.documents,
            "chunks": cold.chunks,
            "embedded": cold.embedded,
            "seconds": round(cold_s, 2),
            "chunks_per_s": round(cold.chunks / cold_s, 1),
        },
        "reindex_unchanged": {
            "embedded": warm.embedded,
            "seconds": round(warm_s, 2),
            "chunks_per_s": round(warm.chunks / warm_s, 1),
        },
    }
    modes: tuple[Mode, ...] = ("hybrid", "vector", "keyword")
    for mode in modes:
        retriever = Retriever(
            lambda _: store,
            {"bench/handbook": embedder},
            {"bench/handbook": RetrievalSpec(mode=mode)},
        )
        timings: list[float] = []
        ranks: list[int | None] = []
        for repeat in range(repeats):
            for question in QUESTIONS:
                began = time.perf_counter()
                passages = retriever.search_now("bench/handbook", question.text, 5).passages
                timings.append(time.perf_counter() - began)
                if repeat == 0:
                    hit = [
                        i
                        for i, p in enumerate(passages)
                        if p.chunk.source == question.document
                        and question.phrase.lower() in p.text.lower()
                    ]
                    ranks.append(hit[0] + 1 if hit else None)
        timings.sort()
        result[mode] = {
            "recall@1": round(sum(r is not None and r <= 1 for r in ranks) / len(ranks), 3),
            "recall@3": round(sum(r is not None and r <= 3 for r in ranks) / len(ranks), 3),
            "recall@5": round(sum(r is not None for r in ranks) / len(ranks), 3),
            "p50_ms": round(statistics.median(timings) * 1000, 1),
            "p95_ms": round(timings[int(0.95 * (len(timings) - 1))] * 1000, 1),
        }
    return result


def copies(corpus: dict[str, bytes], count: int) -> dict[str, bytes]:
    """`count` renamed copies; text formats get a distinct first line, so they embed anew."""
    out = {}
    for i in range(count):
        for name, data in corpus.items():
            text = name.endswith((".md", ".txt", ".html"))
            out[f"copy{i}-{name}"] = f"Copy number {i}.\n".encode() + data if text else data
    return out


def main() -> None:
    """Run both stores and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    embedder = InProcessEmbedder(MODEL)
    root = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    corpus = documents()
    write(root / "docs", corpus)
    write(root / "copies", copies(corpus, args.copies))
    results: dict[str, object] = {"machine": platform.machine(), "questions": len(QUESTIONS)}
    store = open_store(f"sqlite:///{root / 'index'}", "bench")
    try:
        results["sqlite"] = measure(store, root, embedder, args.repeats)
    finally:
        store.close()
    with postgres_server() as url:
        store = open_store(url, "bench")
        try:
            results["postgres"] = measure(store, root, embedder, args.repeats)
        finally:
            store.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
