"""A KnowledgeBase's children: the spec the indexer reads, an indexing Job, a refresh CronJob.

A Job is named after a fingerprint of what its index depends on (sources, parsing, chunking,
embedding, store, `reindexToken`): the same spec never gets a second Job, a changed one or a
new token gets a new Job, and the running agents keep reading the last complete version.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from switchboard_api import KnowledgeBase
from switchboard_api.common import ObjectMeta, SecretKeyRef, secret_env_name, secret_refs
from switchboard_api.indexing import (
    DEFAULT_STORE_KEY,
    DEFAULT_STORE_SECRET,
    EGRESS_ALLOW_ENV,
    JOB_NAME_ENV,
    KNOWLEDGE_BASE_KEY,
    KNOWLEDGE_BASE_PATH,
    MODEL_PLANE_URL_ENV,
    NAMESPACE_ENV,
    STORE_URL_ENV,
)
from switchboard_operator.naming import (
    INDEXER_SERVICE_ACCOUNT,
    LABEL_KNOWLEDGE_BASE,
    LABEL_TENANT,
    Manifest,
    index_job_name,
    knowledge_source_name,
    labels,
    metadata,
    refresh_cron_name,
    short_hash,
)
from switchboard_operator.render.agent import model_plane_url
from switchboard_operator.render.knowledge_search import store_secret_ref
from switchboard_operator.render.secret_copy import secret_copy
from switchboard_operator.settings import OperatorSettings

JOB_BACKOFF_LIMIT = 2
JOB_DEADLINE_S = 6 * 3600


def fingerprint(kb: KnowledgeBase) -> str:
    """What an index version depends on; retrieval settings and the schedule are not part."""
    spec = kb.spec
    return short_hash(
        {
            "sources": [s.to_wire() for s in spec.sources],
            "parsing": spec.parsing.to_wire(),
            "chunking": spec.chunking.to_wire(),
            "embedding": spec.embedding.to_wire(),
            "store": spec.store.to_wire(),
            "reindexToken": spec.refresh.reindex_token,
        }
    )


def store_problem(kb: KnowledgeBase, settings: OperatorSettings) -> tuple[str, str] | None:
    """Why the knowledge base's store cannot be used in this cluster (reason, message), or None."""
    store = kb.spec.store
    if store.type == "default" and not settings.knowledge_store_secret:
        return (
            "StoreNotConfigured",
            "spec.store.type is default, but this install has no default knowledge store: set "
            "the chart value knowledge.defaultStore.connectionSecretRef (a Secret with the URI "
            "of a PostgreSQL database with pgvector), or use spec.store.type postgres",
        )
    if store.type == "sqlite":
        return (
            "StoreNotSupported",
            "spec.store.type sqlite is for `switchboard up` only (a file no Job and gateway "
            "share in a cluster): use spec.store.type default or postgres",
        )
    return None


def default_store_secret(namespace: str, url_b64: str, tenant: str) -> Manifest:
    """The install's default store URL, copied into a tenant namespace (`data` stays base64)."""
    return secret_copy(
        DEFAULT_STORE_SECRET, "knowledge-store", DEFAULT_STORE_KEY, namespace, url_b64, tenant
    )


def _kb_labels(kb: KnowledgeBase, tenant: str, component: str) -> dict[str, str]:
    return labels(
        component,
        kb.metadata.name,
        **{LABEL_KNOWLEDGE_BASE: kb.metadata.name, LABEL_TENANT: tenant},
    )


def source_config_map(kb: KnowledgeBase, tenant: str, owner: Manifest) -> Manifest:
    """The KnowledgeBase as the indexer reads it (metadata trimmed to name and namespace)."""
    clean = KnowledgeBase(
        metadata=ObjectMeta(name=kb.metadata.name, namespace=kb.metadata.namespace), spec=kb.spec
    )
    wire = clean.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            knowledge_source_name(kb.metadata.name),
            kb.metadata.namespace,
            owner,
            _kb_labels(kb, tenant, "indexer"),
        ),
        "data": {KNOWLEDGE_BASE_KEY: yaml.safe_dump(wire, sort_keys=False)},
    }


def _secret_env(name: str, ref: SecretKeyRef) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _pod_template(
    kb: KnowledgeBase, tenant: str, settings: OperatorSettings, egress_allow: Sequence[str]
) -> Manifest:
    namespace = kb.metadata.namespace or "default"
    env: list[Manifest] = [
        {
            "name": JOB_NAME_ENV,
            "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}
            },
        },
        {"name": NAMESPACE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": MODEL_PLANE_URL_ENV, "value": model_plane_url(namespace)},
    ]
    if egress_allow:  # URL sources may reach these private ranges (the tenant's allowCIDRs)
        env.append({"name": EGRESS_ALLOW_ENV, "value": ",".join(egress_allow)})
    store = store_secret_ref(kb.spec.store)
    if store is not None:
        env.append(_secret_env(STORE_URL_ENV, store))
    env.extend(
        _secret_env(secret_env_name(ref), ref) for ref in secret_refs(kb.spec) if ref != store
    )
    return {
        "metadata": {"labels": _kb_labels(kb, tenant, "indexer")},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": INDEXER_SERVICE_ACCOUNT,
            # The indexer writes its result ConfigMap through the API.
            "automountServiceAccountToken": True,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "indexer",
                    "image": settings.indexer_image,
                    "imagePullPolicy": settings.image_pull_policy,
                    "args": ["--knowledge-base", KNOWLEDGE_BASE_PATH],
                    "env": env,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [
                        {"name": "spec", "mountPath": "/etc/switchboard", "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
                    ],
                }
            ],
            "volumes": [
                {"name": "spec", "configMap": {"name": knowledge_source_name(kb.metadata.name)}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def _job_spec(
    kb: KnowledgeBase, tenant: str, settings: OperatorSettings, egress_allow: Sequence[str]
) -> Manifest:
    return {
        "backoffLimit": JOB_BACKOFF_LIMIT,
        "activeDeadlineSeconds": JOB_DEADLINE_S,
        "template": _pod_template(kb, tenant, settings, egress_allow),
    }


def index_job(
    kb: KnowledgeBase,
    tenant: str,
    owner: Manifest,
    settings: OperatorSettings,
    egress_allow: Sequence[str] = (),
) -> Manifest:
    """The Job building the index version this spec (and token) calls for.

    `egress_allow` is the tenant's `spec.network.egress.allowCIDRs`: the private ranges URL
    sources may reach. A Job is never updated, so a changed allow-list applies from the next
    index version (`refresh.reindexToken`, a source change or the refresh schedule).
    """
    name = index_job_name(kb.metadata.name, fingerprint(kb))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(name, kb.metadata.namespace, owner, _kb_labels(kb, tenant, "indexer")),
        "spec": _job_spec(kb, tenant, settings, egress_allow),
    }


def refresh_cron_job(
    kb: KnowledgeBase,
    tenant: str,
    owner: Manifest,
    settings: OperatorSettings,
    egress_allow: Sequence[str] = (),
) -> Manifest | None:
    """A CronJob re-indexing on `refresh.schedule`; None without a schedule."""
    schedule = kb.spec.refresh.schedule
    if schedule is None:
        return None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(
            refresh_cron_name(kb.metadata.name),
            kb.metadata.namespace,
            owner,
            _kb_labels(kb, tenant, "indexer"),
        ),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": _kb_labels(kb, tenant, "indexer")},
                "spec": _job_spec(kb, tenant, settings, egress_allow),
            },
        },
    }
