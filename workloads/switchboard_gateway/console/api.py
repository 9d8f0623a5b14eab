"""The web console and its JSON API, served on the gateway's HTTP port when enabled.

`/` is the console; `/console/<file>` its static files; `/api/agents` the agents this gateway
serves; `/api/calls?limit=&before=` recent call records, a page at a time (`before` is the last
call id of the previous page, `next` in each answer), and `/api/calls/<id>?turnsFrom=&turnsLimit=`
one call with a page of its turns (`nextTurnsFrom` in the answer, null on the last page),
`/api/calls/<id>/recording` its recording (a WAV, by byte ranges: `console.recording`). Answers
are bounded, and records are read and encoded off the event loop that paces calls' audio. Call
records hold transcripts, so the console is off unless the gateway's configuration turns it on
(as `switchboard up` does on a loopback address).
"""

from __future__ import annotations

import asyncio
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
from switchboard_gateway.console.recording import recording_response
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.prompt import TemplateError

CONSOLE_PACKAGE = "switchboard_gateway.console"
#: Static file names are plain (no directories): anything else is a 404, never a path lookup.
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")
_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_LISTED_CALLS = 200
DEFAULT_LISTED_CALLS = 50
MAX_TURNS_PAGE = 200
DEFAULT_TURNS_PAGE = 100
_MAX_TURN_NUMBER = 1_000_000


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


def _encode(item: object) -> str:
    if isinstance(item, datetime):
        return item.isoformat()
    raise TypeError(type(item).__name__)


def _json(status: int, value: object) -> Response:
    body = json.dumps(value, default=_encode).encode()
    return _response(status, body, "application/json")


async def _records_json(value: object) -> Response:
    """A 200 answer holding records, encoded in a worker thread (it may be sizeable)."""
    body = await asyncio.to_thread(lambda: json.dumps(_camel(value), default=_encode).encode())
    return _response(200, body, "application/json")


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
                "needsKey": entry.keys.configured or entry.keys.required,
            }
        )
    return listing


async def console_response(
    gateway: Gateway, path: str, query: str, headers: Headers | None = None
) -> Response | None:
    """The console's answer for `path`, or None when the path is not the console's.

    `headers` are the request's (a recording is served by the ranges they ask for).
    """
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
    params = _params(query)
    if path == "/api/calls":
        limit = _number(params, "limit", DEFAULT_LISTED_CALLS, 1, MAX_LISTED_CALLS)
        if limit is None:
            return _json(400, {"error": f"limit must be 1..{MAX_LISTED_CALLS}"})
        before = params.get("before")
        if before is not None and not _CALL_ID.match(before):
            return _json(400, {"error": "before must be a call id"})
        calls = await gateway.store.recent(limit, before)
        following = calls[-1].call_id if len(calls) == limit else None
        return await _records_json(
            {"calls": [dataclasses.asdict(c) for c in calls], "next": following}
        )
    call_id = path.removeprefix("/api/calls/")
    if call_id.endswith("/recording"):
        return await _recording(gateway, call_id.removesuffix("/recording"), headers)
    if not _CALL_ID.match(call_id):
        return _json(404, {"error": "no such call"})
    turns_from = _number(params, "turnsFrom", 0, 0, _MAX_TURN_NUMBER)
    turns_limit = _number(params, "turnsLimit", DEFAULT_TURNS_PAGE, 1, MAX_TURNS_PAGE)
    if turns_from is None or turns_limit is None:
        detail = f"turnsFrom must be 0..{_MAX_TURN_NUMBER}, turnsLimit 1..{MAX_TURNS_PAGE}"
        return _json(400, {"error": detail})
    page = await gateway.store.page(call_id, turns_from, turns_limit)
    if page is None:
        return _json(404, {"error": "no such call"})
    return await _records_json(
        {
            **dataclasses.asdict(page.record),
            "turns_total": page.turns_total,
            "next_turns_from": page.next_turns_from,
        }
    )


async def _recording(gateway: Gateway, call_id: str, headers: Headers | None) -> Response:
    """A call's recording, when it has one this gateway can read."""
    if not _CALL_ID.match(call_id) or gateway.store is None:
        return _json(404, {"error": "no such call"})
    page = await gateway.store.page(call_id, 0, 1)
    if page is None:
        return _json(404, {"error": "no such call"})
    if not page.record.recording or gateway.recordings is None:
        return _json(404, {"error": "this call has no recording"})
    range_header = headers.get("Range") if headers is not None else None
    return await recording_response(gateway.recordings, page.record.recording, range_header)


def _params(query: str) -> dict[str, str]:
    """The query's parameters (the first of a repeated name wins)."""
    params: dict[str, str] = {}
    for part in query.split("&")[:16]:
        name, _, value = part.partition("=")
        params.setdefault(name, value)
    return params


def _number(params: dict[str, str], name: str, default: int, low: int, high: int) -> int | None:
    """A whole-number parameter within `low..high`, its default when absent, None when bad."""
    value = params.get(name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    number = int(value)
    return number if low <= number <= high else None


def _camel(value: object) -> object:
    """snake_case keys to the camelCase the rest of the public API uses."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def console_routes(
    gateway: Gateway,
) -> Callable[[str, str, Headers], Awaitable[Response | None]]:
    """The console's routes for the gateway's HTTP port."""

    async def respond(path: str, query: str, headers: Headers) -> Response | None:
        return await console_response(gateway, path, query, headers)

    return respond
