"""`KnowledgeSearch` over the knowledge bases' index stores, as a gateway in a cluster runs it.

Built from the gateway config's `knowledgeBases`: each names the environment variable holding
its store's URL (projected from a Secret), the model its index was built with and its retrieval
settings. Questions are embedded through the model plane's embeddings endpoint with that model;
retrieval is the shared hybrid search over the live index version (`switchboard_knowledge`).
Stores are opened on first use and kept; a store that cannot be reached fails that search only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from functools import partial

from switchboard_api.gateway import GatewayConfig, KnowledgeSearchConfig
from switchboard_gateway.tools.knowledge import SEARCH_TIMEOUT_S, Passage
from switchboard_knowledge.embedding import ModelPlaneEmbedder
from switchboard_knowledge.retrieval import Retriever
from switchboard_knowledge.store import IndexStore, open_store

log = logging.getLogger(__name__)


class KnowledgeConfigError(ValueError):
    """A knowledge base's store URL is missing from the environment."""


class StoreKnowledgeSearch:
    """Hybrid retrieval over each configured knowledge base's live index version."""

    def __init__(
        self,
        model_plane_url: str,
        knowledge_bases: Mapping[str, KnowledgeSearchConfig],
        environ: Mapping[str, str],
        *,
        timeout_s: float = SEARCH_TIMEOUT_S,
    ) -> None:
        """`knowledge_bases`: `namespace/name` → its settings; store URLs come from `environ`."""
        self._urls: dict[str, str] = {}
        for key, settings in knowledge_bases.items():
            url = environ.get(settings.store_url_env, "").strip()
            if not url:
                raise KnowledgeConfigError(
                    f"knowledge base {key}: ${settings.store_url_env} (its store's URL) is not set"
                )
            self._urls[key] = url
        self._embedders: dict[str, ModelPlaneEmbedder] = {}
        for settings in knowledge_bases.values():
            model = settings.embedding_model
            if model not in self._embedders:
                self._embedders[model] = ModelPlaneEmbedder(
                    model_plane_url, model, timeout_s=timeout_s
                )
        self._stores: dict[tuple[str, str], IndexStore] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._retrievers = {
            key: Retriever(
                partial(self._store, self._urls[key]),
                {key: self._embedders[settings.embedding_model]},
                {key: settings.retrieval},
            )
            for key, settings in knowledge_bases.items()
        }

    @classmethod
    def from_config(
        cls, config: GatewayConfig, environ: Mapping[str, str]
    ) -> StoreKnowledgeSearch | None:
        """The search of a gateway config; None when it names no knowledge bases."""
        if not config.knowledge_bases:
            return None
        return cls(config.model_plane_url, config.knowledge_bases, environ)

    def _store(self, url: str, namespace: str) -> IndexStore:
        # Opening connects (up to the store's connect timeout): one opener per store at a time.
        with self._lock:
            if self._closed:
                raise RuntimeError("the knowledge search is closed")
            store = self._stores.get((url, namespace))
            if store is None:
                store = open_store(url, namespace)
                self._stores[(url, namespace)] = store
            return store

    def connect(self) -> None:
        """Open every store now (a gateway's start), so the first call's search is fast."""
        for key, url in self._urls.items():
            try:
                self._store(url, key.partition("/")[0])
            except Exception as error:  # retried on the first search; the pod keeps serving
                log.warning("knowledge store of %s unavailable: %s", key, type(error).__name__)

    async def search(self, knowledge_base: str, query: str, top_k: int) -> Sequence[Passage]:
        """The `top_k` best passages of `knowledge_base`'s live version for `query`."""
        retriever = self._retrievers.get(knowledge_base)
        if retriever is None:
            raise LookupError(f"the gateway has no search configured for {knowledge_base}")
        found = await retriever.search(knowledge_base, query, top_k)
        return [Passage(p.text, p.citation, p.score) for p in found.passages]

    def close(self) -> None:
        """Close the stores and the embeddings clients."""
        with self._lock:
            self._closed = True
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        for embedder in self._embedders.values():
            embedder.close()

    async def aclose(self) -> None:
        """Close without blocking the event loop."""
        await asyncio.to_thread(self.close)
