"""A Tenant's children: its namespace and everything that isolates and bounds it.

Pure: a Tenant (and its owner reference) in, manifests out. The model pool is rendered by
`render.pool` because it also depends on the tenant's agents and knowledge bases.
"""

from __future__ import annotations

from typing import Any

from switchboard_api import Tenant
from switchboard_operator.naming import (
    ADMIN_ROLE_BINDING,
    CREATED_BY_ANNOTATION,
    GATEWAY_SERVICE_ACCOUNT,
    INDEXER_ROLE,
    INDEXER_SERVICE_ACCOUNT,
    LABEL_TENANT,
    Manifest,
    labels,
    metadata,
)
from switchboard_operator.render.network import ApiServer, network_policies
from switchboard_operator.render.quota import call_slot_binding
from switchboard_operator.settings import OperatorSettings

#: Pod Security Standards: enforce `restricted`, and warn/audit at the same level.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
} | {f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce",)}

QUOTA_NAME = "switchboard-quota"
LIMIT_RANGE_NAME = "switchboard-limits"
#: Requests and limits a container gets when its pod spec sets none (the tenant's pods all set
#: theirs; this bounds anything an admin runs by hand).
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMIT = {"cpu": "1", "memory": "1Gi"}


def _tenant_labels(tenant: Tenant, component: str) -> dict[str, str]:
    return labels(component, tenant.metadata.name, **{LABEL_TENANT: tenant.metadata.name})


def namespace(tenant: Tenant, owner: Manifest | None, *, created_here: bool) -> Manifest:
    """The tenant namespace with restricted Pod Security labels.

    `created_here` marks a namespace this tenant created (it is deleted with the tenant and
    owned by it); a namespace that existed before gets the labels only.
    """
    name = tenant.spec.namespace.name
    object_labels = _tenant_labels(tenant, "tenant") | POD_SECURITY_LABELS
    annotations = {CREATED_BY_ANNOTATION: tenant.metadata.name} if created_here else None
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(
            name, None, owner if created_here else None, object_labels, annotations
        ),
    }


def resource_quota(tenant: Tenant, owner: Manifest) -> Manifest | None:
    """`quotas.resourceQuota` plus GPU requests; None when the tenant sets no bound."""
    quotas = tenant.spec.quotas
    hard: dict[str, Any] = {key: str(value) for key, value in quotas.resource_quota.items()}
    hard["requests.nvidia.com/gpu"] = str(quotas.gpus)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata(
            QUOTA_NAME, tenant.spec.namespace.name, owner, _tenant_labels(tenant, "quota")
        ),
        "spec": {"hard": hard},
    }


def limit_range(tenant: Tenant, owner: Manifest) -> Manifest:
    """Default requests and limits for containers that set none (quotas need them)."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata(
            LIMIT_RANGE_NAME, tenant.spec.namespace.name, owner, _tenant_labels(tenant, "quota")
        ),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": dict(DEFAULT_REQUEST),
                    "default": dict(DEFAULT_LIMIT),
                }
            ]
        },
    }


def service_accounts(tenant: Tenant, owner: Manifest) -> list[Manifest]:
    """Identities of the gateway and indexer pods (no API token mounted by default)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(
                name, tenant.spec.namespace.name, owner, _tenant_labels(tenant, component)
            ),
            "automountServiceAccountToken": False,
        }
        for name, component in (
            (GATEWAY_SERVICE_ACCOUNT, "gateway"),
            (INDEXER_SERVICE_ACCOUNT, "indexer"),
        )
    ]


def indexer_rbac(tenant: Tenant, owner: Manifest) -> list[Manifest]:
    """The indexer may server-side apply ConfigMaps (its result) in the tenant namespace.

    Only `get`, `create` and `patch` (what an apply needs): the operator holds exactly these on
    ConfigMaps, and RBAC lets it grant no more than it holds.
    """
    ns = tenant.spec.namespace.name
    role_labels = _tenant_labels(tenant, "indexer")
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(INDEXER_ROLE, ns, owner, role_labels),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get", "create", "patch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(INDEXER_ROLE, ns, owner, role_labels),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": INDEXER_ROLE,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": INDEXER_SERVICE_ACCOUNT, "namespace": ns}
            ],
        },
    ]


def admin_role_binding(tenant: Tenant, owner: Manifest) -> Manifest | None:
    """The built-in `admin` ClusterRole for the tenant's admins, inside its namespace only."""
    if not tenant.spec.admins:
        return None
    subjects = []
    for subject in tenant.spec.admins:
        entry: Manifest = {"kind": subject.kind, "name": subject.name}
        if subject.kind == "ServiceAccount":
            entry["namespace"] = subject.namespace
        else:
            entry["apiGroup"] = "rbac.authorization.k8s.io"
        subjects.append(entry)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(
            ADMIN_ROLE_BINDING, tenant.spec.namespace.name, owner, _tenant_labels(tenant, "rbac")
        ),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": subjects,
    }


def tenant_children(
    tenant: Tenant, owner: Manifest, settings: OperatorSettings, api: ApiServer | None = None
) -> list[Manifest]:
    """Everything inside the tenant namespace except the model pool, in apply order.

    `api` is where the API server answers (`render.network.api_server`), for the policies that
    let indexer Jobs and the Ray head reach it.
    """
    children: list[Manifest | None] = [
        resource_quota(tenant, owner),
        limit_range(tenant, owner),
        *service_accounts(tenant, owner),
        *indexer_rbac(tenant, owner),
        call_slot_binding(tenant, owner),
        admin_role_binding(tenant, owner),
        *network_policies(tenant, owner, settings, api),
    ]
    return [child for child in children if child is not None]
