"""Our CRDs on a real kube-apiserver: accepted, defaulted, rejected, subresources, upstream CRDs."""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from switchboard_api import RESOURCES, KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.manifests import parse_manifest
from tests.cases.invalid import CASES, EXAMPLES, InvalidCase, example, with_changes
from tests.cluster.apiserver import ApiServer
from tests.cluster.conftest import server_side_apply

pytestmark = pytest.mark.cluster

#: Every example a cluster takes (front-desk/knowledgebase.yaml reads local files: `up` only).
EXAMPLE_FILES = [
    *sorted(p.name for p in EXAMPLES.glob("*.yaml")),
    "front-desk/agent.yaml",
    "front-desk-cluster/knowledgebase.yaml",
]


def _resource(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> Any:
    return dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])


def _create(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> dict[str, Any]:
    namespace = manifest["metadata"].get("namespace")
    created = _resource(dyn, manifest).create(body=manifest, namespace=namespace)
    result: dict[str, Any] = created.to_dict()
    return result


def _delete(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> None:
    meta = manifest["metadata"]
    _resource(dyn, manifest).delete(name=meta["name"], namespace=meta.get("namespace"))


def _message(error: ApiException) -> str:
    message: str = json.loads(error.body or "{}").get("message", "")
    return message


def _rejection(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> tuple[int, str]:
    """Create an object that must be refused; return the status code and message."""
    try:
        _create(dyn, manifest)
    except ApiException as error:
        return int(error.status or 0), _message(error)
    _delete(dyn, manifest)
    pytest.fail(f"the API server accepted {manifest['metadata']['name']}")


def test_our_crds_are_served_with_short_names_and_category(
    api_client: client.ApiClient, installed_crds: dict[str, Any]
) -> None:
    resources = client.CustomObjectsApi(api_client).get_api_resources("switchboard.dev", "v1alpha1")
    by_name = {r.name: r for r in resources.resources}
    assert set(by_name) == {
        "tenants",
        "tenants/status",
        "voiceagents",
        "voiceagents/status",
        "voiceagents/scale",
        "knowledgebases",
        "knowledgebases/status",
    }
    assert by_name["tenants"].namespaced is False
    assert by_name["voiceagents"].namespaced is True
    assert by_name["tenants"].short_names == ["vtenant"]
    assert by_name["voiceagents"].short_names == ["va"]
    assert by_name["knowledgebases"].short_names == ["kb"]
    for name in ("tenants", "voiceagents", "knowledgebases"):
        assert by_name[name].categories == ["voice"]


def test_upstream_crds_install_beside_ours(
    api_client: client.ApiClient, installed_crds: dict[str, Any]
) -> None:
    names = set(installed_crds)
    for expected in (
        "rayservices.ray.io",
        "rayclusters.ray.io",
        "rayjobs.ray.io",
        "scaledobjects.keda.sh",
        "triggerauthentications.keda.sh",
        "servicemonitors.monitoring.coreos.com",
        "podmonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    ):
        assert expected in names
    groups = client.ApisApi(api_client).get_api_versions().groups
    group_versions = {g.preferred_version.group_version for g in groups if g.preferred_version}
    assert {"ray.io/v1", "keda.sh/v1alpha1", "monitoring.coreos.com/v1"} <= group_versions


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_applies_and_server_fills_the_same_defaults_as_the_models(
    dyn: dynamic.DynamicClient, tenant_namespace: str, name: str
) -> None:
    manifest = example(name)
    stored = server_side_apply(dyn, manifest).to_dict()
    try:
        expected = parse_manifest(manifest, name).spec.to_wire()
        assert stored["spec"] == expected
        assert stored["spec"] != manifest["spec"], "the server filled no default at all"
    finally:
        _delete(dyn, manifest)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_object_is_rejected_with_a_message_naming_the_field(
    dyn: dynamic.DynamicClient, tenant_namespace: str, case: InvalidCase
) -> None:
    status, message = _rejection(dyn, case.manifest())
    assert status == 422, message
    assert f"{case.field}:" in message, message
    assert case.fragment in message, message


def test_explicit_null_means_unset(dyn: dynamic.DynamicClient, tenant_namespace: str) -> None:
    manifest = with_changes(
        example("receptionist.yaml"), {"spec.handoff": None, "spec.replicas": None}
    )
    stored = _create(dyn, manifest)
    try:
        assert "handoff" not in stored["spec"]
        assert stored["spec"]["replicas"] == 1, "a pruned null gets the schema default"
    finally:
        _delete(dyn, manifest)


def test_tenant_namespace_is_immutable(dyn: dynamic.DynamicClient) -> None:
    manifest = with_changes(example("tenant.yaml"), {"metadata.name": "immutable-ns"})
    _create(dyn, manifest)
    try:
        changed = with_changes(manifest, {"spec.namespace.name": "elsewhere"})
        with pytest.raises(ApiException) as raised:
            server_side_apply(dyn, changed)
        assert raised.value.status == 422
        message = _message(raised.value)
        assert "spec.namespace:" in message
        assert "namespace is immutable once set" in message
        # Other fields stay editable.
        server_side_apply(dyn, with_changes(manifest, {"spec.suspend": True}))
    finally:
        _delete(dyn, manifest)


def _condition(generation: int) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "observedGeneration": generation,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "reason": "AllComponentsReady",
        "message": "",
    }


@pytest.mark.parametrize("kind", RESOURCES, ids=lambda r: r.crd.kind)
def test_status_is_written_only_through_the_status_subresource(
    dyn: dynamic.DynamicClient,
    tenant_namespace: str,
    kind: type[Tenant] | type[VoiceAgent] | type[KnowledgeBase],
) -> None:
    file = {
        "Tenant": "tenant.yaml",
        "VoiceAgent": "receptionist.yaml",
        "KnowledgeBase": "knowledgebase.yaml",
    }
    manifest = with_changes(example(file[kind.crd.kind]), {"metadata.name": "status-probe"})
    created = _create(dyn, manifest)
    resource, namespace = _resource(dyn, manifest), manifest["metadata"].get("namespace")
    try:
        generation = created["metadata"]["generation"]
        with_status = copy.deepcopy(created)
        with_status["status"] = {
            "observedGeneration": generation,
            "conditions": [_condition(generation)],
        }
        after_main = resource.replace(body=with_status, namespace=namespace).to_dict()
        assert "status" not in after_main or not after_main["status"].get("conditions")

        written = resource.status.patch(
            name="status-probe",
            namespace=namespace,
            body={"status": with_status["status"]},
            content_type="application/merge-patch+json",
        ).to_dict()
        assert written["status"]["observedGeneration"] == generation
        assert written["status"]["conditions"][0]["reason"] == "AllComponentsReady"
        assert written["metadata"]["generation"] == generation, "status must not bump generation"
        parsed = kind.model_validate(written)
        assert parsed.status is not None
        assert parsed.status.observed_generation == generation

        bad = {"status": {"conditions": [{**_condition(generation), "reason": "not a reason!"}]}}
        with pytest.raises(ApiException) as raised:
            resource.status.patch(
                name="status-probe",
                namespace=namespace,
                body=bad,
                content_type="application/merge-patch+json",
            )
        assert "status.conditions[0].reason" in _message(raised.value)
    finally:
        _delete(dyn, manifest)


def test_scale_subresource_reads_and_sets_gateway_replicas(
    api_client: client.ApiClient, dyn: dynamic.DynamicClient, tenant_namespace: str
) -> None:
    manifest = with_changes(
        example("receptionist.yaml"),
        {
            "metadata.name": "scaled",
            "spec.scaling": {"gateway": {"backend": "none", "maxReplicas": 5}},
        },
    )
    _create(dyn, manifest)
    objects = client.CustomObjectsApi(api_client)
    args = ("switchboard.dev", "v1alpha1", tenant_namespace, "voiceagents", "scaled")
    try:
        objects.patch_namespaced_custom_object_status(
            *args,
            {"status": {"gateway": {"replicas": 2, "readyReplicas": 1, "selector": "app=scaled"}}},
        )
        scale = cast(dict[str, Any], objects.get_namespaced_custom_object_scale(*args))
        assert scale["status"]["replicas"] == 2
        assert scale["status"]["selector"] == "app=scaled"

        objects.patch_namespaced_custom_object_scale(*args, {"spec": {"replicas": 3}})
        agent = cast(dict[str, Any], objects.get_namespaced_custom_object(*args))
        assert agent["spec"]["replicas"] == 3
        rescaled = cast(dict[str, Any], objects.get_namespaced_custom_object_scale(*args))
        assert rescaled["spec"]["replicas"] == 3

        with pytest.raises(ApiException) as raised:
            objects.patch_namespaced_custom_object_scale(*args, {"spec": {"replicas": -1}})
        assert "spec.replicas" in _message(raised.value)
    finally:
        _delete(dyn, manifest)


def test_printer_columns_show_readiness_and_counts(
    apiserver: ApiServer,
    api_client: client.ApiClient,
    dyn: dynamic.DynamicClient,
    tenant_namespace: str,
) -> None:
    manifest = with_changes(example("knowledgebase.yaml"), {"metadata.name": "columns"})
    _create(dyn, manifest)
    try:
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
            "switchboard.dev",
            "v1alpha1",
            tenant_namespace,
            "knowledgebases",
            "columns",
            {
                "status": {
                    "indexVersion": "v3",
                    "documents": 12,
                    "chunks": 345,
                    "conditions": [_condition(1)],
                }
            },
        )
        status, body = apiserver.get(
            f"/apis/switchboard.dev/v1alpha1/namespaces/{tenant_namespace}/knowledgebases/columns",
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        )
        assert status == 200, body
        table = json.loads(body)
        names = [c["name"] for c in table["columnDefinitions"]]
        assert names == ["Name", "Ready", "Version", "Docs", "Chunks", "Reason", "Age"]
        assert table["rows"][0]["cells"][:5] == ["columns", "True", "v3", 12, 345]
    finally:
        _delete(dyn, manifest)
