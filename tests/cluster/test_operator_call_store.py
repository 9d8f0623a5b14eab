"""Call records on a real API server: the install's call store copied, or records off and said so.

The operator runs as the chart's ServiceAccount, whose Role may read only the call store's Secret
in the release namespace; it copies the key into the tenant namespace, and the gateway reads the
copy through a required `secretKeyRef`.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from switchboard_api.gateway import CALL_STORE_SECRET, CALL_STORE_URL_ENV
from tests.cluster.conftest import (
    CALL_STORE_URL,
    OPERATOR_ENV,
    RELEASE_NAMESPACE,
    server_side_apply,
)
from tests.cluster.operator_runner import condition, get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "initech"
SOURCE = OPERATOR_ENV["SWITCHBOARD_OPERATOR_CALL_STORE_SECRET"]


def _tenant() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": NS},
        "spec": {"namespace": {"name": NS}, "allowedModels": {"llm": ["smollm2-135m-instruct"]}},
    }


def _agent(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"prompt": {"system": "You are helpful."}},
    }


def _copied_url(dyn: dynamic.DynamicClient) -> str | None:
    secret = get(dyn, "v1", "Secret", CALL_STORE_SECRET, NS)
    data = (secret or {}).get("data") or {}
    return base64.b64decode(data["url"]).decode() if "url" in data else None


def _records(dyn: dynamic.DynamicClient, agent: str, reason: str) -> Any:
    def probe() -> Any:
        found = condition(get(dyn, API, "VoiceAgent", agent, NS), "RecordsReady")
        return found if found and found["reason"] == reason else None

    return wait_for(f"RecordsReady reason {reason}", probe)


def _gateway(dyn: dynamic.DynamicClient, agent: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config_map = wait_for(
        "the gateway config", lambda: get(dyn, "v1", "ConfigMap", f"{agent}-config", NS)
    )
    deployment = wait_for(
        "the gateway", lambda: get(dyn, "apps/v1", "Deployment", f"{agent}-gateway", NS)
    )
    containers = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in containers[0].get("env") or []}
    return yaml.safe_load(config_map["data"]["gateway.yaml"]), env


def test_gateways_read_the_copied_call_store_and_a_broken_source_turns_records_off(
    dyn: dynamic.DynamicClient, api_client: client.ApiClient, operator_env: None
) -> None:
    server_side_apply(dyn, _tenant())
    core = client.CoreV1Api(api_client)
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _agent("clerk"))
        ready = _records(dyn, "clerk", "CallStorePostgres")
        assert ready["status"] == "True"
        assert wait_for("the copied Secret", lambda: _copied_url(dyn)) == CALL_STORE_URL
        config, env = _gateway(dyn, "clerk")
        assert config["store"]["urlEnv"] == CALL_STORE_URL_ENV
        assert config["store"]["migrate"] is False
        assert config["store"]["url"] is None
        assert env[CALL_STORE_URL_ENV]["valueFrom"]["secretKeyRef"] == {
            "name": CALL_STORE_SECRET,
            "key": "url",
        }

        # Kept in sync: a new URL in the install's Secret reaches the copy.
        moved = CALL_STORE_URL.replace("/calls", "/calls2")
        core.patch_namespaced_secret(SOURCE, RELEASE_NAMESPACE, {"stringData": {"url": moved}})
        try:
            wait_for("the copy to follow", lambda: _copied_url(dyn) == moved)
            # The key gone from the source: records off (not pretending), and why.
            core.replace_namespaced_secret(
                SOURCE,
                RELEASE_NAMESPACE,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=SOURCE), string_data={"other": "x"}
                ),
            )
            missing = _records(dyn, "clerk", "CallStoreSecretMissing")
            assert missing["status"] == "False"
            assert "has no key url" in missing["message"]
            assert "storage.callStore.connectionSecretRef" in missing["message"]
            wait_for("records off", lambda: _gateway(dyn, "clerk")[0]["store"] is None)
            assert CALL_STORE_URL_ENV not in _gateway(dyn, "clerk")[1]
        finally:
            core.replace_namespaced_secret(
                SOURCE,
                RELEASE_NAMESPACE,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=SOURCE), string_data={"url": CALL_STORE_URL}
                ),
            )
        _records(dyn, "clerk", "CallStorePostgres")


def test_without_a_call_store_calls_are_taken_with_records_off_and_the_condition_says_so(
    dyn: dynamic.DynamicClient, operator_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_side_apply(dyn, _tenant())
    from switchboard_operator import handlers  # read once at import, like the pod's environment

    unset = handlers.SETTINGS.model_copy(update={"call_store_secret": ""})
    monkeypatch.setattr(handlers, "SETTINGS", unset)
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _agent("temp"))
        records = _records(dyn, "temp", "CallStoreEphemeral")
        assert records["status"] == "False"
        assert "storage.callStore.connectionSecretRef" in records["message"]
        config, env = _gateway(dyn, "temp")
        assert config["store"] is None  # no SQLite on the pod's emptyDir
        assert CALL_STORE_URL_ENV not in env
