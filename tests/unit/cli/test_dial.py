"""`switchboard dial` asks the phone port to place a call and prints its SID, or says why not.

The phone port's outbound route runs for real (aiohttp, in a thread) in front of a local
stand-in for Twilio's REST API, so the whole path from the command line to the request Twilio
would get is exercised.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from switchboard_api.common import secret_env_name
from switchboard_api.gateway import GatewayConfig, TelephonyConfig
from switchboard_cli.main import main
from switchboard_cli.state import RunningPlatform, write_running
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.gateway import AgentEntry, Gateway
from tests.fake_twilio import CALL_SID, FakeTwilio, fake_twilio
from tests.unit.gateway.transports.test_twilio_outbound import AUTH_TOKEN, REF, voice_agent

pytestmark = pytest.mark.unit

UP_TOKEN = "u" * 43
KEY = "sk-" + "d" * 40


@dataclass
class PhonePort:
    url: str
    twilio: FakeTwilio


@pytest.fixture
def phone_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[PhonePort]:
    """The outbound route and a Twilio stand-in, served from a thread until the test ends."""
    from switchboard_gateway.transports.twilio.rest_routes import twilio_rest_routes

    monkeypatch.setenv(secret_env_name(REF), AUTH_TOKEN)
    ready: Future[PhonePort] = Future()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with fake_twilio() as twilio:
            agent = voice_agent()
            config = GatewayConfig(
                model_plane_url="http://127.0.0.1:1",
                agents=[agent],
                telephony=TelephonyConfig(
                    public_url="https://tunnel.example.com", twilio_api_url=twilio.url
                ),
            )
            keys = KeyRing(required=True)
            keys.add_key(UP_TOKEN)
            keys.add_key(KEY)
            entry = AgentEntry(AgentConfig.from_resource(agent), backend=None, keys=keys)  # type: ignore[arg-type]
            app = web.Application()
            app.add_routes(twilio_rest_routes(Gateway({"acme/caller": entry}), config))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ready.set_result(PhonePort(f"http://127.0.0.1:{runner.addresses[0][1]}", twilio))
            await stop.wait()
            await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def running(state: Path, phone_url: str) -> None:
    write_running(
        state,
        RunningPlatform(
            pid=os.getpid(),
            console_url="http://127.0.0.1:8080/",
            grpc_target="127.0.0.1:50051",
            websocket_url="ws://127.0.0.1:8080/v1/calls",
            model_plane_url="http://127.0.0.1:8000",
            agents=["acme/caller"],
            token=UP_TOKEN,
            phone_url=phone_url,
        ),
    )


def test_dial_uses_the_local_platform_and_its_token_and_prints_the_call_sid(
    tmp_path: Path, phone_port: PhonePort, capsys: pytest.CaptureFixture[str]
) -> None:
    running(tmp_path, phone_port.url)
    code = main(["dial", "--agent", "caller", "--to", "+15551234567", "--state-dir", str(tmp_path)])
    assert (code, capsys.readouterr().out) == (0, f"{CALL_SID}\n")
    [request] = phone_port.twilio.requests
    assert request.form["To"] == ["+15551234567"]
    assert request.form["From"] == ["+15550001111"]


def test_dial_passes_the_caller_id_to_a_gateway_named_by_hand(
    tmp_path: Path, phone_port: PhonePort, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--gateway", phone_port.url, "--api-key", KEY, "--from", "+15557654321"]
    code = main(["dial", "--agent", "acme/caller", "--to", "+15551234567", *args])
    assert (code, capsys.readouterr().out) == (0, f"{CALL_SID}\n")
    assert phone_port.twilio.requests[0].form["From"] == ["+15557654321"]


def test_a_number_the_gateway_refuses_is_explained(
    tmp_path: Path, phone_port: PhonePort, capsys: pytest.CaptureFixture[str]
) -> None:
    running(tmp_path, phone_port.url)
    code = main(["dial", "--agent", "caller", "--to", "555-1234", "--state-dir", str(tmp_path)])
    assert code == 2
    assert "the call was not placed (400)" in capsys.readouterr().err
    assert phone_port.twilio.requests == []


def test_a_wrong_key_is_refused(phone_port: PhonePort, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--gateway", phone_port.url, "--api-key", "sk-wrong"]
    assert main(["dial", "--agent", "acme/caller", "--to", "+15551234567", *args]) == 5
    assert "(401)" in capsys.readouterr().err


def test_the_local_token_is_never_sent_to_a_gateway_named_by_hand(
    tmp_path: Path, phone_port: PhonePort, capsys: pytest.CaptureFixture[str]
) -> None:
    running(tmp_path, phone_port.url)
    args = ["--gateway", phone_port.url, "--state-dir", str(tmp_path), "--api-key", ""]
    assert main(["dial", "--agent", "acme/caller", "--to", "+15551234567", *args]) == 2
    assert "give --api-key" in capsys.readouterr().err


def test_dial_without_a_running_platform_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["dial", "--agent", "caller", "--to", "+15551234567", "--state-dir", str(tmp_path)])
        == 3
    )
    assert "start it with `switchboard up`" in capsys.readouterr().err


def test_dial_to_a_platform_without_a_phone_port_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running(tmp_path, "")
    assert (
        main(["dial", "--agent", "caller", "--to", "+15551234567", "--state-dir", str(tmp_path)])
        == 2
    )
    assert "no phone port" in capsys.readouterr().err


def test_an_agent_name_that_is_not_served_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    running(tmp_path, "http://127.0.0.1:1")
    assert (
        main(["dial", "--agent", "nobody", "--to", "+15551234567", "--state-dir", str(tmp_path)])
        == 2
    )
    assert "this platform serves: acme/caller" in capsys.readouterr().err


def test_a_gateway_that_does_not_answer_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--gateway", "http://127.0.0.1:9", "--api-key", KEY, "--timeout", "5"]
    assert main(["dial", "--agent", "acme/caller", "--to", "+15551234567", *args]) == 3
    assert "no gateway answers at http://127.0.0.1:9" in capsys.readouterr().err
