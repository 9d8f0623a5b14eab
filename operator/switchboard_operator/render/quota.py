"""A tenant's call quota (`quotas.maxConcurrentCalls`): the gateways' config and their right to it.

Gateways hold call slots as Leases in the tenant namespace (switchboard_gateway.quota). The
operator renders, for a tenant with the quota: the quota into each agent's gateway config, the
ServiceAccount token into the gateway pods (otherwise not mounted), and a RoleBinding of the
gateway ServiceAccount to the chart's `switchboard-gateway-call-slots` ClusterRole in the tenant
namespace only. The operator holds `bind` on that one role and no Lease rights at all, so it never
needs to write Leases across the cluster (leader-election Leases in kube-system included).
"""

from __future__ import annotations

from switchboard_api import Tenant
from switchboard_api.chartgen import CALL_SLOT_ROLE
from switchboard_api.gateway import CallQuotaConfig
from switchboard_operator.naming import (
    GATEWAY_SERVICE_ACCOUNT,
    LABEL_TENANT,
    Manifest,
    labels,
    metadata,
)

#: The RoleBinding in the tenant namespace (its name is the ClusterRole's).
CALL_SLOT_BINDING = CALL_SLOT_ROLE
#: Slot `i` of a tenant is the Lease `switchboard-call-slot-<i>` in its namespace.
LEASE_PREFIX = "switchboard-call-slot-"


def call_quota(tenant: Tenant) -> CallQuotaConfig | None:
    """The gateway config's `callQuota` (None: the tenant sets no `maxConcurrentCalls`)."""
    limit = tenant.spec.quotas.max_concurrent_calls
    if limit is None:
        return None
    return CallQuotaConfig(
        limit=limit,
        namespace=tenant.spec.namespace.name,
        tenant=tenant.metadata.name,
        lease_prefix=LEASE_PREFIX,
    )


def call_slot_binding(tenant: Tenant, owner: Manifest) -> Manifest | None:
    """The gateways' right to the tenant's call-slot Leases; None without a quota."""
    if tenant.spec.quotas.max_concurrent_calls is None:
        return None
    ns = tenant.spec.namespace.name
    binding_labels = labels("gateway", tenant.metadata.name, **{LABEL_TENANT: tenant.metadata.name})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(CALL_SLOT_BINDING, ns, owner, binding_labels),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": CALL_SLOT_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": GATEWAY_SERVICE_ACCOUNT, "namespace": ns}],
    }
