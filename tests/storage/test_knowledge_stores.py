"""Knowledge-base indexes on both real stores: SQLite+sqlite-vec+FTS5 and PostgreSQL+pgvector.

The clinic corpus (twelve documents in five formats, tests/knowledge/corpus.py) is embedded
in-process with the packaged all-MiniLM-L6-v2 model and built into each store.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from switchboard_api.egress import EgressPolicy
from switchboard_api.knowledgebase import RetrievalSpec
from switchboard_api.resources import KnowledgeBase
from switchboard_indexer.build import BuildError, BuildReport, build_index
from switchboard_indexer.embedding import InProcessEmbedder, token_counter
from switchboard_indexer.sources import SourceReader
from switchboard_knowledge.retrieval import Retriever
from switchboard_knowledge.store import IndexStore, open_store
from tests.knowledge.corpus import QUESTIONS, bad_documents, documents, write
from tests.postgres import postgres_server

pytestmark = pytest.mark.storage

MODEL = "all-MiniLM-L6-v2"
Mode = Literal["hybrid", "vector", "keyword"]
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def embedder() -> InProcessEmbedder:
    return InProcessEmbedder(MODEL)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index'}"
    server: str = request.getfixturevalue("postgres_url")
    return fresh_database(server)


def fresh_database(server: str) -> str:
    """A new, empty database on the shared server, so tests never see each other's indexes."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def knowledge_base(
    directory: Path, name: str = "handbook", namespace: str = "acme", **spec: object
) -> KnowledgeBase:
    return KnowledgeBase.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "sources": [{"name": "docs", "files": {"path": str(directory)}}],
                "parsing": {"maxDocumentBytes": LIMIT},
                **spec,
            },
        }
    )


def build(
    kb: KnowledgeBase, store: IndexStore, embedder: InProcessEmbedder, **reader: object
) -> BuildReport:
    options: dict[str, object] = {"egress": EgressPolicy(), **reader}
    source_reader = SourceReader(max_bytes=kb.spec.parsing.max_document_bytes, **options)  # type: ignore[arg-type]
    return build_index(kb, store, embedder, source_reader, token_counter(MODEL))


def recall_at(store: IndexStore, embedder: InProcessEmbedder, mode: Mode, k: int = 5) -> float:
    retriever = Retriever(
        lambda _: store, {"acme/handbook": embedder}, {"acme/handbook": RetrievalSpec(mode=mode)}
    )
    found = 0
    for question in QUESTIONS:
        passages = retriever.search_now("acme/handbook", question.text, k).passages
        found += any(
            p.chunk.source == question.document and question.phrase.lower() in p.text.lower()
            for p in passages
        )
    return found / len(QUESTIONS)


def test_the_corpus_indexes_identically_on_both_stores_and_reindexing_embeds_nothing(
    embedder: InProcessEmbedder, postgres_url: str, tmp_path: Path
) -> None:
    corpus = write(tmp_path / "docs", documents())
    kb = knowledge_base(corpus, chunking={"sizeTokens": 64, "overlapTokens": 16})
    counts = {}
    for url in (f"sqlite:///{tmp_path / 'index'}", fresh_database(postgres_url)):
        store = open_store(url, "acme")
        try:
            first = build(kb, store, embedder)
            again = build(kb, store, embedder)
            documents_live = store.documents("handbook")
        finally:
            store.close()
        assert (first.documents, first.skipped, first.failed_sources) == (12, [], [])
        assert first.embedded == first.chunks > 12
        assert (again.embedded, again.reused, again.chunks) == (0, first.chunks, first.chunks)
        assert again.version is not None
        assert first.version is not None
        assert again.version.name != first.version.name  # a new immutable version went live
        assert {d.format for d in documents_live} == {"text", "markdown", "html", "pdf", "docx"}
        assert first.pages_without_text == {"insurance.pdf": (2,)}
        counts[url.split(":")[0]] = (first.documents, first.chunks)
    assert counts["sqlite"] == counts["postgresql"]


def test_hybrid_recall_at_5_is_at_least_0_9_and_no_worse_than_either_retriever(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    assert len(QUESTIONS) >= 25
    corpus = write(tmp_path / "docs", documents())
    store = open_store(store_url, "acme")
    try:
        build(
            knowledge_base(corpus, chunking={"sizeTokens": 48, "overlapTokens": 8}), store, embedder
        )
        recall = {
            mode: recall_at(store, embedder, mode) for mode in ("hybrid", "vector", "keyword")
        }
    finally:
        store.close()
    assert recall["hybrid"] >= 0.9, recall
    assert recall["hybrid"] >= recall["vector"], recall
    assert recall["hybrid"] >= recall["keyword"], recall


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_failed_build_leaves_the_previous_version_live(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    corpus = write(tmp_path / "docs", documents())
    store = open_store(store_url, "acme")
    try:
        good = build(knowledge_base(corpus), store, embedder)

        def with_url(policy: str) -> KnowledgeBase:
            return KnowledgeBase.model_validate(
                {
                    "metadata": {"name": "handbook", "namespace": "acme"},
                    "spec": {
                        "sources": [
                            {"name": "docs", "files": {"path": str(corpus)}},
                            {
                                "name": "prices",
                                "url": {"url": f"http://127.0.0.1:{_closed_port()}/p.html"},
                                "failurePolicy": policy,
                            },
                        ]
                    },
                }
            )

        broken = with_url("fail")
        with pytest.raises(BuildError, match="source prices"):
            build(
                broken,
                store,
                embedder,
                resolve=lambda host, port: ["127.0.0.1"],
                egress=EgressPolicy(["127.0.0.0/8"]),
            )
        live = store.live_version("handbook")
        assert good.version is not None
        assert live is not None
        assert live.name == good.version.name
        assert store.search("handbook", None, "Saturday", 5) is not None
        skipping = with_url("skip")
        report = build(
            skipping,
            store,
            embedder,
            resolve=lambda host, port: ["127.0.0.1"],
            egress=EgressPolicy(["127.0.0.0/8"]),
        )
        assert [name for name, _ in report.failed_sources] == ["prices"]
        assert report.version is not None
        assert store.live_version("handbook") == report.version
    finally:
        store.close()


def test_old_versions_are_garbage_collected_keeping_the_live_and_one_previous(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    corpus = write(tmp_path / "docs", {"hours.md": documents()["hours.md"]})
    store = open_store(store_url, "acme")
    try:
        names = [build(knowledge_base(corpus), store, embedder).version.name for _ in range(4)]  # type: ignore[union-attr]
        assert store.collect_garbage("handbook") == []  # already collected after each build
        live = store.live_version("handbook")
        assert live is not None
        assert live.name == names[-1]
    finally:
        store.close()
    if store_url.startswith("sqlite"):
        import apsw

        lite = apsw.Connection(str(Path(store_url.removeprefix("sqlite://")) / "acme.sqlite3"))
        kept = [row[0] for row in lite.execute("SELECT name FROM versions ORDER BY id")]
        tables = {
            row[0] for row in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        lite.close()
    else:
        import psycopg

        with psycopg.connect(store_url) as db:
            kept = [r[0] for r in db.execute("SELECT name FROM kb_acme.versions ORDER BY id")]
            tables = {
                r[0]
                for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'kb_acme'")
            }
    assert kept == names[-2:]
    assert sum(1 for t in tables if t.startswith("c") and t[1:].isdigit()) == 2


def test_a_tenant_never_sees_another_tenants_chunks(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    canaries = {"acme": "CANARY-ACME-7731", "globex": "CANARY-GLOBEX-4417"}
    stores: dict[str, IndexStore] = {}
    try:
        for tenant, canary in canaries.items():
            corpus = write(
                tmp_path / tenant, {"secret.txt": f"The vault code is {canary}. Keep it.".encode()}
            )
            stores[tenant] = open_store(store_url, tenant)
            # Same knowledge-base name in both tenants: only the tenant keeps them apart.
            build(knowledge_base(corpus, namespace=tenant), stores[tenant], embedder)
        for tenant, store in stores.items():
            other = next(c for t, c in canaries.items() if t != tenant)
            for query in ("vault code", other, "CANARY"):
                result = store.search("handbook", embedder.embed([query])[0], query, 50)
                assert result is not None
                texts = " ".join(c.text for c in result.chunks.values())
                assert canaries[tenant] in texts
                assert other not in texts
    finally:
        for store in stores.values():
            store.close()


def test_bad_documents_are_skipped_with_reasons_and_the_rest_is_indexed(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    files = {"hours.md": documents()["hours.md"], **bad_documents(LIMIT)}
    corpus = write(tmp_path / "docs", files)
    store = open_store(store_url, "acme")
    try:
        report = build(knowledge_base(corpus), store, embedder)
    finally:
        store.close()
    reasons = {s.source: s.reason for s in report.skipped}
    assert report.documents == 1
    assert set(reasons) == {"corrupt.pdf", "huge.txt", "image.txt", "latin1.txt"}
    assert "too large" in reasons["huge.txt"]
    assert "binary" in reasons["image.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "PDF" in reasons["corrupt.pdf"]


def test_an_all_bad_build_fails_instead_of_going_live_empty(
    embedder: InProcessEmbedder, store_url: str, tmp_path: Path
) -> None:
    corpus = write(tmp_path / "docs", bad_documents(LIMIT))
    store = open_store(store_url, "acme")
    try:
        with pytest.raises(BuildError, match="no document"):
            build(knowledge_base(corpus), store, embedder)
        assert store.live_version("handbook") is None
    finally:
        store.close()
