"""A gateway with the example receptionist, served on a loop of its own thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from switchboard_gateway.api_keys import KeyRing, hash_api_key
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.records.model import CallStore
from switchboard_gateway.transports.grpc.server import start_grpc_server
from tests.models.gateway.test_session import agent_config

T = TypeVar("T")
API_KEY = "sk-test-receptionist"
#: Opens a call store on the gateway's own loop (a PostgreSQL pool belongs to one loop).
OpenStore = Callable[[], Awaitable[CallStore]]


class BackgroundLoop:
    """An event loop in a daemon thread, for servers that outlive one `asyncio.run`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def make_gateway(
    base_url: str, max_calls: int = 20, store: CallStore | None = None, **changes: object
) -> Gateway:
    """The receptionist behind the real model plane, callable with `API_KEY`."""
    config = agent_config(**changes)
    backend = ModelPlaneHttp(
        base_url, max_tokens=config.llm.max_tokens, temperature=0.3, timeout_s=60
    )
    entry = AgentEntry(config, backend, KeyRing(frozenset({hash_api_key(API_KEY)})))
    return Gateway({config.key: entry}, max_calls=max_calls, store=store)


async def _open(open_store: OpenStore | None) -> CallStore | None:
    return None if open_store is None else await open_store()


@contextmanager
def grpc_gateway(
    base_url: str, max_calls: int = 20, open_store: OpenStore | None = None, **changes: object
) -> Iterator[tuple[Gateway, str, Callable[[Coroutine[Any, Any, T]], T]]]:
    """A running gRPC gateway: (gateway, target, run-on-its-loop)."""
    background = BackgroundLoop()
    store = background.run(_open(open_store))
    gateway = make_gateway(base_url, max_calls, store, **changes)
    server, port = background.run(start_grpc_server(gateway))
    try:
        yield gateway, f"127.0.0.1:{port}", background.run
    finally:
        background.run(server.stop(grace=1))
        if store is not None:
            background.run(store.close())
        background.stop()


@contextmanager
def ws_gateway(
    base_url: str, max_calls: int = 20, open_store: OpenStore | None = None, **changes: object
) -> Iterator[tuple[Gateway, str]]:
    """A running WebSocket gateway: (gateway, ws://…/v1/calls)."""
    from switchboard_gateway.transports.http import CALL_PATH
    from switchboard_gateway.transports.websocket.server import start_ws_server

    background = BackgroundLoop()
    store = background.run(_open(open_store))
    gateway = make_gateway(base_url, max_calls, store, **changes)
    server = background.run(start_ws_server(gateway))
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        yield gateway, f"ws://127.0.0.1:{port}{CALL_PATH}"
    finally:
        server.close()
        background.run(server.wait_closed())
        if store is not None:
            background.run(store.close())
        background.stop()
