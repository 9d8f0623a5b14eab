"""The console's call API shows a phone call's provider, direction and numbers, in camelCase."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from switchboard_gateway.console.api import console_response
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord, TurnRecord
from switchboard_gateway.records.sqlite import SqliteCallStore

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
PHONE = {
    "phoneProvider": "jambonz",
    "phoneCallSid": "b3f1c2d4-0000-4000-8000-000000000001",
    "phoneFrom": "+15550001111",
    "phoneTo": "sip:desk@pbx.example",
    "phoneDirection": "inbound",
}
NOT_PHONE = dict.fromkeys(PHONE, "")


def _get(gateway: Gateway, path: str, query: str = "") -> dict[str, object]:
    response = asyncio.run(console_response(gateway, path, query))
    assert response is not None
    assert response.status_code == 200
    body = json.loads(response.body)
    assert isinstance(body, dict)
    return body


def test_a_phone_calls_metadata_is_listed_and_read_and_other_calls_have_none(
    tmp_path: Path,
) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    base = CallRecord(
        "web",
        "acme/desk",
        "websocket",
        NOW,
        NOW,
        "caller_hangup",
        turns=(TurnRecord(0, "", "Hi."),),
    )
    phone = replace(
        base,
        call_id="phone",
        channel="jambonz",
        ended_at=NOW + timedelta(minutes=1),
        phone_provider="jambonz",
        phone_call_sid=str(PHONE["phoneCallSid"]),
        phone_from="+15550001111",
        phone_to="sip:desk@pbx.example",
        phone_direction="inbound",
    )
    asyncio.run(store.save(base))
    asyncio.run(store.save(phone))
    gateway = Gateway({}, store=store)
    try:
        listed = _get(gateway, "/api/calls")
        calls = listed["calls"]
        assert isinstance(calls, list)
        assert [c["callId"] for c in calls] == ["phone", "web"]
        assert {k: calls[0][k] for k in PHONE} == PHONE
        assert {k: calls[1][k] for k in PHONE} == NOT_PHONE
        one = _get(gateway, "/api/calls/phone")
        assert {k: one[k] for k in PHONE} == PHONE
        assert not any("_" in key for key in one), "keys are camelCase like the rest of the API"
        other = _get(gateway, "/api/calls/web")
        assert {k: other[k] for k in PHONE} == NOT_PHONE
    finally:
        asyncio.run(store.close())
