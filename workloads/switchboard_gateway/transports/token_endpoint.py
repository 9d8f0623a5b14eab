"""`POST /v1/tokens`: a server, holding an API key, mints a call token for a browser or phone.

    POST /v1/tokens?agent=NAME[&ttl=SECONDS][&var.NAME=VALUE…]
    Authorization: Bearer API_KEY

answers `200 {"token", "agent", "expiresAt", "expiresIn"}` (never cached). The parameters are
in the query because the port takes no request bodies. A token is minted only with an API key
the agent accepts and whose value the gateway holds (keys from Secrets; not keys configured by
hash, nor a call token). Variables are held to the agent's limits now, not at call time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard_gateway.call_tokens import (
    DEFAULT_TTL_S,
    MAX_TTL_S,
    key_id,
    looks_like_token,
    mint,
)
from switchboard_gateway.gateway import Gateway

_VAR = "var."
_MAX_QUERY_FIELDS = 64
_PHRASES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}


def _json(status: int, payload: Mapping[str, object], **extra: str) -> Response:
    body = json.dumps(payload).encode()
    headers = Headers(
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
        }
    )
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return Response(status, _PHRASES[status], headers, body)


class _BadRequestError(ValueError):
    pass


def _parameters(query: str) -> tuple[str, int, dict[str, str]]:
    """`agent`, `ttl` and the `var.` variables of the query (`_BadRequestError`: what is wrong)."""
    try:
        pairs = parse_qsl(
            query,
            keep_blank_values=True,
            strict_parsing=bool(query),
            max_num_fields=_MAX_QUERY_FIELDS,
        )
    except ValueError as error:
        raise _BadRequestError(f"malformed query: {error}") from None
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _BadRequestError(f"parameter given more than once: {repeated[0][:64]}")
    fields = dict(pairs)
    unknown = [n for n in fields if n not in ("agent", "ttl") and not n.startswith(_VAR)]
    if unknown:
        raise _BadRequestError(f"unknown parameter: {unknown[0][:64]} (agent, ttl, var.NAME)")
    agent = fields.get("agent", "")
    if not agent:
        raise _BadRequestError("the agent parameter is required")
    try:
        ttl = int(fields.get("ttl", DEFAULT_TTL_S))
    except ValueError:
        raise _BadRequestError("ttl must be a whole number of seconds") from None
    if not 1 <= ttl <= MAX_TTL_S:
        raise _BadRequestError(f"ttl must be between 1 and {MAX_TTL_S} seconds")
    variables = {n.removeprefix(_VAR): v for n, v in fields.items() if n.startswith(_VAR)}
    return agent, ttl, variables


def _bearer(request: Request) -> str | None:
    values = request.headers.get_all("Authorization")
    if len(values) != 1 or not values[0].startswith("Bearer "):
        return None
    return values[0].removeprefix("Bearer ").strip() or None


def _unauthorized(gateway: Gateway, detail: str) -> Response:
    gateway.metrics.token_requests.labels("unauthorized").inc()
    return _json(401, {"error": detail}, WWW_Authenticate="Bearer")


def _bad(gateway: Gateway, status: int, detail: str) -> Response:
    gateway.metrics.token_requests.labels("bad_request").inc()
    return _json(status, {"error": detail})


def token_response(gateway: Gateway, request: Request, query: str) -> Response:
    """The answer to one `POST /v1/tokens`."""
    key = _bearer(request)
    if key is None or looks_like_token(key):
        return _unauthorized(gateway, "send an API key as `Authorization: Bearer KEY`")
    try:
        agent, ttl, variables = _parameters(query)
    except _BadRequestError as error:
        return _bad(gateway, 400, str(error))
    entry = gateway.resolve(agent)
    # An unknown agent and a wrong key answer alike: the endpoint does not list agents.
    if entry is None or entry.keys.open or not entry.keys.accepts(key):
        return _unauthorized(gateway, "invalid API key for this agent")
    if key_id(key) not in entry.keys.signers:
        return _bad(gateway, 403, "this key is configured by its hash and cannot sign tokens")
    problem = entry.config.caller_variables_problem(variables)
    if problem is not None:
        return _bad(gateway, 400, problem)
    minted = mint(key, entry.config.key, now=int(time.time()), ttl_s=ttl, variables=variables)
    gateway.metrics.token_requests.labels("minted").inc()
    expires = datetime.fromtimestamp(minted.expires_at, UTC).isoformat().replace("+00:00", "Z")
    return _json(
        200,
        {"token": minted.token, "agent": minted.agent, "expiresAt": expires, "expiresIn": ttl},
    )
