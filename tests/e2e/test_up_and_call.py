"""`switchboard up` in a subprocess, called through `switchboard call` as a user would."""

from __future__ import annotations

import json
import socket
import subprocess
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from switchboard_api.pipeline import AsrSpec
from switchboard_cli.call import write_wav
from switchboard_cli.state import read_running
from switchboard_serve.engines import make_asr
from switchboard_serve.evaluation import word_error_rate
from tests.e2e.conftest import SWITCHBOARD, Platform, start_up, stop, wait_until_up
from tests.speech import synthesise

pytestmark = pytest.mark.e2e

QUESTIONS = ["What time do you open on Saturday?", "Is there parking near the clinic?"]


def _get(platform: Platform, path: str) -> object:
    answer = httpx.get(platform.running.console_url + path, headers=platform.auth(), timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_a_spoken_two_turn_conversation_through_switchboard_call(
    platform: Platform, tmp_path: Path
) -> None:
    wavs = [tmp_path / f"q{i}.wav" for i in range(len(QUESTIONS))]
    for wav, speech in zip(wavs, synthesise(QUESTIONS), strict=True):
        write_wav(wav, speech)
    reply = tmp_path / "reply.wav"
    command = [str(SWITCHBOARD), "call", "--agent", "receptionist", "--json", "--out", str(reply)]
    for wav in wavs:
        command += ["--wav", str(wav)]
    done = subprocess.run(
        command, env=platform.env(), capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert "Acme Dental" in outcome["greeting"]
    assert [t["turn"] for t in outcome["turns"]] == [1, 2]
    heard = [t["caller"] for t in outcome["turns"]]
    assert word_error_rate(list(zip(QUESTIONS, heard, strict=True))) <= 0.2, heard
    for turn in outcome["turns"]:
        assert turn["agent"].strip(), turn
        assert turn["latencyMs"]["voiceToVoice"] > 0, turn
    assert outcome["ended"]["reason"] == "caller_hangup"

    # The reply is speech: long enough, not silent, and whisper hears words in it.
    with wave.open(str(reply)) as source:
        assert source.getframerate() == 16_000
        pcm = np.frombuffer(source.readframes(source.getnframes()), "<i2").astype(np.float32)
    audio = (pcm / 32768).astype(np.float32)
    assert audio.size / 16_000 > 2.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.01
    transcript = make_asr(AsrSpec()).transcribe(audio[: 16_000 * 20])
    assert len(transcript.text.split()) >= 5, transcript.text

    # The call is in the calls API, with what was heard.
    calls = _get(platform, "api/calls")
    assert isinstance(calls, dict)
    assert outcome["callId"] in [c["callId"] for c in calls["calls"]]
    record = _get(platform, f"api/calls/{outcome['callId']}")
    assert isinstance(record, dict)
    assert [t["callerText"] for t in record["turns"] if t["number"] > 0] == heard
    assert record["channel"] == "grpc"

    # Transcripts at rest are this user's only.
    assert platform.state_dir.stat().st_mode & 0o777 == 0o700
    assert (platform.state_dir / "calls.db").stat().st_mode & 0o777 == 0o600


def test_typed_turns_and_an_unknown_agent(platform: Platform) -> None:
    typed = subprocess.run(
        [str(SWITCHBOARD), "call", "--agent", "acme/receptionist", "--text", "Hello there."],
        env=platform.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert typed.returncode == 0, typed.stderr
    assert "caller: Hello there." in typed.stdout
    assert "agent:  Hello, thanks for calling Acme Dental" in typed.stdout

    unknown = subprocess.run(
        [str(SWITCHBOARD), "call", "--agent", "nobody", "--text", "Hi"],
        env=platform.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode == 4
    assert "no agent 'nobody'; this platform serves: acme/receptionist" in unknown.stderr


def test_the_console_calls_and_records_need_the_runs_token(platform: Platform) -> None:
    running = platform.running
    assert len(running.token) >= 40
    assert (platform.state_dir / "running.json").stat().st_mode & 0o777 == 0o600
    assert f"Console    {running.login_url}" in platform.log.read_text()
    for path in ("", "api/calls", "api/agents", "console/console.js"):
        refused = httpx.get(running.console_url + path, timeout=10)
        assert refused.status_code == 401, path
        assert "unauthorized" in refused.json()["error"]
    assert httpx.get(running.console_url + "readyz", timeout=10).status_code == 200
    login = httpx.get(running.login_url, timeout=10)
    assert (login.status_code, login.headers["location"]) == (303, "/")
    assert login.cookies["switchboard_token"] == running.token
    cookie = {"Cookie": f"switchboard_token={running.token}"}
    assert httpx.get(running.console_url + "api/calls", headers=cookie).status_code == 200
    wrong_host = httpx.get(
        running.console_url + "api/calls", headers={**platform.auth(), "Host": "attacker.example"}
    )
    assert wrong_host.status_code == 421
    posted = httpx.post(running.console_url + "api/calls", headers=platform.auth())
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")

    # gRPC without the token (a hand-named gateway gets no token from running.json).
    anonymous = subprocess.run(
        [str(SWITCHBOARD), "call", "--agent", "acme/receptionist", "--text", "Hi",
         "--gateway", running.grpc_target],
        env=platform.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert anonymous.returncode == 5, anonymous.stderr
    assert "refused the call: unauthenticated" in anonymous.stderr
    keyed = subprocess.run(
        [str(SWITCHBOARD), "call", "--agent", "acme/receptionist", "--text", "Hi",
         "--gateway", running.grpc_target, "--api-key", running.token],
        env=platform.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert keyed.returncode == 0, keyed.stderr


def test_a_second_up_on_a_busy_port_says_so(platform: Platform, tmp_path: Path) -> None:
    port = platform.running.console_url.rsplit(":", 1)[1].strip("/")
    second = subprocess.run(
        [str(SWITCHBOARD), "up", "--port", port, "--state-dir", str(tmp_path)],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert second.returncode == 2
    assert f"port {port} on 127.0.0.1 (--port) is already in use" in second.stderr
    assert read_running(platform.state_dir) is not None, "the first platform is untouched"


def _port_free(port: int) -> bool:
    """Whether a new server could listen on `port` (connections in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    # A second platform of its own (the shared one stays up for the other tests).
    state_dir, log = tmp_path / "home", tmp_path / "up.log"
    process = start_up(state_dir, log)
    running = wait_until_up(process, state_dir, log)
    ports = [
        int(running.console_url.rsplit(":", 1)[1].strip("/")),
        int(running.grpc_target.rsplit(":", 1)[1]),
        int(running.model_plane_url.rsplit(":", 1)[1]),
    ]
    assert not any(_port_free(p) for p in ports)
    assert stop(process) == 0, log.read_text()[-3000:]
    assert read_running(state_dir, check_alive=False) is None, "running.json removed"
    assert [p for p in ports if not _port_free(p)] == [], "gateway and model plane stopped"
    assert (state_dir / "calls.db").exists()
