"""Where an agent's call records go in a cluster, and its `RecordsReady` condition.

Records go to the install's PostgreSQL (chart value `storage.callStore.connectionSecretRef`,
copied into the tenant namespace as `switchboard-call-store`). Without one the operator never
renders SQLite on the pod's emptyDir, which would vanish with each rollout while seeming to keep
records: the gateway takes calls with records off (`store` absent) and `RecordsReady=False`
(reason `CallStoreEphemeral`) says so and how to fix it. Calls matter more than their records,
so the agent is not taken down for it; `Ready` is False all the same, so a rollout tool waiting
on it notices.
"""

from __future__ import annotations

from switchboard_api import Tenant
from switchboard_api.gateway import (
    CALL_STORE_KEY,
    CALL_STORE_SECRET,
    CALL_STORE_URL_ENV,
    CallStoreConfig,
)
from switchboard_operator.conditions import Check, Stall
from switchboard_operator.naming import Manifest
from switchboard_operator.render.secret_copy import secret_copy

CHART_VALUE = "storage.callStore.connectionSecretRef"
RECORDS_READY = "RecordsReady"


def call_store_secret(namespace: str, url_b64: str, tenant: str) -> Manifest:
    """The install's call store URL, copied into a tenant namespace."""
    return secret_copy(CALL_STORE_SECRET, "call-store", CALL_STORE_KEY, namespace, url_b64, tenant)


def call_store_config(tenant: Tenant, *, call_store: bool) -> CallStoreConfig | None:
    """The gateway's store: the copied PostgreSQL URL, checked (never migrated) at start."""
    days = tenant.spec.retention.transcripts_days
    if not call_store or days <= 0:
        return None
    return CallStoreConfig(url=None, url_env=CALL_STORE_URL_ENV, migrate=False, retention_days=days)


def call_store_env() -> Manifest:
    """The gateway's `SWITCHBOARD_CALL_STORE_URL`, from the copy (required: no copy, no pod)."""
    return {
        "name": CALL_STORE_URL_ENV,
        "valueFrom": {"secretKeyRef": {"name": CALL_STORE_SECRET, "key": CALL_STORE_KEY}},
    }


def records_check(tenant: Tenant, *, configured: bool, copy_problem: Stall | None) -> Check:
    """`RecordsReady`: whether this agent's call records are kept somewhere that lasts."""
    if tenant.spec.retention.transcripts_days <= 0:
        return Check(
            RECORDS_READY, True, "RecordsOff", "the tenant's retention.transcriptsDays is 0"
        )
    if not configured:
        return Check(
            RECORDS_READY,
            False,
            "CallStoreEphemeral",
            "this install has no call store, so calls are taken but not recorded (SQLite on the "
            "pod's emptyDir would vanish with every rollout): set the chart value "
            f"{CHART_VALUE} to a Secret holding the URL of a PostgreSQL database",
        )
    if copy_problem is not None:
        return Check(
            RECORDS_READY,
            False,
            copy_problem.reason,
            f"{copy_problem.message}; calls are taken but not recorded until it is fixed",
        )
    return Check(
        RECORDS_READY,
        True,
        "CallStorePostgres",
        f"records go to the install's PostgreSQL (Secret {CALL_STORE_SECRET})",
    )
