"""The operator reconciles VoiceAgents and KnowledgeBases on a real API server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from kopf.testing import KopfRunner
from kubernetes import client, dynamic

from tests.cluster.conftest import server_side_apply
from tests.cluster.operator_runner import (
    condition,
    condition_is,
    get,
    patch_status,
    running_operator,
    wait_for,
)

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "initech"
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def operator(operator_env: None, dyn: dynamic.DynamicClient) -> Iterator[KopfRunner]:
    server_side_apply(
        dyn,
        {
            "apiVersion": API,
            "kind": "Tenant",
            "metadata": {"name": NS},
            "spec": {
                "namespace": {"name": NS},
                "quotas": {"maxVoiceAgents": 6},
                "allowedModels": {"llm": ["smollm2-135m-instruct"]},
                "access": {"apiKeySecretRefs": [{"name": "initech-api-keys", "key": "keys"}]},
            },
        },
    )
    with running_operator() as runner:
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        yield runner


def agent(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"prompt": {"system": "You are helpful.", "greeting": "Hello."}, **spec},
    }


def get_agent(dyn: dynamic.DynamicClient, name: str) -> Any:
    return get(dyn, API, "VoiceAgent", name, NS)


def serve_config(dyn: dynamic.DynamicClient) -> dict[str, Any]:
    pool = get(dyn, "ray.io/v1", "RayService", "switchboard-models", NS)
    assert pool is not None
    return yaml.safe_load(pool["spec"]["serveConfigV2"])


def models_app_args(dyn: dynamic.DynamicClient) -> dict[str, Any]:
    apps = serve_config(dyn)["applications"]
    return apps[0]["args"] if apps else {}


def healthy_pool(dyn: dynamic.DynamicClient, status: str = "RUNNING") -> None:
    args = models_app_args(dyn)
    names = [d["name"] for stage in ("asr", "llm", "tts", "embed") for d in args.get(stage, [])]
    patch_status(
        dyn,
        "ray.io/v1",
        "RayService",
        "switchboard-models",
        NS,
        {
            "activeServiceStatus": {
                "applicationStatuses": {
                    "models": {
                        "status": status,
                        "message": "replica crashed" if status != "RUNNING" else "",
                        "serveDeploymentStatuses": {n: {"status": "HEALTHY"} for n in names},
                    }
                }
            }
        },
    )


def available(dyn: dynamic.DynamicClient, name: str) -> None:
    deployment = get(dyn, "apps/v1", "Deployment", f"{name}-gateway", NS)
    assert deployment is not None
    replicas = deployment["spec"].get("replicas", 1)
    patch_status(
        dyn,
        "apps/v1",
        "Deployment",
        f"{name}-gateway",
        NS,
        {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "updatedReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
            ],
        },
    )


def test_agents_get_gateways_keda_scaling_and_share_models_in_the_pool(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    server_side_apply(dyn, agent("front-desk"))
    server_side_apply(
        dyn,
        agent(
            "after-hours", pipeline={"llm": {"model": "smollm2-135m-instruct", "temperature": 0.2}}
        ),
    )
    for name in ("front-desk", "after-hours"):
        config = wait_for(
            f"{name} config", partial(get, dyn, "v1", "ConfigMap", f"{name}-config", NS)
        )
        gateway = yaml.safe_load(config["data"]["gateway.yaml"])
        meta = gateway["agents"][0]["metadata"]
        assert (meta["name"], meta["namespace"]) == (name, NS)
        assert gateway["modelPlaneUrl"] == f"http://switchboard-models-serve-svc.{NS}.svc:8000"
        deployment = wait_for(
            f"{name} gateway", partial(get, dyn, "apps/v1", "Deployment", f"{name}-gateway", NS)
        )
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > 120  # above the default drain timeout
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["image"] == "registry.test/gateway:1"
        assert pod["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]
        # The tenant's API keys: mounted (the operator never reads them), listed in the config.
        (keys,) = [v for v in pod["volumes"] if v["name"] == "api-keys"]
        assert keys["projected"]["sources"][0]["secret"]["name"] == "initech-api-keys"
        assert gateway["requireApiKeys"] is True
        assert gateway["apiKeyFiles"] == {f"{NS}/{name}": ["/etc/switchboard-api-keys/0"]}
        for kind, api_version in (("Service", "v1"), ("PodDisruptionBudget", "policy/v1")):
            wait_for(
                f"{name} {kind}",
                partial(get, dyn, api_version, kind, f"{name}-gateway", NS),
            )
        scaled = wait_for(
            f"{name} ScaledObject",
            partial(get, dyn, "keda.sh/v1alpha1", "ScaledObject", f"{name}-gateway", NS),
        )
        trigger = scaled["spec"]["triggers"][0]
        assert trigger["type"] == "prometheus"
        assert f'agent="{NS}/{name}"' in trigger["metadata"]["query"]
        assert get(dyn, "autoscaling/v2", "HorizontalPodAutoscaler", f"{name}-gateway", NS) is None
        wait_for(
            f"{name} ServiceMonitor",
            partial(get, dyn, "monitoring.coreos.com/v1", "ServiceMonitor", f"{name}-gateway", NS),
        )

    args = wait_for(
        "both agents in the pool",
        lambda: (a := models_app_args(dyn)) and len(a.get("agents", {})) == 2 and a,
    )
    assert (
        args["agents"][f"{NS}/front-desk"] == args["agents"][f"{NS}/after-hours"]
    )  # shared deployments
    assert [len(args[stage]) for stage in ("asr", "llm", "tts")] == [1, 1, 1]
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.parse_obj(serve_config(dyn))  # Ray's own schema accepts it

    healthy_pool(dyn)
    for name in ("front-desk", "after-hours"):
        available(dyn, name)
    for name in ("front-desk", "after-hours"):
        ready = wait_for(
            f"{name} Ready",
            partial(condition_is, dyn, API, "VoiceAgent", name, NS, "Ready"),
        )
        assert ready["reason"] == "Reconciled"
    status = get_agent(dyn, "front-desk")["status"]
    assert status["gateway"]["readyReplicas"] == 1
    assert status["endpoints"]["grpc"] == f"front-desk-gateway.{NS}.svc:50051"
    assert status["revision"]["current"] == status["revision"]["desired"]

    healthy_pool(dyn, status="DEPLOY_FAILED")
    broken = wait_for(
        "Ready=False after the application failed",
        lambda: (
            (c := condition(get_agent(dyn, "front-desk"), "Ready")) and c["status"] == "False" and c
        ),
    )
    assert broken["reason"] == "ApplicationDeployFailed"
    assert "replica crashed" in broken["message"]
    healthy_pool(dyn)


def test_hand_edits_and_deletions_of_the_gateway_are_undone(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    server_side_apply(dyn, agent("drifty", replicas=2, scaling={"gateway": {"backend": "none"}}))
    apps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    wait_for(
        "the gateway with 2 replicas",
        lambda: (
            (d := get(dyn, "apps/v1", "Deployment", "drifty-gateway", NS))
            and d["spec"]["replicas"] == 2
        ),
    )
    edited = apps.patch(
        name="drifty-gateway",
        namespace=NS,
        body={"spec": {"replicas": 7}},
        content_type="application/merge-patch+json",
    )
    # The edit took (read from the patch's answer: the operator may undo it before a new GET).
    assert edited.spec.replicas == 7
    wait_for(
        "replicas put back to 2",
        lambda: get(dyn, "apps/v1", "Deployment", "drifty-gateway", NS)["spec"]["replicas"] == 2,
        timeout=15,
    )
    uid = get(dyn, "apps/v1", "Deployment", "drifty-gateway", NS)["metadata"]["uid"]
    apps.delete(name="drifty-gateway", namespace=NS)
    recreated = wait_for(
        "the gateway recreated",
        lambda: (
            (d := get(dyn, "apps/v1", "Deployment", "drifty-gateway", NS))
            and d["metadata"]["uid"] != uid
            and d
        ),
        timeout=15,
    )
    assert recreated["spec"]["replicas"] == 2


def test_spec_change_updates_children_and_observed_generation(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    server_side_apply(dyn, agent("changer"))
    wait_for(
        "first status",
        lambda: (get_agent(dyn, "changer") or {}).get("status", {}).get("observedGeneration") == 1,
    )
    before = get(dyn, "apps/v1", "Deployment", "changer-gateway", NS)["spec"]["template"][
        "metadata"
    ]["annotations"]
    changed = agent("changer")
    changed["spec"]["prompt"]["greeting"] = "Good morning."
    server_side_apply(dyn, changed)
    wait_for(
        "observedGeneration 2",
        lambda: get_agent(dyn, "changer")["status"]["observedGeneration"] == 2,
    )
    config = yaml.safe_load(
        get(dyn, "v1", "ConfigMap", "changer-config", NS)["data"]["gateway.yaml"]
    )
    assert config["agents"][0]["spec"]["prompt"]["greeting"] == "Good morning."
    after = get(dyn, "apps/v1", "Deployment", "changer-gateway", NS)["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert (
        after["switchboard.dev/config-hash"] != before["switchboard.dev/config-hash"]
    )  # pods roll


def test_an_slo_is_an_alert_rule_that_goes_with_it_and_endpoints_follow_the_channels(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    rule_of = partial(get, dyn, "monitoring.coreos.com/v1", "PrometheusRule", "watched-slo", NS)
    server_side_apply(dyn, agent("watched", slo={"timeToFirstAudioMs": 900}))
    rule = wait_for("the agent's SLO PrometheusRule", rule_of)
    (alert,) = rule["spec"]["groups"][0]["rules"]
    assert alert["alert"] == "SwitchboardAgentSloBreached"
    assert f'agent="{NS}/watched"' in alert["expr"]
    assert alert["expr"].endswith("> 0.9")
    assert rule["metadata"]["ownerReferences"][0]["kind"] == "VoiceAgent"
    wait_for(
        "both endpoints",
        lambda: (
            set((get_agent(dyn, "watched").get("status") or {}).get("endpoints", {}))
            == {"grpc", "websocket"}
        ),
    )

    server_side_apply(dyn, agent("watched", channels={"websocket": {"enabled": False}}))
    wait_for("the rule pruned with the slo", lambda: rule_of() is None)
    endpoints = wait_for(
        "only the gRPC endpoint",
        lambda: (
            (e := get_agent(dyn, "watched")["status"].get("endpoints")) and set(e) == {"grpc"} and e
        ),
    )
    assert endpoints["grpc"] == f"watched-gateway.{NS}.svc:50051"
    dyn.resources.get(api_version=API, kind="VoiceAgent").delete(name="watched", namespace=NS)


def _events(api_client: client.ApiClient, name: str) -> list[tuple[str, str]]:
    events = client.CoreV1Api(api_client).list_namespaced_event(
        NS, field_selector=f"involvedObject.name={name}"
    )
    return [(str(e.type), str(e.reason)) for e in events.items]


@pytest.mark.parametrize(
    ("name", "spec", "reason", "names_field"),
    [
        (
            "no-kb",
            {"knowledgeBases": [{"name": "missing-handbook"}]},
            "KnowledgeBaseNotFound",
            "spec.knowledgeBases",
        ),
        (
            "big-llm",
            {
                "pipeline": {
                    "llm": {
                        "provider": "openai-compatible",
                        "model": "gpt-4o",
                        "endpoint": {"url": "https://api.example/v1"},
                    }
                }
            },
            "ModelNotAllowed",
            "spec.pipeline.llm.model",
        ),
        (
            "no-prompt",
            {"prompt": {"configMapKeyRef": {"name": "absent", "key": "system.txt"}}},
            "PromptNotFound",
            "spec.prompt.configMapKeyRef",
        ),
    ],
)
def test_invalid_references_stall_with_a_reason_and_an_event(
    dyn: dynamic.DynamicClient,
    api_client: client.ApiClient,
    operator: KopfRunner,
    name: str,
    spec: dict[str, Any],
    reason: str,
    names_field: str,
) -> None:
    manifest = agent(name)
    manifest["spec"].update(spec)
    server_side_apply(dyn, manifest)
    stalled = wait_for(
        f"{name} Stalled",
        lambda: (c := condition(get_agent(dyn, name), "Stalled")) and c["status"] == "True" and c,
    )
    assert stalled["reason"] == reason
    assert names_field in stalled["message"]
    assert condition(get_agent(dyn, name), "Ready")["status"] == "False"
    wait_for(f"a Warning event {reason}", lambda: ("Warning", reason) in _events(api_client, name))
    assert get(dyn, "apps/v1", "Deployment", f"{name}-gateway", NS) is None
    dyn.resources.get(api_version=API, kind="VoiceAgent").delete(name=name, namespace=NS)


def test_agents_beyond_the_tenant_quota_stall(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    names = [f"extra-{i}" for i in range(3)]
    for name in names:
        server_side_apply(dyn, agent(name))
    live = [
        a
        for a in dyn.resources.get(api_version=API, kind="VoiceAgent")
        .get(namespace=NS)
        .to_dict()["items"]
        if not a["metadata"].get("deletionTimestamp")
    ]
    assert len(live) > 6
    newest = sorted(
        live, key=lambda a: (a["metadata"]["creationTimestamp"], a["metadata"]["name"])
    )[-1]["metadata"]["name"]
    stalled = wait_for(
        "the newest agent stalls on the quota",
        lambda: (c := condition(get_agent(dyn, newest), "Stalled")) and c["status"] == "True" and c,
    )
    assert stalled["reason"] == "QuotaExceeded"
    assert "quotas.maxVoiceAgents" in stalled["message"]
    assert f"{NS}/{newest}" not in models_app_args(dyn)["agents"]
    for name in names:
        dyn.resources.get(api_version=API, kind="VoiceAgent").delete(name=name, namespace=NS)


def kb(name: str, token: str | None = None) -> dict[str, Any]:
    refresh = {"reindexToken": token} if token else {}
    return {
        "apiVersion": API,
        "kind": "KnowledgeBase",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "sources": [{"name": "faq", "inline": {"text": "We open at nine."}}],
            "refresh": refresh,
        },
    }


def _jobs(dyn: dynamic.DynamicClient, kb_name: str) -> list[dict[str, Any]]:
    items = (
        dyn.resources.get(api_version="batch/v1", kind="Job")
        .get(namespace=NS, label_selector=f"switchboard.dev/knowledge-base={kb_name}")
        .to_dict()["items"]
    )
    return items


def _finish(dyn: dynamic.DynamicClient, job: str, *, succeeded: bool) -> None:
    kind = "Complete" if succeeded else "Failed"
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": "BackoffLimitExceeded" if not succeeded else "Completed",
            "message": "" if succeeded else "Job has reached the specified backoff limit",
        }
    ]
    if succeeded:
        conditions.insert(0, {"type": "SuccessCriteriaMet", "status": "True"})
    else:
        conditions.insert(
            0,
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            },
        )
    status: dict[str, Any] = {"startTime": "2026-11-21T10:00:00Z", "conditions": conditions}
    if succeeded:
        status |= {"completionTime": "2026-11-21T10:01:00Z", "succeeded": 1}
    else:
        status |= {"failed": 3}
    patch_status(dyn, "batch/v1", "Job", job, NS, status)


def test_knowledge_base_jobs_report_their_index_and_a_new_token_reindexes(
    dyn: dynamic.DynamicClient, api_client: client.ApiClient, operator: KopfRunner
) -> None:
    server_side_apply(dyn, kb("handbook"))
    job = wait_for("the indexing Job", lambda: _jobs(dyn, "handbook"))[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.test/indexer:1"
    assert container["args"] == ["--knowledge-base", "/etc/switchboard/knowledgebase.yaml"]
    source = get(dyn, "v1", "ConfigMap", "handbook-indexer", NS)
    assert source is not None
    assert (
        yaml.safe_load(source["data"]["knowledgebase.yaml"])["spec"]["sources"][0]["name"] == "faq"
    )
    assert "embed" in json.dumps(models_app_args(dyn)["embed"])
    name = job["metadata"]["name"]
    result = {
        "indexVersion": "v1-abc",
        "documents": 1,
        "chunks": 3,
        "completedAt": "2026-11-21T10:01:00Z",
    }
    client.CoreV1Api(api_client).create_namespaced_config_map(
        NS,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"{name}-result"),
            data={"result.json": json.dumps(result)},
        ),
    )
    _finish(dyn, name, succeeded=True)
    ready = wait_for(
        "KB Ready",
        lambda: (
            (c := condition(get(dyn, API, "KnowledgeBase", "handbook", NS), "Ready"))
            and c["status"] == "True"
            and c
        ),
    )
    assert ready["reason"] == "Reconciled"
    status = get(dyn, API, "KnowledgeBase", "handbook", NS)["status"]
    assert (status["indexVersion"], status["documents"], status["chunks"]) == ("v1-abc", 1, 3)
    assert status["lastJob"] == {
        "name": name,
        "result": "Succeeded",
        "startTime": "2026-11-21T10:00:00Z",
        "completionTime": "2026-11-21T10:01:00Z",
    }

    server_side_apply(dyn, kb("handbook", token="2026-11-21"))  # noqa: S106
    jobs = wait_for(
        "a second Job after the new reindexToken",
        lambda: (j := _jobs(dyn, "handbook")) and len(j) == 2 and j,
    )
    assert {j["metadata"]["name"] for j in jobs} > {name}
    still = get(dyn, API, "KnowledgeBase", "handbook", NS)
    assert condition(still, "Ready")["status"] == "True"  # the old version serves meanwhile

    server_side_apply(dyn, kb("broken-kb"))
    failing = wait_for("the broken KB's Job", lambda: _jobs(dyn, "broken-kb"))[0]["metadata"][
        "name"
    ]
    _finish(dyn, failing, succeeded=False)
    failed = wait_for(
        "KB Ready=False",
        lambda: (
            (c := condition(get(dyn, API, "KnowledgeBase", "broken-kb", NS), "Ready"))
            and c["status"] == "False"
            and c["reason"] == "IndexingFailed"
            and c
        ),
    )
    assert "backoff limit" in failed["message"]
    wait_for(
        "a Warning event", lambda: ("Warning", "IndexingFailed") in _events(api_client, "broken-kb")
    )


def test_a_refresh_schedule_makes_a_cronjob_and_finished_jobs_are_pruned(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    scheduled = kb("rotating")
    scheduled["spec"]["refresh"] = {"schedule": "0 3 * * *"}
    server_side_apply(dyn, scheduled)
    cron = wait_for(
        "the refresh CronJob", lambda: get(dyn, "batch/v1", "CronJob", "rotating-refresh", NS)
    )
    assert cron["spec"]["schedule"] == "0 3 * * *"
    for attempt in range(5):  # each reindex token makes a Job
        scheduled["spec"]["refresh"] = {"schedule": "0 3 * * *", "reindexToken": f"t{attempt}"}
        server_side_apply(dyn, scheduled)
        made = attempt + 2
        wait_for(f"Job of token t{attempt}", partial(_at_least, dyn, made))
    for job in _jobs(dyn, "rotating"):  # all of them fail: none is live
        if not job.get("status", {}).get("conditions"):
            _finish(dyn, job["metadata"]["name"], succeeded=False)
    # 6 Jobs were made (the first spec's and 5 tokens'): the current token's stays (pruning it
    # would only make it again) beside the newest 3 other finished ones.
    wait_for("pruned Jobs", lambda: len(_jobs(dyn, "rotating")) == 4)
    time.sleep(3)  # a resync later (2 s): the current token's Job was kept, not made again
    jobs = _jobs(dyn, "rotating")
    assert len(jobs) == 4
    assert all(j.get("status", {}).get("conditions") for j in jobs)
    del scheduled["spec"]["refresh"]["schedule"]
    server_side_apply(dyn, scheduled)
    wait_for(
        "the CronJob gone with the schedule",
        lambda: get(dyn, "batch/v1", "CronJob", "rotating-refresh", NS) is None,
    )


def _at_least(dyn: dynamic.DynamicClient, count: int) -> bool:
    return len(_jobs(dyn, "rotating")) >= count


class _Metrics(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_live_calls_of_gateway_pods_set_deletion_cost_and_agent_status(
    dyn: dynamic.DynamicClient, api_client: client.ApiClient, operator: KopfRunner
) -> None:
    server_side_apply(dyn, agent("counter"))
    deployment = wait_for(
        "the gateway Deployment", lambda: get(dyn, "apps/v1", "Deployment", "counter-gateway", NS)
    )
    handler = type(
        "Handler",
        (_Metrics,),
        {"body": f'switchboard_active_calls{{agent="{NS}/counter"}} 3.0\n'.encode()},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(
                name="counter-gateway-test",
                labels=deployment["spec"]["selector"]["matchLabels"],
            ),
            spec=client.V1PodSpec(
                security_context=client.V1PodSecurityContext(
                    run_as_non_root=True,
                    seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
                ),
                containers=[
                    client.V1Container(
                        name="gateway",
                        image="registry.test/gateway:1",
                        ports=[
                            client.V1ContainerPort(
                                name="http", container_port=server.server_address[1]
                            )
                        ],
                        security_context=client.V1SecurityContext(
                            allow_privilege_escalation=False,
                            capabilities=client.V1Capabilities(drop=["ALL"]),
                        ),
                    )
                ],
            ),
        )
        core = client.CoreV1Api(api_client)
        core.create_namespaced_pod(NS, pod)
        core.patch_namespaced_pod_status(
            "counter-gateway-test",
            NS,
            {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
        )
        wait_for(
            "pod-deletion-cost 3",
            lambda: (
                (
                    get(dyn, "v1", "Pod", "counter-gateway-test", NS)["metadata"].get("annotations")
                    or {}
                ).get("controller.kubernetes.io/pod-deletion-cost")
                == "3"
            ),
        )
        wait_for(
            "activeCalls 3",
            lambda: get_agent(dyn, "counter").get("status", {}).get("activeCalls") == 3,
        )
    finally:
        server.shutdown()
        client.CoreV1Api(api_client).delete_namespaced_pod("counter-gateway-test", NS)


def test_suspend_deletes_the_model_pool_keeps_one_gateway_to_refuse_and_resume_restores(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    tenants = dyn.resources.get(api_version=API, kind="Tenant")
    server_side_apply(dyn, agent("sleeper"))
    wait_for("the pool", lambda: get(dyn, "ray.io/v1", "RayService", "switchboard-models", NS))

    def gateway_config() -> dict[str, Any]:
        config_map = get(dyn, "v1", "ConfigMap", "sleeper-config", NS) or {"data": {}}
        return yaml.safe_load(config_map["data"].get("gateway.yaml") or "{}") or {}

    def suspended_in_config() -> bool:
        return any(t["spec"].get("suspend") for t in gateway_config().get("tenants", []))

    tenants.patch(name=NS, body={"spec": {"suspend": True}}, content_type=MERGE)
    try:
        wait_for(
            "the pool deleted",
            lambda: get(dyn, "ray.io/v1", "RayService", "switchboard-models", NS) is None,
        )
        wait_for("the gateway told it is suspended", suspended_in_config)
        wait_for(  # one replica stays, to answer callers why
            "the gateway at one replica",
            lambda: (
                (get(dyn, "apps/v1", "Deployment", "sleeper-gateway", NS) or {})
                .get("spec", {})
                .get("replicas")
                == 1
            ),
        )
        assert get(dyn, "keda.sh/v1alpha1", "ScaledObject", "sleeper-gateway", NS) is None
        models = wait_for(
            "ModelsReady TenantSuspended",
            lambda: (
                (c := condition(get_agent(dyn, "sleeper"), "ModelsReady"))
                and c["reason"] == "TenantSuspended"
                and c
            ),
        )
        assert models["status"] == "True"  # the spec's wish, realised: GitOps waits end
        assert "spec.suspend" in models["message"]
        pool = wait_for(
            "ModelPoolReady TenantSuspended",
            lambda: (
                (c := condition(get(dyn, API, "Tenant", NS), "ModelPoolReady"))
                and c["reason"] == "TenantSuspended"
                and c
            ),
        )
        assert pool["status"] == "True"
    finally:
        tenants.patch(name=NS, body={"spec": {"suspend": False}}, content_type=MERGE)
    wait_for("the pool back", lambda: get(dyn, "ray.io/v1", "RayService", "switchboard-models", NS))
    wait_for("the gateway told it resumed", lambda: not suspended_in_config())
    assert "sleeper" in str(models_app_args(dyn)["agents"])
    dyn.resources.get(api_version=API, kind="VoiceAgent").delete(name="sleeper", namespace=NS)
