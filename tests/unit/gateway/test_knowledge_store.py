"""The gateway's knowledge search, built from its config and environment as a pod builds it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard_api.gateway import GatewayConfig, KnowledgeSearchConfig
from switchboard_api.knowledgebase import RetrievalSpec
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.tools.knowledge_store import KnowledgeConfigError, StoreKnowledgeSearch
from switchboard_knowledge.store import open_store
from switchboard_knowledge.store.base import ChunkRecord, DocumentRecord

pytestmark = pytest.mark.unit

MODEL = "all-MiniLM-L6-v2"
ENV = "SWITCHBOARD_SECRET_SWITCHBOARD_KNOWLEDGE_STORE_URL"


def config(**knowledge: KnowledgeSearchConfig) -> GatewayConfig:
    agent = VoiceAgent.model_validate(
        {"metadata": {"name": "desk", "namespace": "acme"}, "spec": {"prompt": {"system": "Hi"}}}
    )
    return GatewayConfig(
        model_plane_url="http://127.0.0.1:9",
        agents=[agent],
        knowledge_bases={f"acme/{name}": value for name, value in knowledge.items()},
    )


def keyword_only() -> KnowledgeSearchConfig:
    return KnowledgeSearchConfig(store_url_env=ENV, retrieval=RetrievalSpec(mode="keyword"))


def index(root: Path) -> str:
    """A one-document SQLite index of `acme/handbook`, as if a build had written it."""
    url = f"sqlite:///{root}"
    store = open_store(url, "acme")
    try:
        version = store.begin_version("handbook", MODEL, 3)
        texts = ["The emergency phone number is 555-0199.", "Parking is behind the building."]
        version.add_document(
            DocumentRecord("hours.md", "Hours", "markdown", "h", None, len(texts)),
            [
                ChunkRecord(t, "hours.md", "Hours", None, None, 0, len(t), str(i), [1.0, 0.0, 0.0])
                for i, t in enumerate(texts)
            ],
        )
        version.commit()
    finally:
        store.close()
    return url


def test_no_knowledge_bases_means_no_search() -> None:
    assert StoreKnowledgeSearch.from_config(config(), {}) is None


def test_a_missing_store_url_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(KnowledgeConfigError, match=ENV):
        StoreKnowledgeSearch.from_config(config(handbook=keyword_only()), {ENV: " "})


def test_the_search_reads_the_live_version_from_the_store_its_environment_names(
    tmp_path: Path,
) -> None:
    url = index(tmp_path / "index")
    search = StoreKnowledgeSearch.from_config(config(handbook=keyword_only()), {ENV: url})
    assert search is not None
    try:
        search.connect()
        found = asyncio.run(search.search("acme/handbook", "emergency phone number", 1))
        with pytest.raises(LookupError, match="acme/other"):
            asyncio.run(search.search("acme/other", "emergency", 1))
    finally:
        search.close()
    assert [p.source for p in found] == ["Hours"]
    assert "555-0199" in found[0].text


def test_a_store_unreachable_at_start_fails_searches_not_the_gateway(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    search = StoreKnowledgeSearch.from_config(
        config(handbook=keyword_only()), {ENV: f"sqlite:///{blocked}"}
    )
    assert search is not None
    try:
        search.connect()  # logged, not raised
        with pytest.raises(Exception):  # noqa: B017, PT011
            asyncio.run(search.search("acme/handbook", "emergency", 1))
    finally:
        search.close()
