"""Fixtures of the `node` tier: one real single-node cluster for the package, images built here.

The cluster lives for the tests of this package only (package scope), so the tiers that run
after it get the machine's memory back. A SIGTERM (CI cancelled) becomes a KeyboardInterrupt,
so the teardown runs; a SIGKILL leaves pid files that the next run's teardown uses.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest

from tests.cluster.conftest import KUBERAY_CRDS, shared_crd_dir
from tests.node.calls import API_KEY
from tests.node.cluster import Node, NodeUnavailableError, running_node
from tests.node.images import BuiltImage, build_images
from tests.node.kube import TENANT_NAMESPACE, is_true
from tests.node.manifests import write_postgres
from tests.route_crds import route_crd_dirs
from tests.tools import REPO_ROOT, helm_command


def kuberay_crds() -> Path:
    """KubeRay's CRDs as its Go module ships them (config/crd/bases), pinned to our version."""
    return shared_crd_dir() / KUBERAY_CRDS


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="package")
def images() -> dict[str, BuiltImage]:
    """Every image the node runs, built from the project's Dockerfiles (cached by content)."""
    return build_images()


@pytest.fixture(scope="package")
def node(images: dict[str, BuiltImage]) -> Iterator[Node]:
    """A running node with the images imported, cluster DNS and KubeRay's operator."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with running_node() as running:
            for image in images.values():
                running.import_image(image.archive)
            running.start_kuberay(kuberay_crds())
            # The Gateway API's, cert-manager's and Envoy Gateway's policy CRDs (.ci/route-crds.sh):
            # the operator renders routes here too.
            for crd_dir in route_crd_dirs():
                running.kubectl("apply", "--server-side", "-f", str(crd_dir))
            running.wait_crds_established()
            yield running
    except NodeUnavailableError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        signal.signal(signal.SIGTERM, previous)


RELEASE_NAMESPACE = "switchboard-system"
#: The install's default knowledge store: PostgreSQL+pgvector in the cluster (built here).
STORE_SECRET = "knowledge-store"  # noqa: S105 (a name)
TEST_CALL_SECRET = "test-call-key"  # noqa: S105 (a name)
TENANT_KEYS_SECRET = "acme-api-keys"  # noqa: S105 (a name)


def _image_values(images: dict[str, BuiltImage]) -> list[str]:
    values = []
    for key, name in (
        ("operator", "operator"),
        ("gateway", "gateway"),
        ("indexer", "indexer"),
        ("serveCpu", "serve-cpu"),
    ):
        repository, _, tag = images[name].reference.rpartition(":")
        values += ["--set", f"images.{key}.repository={repository}"]
        values += ["--set", f"images.{key}.tag={tag}"]
    return values


@pytest.fixture(scope="package")
def knowledge_store(node: Node, images: dict[str, BuiltImage]) -> str:
    """PostgreSQL with pgvector in the release namespace, and the Secret naming it."""
    node.kubectl("create", "namespace", RELEASE_NAMESPACE)
    # The `helm test` hook's API key (values.yaml: tests.call.apiKeySecretRef).
    node.kubectl(
        "create", "secret", "generic", TEST_CALL_SECRET, "-n", RELEASE_NAMESPACE,
        f"--from-literal=key={API_KEY}",
    )  # fmt: skip
    node.kubectl("apply", "-f", str(write_postgres(node.work, images["postgres"].reference)))
    node.kubectl(
        "rollout", "status", "deployment/postgres", "-n", RELEASE_NAMESPACE, "--timeout=180s",
        timeout=200,
    )  # fmt: skip
    return STORE_SECRET


@pytest.fixture(scope="package")
def release(node: Node, images: dict[str, BuiltImage], knowledge_store: str) -> str:
    """`helm install` of the chart, sized for this 2-CPU node, the operator in its pod."""
    done = subprocess.run(
        helm_command(
            "install", "switchboard", str(REPO_ROOT / "charts" / "switchboard"),
            "--namespace", RELEASE_NAMESPACE, "--wait", "--timeout", "5m",
            "--kubeconfig", str(node.kubeconfig),
            "-f", str(Path(__file__).parent / "values.yaml"),
            *_image_values(images),
        ),
        capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"helm install: {done.stderr}\n{node.describe_failures()}", pytrace=False)
    return done.stdout


EXAMPLES = REPO_ROOT / "examples"
AGENTS = ("receptionist", "front-desk")
#: From `kubectl apply` to models served: image layers unpacked, four models loaded on one CPU.
READY_TIMEOUT_S = 900


@dataclass(frozen=True)
class Applied:
    """When the examples were applied (monotonic clock) and how long until every agent was Ready."""

    at: float
    ready_s: float


@pytest.fixture(scope="package")
def applied(node: Node, release: str) -> Applied:
    """The tenant, the receptionist and the cluster front desk applied, every agent Ready."""
    started = time.monotonic()
    node.kubectl("apply", "-f", str(EXAMPLES / "tenant.yaml"))
    node.wait_for(
        "namespace acme", lambda: node.kubectl("get", "ns", TENANT_NAMESPACE, check=False), 60
    )
    # examples/tenant.yaml names this Secret for its agents' API keys.
    node.kubectl(
        "create", "secret", "generic", TENANT_KEYS_SECRET, "-n", TENANT_NAMESPACE,
        f"--from-literal=keys={API_KEY}",
    )  # fmt: skip
    node.kubectl("apply", "-f", str(EXAMPLES / "receptionist.yaml"))
    node.kubectl("apply", "-f", str(EXAMPLES / "front-desk-cluster"))
    node.kubectl("apply", "-f", str(EXAMPLES / "front-desk" / "agent.yaml"))
    try:
        for agent in AGENTS:
            node.wait_for(
                f"VoiceAgent {agent} Ready",
                functools.partial(is_true, node, "voiceagent", agent, "Ready"),
                READY_TIMEOUT_S - (time.monotonic() - started),
            )
    except NodeUnavailableError as error:
        details = [
            node.kubectl("get", "voiceagent,knowledgebase,rayservice,pods,jobs", "-n",
                         TENANT_NAMESPACE, "-o", "yaml", check=False)[-6000:],
            node.kubectl("logs", "-n", RELEASE_NAMESPACE, "deploy/switchboard-operator",
                         "--tail=40", check=False),
            node.describe_failures(),
        ]  # fmt: skip
        pytest.fail(f"{error}\n" + "\n".join(details), pytrace=False)
    return Applied(started, time.monotonic() - started)
