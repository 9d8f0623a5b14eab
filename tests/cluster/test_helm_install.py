"""`helm install` of the chart into the real API server, and the operator running as its identity."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import dynamic

from switchboard_api.chartgen import OPERATOR_RULES
from tests.cluster.apiserver import OPERATOR_USER
from tests.cluster.conftest import RELEASE_NAMESPACE
from tests.cluster.operator_runner import get, running_operator, wait_for

pytestmark = pytest.mark.cluster

PEERING = ("kopf.dev/v1", "ClusterKopfPeering", "switchboard")


def test_chart_installs_crds_rbac_peering_monitoring_and_the_operator(
    dyn: dynamic.DynamicClient, chart_release: str
) -> None:
    assert "STATUS: deployed" in chart_release
    assert get(
        dyn, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"
    )
    role = get(dyn, "rbac.authorization.k8s.io/v1", "ClusterRole", "switchboard-operator")
    assert role["rules"] == [{**r} for r in OPERATOR_RULES]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    binding = get(dyn, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "switchboard-operator")
    subject = binding["subjects"][0]
    assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == OPERATOR_USER
    assert get(dyn, "v1", "ServiceAccount", subject["name"], RELEASE_NAMESPACE)
    deployment = get(dyn, "apps/v1", "Deployment", "switchboard-operator", RELEASE_NAMESPACE)
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == subject["name"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["SWITCHBOARD_OPERATOR_OPERATOR_NAMESPACE"] == RELEASE_NAMESPACE
    assert env["SWITCHBOARD_OPERATOR_GATEWAY_IMAGE"] == "ghcr.io/switchboard-dev/gateway:0.1.0"
    assert get(dyn, *PEERING)
    assert get(
        dyn, "monitoring.coreos.com/v1", "ServiceMonitor", "switchboard-operator", RELEASE_NAMESPACE
    )
    rule = get(dyn, "monitoring.coreos.com/v1", "PrometheusRule", "switchboard", RELEASE_NAMESPACE)
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "SwitchboardVoiceToVoiceSlow",
        "SwitchboardCallFailures",
        "SwitchboardOperatorReconcileErrors",
    } <= alerts
    assert get(dyn, "v1", "ConfigMap", "switchboard-dashboard", RELEASE_NAMESPACE)


def _peers(dyn: dynamic.DynamicClient) -> dict[str, Any]:
    return dict(get(dyn, *PEERING).get("status") or {})


def test_the_operator_announces_itself_in_the_charts_peering_and_leaves_it(
    operator_env: None, dyn: dynamic.DynamicClient
) -> None:
    with running_operator(peering="switchboard"):
        peers = wait_for("the operator in the peering object", lambda: _peers(dyn))
        (peer,) = peers.values()
        assert peer["priority"] == 0
        assert peer["lifetime"] > 0
    deadline = time.monotonic() + 10
    while _peers(dyn) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _peers(dyn) == {}, "a stopped operator stays in the peering"
