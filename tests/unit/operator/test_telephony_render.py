"""Phone channels rendered: the phone port on pods and Service, public URL, credentials, routes."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_operator.naming import CONFIG_HASH_ANNOTATION
from switchboard_operator.render.agent import agent_children, service
from switchboard_operator.render.routes import NGINX, route_children
from switchboard_operator.render.telephony import (
    PHONE_PORT,
    channels_check,
    phone_endpoints,
)
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.gateway_render import OWNER, rendered_gateway

pytestmark = pytest.mark.unit

TENANT = Tenant.model_validate(
    {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
)
HOST = "front.acme.example"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = {"name": "twilio", "key": "authToken"}
BASIC = {"name": "jambonz", "key": "basic"}
TWILIO = {"enabled": True, "authTokenSecretRef": TOKEN, "accountSid": SID}
JAMBONZ = {"enabled": True, "basicAuthSecretRef": BASIC}


def agent(
    twilio: dict[str, Any] | None = None,
    jambonz: dict[str, Any] | None = None,
    exposure: dict[str, Any] | None = None,
    **spec: Any,
) -> VoiceAgent:
    channels: dict[str, Any] = {}
    if twilio is not None:
        channels["twilio"] = twilio
    if jambonz is not None:
        channels["jambonz"] = jambonz
    extra = {"exposure": exposure} if exposure is not None else {}
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, "channels": channels, **extra, **spec},
        }
    )


def exposed(tls: bool = True) -> dict[str, Any]:
    found: dict[str, Any] = {"hostname": HOST, "parentRefs": [{"name": "public"}]}
    if tls:
        found["tls"] = {"secretName": "front-tls"}
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def test_a_phone_channel_opens_the_phone_port_on_the_pods_and_the_service_probes_unchanged() -> (
    None
):
    plain_config, plain = rendered_gateway(agent(), TENANT)
    config, deployment = rendered_gateway(agent(twilio=TWILIO), TENANT)
    assert {"name": "phone", "containerPort": PHONE_PORT} in container(deployment)["ports"]
    assert PHONE_PORT == config.telephony.port == 8090
    assert "phone" not in {p["name"] for p in container(plain)["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container(deployment)[probe] == container(plain)[probe]
    ports = {p["name"]: p for p in service(agent(jambonz=JAMBONZ), TENANT, OWNER)["spec"]["ports"]}
    assert ports["phone"] == {"name": "phone", "port": PHONE_PORT, "targetPort": "phone"}
    assert "phone" not in {p["name"] for p in service(agent(), TENANT, OWNER)["spec"]["ports"]}
    assert plain_config.telephony.public_url is None


def test_the_phone_service_port_speaks_https_when_the_gateway_serves_tls() -> None:
    tls = {"secretName": "gateway-tls"}
    served = agent(twilio=TWILIO, gateway={"tls": tls})
    ports = {p["name"]: p for p in service(served, TENANT, OWNER)["spec"]["ports"]}
    assert ports["phone"]["appProtocol"] == "https"


def test_the_public_url_is_the_exposed_host_and_absent_without_exposure() -> None:
    config, _ = rendered_gateway(agent(twilio=TWILIO, exposure=exposed()), TENANT)
    assert config.telephony.public_url == f"https://{HOST}"
    config, _ = rendered_gateway(agent(twilio=TWILIO), TENANT)
    assert config.telephony.public_url is None
    # Exposed without a phone channel: nothing phone-shaped changes (no rollout at upgrade).
    config, _ = rendered_gateway(agent(exposure=exposed()), TENANT)
    assert config.telephony.public_url is None


def test_the_provider_credentials_are_projected_as_their_secret_env_names() -> None:
    _, deployment = rendered_gateway(agent(twilio=TWILIO, jambonz=JAMBONZ), TENANT)
    env = {e["name"]: e for e in container(deployment)["env"]}
    for ref in (TOKEN, BASIC):
        name = secret_env_name(SecretKeyRef.model_validate(ref))
        assert env[name]["valueFrom"]["secretKeyRef"] == ref


def _hash(voice_agent: VoiceAgent) -> str:
    children = agent_children(
        voice_agent,
        TENANT,
        OWNER,
        OperatorSettings(),
        autoscaler="none",
        service_monitor_installed=False,
        prometheus_rule_installed=False,
    )
    deployment = next(c for c in children if c["kind"] == "Deployment")
    found: str = deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
    return found


def test_another_credential_secret_rolls_the_pods() -> None:
    before = _hash(agent(twilio=TWILIO))
    moved = TWILIO | {"authTokenSecretRef": {"name": "twilio-2", "key": "authToken"}}
    assert _hash(agent(twilio=moved)) != before
    assert _hash(agent(twilio=TWILIO)) == before
    assert _hash(agent(jambonz=JAMBONZ | {"basicAuthSecretRef": BASIC | {"key": "b2"}})) != (
        _hash(agent(jambonz=JAMBONZ))
    )


def _kinds(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in children}


def test_the_http_route_sends_the_phone_paths_to_the_phone_port_never_timing_out() -> None:
    both = agent(twilio=TWILIO, jambonz=JAMBONZ, exposure=exposed())
    found = _kinds(route_children(both, TENANT, OWNER, gateway_api=True, cert_manager=False))
    calls, phone = found["HTTPRoute/front-gateway"]["spec"]["rules"]
    assert calls["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1/"}}]
    assert phone["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/v1/twilio/"}},
        {"path": {"type": "PathPrefix", "value": "/v1/jambonz/"}},
    ]
    assert phone["backendRefs"] == [{"name": "front-gateway", "port": PHONE_PORT}]
    assert phone["timeouts"] == {"request": "0s", "backendRequest": "0s"}
    only_jambonz = agent(jambonz=JAMBONZ, exposure=exposed())
    found = _kinds(
        route_children(only_jambonz, TENANT, OWNER, gateway_api=True, cert_manager=False)
    )
    (_, phone) = found["HTTPRoute/front-gateway"]["spec"]["rules"]
    assert phone["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1/jambonz/"}}]
    found = _kinds(
        route_children(
            agent(exposure=exposed()), TENANT, OWNER, gateway_api=True, cert_manager=False
        )
    )
    assert len(found["HTTPRoute/front-gateway"]["spec"]["rules"]) == 1


def test_without_the_gateway_api_a_phone_ingress_carries_the_paths_with_long_timeouts() -> None:
    both = agent(twilio=TWILIO, jambonz=JAMBONZ, exposure=exposed())
    found = _kinds(route_children(both, TENANT, OWNER, gateway_api=False, cert_manager=False))
    ingress = found["Ingress/front-gateway-phone"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == HOST
    backend = {"service": {"name": "front-gateway", "port": {"number": PHONE_PORT}}}
    assert rule["http"]["paths"] == [
        {"path": "/v1/twilio", "pathType": "Prefix", "backend": backend},
        {"path": "/v1/jambonz", "pathType": "Prefix", "backend": backend},
    ]
    seconds = str(both.spec.call_policy.max_call_duration_seconds)
    assert ingress["metadata"]["annotations"][f"{NGINX}proxy-read-timeout"] == seconds
    assert ingress["spec"]["tls"] == [{"hosts": [HOST], "secretName": "front-tls"}]
    plain = route_children(
        agent(exposure=exposed()), TENANT, OWNER, gateway_api=False, cert_manager=False
    )
    assert "Ingress/front-gateway-phone" not in _kinds(plain)


def test_the_twilio_endpoint_is_the_voice_webhook_on_the_public_url() -> None:
    found = phone_endpoints(agent(twilio=TWILIO, exposure=exposed(tls=False)))
    assert found == {"twilio": f"https://{HOST}/v1/twilio/acme/front/voice"}
    tunnel = TWILIO | {"publicUrl": "https://abc.tunnel.example/base/"}
    found = phone_endpoints(agent(twilio=tunnel, exposure=exposed()))
    assert found["twilio"] == "https://abc.tunnel.example/base/v1/twilio/acme/front/voice"
    assert phone_endpoints(agent(twilio=TWILIO)) == {}
    assert phone_endpoints(agent()) == {}


def test_the_jambonz_endpoint_is_on_the_exposed_host_else_on_the_service() -> None:
    found = phone_endpoints(agent(jambonz=JAMBONZ, exposure=exposed()))
    assert found == {"jambonz": f"wss://{HOST}/v1/jambonz/acme/front"}
    found = phone_endpoints(agent(jambonz=JAMBONZ))
    assert found == {"jambonz": f"ws://front-gateway.acme.svc:{PHONE_PORT}/v1/jambonz/acme/front"}


def test_twilio_without_a_public_url_is_not_ready_and_says_what_to_set() -> None:
    check = channels_check(agent(twilio=TWILIO))
    assert check is not None
    assert (check.type, check.ok, check.reason) == ("ChannelsReady", False, "NoPublicUrl")
    assert "spec.exposure.hostname" in check.message
    assert "channels.twilio.publicUrl" in check.message
    tunnel = TWILIO | {"publicUrl": "https://abc.tunnel.example"}
    ok = channels_check(agent(twilio=tunnel))
    assert ok is not None
    assert ok.ok
    assert "https://abc.tunnel.example/v1/twilio/acme/front/voice" in ok.message
    token_env = secret_env_name(SecretKeyRef.model_validate(TOKEN))
    assert f"twilio: Secret twilio key authToken (env {token_env})" in ok.message
    jambonz = channels_check(agent(jambonz=JAMBONZ))  # may connect from inside the cluster
    assert jambonz is not None
    assert jambonz.ok
    assert channels_check(agent()) is None
