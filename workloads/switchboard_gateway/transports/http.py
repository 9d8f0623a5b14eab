"""Plain HTTP on the gateway's HTTP port: health, readiness, metrics, and extra routes.

A request for the call path is left to the WebSocket handshake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from switchboard_gateway.gateway import Gateway

CALL_PATH = "/v1/calls"

#: Answers `(path, query)` or returns None when the path is not its own.
ExtraRoutes = Callable[[str, str], Awaitable[Response | None]]


def plain_http(
    gateway: Gateway, extra_routes: ExtraRoutes | None = None
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Answers plain HTTP on the WebSocket port; None: the request is a call.

    `/healthz`, `/readyz` and `/metrics` always, then `extra_routes` when given.
    """

    async def respond(connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/healthz":
            return connection.respond(200, "ok\n")
        if path == "/readyz":
            if gateway.draining:
                return connection.respond(503, "draining\n")
            if not gateway.warm:
                return connection.respond(503, "warming up\n")
            if gateway.active >= gateway.max_calls:
                return connection.respond(503, "at capacity\n")
            return connection.respond(200, "ready\n")
        if path == "/metrics":
            response = connection.respond(200, gateway.metrics.exposition().decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = gateway.metrics.content_type
            return response
        if path == CALL_PATH:
            return None
        if extra_routes is not None and (answer := await extra_routes(path, query)) is not None:
            return answer
        return connection.respond(404, f"calls are served on {CALL_PATH}\n")

    return respond
