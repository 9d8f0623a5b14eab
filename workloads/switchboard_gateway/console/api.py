"""The web console and its JSON API, served on the gateway's HTTP port when enabled.

`/` is the console; `/console/<file>` its static files; `/api/agents` the agents this gateway
serves; `/api/calls` recent call records and `/api/calls/<id>` one of them. Call records hold
transcripts, so the console is off unless the gateway's configuration turns it on (as
`switchboard up` does on a loopback address).
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Response

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.prompt import TemplateError

CONSOLE_PACKAGE = "switchboard_gateway.console"
#: Static file names are plain (no directories): anything else is a 404, never a path lookup.
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")
_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LISTED_CALLS = 200


def _response(status: int, body: bytes, content_type: str) -> Response:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
    )
    return Response(status, reason.get(status, "Error"), headers, body)


def _json(status: int, value: object) -> Response:
    def encode(item: object) -> str:
        if isinstance(item, datetime):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    body = json.dumps(value, default=encode).encode()
    return _response(status, body, "application/json")


def static_file(name: str) -> Response:
    """One of the console's files, or 404."""
    if not _STATIC_NAME.match(name):
        return _json(404, {"error": "no such file"})
    resource = resources.files(CONSOLE_PACKAGE).joinpath(name)
    if not resource.is_file():
        return _json(404, {"error": "no such file"})
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return _response(200, resource.read_bytes(), content_type)


def _greeting(config: AgentConfig) -> str | None:
    try:
        return config.prompts({}).greeting
    except TemplateError:  # it needs the caller's variables
        return config.greeting_template


def agents_listing(gateway: Gateway) -> list[dict[str, object]]:
    """What the console shows to pick an agent."""
    listing: list[dict[str, object]] = []
    for key, entry in sorted(gateway.agents.items()):
        config = entry.config
        listing.append(
            {
                "key": key,
                "greeting": _greeting(config),
                "model": config.llm.model,
                "tools": [tool.name for tool in config.tools],
                "needsKey": bool(entry.api_key_hashes),
            }
        )
    return listing


async def console_response(gateway: Gateway, path: str, query: str) -> Response | None:
    """The console's answer for `path`, or None when the path is not the console's."""
    if path in ("/", "/index.html"):
        return static_file("index.html")
    if path.startswith("/console/"):
        return static_file(path.removeprefix("/console/"))
    if path == "/api/agents":
        return _json(200, {"agents": agents_listing(gateway)})
    if not path.startswith("/api/calls"):
        return None
    if gateway.store is None:
        return _json(503, {"error": "this gateway keeps no call records"})
    if path == "/api/calls":
        limit = _limit(query)
        if limit is None:
            return _json(400, {"error": f"limit must be 1..{MAX_LISTED_CALLS}"})
        calls = await gateway.store.recent(limit)
        return _json(200, {"calls": [_camel(dataclasses.asdict(c)) for c in calls]})
    call_id = path.removeprefix("/api/calls/")
    if not _CALL_ID.match(call_id):
        return _json(404, {"error": "no such call"})
    record = await gateway.store.get(call_id)
    if record is None:
        return _json(404, {"error": "no such call"})
    return _json(200, _camel(dataclasses.asdict(record)))


def _limit(query: str) -> int | None:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MAX_LISTED_CALLS:
                return None
            return int(value)
    return 50


def _camel(value: object) -> object:
    """snake_case keys to the camelCase the rest of the public API uses."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def console_routes(gateway: Gateway) -> Callable[[str, str], Awaitable[Response | None]]:
    """The console's routes for the gateway's HTTP port."""

    async def respond(path: str, query: str) -> Response | None:
        return await console_response(gateway, path, query)

    return respond
