"""The Job's two Kubernetes calls: read a ConfigMap source, apply the result ConfigMap.

Credentials are the pod's service account (token and CA under the standard mount), or a
bearer token and server given explicitly (tests). Every request has a timeout.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FIELD_MANAGER = "switchboard-indexer"
TIMEOUT_S = 15.0


class KubeError(RuntimeError):
    """The API server refused or could not be reached."""


class KubeClient:
    """A minimal client for the namespace the Job runs in."""

    def __init__(self, server: str, token: str, namespace: str, verify: str | bool = True) -> None:
        self._namespace = namespace
        self._client = httpx.Client(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
            timeout=TIMEOUT_S,
        )

    @classmethod
    def in_cluster(cls, namespace: str) -> KubeClient | None:
        """The pod's own credentials, or None outside a cluster."""
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        token_file = SERVICE_ACCOUNT / "token"
        if not host or not token_file.exists():
            return None
        host = f"[{host}]" if ":" in host else host
        return cls(
            f"https://{host}:{port}",
            token_file.read_text().strip(),
            namespace,
            str(SERVICE_ACCOUNT / "ca.crt"),
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise KubeError(f"{method} {path}: {type(error).__name__}: {error}") from None
        if response.status_code >= 300:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:200]
            raise KubeError(f"{method} {path}: HTTP {response.status_code}: {message}")
        body: dict[str, Any] = response.json()
        return body

    def config_map(self, name: str) -> Mapping[str, bytes]:
        """A ConfigMap's keys (`data` as UTF-8, `binaryData` decoded)."""
        body = self._call("GET", f"/api/v1/namespaces/{self._namespace}/configmaps/{name}")
        data = {k: v.encode() for k, v in (body.get("data") or {}).items()}
        data |= {k: base64.b64decode(v) for k, v in (body.get("binaryData") or {}).items()}
        return data

    def apply_config_map(
        self, name: str, data: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        """Create or update a ConfigMap by server-side apply."""
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self._namespace, "labels": dict(labels)},
            "data": dict(data),
        }
        self._call(
            "PATCH",
            f"/api/v1/namespaces/{self._namespace}/configmaps/{name}",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(manifest),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
