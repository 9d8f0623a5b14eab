"""TwiML for Twilio's media stream, and the signed custom parameters it carries."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.transports.twilio.twiml import (
    check_stream_parameters,
    connect_stream,
    media_url,
    public_base_url,
    stream_parameters,
)

pytestmark = pytest.mark.unit

TOKEN = "f" * 32


def _agent(public_url: str | None = None) -> VoiceAgent:
    twilio: dict[str, object] = {
        "enabled": True,
        "authTokenSecretRef": {"name": "twilio", "key": "token"},
    }
    if public_url:
        twilio["publicUrl"] = public_url
    manifest = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "tester", "namespace": "test"},
        "spec": {"prompt": {"system": "Test."}, "channels": {"twilio": twilio}},
    }
    agent = parse_manifest(manifest, "test")
    assert isinstance(agent, VoiceAgent)
    return agent


def test_the_media_url_is_the_public_base_as_wss_with_the_media_path() -> None:
    assert media_url("https://gw.example.com") == "wss://gw.example.com/v1/twilio/media"
    assert media_url("https://gw.example.com/base/") == "wss://gw.example.com/base/v1/twilio/media"


def test_stream_parameters_pass_their_own_check() -> None:
    params = stream_parameters(TOKEN, "test/tester", "inbound", "CA123")
    assert set(params) == {"agent", "direction", "nonce", "token"}
    assert check_stream_parameters(TOKEN, params)


@pytest.mark.parametrize("key", ["agent", "direction", "nonce", "token"])
def test_changing_any_signed_parameter_fails_the_check(key: str) -> None:
    params = stream_parameters(TOKEN, "test/tester", "inbound", "CA123")
    params[key] = params[key][:-1] + ("0" if params[key][-1] != "0" else "1")
    assert not check_stream_parameters(TOKEN, params)


def test_parameters_signed_with_another_token_or_missing_fail_the_check() -> None:
    params = stream_parameters("other" * 6, "test/tester", "inbound", "CA123")
    assert not check_stream_parameters(TOKEN, params)
    assert not check_stream_parameters(TOKEN, {"agent": "test/tester"})
    assert not check_stream_parameters("", stream_parameters("", "a", "inbound", "n"))


def test_connect_stream_is_twiml_with_the_url_and_every_parameter_escaped() -> None:
    params = {"agent": "test/tester", "from": "+15550100", "odd": 'a&b<"c>'}
    twiml = connect_stream("wss://gw.example.com/v1/twilio/media", params)
    root = ET.fromstring(twiml)  # noqa: S314 (our own output)
    assert root.tag == "Response"
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://gw.example.com/v1/twilio/media"
    parsed = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert parsed == params


def test_the_agents_public_url_wins_over_the_gateways() -> None:
    config = GatewayConfig.model_validate(
        {
            "model_plane_url": "http://127.0.0.1:1",
            "agents": [_agent().model_dump(by_alias=True, exclude_none=True)],
            "telephony": {"public_url": "https://gateway.example.com/"},
        }
    )
    assert public_base_url(_agent(), config) == "https://gateway.example.com"
    assert public_base_url(_agent("https://agent.example.com"), config) == (
        "https://agent.example.com"
    )
    bare = config.model_copy(
        update={"telephony": config.telephony.model_copy(update={"public_url": None})}
    )
    assert public_base_url(_agent(), bare) is None
