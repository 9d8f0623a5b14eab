"""What a gateway needs to search its agent's knowledge bases (pure).

Each knowledge base in a cluster store (`default` or `postgres`) is searchable: the gateway reads
the store's URL from an environment variable projected from the store's Secret, and embeds the
questions with the model the index was built with. `sqlite` stores are local-only.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard_api import KnowledgeBase
from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.gateway import KnowledgeSearchConfig
from switchboard_api.indexing import DEFAULT_STORE_KEY, DEFAULT_STORE_SECRET
from switchboard_api.knowledgebase import StoreSpec


def store_secret_ref(store: StoreSpec) -> SecretKeyRef | None:
    """The Secret key holding a cluster store's URL; None for `sqlite` (no cluster store).

    `default` is the install's store, which the operator copies into the tenant namespace.
    """
    if store.postgres is not None:
        return store.postgres.connection_secret_ref
    if store.type == "default":
        return SecretKeyRef(name=DEFAULT_STORE_SECRET, key=DEFAULT_STORE_KEY)
    return None


def _kb_key(kb: KnowledgeBase) -> str:
    return f"{kb.metadata.namespace or 'default'}/{kb.metadata.name}"


def searchable(
    knowledge_bases: Sequence[KnowledgeBase], *, default_store: bool
) -> dict[str, SecretKeyRef]:
    """The knowledge bases gateways can search, with their store's Secret key.

    `default_store`: whether the install has one; without it `default` knowledge bases are left
    out (their Secret never appears, and a gateway waiting for it would take no calls at all).
    """
    found: dict[str, SecretKeyRef] = {}
    for kb in knowledge_bases:
        ref = store_secret_ref(kb.spec.store)
        if ref is not None and (default_store or kb.spec.store.type != "default"):
            found[_kb_key(kb)] = ref
    return found


def knowledge_search(
    knowledge_bases: Sequence[KnowledgeBase], *, default_store: bool
) -> dict[str, KnowledgeSearchConfig]:
    """How the gateway searches each knowledge base: its store's URL comes from a Secret."""
    stores = searchable(knowledge_bases, default_store=default_store)
    return {
        _kb_key(kb): KnowledgeSearchConfig(
            store_url_env=secret_env_name(stores[_kb_key(kb)]),
            embedding_model=kb.spec.embedding.model,
            retrieval=kb.spec.retrieval,
        )
        for kb in knowledge_bases
        if _kb_key(kb) in stores
    }
