"""The operator's only Kubernetes I/O: server-side apply, get, list, delete and status patches.

A small async REST client on aiohttp (kopf's own HTTP stack) over a fixed table of the kinds
the operator touches, authenticated from the pod's service account or a kubeconfig. Every
request has a timeout; server-side apply always uses one field manager and forces conflicts,
so a hand edit of a field we own is undone at the next reconcile.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import aiohttp
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from switchboard_operator.naming import FIELD_MANAGER, Manifest

#: (apiVersion, kind) → (plural, namespaced).
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("v1", "LimitRange"): ("limitranges", True),
    ("v1", "Pod"): ("pods", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("discovery.k8s.io/v1", "EndpointSlice"): ("endpointslices", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("ray.io/v1", "RayService"): ("rayservices", True),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaledobjects", True),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("servicemonitors", True),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("prometheusrules", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("httproutes", True),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"): ("grpcroutes", True),
    ("cert-manager.io/v1", "Certificate"): ("certificates", True),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"): ("backendtrafficpolicies", True),
    ("switchboard.dev/v1alpha1", "Tenant"): ("tenants", False),
    ("switchboard.dev/v1alpha1", "VoiceAgent"): ("voiceagents", True),
    ("switchboard.dev/v1alpha1", "KnowledgeBase"): ("knowledgebases", True),
}

#: CRDs of optional dependencies, by what they enable.
KUBERAY_CRD = "rayservices.ray.io"
KEDA_CRD = "scaledobjects.keda.sh"
SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com"
PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com"
CUSTOM_METRICS_API = "/apis/custom.metrics.k8s.io"
#: How long a discovery answer (is this CRD installed?) is trusted.
DISCOVERY_TTL_S = 30.0


class KubeError(RuntimeError):
    """The API server refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate to it."""

    server: str
    ssl_context: ssl.SSLContext | bool
    configuration: k8s_client.Configuration

    def authorization(self) -> str | None:
        """The bearer token header, refreshed when the service-account token rotates."""
        value: str | None = self.configuration.get_api_key_with_prefix(
            "BearerToken", alias="authorization"
        )
        return value

    @classmethod
    def load(cls) -> Credentials:
        """In-cluster service account when running in a pod, else `$KUBECONFIG`."""
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
            )  # type: ignore[no-untyped-call]
        context: ssl.SSLContext | bool = False
        if configuration.host.startswith("https"):
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, configuration.key_file)
            if not configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(configuration.host.rstrip("/"), context, configuration)


def path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection or an object."""
    try:
        plural, namespaced = KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {kind} ({api_version})") from None
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced:
        if namespace is None:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    return base if name is None else f"{base}/{quote(name)}"


class Kube:
    """An open connection pool to the API server."""

    def __init__(self, credentials: Credentials, timeout_s: float = 20.0) -> None:
        self._credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._discovery: dict[str, tuple[float, bool]] = {}

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._credentials.ssl_context, limit=64),
                timeout=self._timeout,
            )
        return self._session

    async def _request(
        self,
        method: str,
        url_path: str,
        *,
        body: object = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> Manifest | None:
        headers = {"Accept": "application/json"}
        if auth := self._credentials.authorization():
            headers["Authorization"] = auth
        if body is not None:
            headers["Content-Type"] = content_type
        url = self._credentials.server + url_path
        if query:
            url += "?" + urlencode(query)
        async with self._client().request(method, url, json=body, headers=headers) as response:
            if response.status == 404 and method in ("GET", "DELETE"):
                return None
            data = await response.json(content_type=None)
            if response.status >= 400:
                message = data.get("message", "") if isinstance(data, dict) else str(data)
                raise KubeError(response.status, message)
            return data if isinstance(data, dict) else None

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply with the operator's field manager (conflicts forced)."""
        meta = manifest["metadata"]
        url = path(manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])
        result = await self._request(
            "PATCH",
            url,
            body=manifest,
            content_type="application/apply-patch+yaml",
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
        )
        assert result is not None  # noqa: S101 (a 2xx apply always returns the object)
        return result

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Manifest | None:
        """One object, or None when it does not exist."""
        return await self._request("GET", path(api_version, kind, namespace, name))

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        selector: Mapping[str, str] | None = None,
    ) -> list[Manifest]:
        """Objects of a kind (in a namespace, or everywhere for namespace None)."""
        plural, namespaced = KINDS[(api_version, kind)]
        if namespaced and namespace is None:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            url = f"{base}/{plural}"
        else:
            url = path(api_version, kind, namespace)
        query = (
            {"labelSelector": ",".join(f"{k}={v}" for k, v in selector.items())}
            if selector
            else None
        )
        result = await self._request("GET", url, query=query)
        items = (result or {}).get("items") or []
        for item in items:  # list items carry neither field
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return list(items)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete (background propagation); False when it was already gone."""
        result = await self._request(
            "DELETE",
            path(api_version, kind, namespace, name),
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
        return result is not None

    async def patch_status(self, obj: Manifest, status: Manifest) -> Manifest:
        """Merge-patch the status subresource of one of our objects."""
        meta = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]) + "/status"
        result = await self._request(
            "PATCH", url, body={"status": status}, content_type="application/merge-patch+json"
        )
        assert result is not None  # noqa: S101
        return result

    async def patch_metadata(self, obj: Manifest, patch: Manifest) -> None:
        """Merge-patch an object's metadata (annotations such as pod-deletion-cost)."""
        meta = obj["metadata"]
        url = path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        await self._request(
            "PATCH", url, body={"metadata": patch}, content_type="application/merge-patch+json"
        )

    async def _exists(self, url_path: str) -> bool:
        now = time.monotonic()
        cached = self._discovery.get(url_path)
        if cached is not None and now - cached[0] < DISCOVERY_TTL_S:
            return cached[1]
        try:
            found = await self._request("GET", url_path) is not None
        except KubeError as error:
            if error.status not in (403, 503):
                raise
            found = False  # an aggregated API that is registered but down counts as absent
        self._discovery[url_path] = (now, found)
        return found

    async def crd_installed(self, name: str) -> bool:
        """Whether a CRD exists (cached for a few seconds)."""
        return await self._exists(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{quote(name)}"
        )

    async def custom_metrics_api(self) -> bool:
        """Whether a custom metrics API (prometheus-adapter, KEDA's) answers."""
        return await self._exists(CUSTOM_METRICS_API)

    def forget_discovery(self) -> None:
        """Drop cached discovery answers (tests install and remove CRDs)."""
        self._discovery.clear()
