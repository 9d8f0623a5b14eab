"""The Leases API over HTTPS with the pod's ServiceAccount token (httpx, no Kubernetes client).

Only what call slots need, in one namespace. The token is re-read for every request (the kubelet
rotates the projected token file). Every request is bounded by `timeout_s`; a caller bounds the
whole operation again.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import httpx

from switchboard_gateway.quota.leases import (
    Lease,
    LeaseApiError,
    LeaseConflictError,
    lease_body,
    lease_from,
)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TIMEOUT_S = 3.0


class KubeLeases:
    """Leases of one namespace, as one ServiceAccount."""

    def __init__(
        self,
        server: str,
        namespace: str,
        *,
        token_file: Path | None = None,
        token: str | None = None,
        verify: str | bool = True,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_file, self._token = token_file, token
        self._path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        tls: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self._client = httpx.AsyncClient(
            base_url=server.rstrip("/"), verify=tls, timeout=timeout_s, transport=transport
        )

    @classmethod
    def in_cluster(cls, namespace: str) -> KubeLeases:
        """The pod's own credentials (the mounted ServiceAccount token and CA).

        Without them every request fails (`LeaseApiError`), so every call is refused saying so.
        """
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        ca = SERVICE_ACCOUNT / "ca.crt"
        return cls(
            f"https://{host}:{port}",
            namespace,
            token_file=SERVICE_ACCOUNT / "token",
            verify=str(ca) if ca.exists() else True,
        )

    def _headers(self) -> dict[str, str]:
        token = self._token
        if self._token_file is not None:
            try:
                token = self._token_file.read_text().strip()
            except OSError as error:
                raise LeaseApiError(f"ServiceAccount token unreadable: {error}") from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = self._headers() | {"Content-Type": "application/json"}
        content = json.dumps(body) if body is not None else None
        try:
            response = await self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise LeaseApiError(f"{method} leases: {type(error).__name__}") from None
        if response.status_code == 409:
            raise LeaseConflictError(path)
        if response.status_code >= 300:
            try:
                message = str(response.json().get("message", ""))[:200]
            except ValueError:
                message = ""
            raise LeaseApiError(f"{method} leases: HTTP {response.status_code} {message}")
        try:
            result: dict[str, Any] = response.json()
        except ValueError:
            raise LeaseApiError(f"{method} leases: an answer that is not JSON") from None
        return result

    async def list(self, label_selector: str) -> list[Lease]:
        """The leases carrying these labels."""
        body = await self._call("GET", self._path, params={"labelSelector": label_selector})
        return [lease_from(item) for item in body.get("items") or []]

    async def create(
        self, name: str, holder: str, duration_s: int, now: float, labels: dict[str, str]
    ) -> Lease:
        """Create a lease; `LeaseConflictError` (409 AlreadyExists) when the name exists."""
        body = lease_body(name, holder, duration_s, now, labels)
        return lease_from(await self._call("POST", self._path, body=body))

    async def update(self, lease: Lease, holder: str, duration_s: int, now: float) -> Lease:
        """Replace `lease` as read (its resourceVersion); 409 Conflict when it changed."""
        acquired = lease.acquire_time if lease.holder == holder else None
        body = lease_body(
            lease.name,
            holder,
            duration_s,
            now,
            lease.labels,
            acquired=acquired,
            resource_version=lease.resource_version,
        )
        return lease_from(await self._call("PUT", f"{self._path}/{lease.name}", body=body))

    async def delete(self, lease: Lease) -> None:
        """Delete `lease` as read (uid and resourceVersion preconditions); gone is fine."""
        preconditions = {"uid": lease.uid, "resourceVersion": lease.resource_version}
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}
        try:
            await self._call("DELETE", f"{self._path}/{lease.name}", body=body)
        except LeaseApiError as error:
            if "HTTP 404" not in str(error):
                raise

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
