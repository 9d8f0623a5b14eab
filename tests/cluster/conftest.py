"""Fixtures of the `cluster` tier: one real API server per session with all CRDs installed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, dynamic

from tests.cluster.apiserver import REPO_ROOT, ApiServer, running_apiserver
from tests.route_crds import (
    cert_manager_crd_files,
    envoy_gateway_crd_files,
    gateway_api_crd_files,
)
from tests.tools import helm_binary, shared_dir

FIELD_MANAGER = "switchboard-tests"


def shared_crd_dir() -> Path:
    """Upstream CRDs (KubeRay, KEDA, prometheus-operator) from ../shared/fixtures/crds."""
    return shared_dir("fixtures/crds") / "fixtures" / "crds"


def our_crd_files() -> list[Path]:
    """The committed CRDs, exactly what users apply."""
    return sorted((REPO_ROOT / "crds").glob("*.yaml"))


#: The KubeRay release the project pins (its Go module's config/crd/bases; the node tier runs it).
KUBERAY_CRDS = "kuberay-v1.6.0"


def upstream_crd_files() -> list[Path]:
    """The upstream CRD fixtures: KEDA, prometheus-operator and the pinned KubeRay."""
    files = sorted(
        p
        for p in shared_crd_dir().rglob("*.yaml")
        if not p.parent.name.startswith("kuberay-") or p.parent.name == KUBERAY_CRDS
    )
    if not files:
        raise FileNotFoundError(f"no upstream CRDs under {shared_crd_dir()}")
    return files


def server_side_apply(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> Any:
    """Apply with a fixed field manager (what the operator will do)."""
    resource = dyn.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    return dyn.server_side_apply(
        resource, body=manifest, field_manager=FIELD_MANAGER, force_conflicts=True
    )


def wait_established(api: client.ApiextensionsV1Api, name: str, timeout: float = 30) -> None:
    """Block until a CRD reports Established=True."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        crd = api.read_custom_resource_definition(name)
        for condition in (crd.status and crd.status.conditions) or []:
            if condition.type == "Established" and condition.status == "True":
                return
        time.sleep(0.1)
    raise TimeoutError(f"CRD {name} not established within {timeout} s")


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_apiserver(tmp_path_factory.mktemp("apiserver")) as server:
        yield server


@pytest.fixture(scope="session")
def api_client(apiserver: ApiServer) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(apiserver.kubeconfig))


@pytest.fixture(scope="session")
def installed_crds(api_client: client.ApiClient) -> dict[str, dict[str, Any]]:
    """Install our CRDs and the upstream ones (server-side apply); return them by name."""
    dyn = dynamic.DynamicClient(api_client)
    extensions = client.ApiextensionsV1Api(api_client)
    installed: dict[str, dict[str, Any]] = {}
    for path in [*our_crd_files(), *upstream_crd_files()]:
        manifest = yaml.safe_load(path.read_text())
        server_side_apply(dyn, manifest)
        installed[manifest["metadata"]["name"]] = manifest
    for name in installed:
        wait_established(extensions, name)
    # Discovery caches resources; a fresh client sees the new kinds.
    return installed


def install_crds(api_client: client.ApiClient, files: list[Path]) -> list[str]:
    """Server-side apply CRD files and wait until each is Established; their names."""
    dyn = dynamic.DynamicClient(api_client)
    names = []
    for path in files:
        manifest = yaml.safe_load(path.read_text())
        server_side_apply(dyn, manifest)
        names.append(manifest["metadata"]["name"])
    for name in names:
        wait_established(client.ApiextensionsV1Api(api_client), name)
    return names


@pytest.fixture(scope="session")
def route_crds(api_client: client.ApiClient, installed_crds: dict[str, Any]) -> list[str]:
    """The Gateway API's standard channel, cert-manager's Certificate and Envoy Gateway's
    BackendTrafficPolicy CRDs (upstream YAML).

    Installed when first asked for (tests/cluster/test_operator_exposure.py first runs an
    exposed agent without them, for the Ingress fallback), then for the rest of the session.
    """
    files = [*gateway_api_crd_files(), *cert_manager_crd_files(), *envoy_gateway_crd_files()]
    return install_crds(api_client, files)


@pytest.fixture(scope="session")
def dyn(api_client: client.ApiClient, installed_crds: dict[str, Any]) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client)


@pytest.fixture(scope="session")
def tenant_namespace(api_client: client.ApiClient) -> str:
    """The namespace the namespaced examples live in (`acme`)."""
    name = "acme"
    namespace = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    client.CoreV1Api(api_client).create_namespace(namespace)
    return name


OPERATOR_ENV = {
    # Short periods so that drift correction and the calls poll show within a test's wait.
    "SWITCHBOARD_OPERATOR_RESYNC_SECONDS": "2",
    "SWITCHBOARD_OPERATOR_CALLS_POLL_SECONDS": "1",
    "SWITCHBOARD_OPERATOR_METRICS_PORT": "0",
    "SWITCHBOARD_OPERATOR_GATEWAY_IMAGE": "registry.test/gateway:1",
    "SWITCHBOARD_OPERATOR_INDEXER_IMAGE": "registry.test/indexer:1",
    # The default knowledge store, as charts/switchboard/ci/keda-monitoring.yaml names it.
    "SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET": "knowledge-store",
    "SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_KEY": "url",
    # The call store, as charts/switchboard/ci/keda-monitoring.yaml names it.
    "SWITCHBOARD_OPERATOR_CALL_STORE_SECRET": "call-store",
    "SWITCHBOARD_OPERATOR_CALL_STORE_KEY": "url",
}
#: The default knowledge store's URL in that Secret (no server answers it: Jobs never run here).
KNOWLEDGE_STORE_URL = "postgresql://kb@postgres.switchboard-system.svc/knowledge"
#: The call store's URL in its Secret (no server answers it either: no gateway pod runs here).
CALL_STORE_URL = "postgresql://calls@postgres.switchboard-system.svc/calls"


RELEASE = "switchboard"
RELEASE_NAMESPACE = "switchboard-system"
CHART = REPO_ROOT / "charts" / "switchboard"


@pytest.fixture(scope="session")
def chart_release(apiserver: ApiServer, installed_crds: dict[str, Any]) -> str:
    """`helm install` of the chart (KEDA + monitoring values); returns helm's output.

    The operator tests then run as the chart's ServiceAccount, so its generated ClusterRole is
    what they exercise.
    """
    result = subprocess.run(
        [
            str(helm_binary()),
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--values",
            str(CHART / "ci" / "keda-monitoring.yaml"),
            "--kubeconfig",
            str(apiserver.kubeconfig),
            "--timeout",
            "60s",
            # No kubelet runs the call store's migration Job here (hooks wait for it); the unit
            # tier renders and validates it and the node tier runs it.
            "--no-hooks",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def operator_env(apiserver: ApiServer, chart_release: str) -> Iterator[None]:
    """Environment of the in-process operator: the chart's identity, short periods."""
    saved = {k: os.environ.get(k) for k in [*OPERATOR_ENV, "KUBECONFIG"]}
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(apiserver.kubeconfig)))
    for variable, url in [
        ("SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET", KNOWLEDGE_STORE_URL),
        ("SWITCHBOARD_OPERATOR_CALL_STORE_SECRET", CALL_STORE_URL),
    ]:
        store_secret = OPERATOR_ENV[variable]
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=store_secret), string_data={"url": url}
        )
        if not core.list_namespaced_secret(
            RELEASE_NAMESPACE, field_selector=f"metadata.name={store_secret}"
        ).items:
            core.create_namespaced_secret(RELEASE_NAMESPACE, secret)
    os.environ.update(OPERATOR_ENV)
    os.environ["KUBECONFIG"] = str(apiserver.operator_kubeconfig)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
