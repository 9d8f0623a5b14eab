"""Tools inside a call: a signed webhook the agent speaks about, and a slow one it apologises for."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator

import pytest

from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    AgentTextEvent,
    CallEndedEvent,
    CallerHangup,
    CallerText,
    EndReason,
    OutboundEvent,
    StartCall,
    ToolCallEvent,
    ToolResultEvent,
)
from switchboard_gateway.testing.calls import CallerEvents
from switchboard_gateway.tools.dispatch import DEFAULT_FILLER, TOOL_APOLOGY
from tests.models.gateway.test_session import agent_config
from tests.webhooks import ENV, webhook_server

pytestmark = pytest.mark.models


def _weather_tool(url: str, timeout_ms: int = 3000) -> dict[str, object]:
    return {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "http": {
            "url": url,
            "timeoutMs": timeout_ms,
            "retries": 0,
            "signingSecretRef": {"name": "tools", "key": "weather"},
        },
    }


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with webhook_server() as url:
        yield url


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def _text_call(base_url: str, tool: dict[str, object], questions: list[str]) -> list[OutboundEvent]:
    config = dataclasses.replace(
        agent_config(**{"spec.tools": [tool]}), tool_allow_cidrs=("127.0.0.0/8",)
    )

    async def call() -> list[OutboundEvent]:
        backend = ModelPlaneHttp(base_url, max_tokens=40, temperature=0.0, timeout_s=60)
        events: list[OutboundEvent] = []
        turns_done = asyncio.Event()

        async def send(event: OutboundEvent) -> None:
            events.append(event)
            if isinstance(event, AgentTextEvent | ToolResultEvent):
                turns_done.set()

        start = StartCall(agent="acme/receptionist")
        session = CallSession(config, backend, start, config.prompts({}), send, "tool-call")
        inbound = CallerEvents()
        running = asyncio.create_task(session.run(inbound))
        try:
            for question in questions:
                before = sum(isinstance(e, ToolResultEvent) for e in events)
                inbound.put(CallerText(question))
                for _ in range(600):
                    await asyncio.sleep(0.05)
                    results = sum(isinstance(e, ToolResultEvent) for e in events)
                    if results > before and not session.busy:
                        break
            inbound.put(CallerHangup("done"))
            await asyncio.wait_for(running, 20)
        finally:
            running.cancel()
            await backend.aclose()
        return events

    return asyncio.run(call())


def test_the_agent_calls_a_signed_webhook_and_speaks_about_its_result(
    base_url: str,
    server: str,
    secret: None,
) -> None:
    events = _text_call(
        base_url, _weather_tool(f"{server}/weather"), ["What is the weather in Paris?"]
    )
    call = next(e for e in events if isinstance(e, ToolCallEvent))
    assert call.name == "get_weather"
    assert "paris" in json.loads(call.arguments_json)["city"].lower()
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert (result.ok, result.error) == (True, "")
    after = events[events.index(result) :]
    spoken = [e.text for e in after if isinstance(e, AgentTextEvent)]
    assert "sunny" in " ".join(spoken).lower(), spoken
    assert events[-1] == CallEndedEvent(EndReason.CALLER_HANGUP, "done")


def test_a_slow_tool_gets_a_filler_then_an_apology_and_the_call_goes_on(
    base_url: str,
    server: str,
    secret: None,
) -> None:
    tool = _weather_tool(f"{server}/slow", timeout_ms=1000)
    events = _text_call(base_url, tool, ["What is the weather in Paris?"])
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert (result.ok, result.error) == (False, "timeout")
    spoken = [e.text for e in events if isinstance(e, AgentTextEvent)]
    assert DEFAULT_FILLER in spoken
    assert TOOL_APOLOGY in spoken
    assert spoken.index(DEFAULT_FILLER) < spoken.index(TOOL_APOLOGY)
    assert events[-1] == CallEndedEvent(EndReason.CALLER_HANGUP, "done")
