"""Reading children's status into component checks (pure).

What KubeRay, the Deployment controller and the Job controller write is interpreted here, once;
the reconcilers only fetch objects and pass them in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from switchboard_api.indexing import RESULT_KEY, IndexResult
from switchboard_operator.conditions import Check, is_true
from switchboard_operator.naming import Manifest

JobState = Literal["Running", "Succeeded", "Failed"]

APP_RUNNING = "RUNNING"
DEPLOYMENT_HEALTHY = "HEALTHY"


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


#: Why a suspended tenant's models are not ready (agents' ModelsReady, the tenant's ModelPoolReady).
SUSPENDED_MESSAGE = (
    "the tenant is suspended (spec.suspend): its model pool is scaled to zero and its gateways"
    " refuse calls until it resumes"
)


def models_check(
    pool: Manifest | None,
    app: str,
    deployments: Sequence[str],
    *,
    kuberay_installed: bool = True,
    suspended: bool = False,
) -> Check:
    """`ModelsReady` of an agent: its Serve application runs and its deployments are healthy."""
    kind = "ModelsReady"
    if suspended:  # what the spec asks for, so true (like a Deployment scaled to zero)
        return Check(kind, True, "TenantSuspended", SUSPENDED_MESSAGE)
    if not kuberay_installed:
        return Check(kind, False, "KubeRayMissing", "the RayService CRD (KubeRay) is not installed")
    if pool is None:
        return Check(kind, False, "ModelPoolMissing", "the tenant's RayService does not exist yet")
    active = (pool.get("status") or {}).get("activeServiceStatus") or {}
    application = (active.get("applicationStatuses") or {}).get(app)
    if application is None:
        return Check(
            kind, False, "ModelsDeploying", f"KubeRay reports no status for application {app} yet"
        )
    status = str(application.get("status", ""))
    if status != APP_RUNNING:
        detail = application.get("message") or ""
        return Check(
            kind,
            False,
            f"Application{_camel(status) or 'Unknown'}",
            f"application {app} is {status}: {detail}".strip(),
        )
    statuses = application.get("serveDeploymentStatuses") or {}
    for name in deployments:
        deployment = statuses.get(name)
        if deployment is None:
            return Check(kind, False, "ModelsDeploying", f"deployment {name} is not reported yet")
        if deployment.get("status") != DEPLOYMENT_HEALTHY:
            detail = f"{deployment.get('status')}: {deployment.get('message') or ''}"
            message = f"deployment {name} is {detail}".strip(": ")
            return Check(kind, False, "DeploymentUnhealthy", message)
    return Check(kind, True, "ModelsServing", f"{len(deployments)} model deployments healthy")


def desired_replicas(deployment: Manifest) -> int:
    """`spec.replicas`, which the API server defaults to 1."""
    return int((deployment.get("spec") or {}).get("replicas", 1))


def gateway_check(deployment: Manifest | None) -> Check:
    """`GatewayReady`: the Deployment is rolled out and available (or scaled to zero)."""
    kind = "GatewayReady"
    if deployment is None:
        return Check(kind, False, "GatewayMissing", "the gateway Deployment does not exist yet")
    status = deployment.get("status") or {}
    desired = desired_replicas(deployment)
    if desired == 0:
        return Check(kind, True, "ScaledToZero", "the gateway has 0 replicas")
    ready = int(status.get("readyReplicas", 0))
    generation = deployment["metadata"].get("generation", 0)
    if int(status.get("observedGeneration", 0)) < generation:
        return Check(
            kind,
            False,
            "GatewayRollingOut",
            "the Deployment controller has not seen the latest spec",
        )
    if is_true(status.get("conditions") or [], "Available") and ready > 0:
        return Check(kind, True, "GatewayAvailable", f"{ready}/{desired} replicas ready")
    return Check(kind, False, "GatewayUnavailable", f"{ready}/{desired} replicas ready")


def knowledge_check(
    knowledge_bases: Mapping[str, Manifest], searchable: Collection[str] | None = None
) -> Check:
    """`KnowledgeReady`: gateways search every referenced knowledge base, each has a live version.

    `searchable`: the names the gateway config can search (None: all of them).
    """
    kind = "KnowledgeReady"
    if not knowledge_bases:
        return Check(kind, True, "NoKnowledgeBases")
    blind = sorted(n for n in knowledge_bases if searchable is not None and n not in searchable)
    if blind:
        return Check(
            kind,
            False,
            "KnowledgeBaseNotSearchable",
            f"gateways cannot search {', '.join(blind)}: no store they can reach "
            "(see the knowledge bases' IndexReady)",
        )
    waiting = sorted(
        name
        for name, kb in knowledge_bases.items()
        if not (kb.get("status") or {}).get("indexVersion")
    )
    if waiting:
        return Check(
            kind, False, "KnowledgeBaseNotIndexed", "no index version yet: " + ", ".join(waiting)
        )
    return Check(
        kind,
        True,
        "KnowledgeIndexed",
        f"{len(knowledge_bases)} knowledge bases indexed and searchable by the gateways",
    )


def job_state(job: Manifest) -> JobState:
    """How a Job ended, from the Job controller's conditions."""
    conditions = (job.get("status") or {}).get("conditions") or []
    if is_true(conditions, "Complete") or is_true(conditions, "SuccessCriteriaMet"):
        return "Succeeded"
    if is_true(conditions, "Failed") or is_true(conditions, "FailureTarget"):
        return "Failed"
    return "Running"


def job_failure_message(job: Manifest) -> str:
    """The Job controller's reason and message for a failed Job."""
    for entry in (job.get("status") or {}).get("conditions") or []:
        if entry.get("type") in ("Failed", "FailureTarget") and entry.get("status") == "True":
            return f"{entry.get('reason', 'Failed')}: {entry.get('message', '')}".strip(": ")
    return "the indexing Job failed"


def index_result(config_map: Manifest | None) -> IndexResult | None:
    """The indexer's result from its ConfigMap; None when absent or unreadable."""
    if config_map is None:
        return None
    raw = (config_map.get("data") or {}).get(RESULT_KEY)
    if raw is None:
        return None
    try:
        return IndexResult.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def creation_time(obj: Manifest) -> datetime:
    """`metadata.creationTimestamp` as a datetime (the epoch when the server has not set it)."""
    raw = obj["metadata"].get("creationTimestamp") or "1970-01-01T00:00:00Z"
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
