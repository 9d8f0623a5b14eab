"""`POST /v1/tokens`: an API key mints a call token; everything else gets a clear refusal."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import cast

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard_gateway.api_keys import KeyRing, hash_api_key
from switchboard_gateway.call_tokens import signing_key, verify
from switchboard_gateway.events import StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.transports.http import plain_http
from switchboard_gateway.transports.http_guard import HttpGuard

pytestmark = pytest.mark.unit

KEY = "sk-" + "k" * 40
HOST = {"Host": "127.0.0.1:8080"}


class _Connection:
    def respond(self, status: int, text: str) -> Response:
        body = text.encode()
        return Response(status, "OK", Headers({"Content-Length": str(len(body))}), body)


def gateway(tmp_path: Path, ring: KeyRing | None = None) -> Gateway:
    if ring is None:
        (tmp_path / "keys").write_text(KEY)
        ring = KeyRing(files=(tmp_path / "keys",), required=True)
    config = agent_config(prompt={"system": "Hi {{ name }}.", "callerVariables": ["name"]})
    return Gateway({config.key: AgentEntry(config, backend=None, keys=ring)})  # type: ignore[arg-type]


def post(
    gate: Gateway,
    target: str,
    headers: dict[str, str],
    *,
    method: str = "POST",
    guard: HttpGuard | None = None,
) -> Response:
    respond = plain_http(gate, None, guard or HttpGuard.build())
    request = Request(target, Headers({**HOST, **headers}), method)

    async def answer() -> Response | None:
        return await respond(cast(ServerConnection, _Connection()), request)

    response = asyncio.run(answer())
    assert response is not None
    return response


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_api_key_mints_a_token_that_calls_its_agent(tmp_path: Path) -> None:
    gate = gateway(tmp_path)
    answer = post(gate, "/v1/tokens?agent=tester&ttl=120&var.name=Ada", bearer())
    assert answer.status_code == 200, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    body = json.loads(answer.body)
    assert (body["agent"], body["expiresIn"]) == ("test/tester", 120)
    assert body["expiresAt"].endswith("Z")
    ring = gate.agents["test/tester"].keys
    claims = verify(body["token"], ring.signers, "test/tester", now=int(time.time()))
    assert claims is not None
    assert dict(claims.variables) == {"name": "Ada"}
    admitted = gate.admit(StartCall("tester", api_key=body["token"]), "websocket")
    assert isinstance(admitted, Admission)
    assert admitted.prompts.system == "Hi Ada."
    assert gate.metrics.value("switchboard_call_token_requests_total", outcome="minted") == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic a2V5Og=="},
        bearer("sk-wrong"),
        bearer(KEY + "x"),
        bearer(""),
    ],
)
def test_no_or_a_wrong_key_gets_401_and_no_token(tmp_path: Path, headers: dict[str, str]) -> None:
    answer = post(gateway(tmp_path), "/v1/tokens?agent=tester", headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "token" not in json.loads(answer.body)


def test_a_token_cannot_mint_tokens_and_an_unknown_agent_answers_like_a_wrong_key(
    tmp_path: Path,
) -> None:
    gate = gateway(tmp_path)
    token = json.loads(post(gate, "/v1/tokens?agent=tester", bearer()).body)["token"]
    assert post(gate, "/v1/tokens?agent=tester", bearer(token)).status_code == 401
    unknown = post(gate, "/v1/tokens?agent=nobody", bearer())
    wrong = post(gate, "/v1/tokens?agent=tester", bearer("sk-wrong"))
    assert (unknown.status_code, unknown.body) == (wrong.status_code, wrong.body)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", "agent parameter"),
        ("agent=tester&agent=tester", "more than once"),
        ("agent=tester&scope=all", "unknown parameter"),
        ("agent=tester&ttl=901", "between 1 and 900"),
        ("agent=tester&ttl=0", "between 1 and 900"),
        ("agent=tester&ttl=ten", "whole number"),
        ("agent=tester&var.role=admin", "role"),
        ("agent=tester&" + "&".join(f"var.v{i}=1" for i in range(80)), "malformed query"),
        ("agent=tester&&", "malformed query"),
    ],
)
def test_bad_parameters_get_400_naming_the_problem(tmp_path: Path, query: str, names: str) -> None:
    answer = post(gateway(tmp_path), f"/v1/tokens?{query}", bearer())
    assert answer.status_code == 400
    assert names in json.loads(answer.body)["error"]


def test_a_key_known_by_hash_only_is_told_it_cannot_sign(tmp_path: Path) -> None:
    ring = KeyRing(frozenset({hash_api_key(KEY)}), required=True)
    answer = post(gateway(tmp_path, ring), "/v1/tokens?agent=tester", bearer())
    assert answer.status_code == 403
    assert "cannot sign" in json.loads(answer.body)["error"]


def test_the_guard_still_applies_host_origin_and_method(tmp_path: Path) -> None:
    gate = gateway(tmp_path)
    assert post(gate, "/v1/tokens?agent=tester", bearer(), method="GET").status_code == 405
    assert post(gate, "/v1/tokens?agent=tester", bearer(), method="PUT").status_code == 405
    assert post(gate, "/v1/calls", bearer()).status_code == 405
    foreign = post(gate, "/v1/tokens?agent=tester", {**bearer(), "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    rebound = post(gate, "/v1/tokens?agent=tester", {**bearer(), "Host": "evil.example"})
    assert rebound.status_code == 421
    # `switchboard up`'s console token guards the console, not this endpoint (the key does).
    local = HttpGuard.build(token="local-" + "t" * 30)
    assert post(gate, "/v1/tokens?agent=tester", bearer(), guard=local).status_code == 200


def test_the_local_token_of_switchboard_up_mints_tokens(tmp_path: Path) -> None:
    ring = KeyRing(required=True)
    ring.add_key(KEY)
    answer = post(gateway(tmp_path, ring), "/v1/tokens?agent=tester", bearer())
    assert answer.status_code == 200
    token = json.loads(answer.body)["token"]
    assert verify(
        token, {k: signing_key(KEY) for k in ring.signers}, "test/tester", now=int(time.time())
    )
