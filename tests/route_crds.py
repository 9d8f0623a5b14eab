"""The Gateway API's and cert-manager's CRDs, from .ci/route-crds.sh's cache (fetched once).

The cluster tier installs them to validate the operator's routes against the real schemas; the
node tier installs them so the operator renders routes there too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tools import REPO_ROOT, VERSIONS, cache_dir


def route_crd_dirs() -> tuple[Path, Path, Path]:
    """(Gateway API standard channel, cert-manager Certificate, Envoy Gateway policy) CRD dirs.

    Read from the cache; when a directory is missing, the script fetches it from the Go module
    proxy (a few seconds, once per version).
    """
    gateway_api = cache_dir() / f"gateway-api-{VERSIONS['GATEWAY_API_VERSION']}"
    cert_manager = cache_dir() / f"cert-manager-{VERSIONS['CERT_MANAGER_VERSION']}"
    envoy_gateway = cache_dir() / f"envoy-gateway-{VERSIONS['ENVOY_GATEWAY_VERSION']}"
    dirs = (gateway_api, cert_manager, envoy_gateway)
    if not all((d / ".complete").exists() for d in dirs):
        subprocess.run(
            ["bash", str(REPO_ROOT / ".ci" / "route-crds.sh")],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return dirs


def gateway_api_crd_files() -> list[Path]:
    """The Gateway API's standard-channel CRDs (HTTPRoute and GRPCRoute among them)."""
    return sorted(route_crd_dirs()[0].glob("*.yaml"))


def cert_manager_crd_files() -> list[Path]:
    """cert-manager's Certificate CRD."""
    return sorted(route_crd_dirs()[1].glob("*.yaml"))


def envoy_gateway_crd_files() -> list[Path]:
    """Envoy Gateway's BackendTrafficPolicy CRD."""
    return sorted(route_crd_dirs()[2].glob("*.yaml"))
