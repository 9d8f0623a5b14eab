"""`store.type: default` on a real API server: the install's store, or a condition saying why not.

The operator runs as the chart's ServiceAccount (whose Role may read only the default store's
Secret in the release namespace); it copies that Secret's key into the tenant namespace, and the
indexing Job and the gateway read the copy through `secretKeyRef`.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from switchboard_api.indexing import DEFAULT_STORE_SECRET, STORE_URL_ENV
from tests.cluster.conftest import (
    KNOWLEDGE_STORE_URL,
    OPERATOR_ENV,
    RELEASE_NAMESPACE,
    server_side_apply,
)
from tests.cluster.operator_runner import condition, get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "globex"
STORE_ENV = "SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET"


def _tenant() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": NS},
        "spec": {"namespace": {"name": NS}, "allowedModels": {"llm": ["smollm2-135m-instruct"]}},
    }


def _kb(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "KnowledgeBase",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"sources": [{"name": "faq", "inline": {"text": "Call 555-0199."}}], **spec},
    }


def _agent(name: str, knowledge_base: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "prompt": {"system": "You are helpful."},
            "knowledgeBases": [{"name": knowledge_base}],
        },
    }


def _jobs(dyn: dynamic.DynamicClient, kb: str) -> list[dict[str, Any]]:
    resource = dyn.resources.get(api_version="batch/v1", kind="Job")
    items: list[dict[str, Any]] = resource.get(
        namespace=NS, label_selector=f"switchboard.dev/knowledge-base={kb}"
    ).to_dict()["items"]
    return items


def _copied_url(dyn: dynamic.DynamicClient) -> str | None:
    secret = get(dyn, "v1", "Secret", DEFAULT_STORE_SECRET, NS)
    data = (secret or {}).get("data") or {}
    return base64.b64decode(data["url"]).decode() if "url" in data else None


def test_a_default_store_kb_gets_a_job_reading_the_copied_secret_and_the_gateway_can_search(
    dyn: dynamic.DynamicClient, api_client: client.ApiClient, operator_env: None
) -> None:
    server_side_apply(dyn, _tenant())
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _kb("handbook"))
        job = wait_for("the indexing Job", lambda: _jobs(dyn, "handbook"))[0]
        env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env[STORE_URL_ENV]["valueFrom"]["secretKeyRef"] == {
            "name": DEFAULT_STORE_SECRET,
            "key": "url",
        }
        assert wait_for("the copied Secret", lambda: _copied_url(dyn)) == KNOWLEDGE_STORE_URL

        # Kept in sync: a new URL in the install's Secret reaches the copy.
        moved = KNOWLEDGE_STORE_URL.replace("/knowledge", "/knowledge2")
        core = client.CoreV1Api(api_client)
        source = OPERATOR_ENV[STORE_ENV]
        core.patch_namespaced_secret(source, RELEASE_NAMESPACE, {"stringData": {"url": moved}})
        try:
            wait_for("the copy to follow", lambda: _copied_url(dyn) == moved)
        finally:
            core.patch_namespaced_secret(
                source, RELEASE_NAMESPACE, {"stringData": {"url": KNOWLEDGE_STORE_URL}}
            )

        # The agent's gateway is configured to search it, its store from the same Secret.
        server_side_apply(dyn, _agent("desk", "handbook"))
        config_map = wait_for(
            "the gateway config", lambda: get(dyn, "v1", "ConfigMap", "desk-config", NS)
        )
        config = yaml.safe_load(config_map["data"]["gateway.yaml"])
        search = config["knowledgeBases"][f"{NS}/handbook"]
        deployment = wait_for(
            "the gateway", lambda: get(dyn, "apps/v1", "Deployment", "desk-gateway", NS)
        )
        containers = deployment["spec"]["template"]["spec"]["containers"]
        pod_env = {e["name"]: e for e in containers[0]["env"]}
        assert pod_env[search["storeUrlEnv"]]["valueFrom"]["secretKeyRef"] == {
            "name": DEFAULT_STORE_SECRET,
            "key": "url",
        }
        knowledge = wait_for(
            "KnowledgeReady",
            lambda: condition(get(dyn, API, "VoiceAgent", "desk", NS), "KnowledgeReady"),
        )
        # Searchable, but no Job has finished: not ready, and for that reason.
        assert (knowledge["status"], knowledge["reason"]) == ("False", "KnowledgeBaseNotIndexed")


def test_without_a_default_store_a_kb_gets_store_not_configured_and_no_job(
    dyn: dynamic.DynamicClient, operator_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_side_apply(dyn, _tenant())
    from switchboard_operator import handlers  # read once at import, like the pod's environment

    unset = handlers.SETTINGS.model_copy(update={"knowledge_store_secret": ""})
    monkeypatch.setattr(handlers, "SETTINGS", unset)
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, _kb("unstored"))
        index = wait_for(
            "IndexReady=False",
            lambda: condition(get(dyn, API, "KnowledgeBase", "unstored", NS), "IndexReady"),
        )
        assert (index["status"], index["reason"]) == ("False", "StoreNotConfigured")
        assert "spec.store.type" in index["message"]
        assert "knowledge.defaultStore.connectionSecretRef" in index["message"]
        stalled = condition(get(dyn, API, "KnowledgeBase", "unstored", NS), "Stalled")
        assert stalled["status"] == "True"

        server_side_apply(dyn, _kb("local", store={"type": "sqlite"}))
        refused = wait_for(
            "sqlite refused",
            lambda: condition(get(dyn, API, "KnowledgeBase", "local", NS), "IndexReady"),
        )
        assert (refused["status"], refused["reason"]) == ("False", "StoreNotSupported")
        assert _jobs(dyn, "unstored") == []
        assert _jobs(dyn, "local") == []

        # An agent naming it still takes calls, without that search, and says so.
        server_side_apply(dyn, _agent("blind-desk", "unstored"))
        knowledge = wait_for(
            "KnowledgeReady",
            lambda: condition(get(dyn, API, "VoiceAgent", "blind-desk", NS), "KnowledgeReady"),
        )
        assert (knowledge["status"], knowledge["reason"]) == (
            "False",
            "KnowledgeBaseNotSearchable",
        )
        config_map = get(dyn, "v1", "ConfigMap", "blind-desk-config", NS)
        assert not yaml.safe_load(config_map["data"]["gateway.yaml"]).get("knowledgeBases")
