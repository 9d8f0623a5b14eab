"""Knowledge bases in a cluster: the store a Job and the gateways read, and what agents may search."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.gateway import GatewayConfig
from switchboard_api.indexing import DEFAULT_STORE_SECRET, EGRESS_ALLOW_ENV, STORE_URL_ENV
from switchboard_indexer.__main__ import _arguments
from switchboard_operator.observe import knowledge_check
from switchboard_operator.render.agent import CONFIG_KEY, agent_children
from switchboard_operator.render.knowledge import (
    default_store_secret,
    index_job,
    refresh_cron_job,
    store_problem,
)
from switchboard_operator.render.knowledge_search import searchable
from switchboard_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}
WITH_STORE = OperatorSettings(knowledge_store_secret="knowledge-store", knowledge_store_key="uri")  # noqa: S106
WITHOUT_STORE = OperatorSettings()


def kb(name: str = "handbook", **spec: Any) -> KnowledgeBase:
    return KnowledgeBase.model_validate(
        {
            "metadata": {"name": name, "namespace": "acme"},
            "spec": {"sources": [{"name": "faq", "inline": {"text": "Call 555."}}], **spec},
        }
    )


def tenant() -> Tenant:
    return Tenant.model_validate(
        {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
    )


def agent(*knowledge_bases: str) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "desk", "namespace": "acme"},
            "spec": {
                "prompt": {"system": "Hi"},
                "knowledgeBases": [{"name": n, "topK": 3} for n in knowledge_bases],
            },
        }
    )


def container_env(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in pod_spec["containers"][0]["env"]}


def test_a_default_store_job_reads_the_copied_secret_like_a_postgres_one() -> None:
    job = index_job(kb(), "acme", OWNER, WITH_STORE)
    env = container_env(job["spec"]["template"]["spec"])
    assert env[STORE_URL_ENV]["valueFrom"]["secretKeyRef"] == {
        "name": DEFAULT_STORE_SECRET,
        "key": "url",
    }
    postgres = kb(
        store={
            "type": "postgres",
            "postgres": {"connectionSecretRef": {"name": "pg", "key": "dsn"}},
        }
    )
    env = container_env(index_job(postgres, "acme", OWNER, WITH_STORE)["spec"]["template"]["spec"])
    assert env[STORE_URL_ENV]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}


def test_without_a_default_store_the_problem_names_the_field_and_the_chart_value() -> None:
    reason, message = store_problem(kb(), WITHOUT_STORE) or ("", "")
    assert reason == "StoreNotConfigured"
    assert "spec.store.type" in message
    assert "knowledge.defaultStore.connectionSecretRef" in message
    assert store_problem(kb(), WITH_STORE) is None


def test_sqlite_is_refused_in_a_cluster_naming_the_field() -> None:
    reason, message = store_problem(kb(store={"type": "sqlite"}), WITH_STORE) or ("", "")
    assert reason == "StoreNotSupported"
    assert "spec.store.type sqlite" in message


def test_the_copied_secret_keeps_the_value_under_the_key_every_pod_reads() -> None:
    url = base64.b64encode(b"postgresql://kb@db/kb").decode()
    secret = default_store_secret("acme", url, "acme")
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == DEFAULT_STORE_SECRET
    assert secret["metadata"]["namespace"] == "acme"
    assert secret["data"] == {"url": url}
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "switchboard-operator"


def _children(a: VoiceAgent, kbs: list[KnowledgeBase]) -> list[dict[str, Any]]:
    return agent_children(
        a,
        tenant(),
        OWNER,
        WITH_STORE,
        autoscaler="none",
        service_monitor_installed=False,
        prometheus_rule_installed=False,
        knowledge_bases=kbs,
    )


def test_the_gateway_config_says_how_to_search_each_knowledge_base_and_the_pod_gets_its_store() -> (
    None
):
    postgres = kb(
        "prices",
        store={
            "type": "postgres",
            "postgres": {"connectionSecretRef": {"name": "pg", "key": "dsn"}},
        },
        retrieval={"mode": "keyword"},
    )
    children = _children(agent("handbook", "prices"), [kb(), postgres])
    config_map = next(c for c in children if c["kind"] == "ConfigMap")
    config = GatewayConfig.model_validate(yaml.safe_load(config_map["data"][CONFIG_KEY]))
    assert set(config.knowledge_bases) == {"acme/handbook", "acme/prices"}
    assert config.knowledge_bases["acme/prices"].retrieval.mode == "keyword"
    assert config.knowledge_bases["acme/handbook"].embedding_model == "all-MiniLM-L6-v2"
    deployment = next(c for c in children if c["kind"] == "Deployment")
    env = container_env(deployment["spec"]["template"]["spec"])
    for key, secret in (
        ("acme/handbook", (DEFAULT_STORE_SECRET, "url")),
        ("acme/prices", ("pg", "dsn")),
    ):
        ref = env[config.knowledge_bases[key].store_url_env]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == secret
    assert "postgresql://" not in config_map["data"][CONFIG_KEY]


def test_without_a_default_store_the_gateway_neither_searches_nor_waits_for_its_secret() -> None:
    children = agent_children(
        agent("handbook"),
        tenant(),
        OWNER,
        WITHOUT_STORE,
        autoscaler="none",
        service_monitor_installed=False,
        prometheus_rule_installed=False,
        knowledge_bases=[kb()],
    )
    config_map = next(c for c in children if c["kind"] == "ConfigMap")
    config = GatewayConfig.model_validate(yaml.safe_load(config_map["data"][CONFIG_KEY]))
    assert config.knowledge_bases == {}
    deployment = next(c for c in children if c["kind"] == "Deployment")
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert DEFAULT_STORE_SECRET not in refs


def test_a_changed_store_rolls_the_gateway() -> None:
    def config_hash(kbs: list[KnowledgeBase]) -> str:
        deployment = next(c for c in _children(agent("handbook"), kbs) if c["kind"] == "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"])

    other = kb(
        store={
            "type": "postgres",
            "postgres": {"connectionSecretRef": {"name": "pg", "key": "dsn"}},
        }
    )
    assert config_hash([kb()]) != config_hash([other])


def test_knowledge_ready_is_false_while_a_gateway_cannot_search_a_knowledge_base() -> None:
    indexed = {"status": {"indexVersion": "handbook-1"}}
    local = kb(store={"type": "sqlite"})
    names = {key.partition("/")[2] for key in searchable([local], default_store=True)}
    check = knowledge_check({"handbook": indexed}, names)
    assert (check.ok, check.reason) == (False, "KnowledgeBaseNotSearchable")
    assert "handbook" in check.message
    assert "IndexReady" in check.message
    assert searchable([kb()], default_store=False) == {}
    names = {key.partition("/")[2] for key in searchable([kb()], default_store=True)}
    assert knowledge_check({"handbook": indexed}, names).ok
    assert knowledge_check({"handbook": {"status": {}}}, names).reason == "KnowledgeBaseNotIndexed"


def test_operator_settings_read_the_default_store_from_the_environment() -> None:
    settings = OperatorSettings.from_env(
        {
            "SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET": "kb-store",
            "SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_KEY": "uri",
        }
    )
    assert (settings.knowledge_store_secret, settings.knowledge_store_key) == ("kb-store", "uri")
    assert OperatorSettings.from_env({}).knowledge_store_secret == ""


def test_jobs_carry_the_tenants_egress_allow_list_to_the_url_source_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allow = ["10.20.0.0/16", "fd00:1::/64"]
    scheduled = kb(refresh={"schedule": "0 3 * * *"})
    job = index_job(scheduled, "acme", OWNER, WITH_STORE, allow)
    cron = refresh_cron_job(scheduled, "acme", OWNER, WITH_STORE, allow)
    assert cron is not None
    for pod in (job["spec"]["template"], cron["spec"]["jobTemplate"]["spec"]["template"]):
        env = container_env(pod["spec"])
        monkeypatch.setenv(EGRESS_ALLOW_ENV, env[EGRESS_ALLOW_ENV]["value"])
        assert _arguments(["--knowledge-base", "kb.yaml"]).allow_cidr == allow
    assert EGRESS_ALLOW_ENV not in container_env(
        index_job(kb(), "acme", OWNER, WITH_STORE)["spec"]["template"]["spec"]
    )
