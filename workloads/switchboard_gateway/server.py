"""A gateway process: its servers, call store, record retention and graceful drain.

gRPC serves calls; the HTTP port serves WebSocket calls, `/healthz`, `/readyz` and `/metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from websockets.asyncio.server import Server

from switchboard_api.gateway import CallStoreConfig, GatewayConfig
from switchboard_api.resources import Tenant, VoiceAgent
from switchboard_api.serving import agent_request, deployment_name
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.backends.phrase_cache import PhraseCache, PhraseCachingBackend
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.grpc_transport import start_grpc_server
from switchboard_gateway.knowledge import KnowledgeSearch
from switchboard_gateway.records import CallStore
from switchboard_gateway.ws_transport import start_ws_server

log = logging.getLogger(__name__)

STORE_URL_ENV = "SWITCHBOARD_CALL_STORE_URL"
RETENTION_EVERY_S = 3600.0
#: After the drain timeout, calls still running are ended; this is how long they get to do so.
ABORT_GRACE_S = 3.0


async def open_store(config: CallStoreConfig) -> CallStore:
    """The store a URL names (the environment's URL, from a Secret, wins over the file's)."""
    url = os.environ.get(STORE_URL_ENV) or config.url
    if url.startswith("sqlite:///"):
        from switchboard_gateway.sqlite_store import SqliteCallStore

        path = url.removeprefix("sqlite:///")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return SqliteCallStore(path)
    if url.startswith(("postgres://", "postgresql://")):
        from switchboard_gateway.postgres_store import PostgresCallStore

        return await PostgresCallStore.open(url)
    raise ValueError(f"{STORE_URL_ENV} must be sqlite:///PATH or postgresql://…")


def _tenant_of(agent: VoiceAgent, tenants: list[Tenant]) -> Tenant | None:
    namespace = agent.metadata.namespace or "default"
    return next((t for t in tenants if t.spec.namespace.name == namespace), None)


def build_gateway(
    config: GatewayConfig, store: CallStore | None, knowledge: KnowledgeSearch | None = None
) -> Gateway:
    """The agents of `config` behind the model plane's HTTP API.

    Agents that share a voice share one cache of phrases they say often (greetings, fillers).
    Agents with knowledge bases search them through `knowledge` (None: no search tool).
    """
    entries: dict[str, AgentEntry] = {}
    phrases: dict[str, PhraseCache] = {}
    for agent in config.agents:
        tenant = _tenant_of(agent, config.tenants)
        agent_config = AgentConfig.from_resource(agent, tenant)
        pipeline = agent_request(agent, tenant).pipeline
        tts = deployment_name("tts", pipeline.tts)
        http = ModelPlaneHttp(
            config.model_plane_url,
            # Each agent's requests go to its own deployments of the shared model plane.
            asr=deployment_name("asr", pipeline.asr),
            llm=deployment_name("llm", pipeline.llm),
            tts=tts,
            max_tokens=agent_config.llm.max_tokens,
            temperature=agent_config.llm.temperature,
        )
        backend = PhraseCachingBackend(http, phrases.setdefault(tts, PhraseCache()))
        hashes = frozenset(config.api_key_hashes.get(agent_config.key, ()))
        search = knowledge if agent_config.knowledge_bases else None
        entries[agent_config.key] = AgentEntry(agent_config, backend, hashes, search)
    return Gateway(entries, max_calls=config.max_concurrent_calls, store=store)


@dataclass
class GatewayServer:
    """A running gateway process; `grpc_port` and `http_port` are the bound ports."""

    config: GatewayConfig
    gateway: Gateway
    grpc_server: grpc.aio.Server
    http_server: Server
    grpc_port: int
    http_port: int
    _retention: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, config: GatewayConfig, knowledge: KnowledgeSearch | None = None
    ) -> GatewayServer:
        """Open the store, start both servers and the retention task."""
        store = await open_store(config.store) if config.store is not None else None
        gateway = build_gateway(config, store, knowledge)
        grpc_server, grpc_port = await start_grpc_server(
            gateway, f"{config.host}:{config.grpc_port}"
        )
        http_server = await start_ws_server(
            gateway, config.host, config.http_port, console=config.console
        )
        http_port = next(iter(http_server.sockets)).getsockname()[1]
        server = cls(config, gateway, grpc_server, http_server, grpc_port, http_port)
        if store is not None and config.store is not None:
            retention = timedelta(days=config.store.retention_days)
            server._retention = asyncio.create_task(
                _enforce_retention(store, retention), name="call-record-retention"
            )
        log.info(
            "gateway serving %d agent(s): gRPC on %d, HTTP/WebSocket on %d",
            len(gateway.agents),
            grpc_port,
            http_port,
        )
        return server

    async def drain_and_stop(self) -> None:
        """Drain: readiness off and new calls refused while active calls finish.

        Calls still running at the drain timeout are ended; then the servers stop.
        """
        log.info("draining: %d active call(s)", self.gateway.active)
        await self.gateway.drain(self.config.drain_timeout_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ABORT_GRACE_S
        while self.gateway.active and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self.stop()

    async def stop(self) -> None:
        """Stop at once (calls still running are cut)."""
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        await self.grpc_server.stop(grace=1)
        self.http_server.close()
        await asyncio.wait_for(self.http_server.wait_closed(), 5)
        for entry in self.gateway.agents.values():
            if isinstance(entry.backend, PhraseCachingBackend | ModelPlaneHttp):
                await entry.backend.aclose()
        if self.gateway.store is not None:
            await self.gateway.store.close()
        log.info("gateway stopped")


async def _enforce_retention(store: CallStore, keep: timedelta) -> None:
    while True:
        try:
            removed = await store.delete_ended_before(datetime.now(UTC) - keep)
            if removed:
                log.info("retention removed %d call record(s)", removed)
        except Exception:  # the store may be briefly unreachable; try again next round
            log.exception("call-record retention failed")
        await asyncio.sleep(RETENTION_EVERY_S)
