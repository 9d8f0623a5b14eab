"""Deterministic names, labels and owner references of every child the operator creates.

Names derive from the parent's name only, so a handler that runs twice (or after a crash)
addresses the same objects and never creates a second one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Manifest = dict[str, Any]

FIELD_MANAGER = "switchboard-operator"
MANAGED_BY = "switchboard-operator"
PART_OF = "switchboard"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TENANT = "switchboard.dev/tenant"
LABEL_AGENT = "switchboard.dev/voice-agent"
LABEL_KNOWLEDGE_BASE = "switchboard.dev/knowledge-base"

#: Set on a namespace the operator created for a tenant; only such a namespace is deleted.
CREATED_BY_ANNOTATION = "switchboard.dev/created-by-tenant"
CONFIG_HASH_ANNOTATION = "switchboard.dev/config-hash"
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

MODEL_POOL = "switchboard-models"
GATEWAY_SERVICE_ACCOUNT = "switchboard-gateway"
INDEXER_SERVICE_ACCOUNT = "switchboard-indexer"
INDEXER_ROLE = "switchboard-indexer"
ADMIN_ROLE_BINDING = "switchboard-tenant-admins"


def labels(component: str, instance: str, **extra: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels plus ours."""
    return {
        LABEL_NAME: f"switchboard-{component}",
        LABEL_INSTANCE: instance,
        LABEL_COMPONENT: component,
        LABEL_PART_OF: PART_OF,
        LABEL_MANAGED_BY: MANAGED_BY,
        **extra,
    }


def agent_labels(component: str, agent: str, tenant: str) -> dict[str, str]:
    """Labels of one of an agent's children: the recommended ones, the agent and its tenant."""
    return labels(component, agent, **{LABEL_AGENT: agent, LABEL_TENANT: tenant})


def gateway_selector(agent: str) -> dict[str, str]:
    """Pod labels that select one agent's gateway replicas (stable across config changes)."""
    return {LABEL_COMPONENT: "gateway", LABEL_AGENT: agent}


def gateway_name(agent: str) -> str:
    """Deployment, Service, PDB, autoscaler and ServiceMonitor of an agent's gateway."""
    return f"{agent}-gateway"


def slo_rule_name(agent: str) -> str:
    """The PrometheusRule alerting on an agent's latency objective (`spec.slo`)."""
    return f"{agent}-slo"


def agent_config_name(agent: str) -> str:
    """The ConfigMap holding an agent's resolved gateway configuration."""
    return f"{agent}-config"


def serve_service(pool: str = MODEL_POOL) -> str:
    """The Service KubeRay puts in front of a RayService's Serve applications."""
    return f"{pool}-serve-svc"


def short_hash(value: object, length: int = 10) -> str:
    """A stable hex digest of a JSON-able value (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def index_job_name(kb: str, fingerprint: str) -> str:
    """One indexing Job per (spec, reindexToken): a new fingerprint is a new Job."""
    return f"{kb}-index-{fingerprint[:10]}"


def knowledge_source_name(kb: str) -> str:
    """The ConfigMap holding the KnowledgeBase spec an indexing Job reads."""
    return f"{kb}-indexer"


def refresh_cron_name(kb: str) -> str:
    """The CronJob that re-indexes a knowledge base on its schedule."""
    return f"{kb}-refresh"


def owner_reference(owner: Manifest) -> Manifest:
    """An owner reference to `owner` (a controller reference, blocking its deletion)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(
    name: str,
    namespace: str | None,
    owner: Manifest | None,
    object_labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """Object metadata with labels and (when given) an owner reference."""
    meta: Manifest = {"name": name, "labels": dict(object_labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def tenant_metadata(
    name: str, component: str, tenant: str, namespace: str, owner: Manifest
) -> Manifest:
    """Metadata of a tenant-wide object (no agent's): the recommended labels and the tenant's."""
    return metadata(name, namespace, owner, labels(component, tenant, **{LABEL_TENANT: tenant}))
