"""The HTTP port serves only its own Host names, GET and HEAD, its own origin, and token holders."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard_gateway.events import StartCall
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.transports.http import plain_http
from switchboard_gateway.transports.http_guard import (
    HttpGuard,
    Verdict,
    cookie_value,
    login_location,
    query_token,
    session_cookie,
    split_host,
)
from switchboard_gateway.transports.websocket.server import CallSocket

pytestmark = pytest.mark.unit

TOKEN = "t" * 43
LOCAL = HttpGuard.build(token=TOKEN, bound_host="127.0.0.1")
OPEN = HttpGuard.build(bound_host="127.0.0.1")


def _headers(host: str | None = "127.0.0.1:8080", **extra: str) -> dict[str, str]:
    headers = {} if host is None else {"Host": host}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:8080", ("localhost", 8080)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("Gateway.Example.COM", ("gateway.example.com", None)),
        ("", None),
        ("a:b", None),
        ("a:1:2", None),
        ("[::1", None),
        ("[::1]x", None),
        ("host:70000", None),
        ("evil.example@127.0.0.1", None),
        ("127.0.0.1/x", None),
    ],
)
def test_host_headers_are_parsed_strictly(value: str, expected: tuple[str, int | None]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize(
    "host", ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST", "127.0.0.1"]
)
def test_loopback_names_are_served(host: str) -> None:
    assert OPEN.host_allowed(host)


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:8080",
        "attacker.example",
        "127.0.0.1.nip.io:8080",
        "localhost.attacker.example",
        "0.0.0.0:8080",
        "",
        None,
        "127.0.0.1:8080, evil",
    ],
)
def test_a_rebinding_host_or_no_host_is_refused_before_anything_else(host: str | None) -> None:
    verdict = LOCAL.judge("GET", "/api/calls", "", _headers(host, Authorization=f"Bearer {TOKEN}"))
    assert verdict is Verdict.WRONG_HOST
    assert LOCAL.judge("GET", "/v1/calls", "", _headers(host)) is Verdict.WRONG_HOST
    assert LOCAL.judge("GET", "/", f"token={TOKEN}", _headers(host)) is Verdict.WRONG_HOST


def test_configured_names_are_served_with_any_port_or_only_the_one_named() -> None:
    guard = HttpGuard.build(["gw.acme.svc", "public.example:443"], bound_host="0.0.0.0")  # noqa: S104
    assert guard.host_allowed("gw.acme.svc:8080")
    assert guard.host_allowed("public.example:443")
    assert not guard.host_allowed("public.example:8443")
    assert not guard.host_allowed("other.acme.svc:8080")


def test_a_malformed_configured_host_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        HttpGuard.build(["bad host"])


def test_the_bound_host_is_served() -> None:
    guard = HttpGuard.build(bound_host="192.0.2.7")
    assert guard.host_allowed("192.0.2.7:8080")
    assert not guard.host_allowed("192.0.2.8:8080")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_answer_any_host_without_a_token(path: str) -> None:
    strict = HttpGuard.build(["gw.acme.svc"], token=TOKEN)
    assert strict.judge("GET", path, "", _headers("10.1.2.3:8080")) is Verdict.ALLOW
    assert strict.judge("HEAD", path, "", _headers(None)) is Verdict.ALLOW
    assert strict.judge("POST", path, "", _headers("10.1.2.3:8080")) is Verdict.WRONG_HOST


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
def test_methods_other_than_get_and_head_are_refused(method: str) -> None:
    headers = _headers(Authorization=f"Bearer {TOKEN}")
    assert LOCAL.judge(method, "/api/calls", "", headers) is Verdict.WRONG_METHOD
    assert LOCAL.judge(method, "/v1/calls", "", headers) is Verdict.WRONG_METHOD


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://127.0.0.1:8080", True),
        ("HTTP://127.0.0.1:8080/", True),
        ("https://127.0.0.1:8080", True),
        ("http://127.0.0.1:9999", False),
        ("http://localhost:8080", False),
        ("http://attacker.example", False),
        ("null", False),
        ("https://app.example.com", True),
    ],
)
def test_an_origin_must_be_the_pages_own_or_configured(origin: str | None, allowed: bool) -> None:
    guard = HttpGuard.build(allowed_origins=["https://app.example.com/"])
    assert guard.origin_allowed(origin, "127.0.0.1:8080") is allowed
    headers = _headers() if origin is None else _headers(Origin=origin)
    expected = Verdict.ALLOW if allowed else Verdict.WRONG_ORIGIN
    assert guard.judge("GET", "/v1/calls", "", headers) is expected


def test_without_a_token_configured_nothing_asks_for_one() -> None:
    assert OPEN.judge("GET", "/api/calls", "", _headers()) is Verdict.ALLOW
    assert not OPEN.token_matches("")
    assert not OPEN.token_matches(TOKEN)


def test_the_console_and_its_api_need_the_token_by_cookie_or_bearer() -> None:
    for path in ("/", "/api/calls", "/api/calls/abc", "/console.js", "/nope"):
        assert LOCAL.judge("GET", path, "", _headers()) is Verdict.NO_TOKEN
        wrong = _headers(Authorization=f"Bearer {TOKEN[:-1]}x", Cookie="switchboard_token=x")
        assert LOCAL.judge("GET", path, "", wrong) is Verdict.NO_TOKEN
        bearer = _headers(Authorization=f"Bearer {TOKEN}")
        assert LOCAL.judge("GET", path, "", bearer) is Verdict.ALLOW
        cookie = _headers(Cookie=f"theme=dark; switchboard_token={TOKEN}")
        assert LOCAL.judge("HEAD", path, "", cookie) is Verdict.ALLOW


def test_a_call_upgrade_without_the_cookie_is_left_to_the_start_messages_api_key() -> None:
    assert LOCAL.judge("GET", "/v1/calls", "", _headers()) is Verdict.ALLOW


def test_the_token_in_the_console_url_signs_in_and_is_dropped_from_the_address() -> None:
    verdict = LOCAL.judge("GET", "/", f"token={TOKEN}&agent=a", _headers())
    assert verdict is Verdict.LOGIN
    assert LOCAL.judge("GET", "/", "token=wrong", _headers()) is Verdict.NO_TOKEN
    assert LOCAL.judge("GET", "/api/calls", f"token={TOKEN}", _headers()) is Verdict.NO_TOKEN
    assert login_location(f"token={TOKEN}&agent=a") == "/?agent=a"
    assert login_location(f"token={TOKEN}") == "/"
    assert query_token(f"a=1&token={TOKEN}") == TOKEN
    cookie = session_cookie(TOKEN)
    assert cookie.startswith(f"switchboard_token={TOKEN};")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (f"switchboard_token={TOKEN}", TOKEN),
        ("a=1; switchboard_token=abc; b=2", "abc"),
        ('broken="', None),
        ("other=1", None),
    ],
)
def test_the_token_cookie_is_read_from_a_cookie_header(
    header: str | None, expected: str | None
) -> None:
    assert cookie_value(header) == expected


class _Connection:
    """What `plain_http` and `CallSocket` use of a websockets connection."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.request = Request("/v1/calls", Headers(headers or {}))

    def respond(self, status: int, text: str) -> Response:
        body = text.encode()
        headers = Headers({"Content-Length": str(len(body)), "Content-Type": "text/plain"})
        return Response(status, "OK", headers, body)


def _answer(method: str, target: str, headers: dict[str, str]) -> Response | None:
    async def route(path: str, query: str, headers: Headers) -> Response | None:
        return _Connection().respond(200, f"route {path}\n") if path == "/api/calls" else None

    respond = plain_http(Gateway({}), route, LOCAL)
    request = Request(target, Headers(headers), method)

    async def answer() -> Response | None:
        return await respond(cast(ServerConnection, _Connection()), request)

    return asyncio.run(answer())


def test_refusals_are_answered_with_their_status_and_a_clear_body() -> None:
    wrong_host = _answer("GET", "/api/calls", _headers("attacker.example:8080"))
    assert wrong_host is not None
    assert wrong_host.status_code == 421
    assert b"Host" in wrong_host.body
    wrong_method = _answer("DELETE", "/api/calls", _headers())
    assert wrong_method is not None
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET, HEAD"
    foreign = _answer("GET", "/v1/calls", _headers(Origin="http://attacker.example"))
    assert foreign is not None
    assert foreign.status_code == 403
    no_token = _answer("GET", "/api/calls", _headers())
    assert no_token is not None
    assert no_token.status_code == 401
    assert "unauthorized" in json.loads(no_token.body)["error"]


def test_signing_in_sets_the_cookie_and_redirects_to_the_bare_console() -> None:
    answer = _answer("GET", f"/?token={TOKEN}", _headers())
    assert answer is not None
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"
    assert answer.headers["Set-Cookie"] == session_cookie(TOKEN)
    assert TOKEN.encode() not in answer.body


def test_head_gets_the_get_headers_and_no_body_and_a_call_only_takes_get() -> None:
    bearer = _headers(Authorization=f"Bearer {TOKEN}")
    head = _answer("HEAD", "/api/calls", bearer)
    get = _answer("GET", "/api/calls", bearer)
    assert head is not None
    assert get is not None
    assert (head.status_code, head.body) == (200, b"")
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"
    assert _answer("GET", "/v1/calls", bearer) is None  # left to the WebSocket handshake
    head_call = _answer("HEAD", "/v1/calls", bearer)
    assert head_call is not None
    assert (head_call.status_code, head_call.headers["Allow"]) == (405, "GET")


def _start_key(guard: HttpGuard, headers: dict[str, str], api_key: str = "") -> str:
    socket = CallSocket(Gateway({}), guard)
    connection = cast(Any, _Connection(headers))
    return socket._with_cookie_token(connection, StartCall("a", api_key)).api_key


def test_a_console_call_with_the_cookie_is_authenticated_by_it() -> None:
    assert _start_key(LOCAL, {"Cookie": f"switchboard_token={TOKEN}"}) == TOKEN
    assert _start_key(LOCAL, {"Cookie": "switchboard_token=wrong"}) == ""
    assert _start_key(LOCAL, {}) == ""
    assert _start_key(LOCAL, {"Cookie": f"switchboard_token={TOKEN}"}, "own-key") == "own-key"
    assert _start_key(OPEN, {"Cookie": f"switchboard_token={TOKEN}"}) == ""


def test_repeated_host_or_origin_headers_are_refused_not_crashed_on() -> None:
    hosts = Headers([("Host", "127.0.0.1:8080"), ("Host", "attacker.example")])
    assert LOCAL.judge("GET", "/api/calls", "", hosts) is Verdict.WRONG_HOST
    origins = Headers(
        [("Host", "127.0.0.1:8080"), ("Origin", "http://127.0.0.1:8080"), ("Origin", "http://x")]
    )
    assert LOCAL.judge("GET", "/v1/calls", "", origins) is Verdict.WRONG_ORIGIN


def test_the_cookie_counts_even_beside_a_wrong_bearer_or_in_a_second_cookie_header() -> None:
    headers = Headers(
        [
            ("Host", "127.0.0.1:8080"),
            ("Authorization", "Bearer nope"),
            ("Cookie", "a=1"),
            ("Cookie", f"switchboard_token={TOKEN}"),
        ]
    )
    assert LOCAL.judge("GET", "/api/calls", "", headers) is Verdict.ALLOW
