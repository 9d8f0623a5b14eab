"""A tenant's call quota across all its gateway replicas: call slots held as Kubernetes Leases."""

from __future__ import annotations

import socket

from switchboard_api.gateway import CallQuotaConfig
from switchboard_gateway.quota.kube import KubeLeases
from switchboard_gateway.quota.slots import CallSlots


def call_slots(quota: CallQuotaConfig) -> CallSlots:
    """The slots of `quota` in the pod's cluster, held as this pod (its host name)."""
    return CallSlots(
        KubeLeases.in_cluster(quota.namespace),
        quota.limit,
        quota.tenant,
        identity=socket.gethostname(),
        prefix=quota.lease_prefix,
    )
