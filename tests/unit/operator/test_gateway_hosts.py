"""A gateway pod answers its Service's DNS names and its own address; other Host names get 421."""

from __future__ import annotations

import socket

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_gateway.transports.http_guard import HttpGuard, Verdict
from switchboard_operator.render.agent import gateway_config

pytestmark = pytest.mark.unit


def _config_guard() -> HttpGuard:
    tenant = Tenant.model_validate(
        {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
    )
    agent = VoiceAgent.model_validate(
        {"metadata": {"name": "front", "namespace": "acme"}, "spec": {"prompt": {"system": "Hi"}}}
    )
    config = gateway_config(agent, tenant)
    assert config.local_token is None
    return HttpGuard.build(config.allowed_hosts, config.allowed_origins, None, config.host)


@pytest.mark.parametrize(
    "host",
    [
        "front-gateway:8080",
        "front-gateway.acme:8080",
        "front-gateway.acme.svc:8080",
        "front-gateway.acme.svc.cluster.local:8080",
        "localhost:8080",
    ],
)
def test_the_services_names_reach_a_gateway_pod(host: str) -> None:
    assert _config_guard().judge("GET", "/v1/calls", "", {"Host": host}) is Verdict.ALLOW


def test_the_pods_own_address_is_served_for_peers_and_probes() -> None:
    own = socket.gethostbyname(socket.gethostname())
    assert _config_guard().judge("GET", "/v1/calls", "", {"Host": f"{own}:8080"}) is Verdict.ALLOW


@pytest.mark.parametrize(
    "host", ["other-gateway.acme.svc:8080", "front-gateway.evil.svc:8080", "attacker.example"]
)
def test_other_names_are_refused_but_probes_answer_them(host: str) -> None:
    guard = _config_guard()
    assert guard.judge("GET", "/v1/calls", "", {"Host": host}) is Verdict.WRONG_HOST
    assert guard.judge("GET", "/readyz", "", {"Host": host}) is Verdict.ALLOW
