"""Index stores: SQLite (`sqlite:///DIRECTORY`, a file per tenant) or PostgreSQL (`postgresql://…`)."""

from __future__ import annotations

from pathlib import Path

from switchboard_knowledge.store.base import IndexStore, StoreError


def open_store(url: str, tenant: str) -> IndexStore:
    """The store of `tenant` at `url`."""
    if url.startswith("sqlite:///"):
        from switchboard_knowledge.store.sqlite import SqliteIndexStore

        return SqliteIndexStore(Path(url.removeprefix("sqlite://")), tenant)
    if url.startswith(("postgresql://", "postgres://")):
        from switchboard_knowledge.store.postgres import PostgresIndexStore

        return PostgresIndexStore(url, tenant)
    raise StoreError("the index store URL must be sqlite:///DIRECTORY or postgresql://…")


__all__ = ["IndexStore", "StoreError", "open_store"]
