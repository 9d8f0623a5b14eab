"""Knowledge bases in `switchboard up`: index them at start, search them during calls.

Indexes live in the state directory (`knowledge/<namespace>.sqlite3`), so a restart with
unchanged sources embeds nothing. Both the build and the search embed through the local model
plane's embeddings deployment. A knowledge base whose build fails keeps serving its previous
version, if it has one; the failure is printed either way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from switchboard_api.egress import EgressPolicy
from switchboard_api.resources import KnowledgeBase
from switchboard_cli.local_plan import LocalPlan
from switchboard_gateway.tools.knowledge import Passage
from switchboard_indexer.build import BuildError, BuildReport, build_index
from switchboard_indexer.embedding import token_counter
from switchboard_indexer.sources import SourceReader
from switchboard_knowledge.embedding import ModelPlaneEmbedder
from switchboard_knowledge.retrieval import Retriever
from switchboard_knowledge.store import IndexStore, StoreError, open_store

log = logging.getLogger("switchboard")


class LocalKnowledge:
    """The tenants' index stores of one local run, and the search the gateway calls."""

    def __init__(self, local: LocalPlan, model_plane_url: str, state_dir: Path) -> None:
        self._local, self._url = local, model_plane_url
        self._store_url = f"sqlite:///{(state_dir / 'knowledge').resolve()}"
        self._stores: dict[str, IndexStore] = {}
        self._embedders: list[ModelPlaneEmbedder] = []
        self._retriever = Retriever(
            self._store,
            {_key(kb): self._embedder(kb.spec.embedding.model) for kb in local.knowledge_bases},
            {_key(kb): kb.spec.retrieval for kb in local.knowledge_bases},
        )

    def _embedder(self, model: str, batch_size: int = 32) -> ModelPlaneEmbedder:
        embedder = ModelPlaneEmbedder(self._url, model, batch_size=batch_size)
        self._embedders.append(embedder)
        return embedder

    def _store(self, namespace: str) -> IndexStore:
        if namespace not in self._stores:
            self._stores[namespace] = open_store(self._store_url, namespace)
        return self._stores[namespace]

    def index_all(self, on_done: Callable[[str, BuildReport | None], None]) -> list[str]:
        """Build every knowledge base; returns the failures as printable lines."""
        failures: list[str] = []
        for kb in self._local.knowledge_bases:
            key = _key(kb)
            namespace = kb.metadata.namespace or "default"
            tenant = next(
                (t for t in self._local.tenants if t.spec.namespace.name == namespace), None
            )
            reader = SourceReader(
                max_bytes=kb.spec.parsing.max_document_bytes,
                egress=EgressPolicy(tenant.spec.network.egress.allow_cidrs if tenant else ()),
                base_dir=self._local.knowledge_dirs.get(key),
            )
            spec = kb.spec.embedding
            try:
                store = self._store(namespace)
                report = build_index(
                    kb,
                    store,
                    self._embedder(spec.model, spec.batch_size),
                    reader,
                    token_counter(spec.model),
                )
            except (BuildError, StoreError) as error:
                live = self._stores.get(namespace)
                version = live.live_version(kb.metadata.name) if live else None
                still = f"; still serving {version.name}" if version else ""
                failures.append(f"KnowledgeBase {key}: {error}{still}")
                on_done(key, None)
                continue
            for skipped in report.skipped:
                print(f"  {key}: skipped {skipped.source}: {skipped.reason}", file=sys.stderr)
            for source, reason in report.failed_sources:
                print(f"  {key}: source {source} skipped: {reason}", file=sys.stderr)
            on_done(key, report)
        return failures

    async def search(self, knowledge_base: str, query: str, top_k: int) -> Sequence[Passage]:
        """The gateway's `KnowledgeSearch`: hybrid retrieval over the live version."""
        found = await self._retriever.search(knowledge_base, query, top_k)
        return [Passage(p.text, p.citation, p.score) for p in found.passages]

    def close(self) -> None:
        """Close the stores and HTTP clients."""
        for store in self._stores.values():
            store.close()
        for embedder in self._embedders:
            embedder.close()


def _key(kb: KnowledgeBase) -> str:
    return f"{kb.metadata.namespace or 'default'}/{kb.metadata.name}"
