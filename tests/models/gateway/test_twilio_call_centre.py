"""A phone call with what a call centre expects, over Twilio's protocol on the real models.

The caller rings a recording agent (it says so before its greeting), asks a question, presses a
key, then asks for the front desk: the agent says its handoff line and redirects the live call
through Twilio's REST API (the official client, pointed at a local server that records what it
is sent) instead of hanging up. The call's two-channel recording is heard back by whisper: the
caller's words on the left, the agent's (notice and handoff line included) on the right.
"""

from __future__ import annotations

import asyncio
import time
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soxr

from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import AsrSpec
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.records.recordings import DirectoryRecordings
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.packaged import whisper_model_dir
from tests.cases.invalid import example, with_changes
from tests.fake_twilio import FakeTwilio, fake_twilio
from tests.models.gateway.harness import BackgroundLoop
from tests.models.gateway.test_twilio_calls import (
    AGENT,
    AUTH_TOKEN,
    PUBLIC_URL,
    MemoryStore,
    twilio_gateway,
)
from tests.speech import synthesise
from tests.telephony.twilio_peer import PeerCall, TwilioPeer, pcm16_to_mulaw

pytestmark = pytest.mark.models

ACCOUNT = "AC" + "5e" * 16
FRONT_DESK = "+15550100100"
NOTICE = "This call may be recorded."
HANDOFF_LINE = "Let me put you through to our front desk now."
QUESTION = "What time do you open on Saturday?"
ASK_FOR_A_PERSON = "Can I speak to the front desk please?"


def call_centre_agent() -> VoiceAgent:
    """The receptionist on Twilio, recording, taking one key, handing off to the front desk."""
    changes = {
        "spec.pipeline.llm.maxTokens": 40,
        "spec.channels.twilio": {
            "enabled": True,
            "authTokenSecretRef": {"name": "twilio", "key": "token"},
            "accountSid": ACCOUNT,
        },
        "spec.handoff": {
            "keywords": ["front desk"],
            "transferTo": FRONT_DESK,
            "message": HANDOFF_LINE,
            # SmolLM2-135M calls transfer_call for almost any question: the keyword decides.
            "transferCallTool": False,
        },
        "spec.callPolicy.recording": True,
        "spec.callPolicy.recordingNotice": NOTICE,
        "spec.callPolicy.dtmf": {"maxDigits": 1},
    }
    agent = parse_manifest(with_changes(example("receptionist.yaml"), changes), "receptionist")
    assert isinstance(agent, VoiceAgent)
    return agent


def _channels(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path)) as reader:
        assert reader.getnchannels() == 2
        rate = reader.getframerate()
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    audio = frames.astype(np.float32) / 32768
    return audio[:, 0].copy(), audio[:, 1].copy(), rate


def _words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


async def _transfer_requested(twilio: FakeTwilio, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not any("Twiml" in r.form for r in twilio.requests):
        if time.monotonic() > deadline:
            raise AssertionError(f"no transfer request reached Twilio: {twilio.requests}")
        await asyncio.sleep(0.1)


def test_a_recorded_phone_call_takes_a_key_and_is_handed_to_the_front_desk(
    base_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWITCHBOARD_SECRET_TWILIO_TOKEN", AUTH_TOKEN)
    question, ask = (pcm16_to_mulaw(pcm) for pcm in synthesise([QUESTION, ASK_FOR_A_PERSON]))
    rest = BackgroundLoop()
    twilio_context = fake_twilio()
    twilio = rest.run(twilio_context.__aenter__())

    async def scenario(url: str) -> PeerCall:
        peer = TwilioPeer(url, PUBLIC_URL, AUTH_TOKEN)
        try:
            call = await peer.call(AGENT, from_="+15550100001", to="+15550100002")
            call.open_line()
            await call.quiet()  # the notice, then the greeting
            await call.say(question)
            await call.quiet()
            await call.dtmf("1")
            await call.quiet()  # the answer to the key press
            await call.say(ask)
            await _transfer_requested(twilio, 90)
            await call.wait_closed(10)  # the call is Twilio's again: the gateway lets go
            return call
        finally:
            await peer.aclose()

    recordings = DirectoryRecordings(tmp_path)
    store: MemoryStore
    try:
        with twilio_gateway(
            base_url, call_centre_agent(), twilio_api_url=twilio.url, recordings=recordings
        ) as (_, store, url):
            try:
                call = asyncio.run(scenario(url))
            except Exception as error:  # say how the call went, not only where the caller was
                turns = [[(t.caller_text, t.agent_text) for t in r.turns] for r in store.saved]
                ends = [r.end_reason for r in store.saved]
                raise AssertionError(f"{error!r}; calls ended {ends}: {turns}") from error
            deadline = time.monotonic() + 30
            while not any(r.recording for r in store.saved) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        rest.run(twilio_context.__aexit__(None, None, None))
        rest.stop()

    # Twilio got exactly one request: the redirect of this call to the front desk; no hang-up.
    (request,) = twilio.requests
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{call.call_sid}.json"
    assert (request.method, request.path, request.auth) == ("POST", path, (ACCOUNT, AUTH_TOKEN))
    dial = ET.fromstring(request.form["Twiml"][0]).find("Dial")  # noqa: S314 (our own TwiML)
    assert dial is not None
    assert (dial.text or "").strip() == FRONT_DESK
    assert "Status" not in request.form

    record = next(r for r in reversed(store.saved) if r.recording)
    assert (record.channel, record.end_reason) == ("twilio", "transferred")
    assert record.turns[0].agent_text.startswith(NOTICE)
    assert any("pressed 1" in turn.caller_text for turn in record.turns), record.turns
    assert HANDOFF_LINE in record.turns[-1].agent_text

    left, right, rate = _channels(tmp_path / record.recording.removeprefix("file:"))
    asr = FasterWhisperEngine(AsrSpec(), whisper_model_dir(), cpu_threads=2)

    def heard(samples: np.ndarray) -> str:
        return asr.transcribe(soxr.resample(samples, rate, 16_000).astype(np.float32)).text

    caller_words = heard(left)
    print(f"left: {caller_words!r}")
    assert word_error_rate([(f"{QUESTION} {ASK_FOR_A_PERSON}", caller_words)]) <= 0.2
    agent_words = _words(heard(right))
    print(f"right: {agent_words!r}")
    assert _words(NOTICE) in agent_words, "the notice opens the agent's channel"
    assert "front desk" in agent_words.split("recorded", 1)[-1], "the handoff line was played"
