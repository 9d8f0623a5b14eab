"""An agent's `spec.gateway.tls` Secret reaches its gateway mounted; probes, Service, scrape
and status follow, and an agent without it renders exactly as before."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import GatewayConfig
from switchboard_operator.reconcile.agent import endpoints
from switchboard_operator.render.agent import CONFIG_KEY, agent_children
from switchboard_operator.render.tls import TLS_DIR
from switchboard_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}
TENANT = Tenant.model_validate(
    {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
)


def agent(tls: dict[str, str] | None) -> VoiceAgent:
    gateway = {"tls": tls} if tls is not None else {}
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, "gateway": gateway},
        }
    )


def children(a: VoiceAgent) -> dict[str, Any]:
    rendered = agent_children(
        a,
        TENANT,
        OWNER,
        OperatorSettings(),
        autoscaler="none",
        service_monitor_installed=True,
        prometheus_rule_installed=False,
    )
    return {c["kind"]: c for c in rendered}


def test_the_tls_secret_is_mounted_read_only_and_named_in_the_gateway_config() -> None:
    found = children(agent({"secretName": "front-tls"}))
    config = GatewayConfig.model_validate(yaml.safe_load(found["ConfigMap"]["data"][CONFIG_KEY]))
    assert config.tls is not None
    assert (config.tls.cert_file, config.tls.key_file) == (
        f"{TLS_DIR}/tls.crt",
        f"{TLS_DIR}/tls.key",
    )
    pod = found["Deployment"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "gateway-tls"]
    assert volume["secret"]["secretName"] == "front-tls"
    assert [i["key"] for i in volume["secret"]["items"]] == ["tls.crt", "tls.key"]
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # no other user reads the key
    container = pod["containers"][0]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "gateway-tls"]
    assert mount == {"name": "gateway-tls", "mountPath": TLS_DIR, "readOnly": True}
    secret_envs = [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert all(e["valueFrom"]["secretKeyRef"]["name"] != "front-tls" for e in secret_envs)


def test_with_tls_the_probes_service_scrape_and_status_speak_tls() -> None:
    a = agent({"secretName": "front-tls"})
    found = children(a)
    container = found["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"
    ports = {p["name"]: p for p in found["Service"]["spec"]["ports"]}
    assert ports["grpc"]["appProtocol"] == "https"  # not h2c: cleartext would be a lie
    assert ports["http"]["appProtocol"] == "https"
    (endpoint,) = found["ServiceMonitor"]["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoints(a) == {
        "grpc": "grpcs://front-gateway.acme.svc:50051",
        "websocket": "wss://front-gateway.acme.svc:8080/v1/calls",
    }


def test_without_tls_nothing_changes() -> None:
    a = agent(None)
    found = children(a)
    config = GatewayConfig.model_validate(yaml.safe_load(found["ConfigMap"]["data"][CONFIG_KEY]))
    assert config.tls is None
    pod = found["Deployment"]["spec"]["template"]["spec"]
    assert all(v["name"] != "gateway-tls" for v in pod["volumes"])
    assert "scheme" not in pod["containers"][0]["readinessProbe"]["httpGet"]
    ports = {p["name"]: p for p in found["Service"]["spec"]["ports"]}
    assert ports["grpc"]["appProtocol"] == "kubernetes.io/h2c"
    assert "appProtocol" not in ports["http"]
    assert "scheme" not in found["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoints(a) == {
        "grpc": "front-gateway.acme.svc:50051",
        "websocket": "ws://front-gateway.acme.svc:8080/v1/calls",
    }


def test_a_secret_name_that_is_no_object_name_is_refused() -> None:
    with pytest.raises(ValueError, match="secretName"):
        agent({"secretName": "Front_TLS"})
