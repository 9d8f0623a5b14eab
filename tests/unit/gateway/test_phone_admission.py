"""Admission of phone-related prompt parts: the phone call's variables, the outbound greeting,
and the lines warmed into the phrase cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.backends.warm_up import PHONE_RATE, WARM_UP_RATE, warm_up_agent
from switchboard_gateway.call_tokens import mint
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall, TelephonyCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText
from switchboard_wire.transcription import PartialText

pytestmark = pytest.mark.unit

KEY = "sk-live-" + "c" * 32
TWILIO = {"enabled": True, "authTokenSecretRef": {"name": "twilio", "key": "token"}}
PHONE = {"twilio": {**TWILIO, "accountSid": "AC" + "0" * 32}}
PROMPT = {
    "system": "Caller {{caller_number}}, agent {{agent_number}}, {{call_direction}} {{call_sid}}.",
    "greeting": "Hello.",
    "outboundGreeting": "Hi {{caller_number}}, the clinic here.",
    "callerVariables": ["name"],
}


def gateway(tmp_path: Path) -> tuple[Gateway, str]:
    keys = tmp_path / "keys"
    keys.write_text(KEY)
    config = agent_config(prompt=PROMPT, channels=PHONE)
    config.check()
    entry = AgentEntry(config, backend=None, keys=KeyRing(files=(keys,), required=True))  # type: ignore[arg-type]
    return Gateway({config.key: entry}), config.key


def test_a_phone_call_is_admitted_with_its_numbers_and_outbound_greeting(tmp_path: Path) -> None:
    gate, key = gateway(tmp_path)
    call = TelephonyCall("twilio", "CA9", "+15550001111", "+15550002222", "outbound", "MZ1")

    admitted = gate.admit(StartCall(key, telephony=call), "twilio", provider_verified=True)

    assert isinstance(admitted, Admission)
    assert admitted.prompts.system == "Caller +15550002222, agent +15550001111, outbound CA9."
    assert admitted.prompts.greeting == "Hi +15550002222, the clinic here."


def test_a_web_call_gets_empty_phone_variables_and_the_greeting(tmp_path: Path) -> None:
    gate, key = gateway(tmp_path)

    admitted = gate.admit(StartCall(key, api_key=KEY), "grpc")

    assert isinstance(admitted, Admission)
    assert admitted.prompts.system == "Caller , agent ,  ."
    assert admitted.prompts.greeting == "Hello."


@pytest.mark.parametrize("name", ["caller_number", "agent_number", "call_direction", "call_sid"])
def test_a_caller_start_setting_a_phone_variable_is_refused_naming_it(
    tmp_path: Path, name: str
) -> None:
    gate, key = gateway(tmp_path)

    result = gate.admit(StartCall(key, api_key=KEY, variables={name: "+15550009999"}), "grpc")

    assert isinstance(result, CallEndedEvent)
    assert result.reason is EndReason.PROTOCOL_ERROR
    assert f"{name!r} is set by the phone call" in result.detail


def test_a_call_token_fixing_a_phone_variable_is_refused(tmp_path: Path) -> None:
    gate, key = gateway(tmp_path)
    token = mint(KEY, key, now=int(time.time()), variables={"call_sid": "CAfake"})

    result = gate.admit(StartCall(key, api_key=token.token), "websocket")

    assert isinstance(result, CallEndedEvent)
    assert "'call_sid' is set by the phone call" in result.detail


class RecordingBackend:
    """Answers warm-up at once and remembers what it was asked to say, at which rate."""

    def __init__(self) -> None:
        self.spoken: list[tuple[str, int]] = []

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        return PartialText("", "", final, "")

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        yield ReplyText("Hi.")
        yield ReplyDone("stop")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        self.spoken.append((text, sample_rate))
        yield b"\x00\x00"


def test_warm_up_caches_every_fixed_line_at_the_web_and_the_phone_rate() -> None:
    config = agent_config(
        prompt={
            "system": "Test.",
            "greeting": "Welcome to {{company}}.",
            "outboundGreeting": "Hello from {{company}}.",
            "variables": {"company": "Acme"},
        },
        channels=PHONE,
        callPolicy={"recording": True, "recordingNotice": "This call may be recorded."},
        handoff={"transferTo": "+15550100200", "message": "Please hold."},
    )
    backend = RecordingBackend()

    asyncio.run(warm_up_agent(config, backend))

    lines = ["Welcome to Acme.", "Hello from Acme.", "This call may be recorded.", "Please hold."]
    assert backend.spoken == [(line, rate) for rate in (WARM_UP_RATE, PHONE_RATE) for line in lines]


def test_warm_up_leaves_out_greetings_that_differ_per_call() -> None:
    config = agent_config(prompt=PROMPT, channels=PHONE)
    backend = RecordingBackend()

    asyncio.run(warm_up_agent(config, backend))

    assert [text for text, _ in backend.spoken] == ["Hello.", "Hello."]
