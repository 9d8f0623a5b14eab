"""A cluster gateway answers from a knowledge base a Job indexed into PostgreSQL+pgvector.

The front-desk example's cluster variant is indexed by the indexer's entry point (what the Job
runs) into a real PostgreSQL with pgvector; the gateway's search is then built exactly as the
gateway process builds it, from the GatewayConfig the operator renders and the environment the
pod gets. Both embed through an embeddings endpoint that serves the packaged MiniLM in this
process (the model plane's recipe), so the index and the questions use the same model.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.tools.knowledge import search_knowledge
from switchboard_gateway.tools.knowledge_store import StoreKnowledgeSearch
from switchboard_indexer.__main__ import main as indexer_main
from switchboard_indexer.embedding import InProcessEmbedder
from switchboard_operator.render.agent import CONFIG_KEY, config_map
from tests.postgres import postgres_server
from tests.storage.test_knowledge_stores import fresh_database
from tests.tools import REPO_ROOT

pytestmark = pytest.mark.storage

EXAMPLE = REPO_ROOT / "examples" / "front-desk"
QUESTION = "What is the emergency phone number?"
OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}


class _Embeddings(BaseHTTPRequestHandler):
    embedder: InProcessEmbedder
    models: list[str]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.models.append(body["model"])
        vectors = self.embedder.embed(body["input"])
        payload = json.dumps(
            {"data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def model_plane() -> Iterator[tuple[str, list[str]]]:
    """An embeddings endpoint with the packaged model; yields its URL and the models asked for."""
    models: list[str] = []
    handler = type("Handler", (_Embeddings,), {"embedder": InProcessEmbedder(), "models": models})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", models
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    with postgres_server() as url:
        yield fresh_database(url)


def _resources() -> tuple[VoiceAgent, KnowledgeBase, Tenant]:
    agent = VoiceAgent.model_validate(yaml.safe_load((EXAMPLE / "agent.yaml").read_text()))
    kb = KnowledgeBase.model_validate(
        yaml.safe_load((EXAMPLE.parent / "front-desk-cluster" / "knowledgebase.yaml").read_text())
    )
    tenant = Tenant.model_validate(
        yaml.safe_load((REPO_ROOT / "examples" / "tenant.yaml").read_text())
    )
    return agent, kb, tenant


def test_the_gateway_finds_the_emergency_number_the_job_indexed_into_postgres(
    model_plane: tuple[str, list[str]], store_url: str, tmp_path: Path
) -> None:
    url, models = model_plane
    agent, kb, tenant = _resources()
    assert kb.spec.store.type == "default"
    # The Job: the mounted KnowledgeBase, its store URL from the copied Secret, the model plane.
    spec = tmp_path / "knowledgebase.yaml"
    spec.write_text((EXAMPLE.parent / "front-desk-cluster" / "knowledgebase.yaml").read_text())
    status = indexer_main(
        ["--knowledge-base", str(spec), "--store", store_url, "--model-plane", url]
    )
    assert status == 0
    # The gateway: the config the operator renders, the environment its pod gets.
    rendered = config_map(agent, tenant, OWNER, [kb])["data"][CONFIG_KEY]
    config = GatewayConfig.model_validate(yaml.safe_load(rendered))
    config = config.model_copy(update={"model_plane_url": url})
    (settings,) = config.knowledge_bases.values()
    search = StoreKnowledgeSearch.from_config(config, {settings.store_url_env: store_url})
    assert search is not None
    try:
        search.connect()
        choices = AgentConfig.from_resource(agent, tenant).knowledge_bases
        outcome = asyncio.run(
            search_knowledge(search, choices, json.dumps({"query": QUESTION}), timeout_s=30)
        )
    finally:
        search.close()
    assert outcome.ok, outcome.content
    passages = json.loads(outcome.content)["passages"]
    assert len(passages) == 1  # the agent's topK
    assert "555-0199" in passages[0]["text"]
    assert passages[0]["source"].startswith("hours.md")
    assert set(models) == {kb.spec.embedding.model}
