"""The agent `switchboard up` starts by default answers from the facts in its configuration.

Asked by voice (Piper) "What time do you open on Saturday?", its spoken reply, transcribed
back by whisper, must carry the Saturday opening time of `examples/receptionist.yaml`. The
time is read from the manifest, not written here, and may come back as "9", "9:00", "9 a.m."
or "nine".
"""

from __future__ import annotations

import json
import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard_api.manifests import load_manifests
from switchboard_api.pipeline import AsrSpec
from switchboard_api.resources import VoiceAgent
from switchboard_cli.call import write_wav
from switchboard_cli.up import DEFAULT_MANIFEST
from switchboard_serve.engines import make_asr
from switchboard_serve.evaluation import number_words
from tests.e2e.conftest import REPO, SWITCHBOARD, Platform
from tests.speech import synthesise

pytestmark = pytest.mark.e2e

QUESTION = "What time do you open on Saturday?"


def _default_agent() -> VoiceAgent:
    agents = [
        m.resource
        for m in load_manifests([REPO / DEFAULT_MANIFEST])
        if isinstance(m.resource, VoiceAgent)
    ]
    assert len(agents) == 1, agents
    return agents[0]


def saturday_opening_hour(agent: VoiceAgent) -> int:
    """The first hour of the agent's `saturday_hours` variable ("9 a.m. to 1 p.m." → 9)."""
    hours = agent.spec.prompt.variables["saturday_hours"]
    assert "{{saturday_hours}}" in (agent.spec.prompt.system or ""), "the prompt states it"
    first = re.search(r"\d{1,2}", hours)
    assert first is not None, hours
    return int(first.group())


def says_hour(text: str, hour: int) -> bool:
    """Whether `text` names `hour` as a clock time: "9", "9:00", "9am", "9 a.m." or "nine"."""
    spoken = rf"(?:{hour}|{number_words(hour)})"
    clock = rf"(?<![\w:,.]){spoken}(?::00)?(?:\s?[ap]\.?m\b\.?)?(?!\w|[,:.]\d)"
    return re.search(clock, text, re.IGNORECASE) is not None


def test_the_saturday_opening_time_is_read_from_the_configuration() -> None:
    agent = _default_agent()
    hour = saturday_opening_hour(agent)
    assert says_hour(f"We open at {hour} a.m.", hour)
    assert says_hour(f"we open at {number_words(hour)} on saturday", hour)
    assert not says_hour(f"We open at {hour + 1}:30.", hour)
    assert not says_hour(f"Call {hour}{hour}{hour}, or {number_words(hour)}ty.", hour)
    assert says_hour(f"Saturday, {hour}, until one.", hour)


def test_asked_by_voice_the_default_agent_says_its_configured_saturday_hours(
    platform: Platform, tmp_path: Path
) -> None:
    agent = _default_agent()
    hour = saturday_opening_hour(agent)
    greeting = agent.spec.prompt.greeting or ""
    assert not says_hour(greeting, hour), "the hour must come from the reply, not the greeting"

    question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
    write_wav(question, synthesise([QUESTION])[0])
    done = subprocess.run(
        [str(SWITCHBOARD), "call", "--agent", "receptionist", "--json",
         "--wav", str(question), "--out", str(reply)],
        env=platform.env(), capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    turn = json.loads(done.stdout)["turns"][0]
    assert "saturday" in turn["caller"].lower(), turn
    assert says_hour(turn["agent"], hour), turn

    # What the caller heard: the greeting and the reply, transcribed back.
    with wave.open(str(reply)) as source:
        pcm = np.frombuffer(source.readframes(source.getnframes()), "<i2").astype(np.float32)
        rate = source.getframerate()
    assert rate == 16_000
    heard = make_asr(AsrSpec()).transcribe((pcm / 32768).astype(np.float32)).text
    assert says_hour(heard, hour), (heard, turn["agent"])
