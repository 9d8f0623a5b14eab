"""Phone channels and recordings on a real API server: what the operator applies is accepted.

An exposed agent with Twilio and jambonz and `callPolicy.recording`: the phone port on its pods
and Service, its HTTPRoute rule (the upstream Gateway API schema), its phone Ingress, its
NetworkPolicies (kept beside the tenant's, which prunes its own), the recordings bucket's
credentials copied through the chart's Role (which names only that Secret), the webhook URL in
`status.endpoints` (the CRD's status schema keeps it). Then the exposure goes, and
`ChannelsReady` says Twilio cannot reach the agent; without a recordings store,
`RecordingsReady` says so.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.gateway import RECORDINGS_SECRET
from switchboard_operator.render.routes import phone_ingress
from tests.cluster.conftest import RELEASE_NAMESPACE, server_side_apply
from tests.cluster.operator_runner import condition, get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "dialtone"
AGENT = "desk"
HOST = "desk.dialtone.example"
NETPOL = "networking.k8s.io/v1"
#: As charts/switchboard/ci/keda-monitoring.yaml names it (the chart's Role reads only this one).
CREDENTIALS = "recordings-credentials"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = {"name": "twilio", "key": "authToken"}
BASIC = {"name": "jambonz", "key": "basic"}
CHANNELS = {
    "twilio": {"enabled": True, "authTokenSecretRef": TOKEN, "accountSid": SID},
    "jambonz": {"enabled": True, "basicAuthSecretRef": BASIC},
}
EXPOSURE = {"hostname": HOST, "parentRefs": [{"name": "public", "namespace": "gateways"}]}


def _tenant() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": NS},
        "spec": {
            "namespace": {"name": NS},
            "allowedModels": {"llm": ["smollm2-135m-instruct"]},
            "retention": {"recordingsDays": 9},
        },
    }


def _agent(name: str, *, exposure: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "prompt": {"system": "You are helpful."},
        "channels": CHANNELS,
        "callPolicy": {"recording": True},
    }
    if exposure:
        spec["exposure"] = EXPOSURE
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def _with_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard_operator import handlers  # read once at import, like the pod's environment

    store = handlers.SETTINGS.model_copy(
        update={
            "recordings_bucket": "call-recordings",
            "recordings_endpoint_url": "http://minio.storage.svc:9000",
            "recordings_secret": CREDENTIALS,
        }
    )
    monkeypatch.setattr(handlers, "SETTINGS", store)


def _source_secret(core: client.CoreV1Api) -> None:
    found = core.list_namespaced_secret(
        RELEASE_NAMESPACE, field_selector=f"metadata.name={CREDENTIALS}"
    ).items
    if not found:
        data = {"AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": "not-a-secret"}
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name=CREDENTIALS), string_data=data)
        core.create_namespaced_secret(RELEASE_NAMESPACE, secret)


def _condition(dyn: dynamic.DynamicClient, name: str, type_: str, reason: str) -> Any:
    def probe() -> Any:
        found = condition(get(dyn, API, "VoiceAgent", name, NS), type_)
        return found if found and found["reason"] == reason else None

    return wait_for(f"{type_} reason {reason}", probe)


def _policies(dyn: dynamic.DynamicClient) -> set[str]:
    resource = dyn.resources.get(api_version=NETPOL, kind="NetworkPolicy")
    return {p["metadata"]["name"] for p in resource.get(namespace=NS).to_dict()["items"]}


def _endpoints(dyn: dynamic.DynamicClient, name: str) -> Any:
    return ((get(dyn, API, "VoiceAgent", name, NS) or {}).get("status") or {}).get("endpoints")


def _phone_endpoints(dyn: dynamic.DynamicClient, name: str) -> Any:
    """The agent's endpoints once they show jambonz's (the phone channels are rendered)."""
    found = _endpoints(dyn, name) or {}
    return found if "jambonz" in found else None


def test_an_exposed_phone_agent_is_served_routed_admitted_and_recorded(
    dyn: dynamic.DynamicClient,
    api_client: client.ApiClient,
    operator_env: None,
    route_crds: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    core = client.CoreV1Api(api_client)
    _source_secret(core)
    _with_store(monkeypatch)
    server_side_apply(dyn, _tenant())
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _agent(AGENT))
        channels = _condition(dyn, AGENT, "ChannelsReady", "PhoneChannelsServed")
        recordings = _condition(dyn, AGENT, "RecordingsReady", "RecordingsStored")
        deployment = get(dyn, "apps/v1", "Deployment", f"{AGENT}-gateway", NS)
        service = get(dyn, "v1", "Service", f"{AGENT}-gateway", NS)
        config_map = get(dyn, "v1", "ConfigMap", f"{AGENT}-config", NS)
        route = wait_for(
            "the HTTPRoute",
            lambda: get(dyn, "gateway.networking.k8s.io/v1", "HTTPRoute", f"{AGENT}-gateway", NS),
        )
        copy = wait_for(
            "the copied credentials", lambda: get(dyn, "v1", "Secret", RECORDINGS_SECRET, NS)
        )
        endpoints = wait_for("the phone endpoints", lambda: _phone_endpoints(dyn, AGENT))
        wanted = {
            f"{AGENT}-gateway-phone",
            f"{AGENT}-gateway-twilio",
            f"{AGENT}-gateway-recordings",
        }
        wait_for("the agent's policies", lambda: wanted <= _policies(dyn))
        time.sleep(5)  # a few tenant resyncs (2 s): its pruning leaves the agent's policies
        assert wanted <= _policies(dyn)
        assert "default-deny" in _policies(dyn)

        # The phone Ingress (the fallback without the Gateway API) is accepted as rendered.
        owner = get(dyn, API, "VoiceAgent", AGENT, NS)
        tenant = Tenant.model_validate(_tenant())
        ingress = phone_ingress(VoiceAgent.model_validate(owner), tenant, owner)
        server_side_apply(dyn, ingress)

        # Exposure gone: Twilio cannot reach the agent, and the condition says what to set.
        unexposed = _agent(AGENT, exposure=False)
        server_side_apply(dyn, unexposed)
        lost = _condition(dyn, AGENT, "ChannelsReady", "NoPublicUrl")
        ready = condition(get(dyn, API, "VoiceAgent", AGENT, NS), "Ready")
        wait_for("no twilio endpoint", lambda: "twilio" not in _phone_endpoints(dyn, AGENT))
        # Twilio off: its egress goes; the phone port stays open for jambonz.
        jambonz_only = _agent(AGENT, exposure=False)
        jambonz_only["spec"]["channels"] = {"jambonz": CHANNELS["jambonz"]}
        server_side_apply(dyn, jambonz_only)
        wait_for("no Twilio egress", lambda: f"{AGENT}-gateway-twilio" not in _policies(dyn))
        assert f"{AGENT}-gateway-phone" in _policies(dyn)

    assert channels["status"] == "True"
    assert recordings["status"] == "True"
    assert "9 days" in recordings["message"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "phone", "containerPort": 8090, "protocol": "TCP"} in container["ports"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["phone"]["port"] == 8090
    assert ports["phone"]["targetPort"] == "phone"
    config = yaml.safe_load(config_map["data"]["gateway.yaml"])
    assert config["telephony"]["publicUrl"] == f"https://{HOST}"
    assert config["recordings"]["s3"]["bucket"] == "call-recordings"
    assert config["recordings"]["retentionDays"] == 9
    env = {e["name"]: e for e in container["env"]}
    for ref in (TOKEN, BASIC):
        projected = env[secret_env_name(SecretKeyRef.model_validate(ref))]
        assert projected["valueFrom"]["secretKeyRef"] == ref
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": RECORDINGS_SECRET, "key": key}
    assert base64.b64decode(copy["data"]["AWS_ACCESS_KEY_ID"]).decode() == "AKIATEST"
    phone_rule = route["spec"]["rules"][1]
    assert [m["path"]["value"] for m in phone_rule["matches"]] == ["/v1/twilio/", "/v1/jambonz/"]
    assert phone_rule["backendRefs"][0]["port"] == 8090
    assert endpoints["twilio"] == f"https://{HOST}/v1/twilio/{NS}/{AGENT}/voice"
    assert endpoints["jambonz"] == f"ws://{HOST}/v1/jambonz/{NS}/{AGENT}"
    assert lost["status"] == "False"
    assert "spec.exposure.hostname" in lost["message"]
    assert "channels.twilio.publicUrl" in lost["message"]
    assert ready["status"] == "False"


def test_without_a_recordings_store_a_recording_agent_takes_calls_unrecorded_and_says_so(
    dyn: dynamic.DynamicClient, operator_env: None
) -> None:
    server_side_apply(dyn, _tenant())
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _agent("clerk", exposure=False))
        missing = _condition(dyn, "clerk", "RecordingsReady", "RecordingStoreMissing")
        config_map = get(dyn, "v1", "ConfigMap", "clerk-config", NS)
        deployment = get(dyn, "apps/v1", "Deployment", "clerk-gateway", NS)
    assert missing["status"] == "False"
    assert "storage.recordings" in missing["message"]
    assert "recordings" not in yaml.safe_load(config_map["data"]["gateway.yaml"])
    env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "AWS_ACCESS_KEY_ID" not in env
