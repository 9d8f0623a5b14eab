"""A tool that raises or hangs costs one apology, never the call: later questions are answered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from switchboard_api.voiceagent import ToolSpec
from switchboard_gateway.events import AgentTextEvent, EndReason, OutboundEvent, ToolResultEvent
from switchboard_gateway.testing.calls import CallResult, agent_config, run_scripted_call
from switchboard_gateway.testing.script import CallScript
from switchboard_gateway.tools import dispatch
from switchboard_gateway.tools.dispatch import TOOL_APOLOGY, ToolCalls
from switchboard_gateway.tools.ssrf import Destination, SsrfGuard
from switchboard_gateway.tools.webhooks import ToolOutcome, ToolRunner
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText, ToolRequest

pytestmark = pytest.mark.unit

SECRET_REF = {"name": "tools", "key": "weather"}
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "http": {"url": "http://127.0.0.1:9/weather", "timeoutMs": 100, "retries": 0},
}


def model(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[ReplyEvent]:
    """Asks for the weather tool when the caller asks about the weather; echoes otherwise."""
    last = messages[-1]
    if last["role"] == "tool":
        return [ReplyText("I could not check that."), ReplyDone("stop")]
    if "weather" in str(last.get("content", "")) and tools:
        return [ToolRequest("w1", "get_weather", '{"city": "Paris"}'), ReplyDone("tool_calls")]
    return [ReplyText(f"You said {last.get('content', '')}"), ReplyDone("stop")]


def weather_call() -> CallResult:
    config = agent_config(tools=[WEATHER_TOOL])
    script = (
        CallScript()
        .type(at=1.0, text="What is the weather?")
        .type(at=6.0, text="Are you still there?")
        .hangup(at=10)
    )
    return asyncio.run(run_scripted_call(config, script, reply=model))


def said(result: CallResult) -> list[str]:
    return [e.text for _, e in result.of(AgentTextEvent)]


async def _guard_raises(self: SsrfGuard, url: str) -> Destination:
    raise ValueError("Port could not be cast to integer value as '80:81'")


async def _webhook_raises(self: ToolRunner, tool: ToolSpec, arguments: str, call: str) -> Any:
    raise RuntimeError("connection pool is broken")


@pytest.mark.parametrize(
    ("target", "replacement", "raised"),
    [
        (SsrfGuard, _guard_raises, "ValueError"),
        (ToolRunner, _webhook_raises, "RuntimeError"),
    ],
    ids=["guard", "webhook"],
)
def test_a_tool_that_raises_is_apologised_for_and_the_next_question_is_answered(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    target: type,
    replacement: Any,
    raised: str,
) -> None:
    monkeypatch.setattr(target, "check" if target is SsrfGuard else "run", replacement)
    with caplog.at_level(logging.INFO, logger="switchboard_gateway.tools.dispatch"):
        result = weather_call()

    spoken = said(result)
    assert TOOL_APOLOGY in spoken, spoken
    assert spoken[-1] == "You said Are you still there?", "the call kept answering"
    assert result.ended.reason is EndReason.CALLER_HANGUP
    (tool_result,) = [e for _, e in result.of(ToolResultEvent)]
    assert (tool_result.ok, tool_result.error) == (False, "tool_error")
    lines = [r.getMessage() for r in caplog.records if "get_weather" in r.getMessage()]
    assert f"call scripted: tool get_weather raised {raised}" in lines
    assert all("Paris" not in line for line in lines), "no tool arguments in log text"


def test_a_tool_that_never_answers_times_out_into_an_apology(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def hangs(self: ToolRunner, tool: ToolSpec, arguments: str, call: str) -> ToolOutcome:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    monkeypatch.setattr(ToolRunner, "run", hangs)
    monkeypatch.setattr(dispatch, "TOOL_GRACE_S", 0.05)
    monkeypatch.setattr(dispatch, "FILLER_AFTER_S", 0.01)
    sent: list[OutboundEvent] = []
    spoken: list[str] = []

    async def send(event: OutboundEvent) -> None:
        sent.append(event)

    async def say(turn: int, text: str) -> None:
        spoken.append(text)

    config = agent_config(tools=[WEATHER_TOOL])
    calls = ToolCalls(config, ToolRunner(SsrfGuard()), "call-7", send, say)
    request = ToolRequest("w1", "get_weather", '{"city": "Paris"}')
    with caplog.at_level(logging.INFO, logger="switchboard_gateway.tools.dispatch"):
        round_ = asyncio.run(asyncio.wait_for(calls.run(1, [request]), 5))

    ((_, outcome),) = round_.outcomes
    assert (outcome.ok, outcome.error) == (False, "timeout")
    assert spoken == ["One moment, please.", TOOL_APOLOGY]
    assert "call call-7: tool get_weather timed out" in caplog.messages
    assert round_.messages()[0]["content"] == '{"error": "the tool did not answer in time"}'


def test_a_gateway_with_a_malformed_signing_secret_refuses_to_start_naming_the_tool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from switchboard_api.gateway import GatewayConfig
    from switchboard_gateway.server import build_gateway
    from switchboard_gateway.tools.webhooks import SigningSecretError

    signed = {**WEATHER_TOOL, "http": {**WEATHER_TOOL["http"], "signingSecretRef": SECRET_REF}}
    agent = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "tester", "namespace": "test"},
        "spec": {"prompt": {"system": "Test."}, "tools": [signed]},
    }
    config = GatewayConfig.model_validate(
        {"modelPlaneUrl": "http://127.0.0.1:1", "agents": [agent], "store": None}
    )
    monkeypatch.setenv("SWITCHBOARD_SECRET_TOOLS_WEATHER", "whsec_AAAA")
    with pytest.raises(SigningSecretError, match=r"tool get_weather: http\.signingSecretRef"):
        build_gateway(config, None)
    monkeypatch.setenv("SWITCHBOARD_SECRET_TOOLS_WEATHER", "a-raw-shared-secret")
    assert build_gateway(config, None) is not None
