"""Opening the call store a URL names, and keeping records only as long as configured."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta

from switchboard_api.gateway import CallStoreConfig
from switchboard_gateway.records.model import CallStore, CallStoreUnavailableError

log = logging.getLogger(__name__)

STORE_URL_ENV = "SWITCHBOARD_CALL_STORE_URL"
RETENTION_EVERY_S = 3600.0


async def open_store(config: CallStoreConfig) -> CallStore:
    """The store a URL names.

    That is `url_env`'s variable when set (required then), else the environment's
    `SWITCHBOARD_CALL_STORE_URL` (from a Secret), else the file's `url`.
    """
    if config.url_env is not None:
        url = os.environ.get(config.url_env, "")
        if not url:
            raise CallStoreUnavailableError(
                f"the call store's URL is configured to come from ${config.url_env}, which is unset"
            )
    else:
        url = os.environ.get(STORE_URL_ENV) or config.url or ""
    if url.startswith("sqlite:///"):
        if not config.migrate:
            raise ValueError("store.migrate: false needs PostgreSQL (SQLite migrates at start)")
        from switchboard_gateway.records.sqlite import SqliteCallStore

        path = url.removeprefix("sqlite:///")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return SqliteCallStore(path)
    if url.startswith(("postgres://", "postgresql://")):
        from switchboard_gateway.records.postgres import PostgresCallStore

        return await PostgresCallStore.open(url, migrate=config.migrate)
    raise ValueError(f"{STORE_URL_ENV} must be sqlite:///PATH or postgresql://…")


async def enforce_retention(store: CallStore, keep: timedelta) -> None:
    """Delete records of calls that ended longer than `keep` ago, hourly, until cancelled."""
    while True:
        try:
            removed = await store.delete_ended_before(datetime.now(UTC) - keep)
            if removed:
                log.info("retention removed %d call record(s)", removed)
        except Exception:  # the store may be briefly unreachable; try again next round
            log.exception("call-record retention failed")
        await asyncio.sleep(RETENTION_EVERY_S)
