"""The console's HTTP answers: static files (and nothing else), agents, call records."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websockets.http11 import Response

from switchboard_api.manifests import load_manifests
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.console.api import console_response
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord, TurnRecord
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_wire.latency import LatencyStage

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[3] / "examples" / "receptionist.yaml"


def _gateway(store: SqliteCallStore | None) -> Gateway:
    agent = load_manifests([EXAMPLE])[0].resource
    assert isinstance(agent, VoiceAgent)
    entry = AgentEntry(AgentConfig.from_resource(agent), backend=None)  # type: ignore[arg-type]
    return Gateway({"acme/receptionist": entry}, store=store)


def _get(gateway: Gateway, path: str, query: str = "") -> Response | None:
    return asyncio.run(console_response(gateway, path, query))


def _json(response: Response | None) -> object:
    assert response is not None
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.body)


def test_the_console_and_its_files_are_served_with_their_types() -> None:
    gateway = _gateway(None)
    index = _get(gateway, "/")
    assert index is not None
    assert index.status_code == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'src="/console/console.js"' in index.body
    for name in ("console.js", "capture-worklet.js", "player-worklet.js", "style.css"):
        response = _get(gateway, f"/console/{name}")
        assert response is not None
        assert response.status_code == 200, name
        assert response.body


@pytest.mark.parametrize(
    "path", ["/console/../gateway.py", "/console/__init__.py", "/console/%2e%2e/x.js", "/console/"]
)
def test_nothing_but_the_console_files_is_served(path: str) -> None:
    response = _get(_gateway(None), path)
    assert response is not None
    assert response.status_code == 404


def test_other_paths_are_not_the_consoles() -> None:
    assert _get(_gateway(None), "/v1/other") is None


def test_agents_are_listed_with_their_rendered_greeting() -> None:
    body = _json(_get(_gateway(None), "/api/agents"))
    assert body == {
        "agents": [
            {
                "key": "acme/receptionist",
                "greeting": "Hello, thanks for calling Acme Dental. How can I help?",
                "model": "smollm2-135m-instruct",
                "tools": [],
                "needsKey": False,
            }
        ]
    }


def test_calls_are_listed_latest_first_and_read_one_by_one(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    gateway = _gateway(store)
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    for number in range(3):
        asyncio.run(
            store.save(
                CallRecord(
                    f"call-{number}", "acme/receptionist", "websocket",
                    now + timedelta(minutes=number), now + timedelta(minutes=number, seconds=30),
                    "caller_hangup",
                    turns=(TurnRecord(1, "Hello?", "Hi.", 500, 150, 90, 200, 1000),),
                )
            )
        )  # fmt: skip
    listed = _json(_get(gateway, "/api/calls", "limit=2"))
    assert isinstance(listed, dict)
    assert [c["callId"] for c in listed["calls"]] == ["call-2", "call-1"]
    assert listed["calls"][0]["turns"] == 1
    one = _json(_get(gateway, "/api/calls/call-0"))
    assert isinstance(one, dict)
    assert one["turns"][0]["callerText"] == "Hello?"
    assert one["turns"][0]["voiceToVoiceMs"] == 1000
    assert {stage.json_key for stage in LatencyStage} <= set(one["turns"][0])
    missing = _get(gateway, "/api/calls/nope")
    assert missing is not None
    assert missing.status_code == 404
    for bad in ("limit=0", "limit=abc", "limit=100000"):
        response = _get(gateway, "/api/calls", bad)
        assert response is not None
        assert response.status_code == 400, bad
    asyncio.run(store.close())


def test_a_gateway_without_records_says_so() -> None:
    response = _get(_gateway(None), "/api/calls")
    assert response is not None
    assert response.status_code == 503


def test_a_calls_turns_are_answered_a_bounded_page_at_a_time(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    gateway = _gateway(store)
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    turns = tuple(TurnRecord(n, f"question {n}", f"answer {n}") for n in range(250))
    record = CallRecord("long", "acme/receptionist", "grpc", now, now, "caller_hangup", turns=turns)
    asyncio.run(store.save(record))

    first = _json(_get(gateway, "/api/calls/long"))
    assert isinstance(first, dict)
    assert [t["number"] for t in first["turns"]] == list(range(100))
    assert (first["turnsTotal"], first["nextTurnsFrom"], first["truncated"]) == (250, 100, False)
    last = _json(_get(gateway, "/api/calls/long", "turnsFrom=200&turnsLimit=200"))
    assert isinstance(last, dict)
    assert [t["number"] for t in last["turns"]] == list(range(200, 250))
    assert last["nextTurnsFrom"] is None
    for bad in ("turnsLimit=0", "turnsLimit=201", "turnsFrom=-1", "turnsFrom=x", "turnsLimit=1e3"):
        response = _get(gateway, "/api/calls/long", bad)
        assert response is not None
        assert response.status_code == 400, bad
    asyncio.run(store.close())


def test_calls_are_listed_a_page_at_a_time_with_a_cursor(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    gateway = _gateway(store)
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    for number in range(5):
        ended = now + timedelta(minutes=number)
        asyncio.run(store.save(CallRecord(f"c{number}", "a/b", "grpc", ended, ended, "x")))

    seen: list[str] = []
    query = "limit=2"
    while True:
        page = _json(_get(gateway, "/api/calls", query))
        assert isinstance(page, dict)
        seen += [c["callId"] for c in page["calls"]]
        if page["next"] is None:
            break
        query = f"limit=2&before={page['next']}"
    assert seen == ["c4", "c3", "c2", "c1", "c0"]
    refused = _get(gateway, "/api/calls", "before=../../etc")
    assert refused is not None
    assert refused.status_code == 400
    asyncio.run(store.close())
