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
    LABEL_COMPONENT,
    LABEL_TENANT,
    Manifest,
    labels,
    metadata,
)
from switchboard_operator.settings import OperatorSettings

#: Pod Security Standards: enforce `restricted`, and warn/audit at the same level.
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")
} | {f"pod-security.kubernetes.io/{mode}-version": "latest" for mode in ("enforce",)}

RAY_NODE_SELECTOR = {"ray.io/is-ray-node": "yes"}
GATEWAY_PORTS = (50051, 8080)
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


def _policy(tenant: Tenant, owner: Manifest, name: str, spec: Manifest) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(
            name, tenant.spec.namespace.name, owner, _tenant_labels(tenant, "network")
        ),
        "spec": spec,
    }


def _namespaces(names: list[str]) -> Manifest:
    return {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(names)}
            ]
        }
    }


def network_policies(tenant: Tenant, owner: Manifest, settings: OperatorSettings) -> list[Manifest]:
    """Default-deny plus the allows a tenant needs; none when isolation is `none`.

    Allowed: DNS; every pod to the model pool, and the pool's nodes to each other; callers to
    the gateways (from the listed namespaces, or from anywhere when none are listed); the
    monitoring and operator namespaces to the gateways' metrics; egress to `allowCIDRs`.
    """
    network = tenant.spec.network
    if network.isolation == "none":
        return []
    gateway_pods = {"matchLabels": {LABEL_COMPONENT: "gateway"}}
    ray_pods = {"matchLabels": dict(RAY_NODE_SELECTOR)}
    gateway_ports = [{"protocol": "TCP", "port": port} for port in GATEWAY_PORTS]
    callers: list[Manifest] = (
        [_namespaces(list(network.allow_ingress_from_namespaces))]
        if network.allow_ingress_from_namespaces
        else [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"namespaceSelector": {}}]
    )
    observers = sorted({*settings.monitoring_namespaces, settings.operator_namespace})
    policies = [
        _policy(
            tenant, owner, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        ),
        _policy(
            tenant,
            owner,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_namespaces(["kube-system"])],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
        _policy(
            tenant,
            owner,
            "allow-model-pool",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": ray_pods}]}],
            },
        ),
        _policy(
            tenant,
            owner,
            "model-pool-ingress",
            {
                "podSelector": ray_pods,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            tenant,
            owner,
            "gateway-ingress",
            {
                "podSelector": gateway_pods,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": callers, "ports": gateway_ports},
                    {"from": [_namespaces(observers)], "ports": gateway_ports[1:]},
                ],
            },
        ),
    ]
    if network.egress.allow_cidrs:
        policies.append(
            _policy(
                tenant,
                owner,
                "allow-egress-cidrs",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": cidr}} for cidr in network.egress.allow_cidrs]}
                    ],
                },
            )
        )
    return policies


def tenant_children(tenant: Tenant, owner: Manifest, settings: OperatorSettings) -> list[Manifest]:
    """Everything inside the tenant namespace except the model pool, in apply order."""
    children: list[Manifest | None] = [
        resource_quota(tenant, owner),
        limit_range(tenant, owner),
        *service_accounts(tenant, owner),
        *indexer_rbac(tenant, owner),
        admin_role_binding(tenant, owner),
        *network_policies(tenant, owner, settings),
    ]
    return [child for child in children if child is not None]
