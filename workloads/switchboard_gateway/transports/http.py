"""Plain HTTP on the gateway's HTTP port: health, readiness, metrics, and extra routes.

A request for the call path is left to the WebSocket handshake. Every request but a probe is
first judged by the port's `HttpGuard` (Host, method, Origin, local token).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard_gateway.gateway import Gateway
from switchboard_gateway.transports.http_guard import (
    CALL_PATH,
    TOKEN_PATH,
    HttpGuard,
    Verdict,
    login_location,
    session_cookie,
)
from switchboard_gateway.transports.token_endpoint import token_response

__all__ = ["CALL_PATH", "ExtraRoutes", "plain_http"]

#: Answers `(path, query, request headers)` or returns None when the path is not its own.
ExtraRoutes = Callable[[str, str, Headers], Awaitable[Response | None]]

_ALLOW = "GET, HEAD"


def _text(status: int, text: str, **headers: str) -> Response:
    body = text.encode()
    fields = Headers(
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
    )
    for key, value in headers.items():
        fields[key.replace("_", "-")] = value
    phrase = {
        303: "See Other",
        401: "Unauthorized",
        403: "Forbidden",
        405: "Method Not Allowed",
        421: "Misdirected Request",
    }[status]
    return Response(status, phrase, fields, body)


def _refusal(verdict: Verdict, query: str, guard: HttpGuard) -> Response:
    if verdict is Verdict.WRONG_HOST:
        return _text(421, "this gateway does not serve that Host name\n")
    if verdict is Verdict.WRONG_METHOD:
        return _text(405, f"only {_ALLOW} are served here\n", Allow=_ALLOW)
    if verdict is Verdict.WRONG_ORIGIN:
        return _text(403, "requests from pages on other origins are refused\n")
    if verdict is Verdict.LOGIN and guard.token is not None:
        response = _text(303, "signed in\n", Location=login_location(query))
        response.headers["Set-Cookie"] = session_cookie(guard.token)
        response.headers["Cache-Control"] = "no-store"
        return response
    body = json.dumps(
        {"error": "unauthorized: open the console URL `switchboard up` printed (with ?token=)"}
    ).encode()
    fields = Headers(
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "WWW-Authenticate": "Bearer",
        }
    )
    return Response(401, "Unauthorized", fields, body)


def _head(response: Response) -> Response:
    """A HEAD answer: the GET's status and headers (its Content-Length too), no body."""
    return dataclasses.replace(response, body=b"")


def plain_http(
    gateway: Gateway,
    extra_routes: ExtraRoutes | None = None,
    guard: HttpGuard | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Answers plain HTTP on the WebSocket port; None: the request is a call.

    `/healthz`, `/readyz` and `/metrics` always, `POST /v1/tokens` (call tokens), then
    `extra_routes` when given. GET and HEAD otherwise (405); a wrong Host gets 421, a foreign
    Origin 403, a missing token 401.
    """
    rules = guard or HttpGuard.build()

    async def respond(connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        verdict = rules.judge(request.method, path, query, request.headers)
        if verdict is not Verdict.ALLOW:
            return _refusal(verdict, query, rules)
        if path == TOKEN_PATH:
            if request.method != "POST":
                return _text(405, "call tokens are minted with POST\n", Allow="POST")
            return token_response(gateway, request, query)
        if path == CALL_PATH:
            if request.method != "GET":
                return _text(405, "a call is a WebSocket upgrade (GET)\n", Allow="GET")
            return None
        answer = await _route(connection, gateway, extra_routes, request, path, query)
        return _head(answer) if request.method == "HEAD" else answer

    return respond


async def _route(
    connection: ServerConnection,
    gateway: Gateway,
    extra_routes: ExtraRoutes | None,
    request: Request,
    path: str,
    query: str,
) -> Response:
    if path == "/healthz":
        return connection.respond(200, "ok\n")
    if path == "/readyz":
        if gateway.draining:
            return connection.respond(503, "draining\n")
        if not gateway.warm:
            return connection.respond(503, "warming up\n")
        if gateway.at_capacity() is not None:
            return connection.respond(503, "at capacity\n")
        return connection.respond(200, "ready\n")
    if path == "/metrics":
        response = connection.respond(200, gateway.metrics.exposition().decode())
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = gateway.metrics.content_type
        return response
    if extra_routes is not None:
        answer = await extra_routes(path, query, request.headers)
        if answer is not None:
            return answer
    return connection.respond(404, f"calls are served on {CALL_PATH}\n")
