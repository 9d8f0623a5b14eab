"""A local stand-in for Twilio's REST API that records every request, for the REST client tests.

It answers like Twilio (`/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` and
`/Calls.json`, JSON bodies, Twilio's JSON error format) and keeps what it was sent: method, path,
basic-auth credentials and the form fields, so tests can hold the official client to the
documented requests.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

CALL_SID = "CA" + "0123456789abcdef" * 2


@dataclass(frozen=True)
class Recorded:
    """One request as Twilio would have received it."""

    method: str
    path: str
    query: str
    #: (username, password) of HTTP basic auth; None without it.
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, list[str]]


@dataclass
class FakeTwilio:
    """The server's state: what it got and what it answers next."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    #: (status, JSON body) to answer with instead of success (once per entry, in order).
    failures: list[tuple[int, object]] = field(default_factory=list)
    #: Seconds to wait before answering (to test timeouts).
    delay_s: float = 0.0
    #: A raw body to answer with (status 200) instead of JSON.
    raw_answer: str | None = None


def _auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return user, password


def _call(account: str, sid: str, form: dict[str, list[str]]) -> dict[str, object]:
    return {
        "sid": sid,
        "account_sid": account,
        "to": form.get("To", [""])[0],
        "from": form.get("From", [""])[0],
        "status": form.get("Status", ["queued"])[0],
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
    }


@asynccontextmanager
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """Serve the fake on a free loopback port for the duration of the block."""
    state = FakeTwilio()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        form: dict[str, list[str]] = {}
        for name, value in (await request.post()).items() if body else ():
            form.setdefault(name, []).append(str(value))
        state.requests.append(
            Recorded(
                request.method,
                request.path,
                request.query_string,
                _auth(request.headers.get("Authorization")),
                request.headers.get("Content-Type", ""),
                form,
            )
        )
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        if state.failures:
            status, error = state.failures.pop(0)
            text = error if isinstance(error, str) else json.dumps(error)
            return web.Response(status=status, text=text, content_type="application/json")
        if state.raw_answer is not None:
            return web.Response(text=state.raw_answer, content_type="text/html")
        account = request.match_info["account"]
        sid = request.match_info.get("sid", CALL_SID)
        status = 200 if "sid" in request.match_info else 201
        return web.json_response(_call(account, sid, form), status=status)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", handle)
    app.router.add_post("/2010-04-01/Accounts/{account}/Calls/{sid}.json", handle)
    app.router.add_route("*", "/{tail:.*}", handle_unknown(state))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


def handle_unknown(
    state: FakeTwilio,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Record requests to any other path and answer Twilio's 404."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests.append(
            Recorded(
                request.method,
                request.path,
                request.query_string,
                _auth(request.headers.get("Authorization")),
                request.headers.get("Content-Type", ""),
                {},
            )
        )
        error = {"code": 20404, "message": "The requested resource was not found", "status": 404}
        return web.json_response(error, status=404)

    return handle
