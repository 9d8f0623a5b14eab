"""The one composition root: a gateway process, for a pod and for `switchboard up` alike.

`GatewayServer.start` builds the agents behind the model plane's HTTP API, opens the call store,
and serves gRPC and HTTP (WebSocket calls, `/healthz`, `/readyz`, `/metrics`, the console when
enabled). `warm_up` runs every agent's models once and caches its greeting; until it has, the
gateway is not ready. A pod retries a warm-up the model plane is not ready for; `switchboard up`
fails fast. Drain: readiness off, new calls refused, active calls finish up to the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
from websockets.asyncio.server import Server

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import Tenant, VoiceAgent
from switchboard_api.serving import agent_request, deployment_name
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.api_keys import KeyRing, keep_reloading
from switchboard_gateway.backends.model_load import ModelLoad
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.backends.phrase_cache import PhraseCache, PhraseCachingBackend
from switchboard_gateway.backends.warm_up import warm_up_agent
from switchboard_gateway.capacity import CallCapacity
from switchboard_gateway.console.api import console_routes
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_gateway.public_calls import PublicAccess
from switchboard_gateway.quota import call_slots
from switchboard_gateway.records.model import CallStore
from switchboard_gateway.records.recordings import enforce_recording_retention, open_recordings
from switchboard_gateway.records.stores import enforce_retention, open_store
from switchboard_gateway.tls import ServerTls
from switchboard_gateway.tls import keep_reloading as keep_reloading_tls
from switchboard_gateway.tools.knowledge import KnowledgeSearch
from switchboard_gateway.tools.knowledge_store import StoreKnowledgeSearch
from switchboard_gateway.tools.webhooks import check_signing_secrets
from switchboard_gateway.transports.grpc.server import start_grpc_server
from switchboard_gateway.transports.http_guard import HttpGuard
from switchboard_gateway.transports.phone_port import (
    PhonePort,
    phone_channels_enabled,
    start_phone_port,
)
from switchboard_gateway.transports.websocket.server import start_ws_server

log = logging.getLogger(__name__)

#: After the drain timeout, calls still running are ended; this is how long they get to do so.
ABORT_GRACE_S = 3.0
#: A pod whose model plane is not up yet tries its warm-up again after this long.
WARM_UP_RETRY_S = 5.0


def _tenant_of(agent: VoiceAgent, tenants: list[Tenant]) -> Tenant | None:
    namespace = agent.metadata.namespace or "default"
    return next((t for t in tenants if t.spec.namespace.name == namespace), None)


def build_gateway(
    config: GatewayConfig, store: CallStore | None, knowledge: KnowledgeSearch | None = None
) -> Gateway:
    """The agents of `config` behind the model plane's HTTP API.

    Agents that share a voice share one cache of the fixed phrases they say (greetings, fillers,
    declared `prompt.cachedPhrases`).
    Agents with knowledge bases search them through `knowledge` (None: no search tool).
    """
    entries: dict[str, AgentEntry] = {}
    phrases: dict[str, PhraseCache] = {}
    metrics = GatewayMetrics()
    load = ModelLoad()  # one model plane: its agents' partial passes wait for all their work
    for agent in config.agents:
        tenant = _tenant_of(agent, config.tenants)
        agent_config = AgentConfig.from_resource(agent, tenant)
        # A malformed signing secret stops the start, naming the tool, not a call later.
        check_signing_secrets(agent_config.tools, os.environ)
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
            load=load,
        )
        cache = phrases.setdefault(tts, PhraseCache(on_lookup=metrics.phrase_cache_lookup))
        backend = PhraseCachingBackend(http, cache, agent_config.cached_phrases)
        keys = KeyRing(
            frozenset(config.api_key_hashes.get(agent_config.key, ())),
            tuple(Path(f) for f in config.api_key_files.get(agent_config.key, ())),
            required=config.require_api_keys,
        )
        if config.local_token is not None:  # `switchboard up`: the token calls every agent
            keys.add_key(config.local_token)
        search = knowledge if agent_config.knowledge_bases else None
        public = agent.spec.access.public
        opened = (
            PublicAccess.build(public.calls_per_minute_per_address, public.trusted_proxy_cidrs)
            if public.enabled
            else None
        )
        # "0 records nothing" (Tenant retention.recordingsDays).
        keeps = tenant is None or tenant.spec.retention.recordings_kept_days > 0
        recorded = agent.spec.call_policy.recording and keeps
        entries[agent_config.key] = AgentEntry(
            agent_config, backend, keys, search, opened, recorded=recorded
        )
    slots = call_slots(config.call_quota) if config.call_quota is not None else None
    return Gateway(
        entries,
        max_calls=config.max_concurrent_calls,
        store=store,
        metrics=metrics,
        slots=slots,
        capacity=CallCapacity(config.capacity_calls),
    )


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
    _recording_retention: asyncio.Task[None] | None = None
    _key_reload: asyncio.Task[None] | None = None
    #: The search built from `config.knowledge_bases` (a pod's), which this server closes.
    _knowledge: StoreKnowledgeSearch | None = None
    _connecting: asyncio.Task[None] | None = None
    _tls_reload: asyncio.Task[None] | None = None
    #: The phone port (Twilio, jambonz), when an agent has a phone channel.
    phone_port: PhonePort | None = None

    @classmethod
    async def start(
        cls, config: GatewayConfig, knowledge: KnowledgeSearch | None = None
    ) -> GatewayServer:
        """Open the store and start both servers (not ready until `warm_up` has run).

        Without `knowledge`, agents search the knowledge bases of `config.knowledge_bases`
        (their stores' URLs from the environment); `switchboard up` passes its own search.
        """
        owned = (
            None if knowledge is not None else StoreKnowledgeSearch.from_config(config, os.environ)
        )
        # A certificate that cannot be served stops the start (TlsConfigError), before anything.
        tls = ServerTls(config.tls) if config.tls is not None else None
        store = await open_store(config.store) if config.store is not None else None
        gateway = build_gateway(config, store, knowledge or owned)
        gateway.warm = False
        if config.recordings is not None:
            gateway.recordings = await asyncio.to_thread(open_recordings, config.recordings)
        grpc_server, grpc_port = await start_grpc_server(
            gateway,
            f"{config.host}:{config.grpc_port}",
            tls.grpc_credentials() if tls is not None else None,
        )
        routes = console_routes(gateway) if config.console else None
        guard = HttpGuard.build(
            config.allowed_hosts, config.allowed_origins, config.local_token, config.host
        )
        http_server = await start_ws_server(
            gateway,
            config.host,
            config.http_port,
            extra_routes=routes,
            guard=guard,
            tls=tls.http_context if tls is not None else None,
        )
        http_port = next(iter(http_server.sockets)).getsockname()[1]
        server = cls(config, gateway, grpc_server, http_server, grpc_port, http_port)
        if phone_channels_enabled(config):
            server.phone_port = await start_phone_port(
                gateway, config, tls.http_context if tls is not None else None
            )
        if owned is not None:
            server._knowledge = owned
            server._connecting = asyncio.create_task(
                asyncio.to_thread(owned.connect), name="knowledge-stores"
            )
        server._key_reload = asyncio.create_task(
            keep_reloading(entry.keys for entry in gateway.agents.values()), name="api-key-reload"
        )
        if tls is not None:
            server._tls_reload = asyncio.create_task(keep_reloading_tls(tls), name="tls-reload")
        if store is not None and config.store is not None:
            retention = timedelta(days=config.store.retention_days)
            server._retention = asyncio.create_task(
                enforce_retention(store, retention), name="call-record-retention"
            )
        if gateway.recordings is not None and config.recordings is not None:
            server._recording_retention = asyncio.create_task(
                enforce_recording_retention(
                    gateway.recordings, timedelta(days=config.recordings.retention_days)
                ),
                name="recording-retention",
            )
        log.info(
            "gateway serving %d agent(s): gRPC on %d, HTTP/WebSocket on %d%s",
            len(gateway.agents),
            grpc_port,
            http_port,
            f", over TLS ({tls.fingerprint})" if tls is not None else "",
        )
        return server

    async def warm_up(
        self,
        *,
        retry_every_s: float | None = None,
        on_agent: Callable[[str], None] | None = None,
    ) -> None:
        """Run every agent's models once and cache its greeting; then the gateway is ready.

        Agents of a suspended tenant are skipped: their model pool is deleted, and they are
        ready to refuse calls saying why.

        Without `retry_every_s` the first failure is raised (`BackendError`, `TimeoutError`);
        with it, a failed agent is tried again after that long until it answers.
        """
        for key, entry in self.gateway.agents.items():
            if entry.config.suspended:  # its model pool is gone; it only refuses calls
                log.info("%s: tenant suspended, no warm-up", key)
                if on_agent is not None:
                    on_agent(key)
                continue
            while True:
                try:
                    await warm_up_agent(entry.config, entry.backend)
                    break
                except Exception as error:
                    if retry_every_s is None:
                        raise
                    log.warning(
                        "warm-up of %s failed (%s); trying again in %.0f s",
                        key,
                        type(error).__name__,
                        retry_every_s,
                    )
                    await asyncio.sleep(retry_every_s)
            if on_agent is not None:
                on_agent(key)
        self.gateway.warm = True
        log.info("gateway warmed up: ready for calls")

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
        tasks = (self._retention, self._connecting, self._key_reload, self._tls_reload)
        for task in (*tasks, self._recording_retention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.grpc_server.stop(grace=1)
        self.http_server.close()
        await asyncio.wait_for(self.http_server.wait_closed(), 5)
        if self.phone_port is not None:
            await self.phone_port.stop()
        for entry in self.gateway.agents.values():
            if isinstance(entry.backend, PhraseCachingBackend | ModelPlaneHttp):
                await entry.backend.aclose()
        await self.gateway.records_saved()  # records and recordings still being stored
        if self.gateway.store is not None:
            await self.gateway.store.close()
        if self._knowledge is not None:
            await self._knowledge.aclose()
        if self.gateway.slots is not None:  # after the calls: their slots are released
            await self.gateway.slots.close()
        log.info("gateway stopped")
