"""`spec.gateway.tls` on a real API server: admitted (a bad Secret name refused), the operator's
gateway mounts the Secret with HTTPS probes, the Service says `https`, status says grpcs/wss."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException

from tests.cluster.conftest import server_side_apply
from tests.cluster.operator_runner import get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "pied-piper"


def _agent(tls: dict[str, Any] | None) -> dict[str, Any]:
    gateway = {"tls": tls} if tls is not None else {}
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": "front", "namespace": NS},
        "spec": {"prompt": {"system": "You are helpful."}, "gateway": gateway},
    }


def protocols(dyn: dynamic.DynamicClient) -> dict[str, str | None]:
    """The gateway Service's ports → `appProtocol`."""
    service = get(dyn, "v1", "Service", "front-gateway", NS) or {"spec": {"ports": []}}
    return {p["name"]: p.get("appProtocol") for p in service["spec"]["ports"]}


def test_a_tls_agent_gets_its_secret_mounted_https_probes_and_tls_endpoints(
    dyn: dynamic.DynamicClient, operator_env: None
) -> None:
    with running_operator():
        tenant = {"namespace": {"name": NS}}
        server_side_apply(
            dyn, {"apiVersion": API, "kind": "Tenant", "metadata": {"name": NS}, "spec": tenant}
        )
        wait_for("the namespace", lambda: get(dyn, "v1", "Namespace", NS))
        with pytest.raises(ApiException) as refused:
            server_side_apply(dyn, _agent({"secretName": "Front_TLS"}))
        assert "spec.gateway.tls.secretName" in str(refused.value.body)

        server_side_apply(dyn, _agent({"secretName": "front-tls"}))
        deployment = wait_for(
            "the gateway with the TLS volume",
            lambda: (
                (d := get(dyn, "apps/v1", "Deployment", "front-gateway", NS))
                and any(
                    v["name"] == "gateway-tls" for v in d["spec"]["template"]["spec"]["volumes"]
                )
                and d
            ),
        )
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "gateway-tls"]
        assert volume["secret"]["secretName"] == "front-tls"
        container = pod["containers"][0]
        assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
        assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
        wait_for(
            "the Service marked https", lambda: protocols(dyn) == {"grpc": "https", "http": "https"}
        )
        endpoints = wait_for(
            "the TLS endpoints in status",
            lambda: (get(dyn, API, "VoiceAgent", "front", NS).get("status") or {}).get("endpoints"),
        )
        assert endpoints == {
            "grpc": f"grpcs://front-gateway.{NS}.svc:50051",
            "websocket": f"wss://front-gateway.{NS}.svc:8080/v1/calls",
        }

        server_side_apply(dyn, _agent(None))  # tls removed: plain text again
        wait_for(
            "the plain gateway",
            lambda: all(
                v["name"] != "gateway-tls"
                for v in get(dyn, "apps/v1", "Deployment", "front-gateway", NS)["spec"]["template"][
                    "spec"
                ]["volumes"]
            ),
        )
        plain = {"grpc": "kubernetes.io/h2c", "http": None}
        wait_for("the Service back to h2c", lambda: protocols(dyn) == plain)
        dyn.resources.get(api_version=API, kind="VoiceAgent").delete(name="front", namespace=NS)
