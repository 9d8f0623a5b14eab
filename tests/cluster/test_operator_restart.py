"""The operator after a crash, and without KEDA (runs last: it removes KEDA's CRD for a while)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from tests.cluster.conftest import server_side_apply, shared_crd_dir, wait_established
from tests.cluster.operator_runner import condition, get, observed, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"


def _agent(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"prompt": {"system": "You are helpful."}},
    }


def _tenant(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"namespace": {"name": name}},
    }


def test_operator_killed_mid_reconcile_converges_on_restart_without_duplicates(
    dyn: dynamic.DynamicClient, operator_env: None
) -> None:
    ns = "umbrella"
    with running_operator():
        server_side_apply(dyn, _tenant(ns))
        wait_for("the namespace", lambda: get(dyn, "v1", "Namespace", ns))
        for i in range(4):
            server_side_apply(dyn, _agent(f"agent-{i}", ns))
        server_side_apply(
            dyn,
            {
                "apiVersion": API,
                "kind": "KnowledgeBase",
                "metadata": {"name": "docs", "namespace": ns},
                "spec": {"sources": [{"name": "a", "inline": {"text": "hello"}}]},
            },
        )
        time.sleep(0.3)  # stop while the handlers are still running
    with running_operator():
        for i in range(4):
            wait_for(
                f"agent-{i} status",
                partial(observed, dyn, API, "VoiceAgent", f"agent-{i}", ns),
            )
        wait_for(
            "the KB status", lambda: condition(get(dyn, API, "KnowledgeBase", "docs", ns), "Ready")
        )
        time.sleep(3)  # a resync period: nothing new may appear
        deployments = (
            dyn.resources.get(api_version="apps/v1", kind="Deployment")
            .get(namespace=ns)
            .to_dict()["items"]
        )
        assert sorted(d["metadata"]["name"] for d in deployments) == [
            f"agent-{i}-gateway" for i in range(4)
        ]
        jobs = (
            dyn.resources.get(api_version="batch/v1", kind="Job")
            .get(namespace=ns)
            .to_dict()["items"]
        )
        assert len(jobs) == 1
        pool = get(dyn, "ray.io/v1", "RayService", "switchboard-models", ns)
        assert pool is not None
        args = yaml.safe_load(pool["spec"]["serveConfigV2"])["applications"][0]["args"]
        assert sorted(args["agents"]) == [f"{ns}/agent-{i}" for i in range(4)]
        assert len(args["embed"]) == 1


@pytest.fixture
def without_keda(dyn: dynamic.DynamicClient, api_client: client.ApiClient) -> Iterator[None]:
    extensions = client.ApiextensionsV1Api(api_client)
    name = "scaledobjects.keda.sh"
    extensions.delete_custom_resource_definition(name)
    wait_for(
        "KEDA's CRD to be gone",
        lambda: (
            name
            not in {
                c.metadata.name if c.metadata else ""
                for c in extensions.list_custom_resource_definition().items
            }
        ),
    )
    yield
    path = next(shared_crd_dir().rglob("keda.sh_scaledobjects.yaml"))
    server_side_apply(dyn, yaml.safe_load(path.read_text()))
    wait_established(extensions, name)


def test_without_keda_the_gateway_gets_an_hpa_and_never_both(
    dyn: dynamic.DynamicClient, without_keda: None, operator_env: None
) -> None:
    ns = "hooli"
    with running_operator():
        server_side_apply(dyn, _tenant(ns))
        wait_for("the namespace", lambda: get(dyn, "v1", "Namespace", ns))
        server_side_apply(dyn, _agent("support", ns))
        hpa = wait_for(
            "the HPA",
            lambda: get(dyn, "autoscaling/v2", "HorizontalPodAutoscaler", "support-gateway", ns),
        )
        assert hpa["spec"]["scaleTargetRef"]["name"] == "support-gateway"
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"  # no custom metrics API here
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 10)
        deployment = get(dyn, "apps/v1", "Deployment", "support-gateway", ns)
        assert deployment is not None
        none = _agent("fixed", ns)
        none["spec"]["scaling"] = {"gateway": {"backend": "none"}}
        server_side_apply(dyn, none)
        wait_for(
            "the fixed gateway", lambda: get(dyn, "apps/v1", "Deployment", "fixed-gateway", ns)
        )
        time.sleep(2.5)
        assert get(dyn, "autoscaling/v2", "HorizontalPodAutoscaler", "fixed-gateway", ns) is None
