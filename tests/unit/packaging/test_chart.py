"""T0: the Helm chart lints, renders valid manifests for every CI values file, and guards values."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from switchboard_api.chart_values import ChartValues
from switchboard_api.chartgen import (
    CALL_SLOT_ROLE,
    CALL_SLOT_RULES,
    OPERATOR_RULES,
    stale_chart_files,
)
from tests.cluster.conftest import shared_crd_dir
from tests.pod_security import pod_specs, restricted_violations
from tests.tools import KUBERNETES_VERSION, REPO_ROOT, checkov_binary, helm_command

pytestmark = pytest.mark.unit

CHART = REPO_ROOT / "charts" / "switchboard"
VALUES_FILES = sorted(p.name for p in (CHART / "ci").glob("*.yaml"))


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        helm_command(*args), capture_output=True, text=True, timeout=120, check=False
    )


def render(*args: str) -> list[dict[str, Any]]:
    result = helm("template", "switchboard", str(CHART), "--namespace", "switchboard-system", *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → openAPIV3Schema of every CRD we know (ours, kopf's, upstream)."""
    schemas = {}
    files = [*CHART.joinpath("crds").glob("*.yaml"), *shared_crd_dir().rglob("*.yaml")]
    for path in files:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate(manifest: dict[str, Any]) -> None:
    key = (manifest["apiVersion"], manifest["kind"])
    if key in crd_schemas():
        # No metaschema check: upstream CRDs carry Go regexes (`^(?i)…`) Python cannot compile.
        jsonschema.Draft7Validator(crd_schemas()[key]).validate(manifest)
    else:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values", VALUES_FILES)
def test_helm_lint_strict_passes(values: str) -> None:
    result = helm("lint", "--strict", str(CHART), "--values", str(CHART / "ci" / values))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUES_FILES)
def test_every_rendered_manifest_validates_and_every_pod_is_restricted(values: str) -> None:
    manifests = render("--values", str(CHART / "ci" / values))
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} <= kinds
    for manifest in manifests:
        validate(manifest)
        for spec in pod_specs(manifest):
            assert restricted_violations(spec) == [], manifest["metadata"]["name"]


def test_the_validators_catch_broken_manifests() -> None:
    (deployment,) = [m for m in render() if m["kind"] == "Deployment"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    peering = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "status": "x"}
    with pytest.raises(jsonschema.ValidationError):
        validate(peering)
    spec = deployment["spec"]["template"]["spec"]
    spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    spec["hostNetwork"] = True
    assert len(restricted_violations(spec)) == 2


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("operator.replicaz=2", "additional properties 'replicaz' not allowed"),
        ("operator.replicas=two", "got string, want integer"),
        ("images.pullPolicy=Sometimes", "/images/pullPolicy"),
        ("gateway.memory=lots", "/gateway/memory"),
        ("tests.call.agent=no-namespace", "/tests/call/agent"),
    ],
)
def test_values_schema_rejects_typos_and_wrong_types(setting: str, message: str) -> None:
    result = helm("template", "switchboard", str(CHART), "--set", setting)
    assert result.returncode != 0
    assert message in result.stderr


def test_more_replicas_need_the_peering() -> None:
    result = helm(
        "template",
        "x",
        str(CHART),
        "--set",
        "operator.replicas=2",
        "--set",
        "operator.peering.create=false",
    )
    assert result.returncode != 0
    assert "operator.peering.create" in result.stderr


def test_generated_values_match_the_model_and_document_every_key() -> None:
    assert stale_chart_files(CHART) == []
    assert yaml.safe_load((CHART / "values.yaml").read_text()) == ChartValues().model_dump(
        mode="json", by_alias=True
    )
    comments = sum(
        1
        for line in (CHART / "values.yaml").read_text().splitlines()
        if line.strip().startswith("#")
    )
    assert comments > 2 * len(ChartValues.model_fields)


def test_operator_rbac_has_no_wildcards_and_binds_only_admin_and_the_call_slot_role() -> None:
    roles = {m["metadata"]["name"]: m for m in render() if m["kind"] == "ClusterRole"}
    role = roles["switchboard-operator"]
    assert role["rules"] == OPERATOR_RULES
    for rule in role["rules"]:
        assert "*" not in [*rule["apiGroups"], *rule["resources"], *rule["verbs"]]
        if "bind" in rule["verbs"] or "escalate" in rule["verbs"]:
            assert rule.get("resourceNames") == ["admin", CALL_SLOT_ROLE]
    # The role the operator binds to a quota's gateways: Leases only, and bound to no one here.
    assert roles[CALL_SLOT_ROLE]["rules"] == CALL_SLOT_RULES
    assert set(roles) == {"switchboard-operator", CALL_SLOT_ROLE}
    bound = [m["roleRef"]["name"] for m in render() if m["kind"] == "ClusterRoleBinding"]
    assert CALL_SLOT_ROLE not in bound


def test_image_settings_reach_the_operator() -> None:
    manifests = render(
        "--set", "images.gateway.tag=1.2.3",
        "--set", "images.indexer.digest=sha256:" + "a" * 64,
        "--set", "modelPool.gpu=true",
    )  # fmt: skip
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SWITCHBOARD_OPERATOR_GATEWAY_IMAGE"] == "ghcr.io/switchboard-dev/gateway:1.2.3"
    assert (
        env["SWITCHBOARD_OPERATOR_INDEXER_IMAGE"]
        == "ghcr.io/switchboard-dev/indexer@sha256:" + "a" * 64
    )
    assert env["SWITCHBOARD_OPERATOR_MODEL_IMAGE"] == "ghcr.io/switchboard-dev/serve-gpu:0.1.0"


def test_the_default_knowledge_store_reaches_the_operator_which_may_read_only_that_secret() -> None:
    assert not [m for m in render() if m["kind"] == "Role"]
    manifests = render(
        "--set", "knowledge.defaultStore.connectionSecretRef.name=kb-store",
        "--set", "knowledge.defaultStore.connectionSecretRef.key=uri",
    )  # fmt: skip
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET"] == "kb-store"  # noqa: S105
    assert env["SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_KEY"] == "uri"
    (role,) = [m for m in manifests if m["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "switchboard-system"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["kb-store"],
            "verbs": ["get"],
        }
    ]
    (binding,) = [m for m in manifests if m["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # Cluster-wide, the operator writes only the copies, by name.
    secret_rules = [r for r in OPERATOR_RULES if "secrets" in r["resources"]]
    assert secret_rules
    assert all(r.get("resourceNames") for r in secret_rules)


def test_the_helm_test_hook_places_a_scripted_call_when_an_agent_is_named() -> None:
    assert not [m for m in render() if m["kind"] == "Pod"]
    (pod,) = [
        m for m in render("--set", "tests.call.agent=acme/receptionist") if m["kind"] == "Pod"
    ]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["switchboard", "call"]
    assert "--gateway=receptionist-gateway.acme.svc:50051" in container["args"]
    assert "--agent=acme/receptionist" in container["args"]


def test_monitoring_objects_only_when_enabled() -> None:
    assert not {"ServiceMonitor", "PrometheusRule"} & {m["kind"] for m in render()}
    manifests = render("--values", str(CHART / "ci" / "keda-monitoring.yaml"))
    (rule,) = [m for m in manifests if m["kind"] == "PrometheusRule"]
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    for metric in (
        "switchboard_stage_latency_seconds_bucket",
        "switchboard_calls_total",
        "switchboard_operator_reconciles_total",
    ):
        assert metric in exprs
    (dashboard,) = [m for m in manifests if m["kind"] == "ConfigMap"]
    assert "switchboard_active_calls" in dashboard["data"]["switchboard.json"]


def test_chart_crds_are_the_generators_copy() -> None:
    ours = sorted(p.name for p in (REPO_ROOT / "crds").glob("*.yaml"))
    for name in ours:
        assert (CHART / "crds" / name).read_text() == (REPO_ROOT / "crds" / name).read_text()
    assert Path(CHART / "crds" / "kopf.dev_clusterkopfpeerings.yaml").exists()


@pytest.mark.parametrize("values", VALUES_FILES)
def test_checkov_passes_on_the_rendered_chart(values: str, tmp_path: Path) -> None:
    """Kubernetes policy checks; each skip is an annotation on the object with its reason."""
    result = helm(
        "template",
        "switchboard",
        str(CHART),
        "--namespace",
        "switchboard-system",
        "--values",
        str(CHART / "ci" / values),
    )
    assert result.returncode == 0, result.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(result.stdout)
    checked = subprocess.run(
        [str(checkov_binary()), "--file", str(rendered), "--framework", "kubernetes", "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(checked.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50
    for skipped in report["results"]["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment"), skipped["check_id"]
