"""`switchboard up` with phone agents: the public URL it is given, and what its banner says."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_api.resources import VoiceAgent
from switchboard_cli.main import main
from switchboard_cli.phone import missing_secrets, phone_lines
from tests.unit.gateway.transports.test_twilio_outbound import REF, voice_agent

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parents[3] / "examples"
PUBLIC = "https://abc.trycloudflare.com"
PHONE = "http://127.0.0.1:8090"
ENV = {"SWITCHBOARD_SECRET_TWILIO_AUTHTOKEN": "set"}


def jambonz_agent() -> VoiceAgent:
    agent = voice_agent(enabled=False)
    channels = agent.spec.channels.model_copy(
        update={
            "jambonz": agent.spec.channels.jambonz.model_copy(
                update={
                    "enabled": True,
                    "basic_auth_secret_ref": REF.model_copy(update={"key": "basic"}),
                }
            )
        }
    )
    spec = agent.spec.model_copy(update={"channels": channels})
    return agent.model_copy(update={"spec": spec})


def test_the_banner_gives_each_twilio_agent_its_webhook_under_the_public_url() -> None:
    lines = phone_lines([voice_agent()], PUBLIC, PHONE, ENV)
    assert lines[0].startswith(f"  Phone      {PHONE}")
    assert f"  Twilio     acme/caller: voice webhook {PUBLIC}/v1/twilio/acme/caller/voice" in lines
    assert "  Dial out   switchboard dial --agent acme/caller --to +1…" in lines
    assert not any("Missing" in line for line in lines)


def test_the_banner_gives_a_jambonz_agent_its_websocket_url() -> None:
    lines = phone_lines(
        [jambonz_agent()], PUBLIC + "/", PHONE, {"SWITCHBOARD_SECRET_TWILIO_BASIC": "x"}
    )
    assert (
        "  jambonz    acme/caller: wss://abc.trycloudflare.com/v1/jambonz/acme/caller (basic auth)"
        in lines
    )
    assert not any("Twilio" in line for line in lines)


def test_without_a_public_url_the_banner_says_how_to_get_one() -> None:
    lines = phone_lines([voice_agent()], None, PHONE, ENV)
    hint = next(line for line in lines if line.startswith("  Public"))
    assert "ngrok http 8090" in hint
    assert "--public-url" in hint
    assert not any("voice webhook" in line for line in lines)


def test_an_agents_own_public_url_is_its_webhooks_base() -> None:
    lines = phone_lines([voice_agent(publicUrl="https://agent.example.org")], None, PHONE, ENV)
    assert (
        "  Twilio     acme/caller: voice webhook https://agent.example.org/v1/twilio/acme/caller/voice"
        in lines
    )


def test_credentials_missing_from_the_environment_are_named() -> None:
    assert missing_secrets([voice_agent()], {}) == ["SWITCHBOARD_SECRET_TWILIO_AUTHTOKEN"]
    lines = phone_lines([voice_agent()], PUBLIC, PHONE, {})
    assert any(
        line.startswith("  Missing    SWITCHBOARD_SECRET_TWILIO_AUTHTOKEN") for line in lines
    )


def test_agents_without_phone_channels_add_nothing_to_the_banner() -> None:
    assert phone_lines([voice_agent(enabled=False)], PUBLIC, "", ENV) == []


@pytest.mark.parametrize("url", ["http://abc.example.com", "https://abc.example.com/?x=1", "abc"])
def test_up_refuses_a_public_url_that_is_not_https_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    args = ["up", "-f", str(EXAMPLES / "receptionist.yaml"), "--state-dir", str(tmp_path / "s")]
    assert main([*args, "--public-url", url]) == 2
    assert "--public-url must be an https:// URL" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
