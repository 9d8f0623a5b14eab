"""KnowledgeBase → indexing Job (and refresh CronJob); status from the Jobs' results."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard_api import KnowledgeBase
from switchboard_api.indexing import IndexResult, result_configmap
from switchboard_operator.checks import quota_problem, source_problem
from switchboard_operator.conditions import Check, Stall, condition_set, timestamp
from switchboard_operator.kube import KUBERAY_CRD
from switchboard_operator.naming import LABEL_KNOWLEDGE_BASE, Manifest, refresh_cron_name
from switchboard_operator.observe import creation_time, index_result, job_failure_message, job_state
from switchboard_operator.reconcile.pool import sync_pool
from switchboard_operator.reconcile.runtime import (
    KNOWLEDGE_BASE,
    Event,
    Outcome,
    Runtime,
    find_tenant,
    owner_of,
    status_event,
)
from switchboard_operator.reconcile.secret_copy import InstallSecret, copy_install_secret
from switchboard_operator.render.knowledge import (
    default_store_secret,
    index_job,
    refresh_cron_job,
    source_config_map,
    store_problem,
)

JOB = ("batch/v1", "Job")
CRON_JOB = ("batch/v1", "CronJob")
CONFIG_MAP = ("v1", "ConfigMap")
#: Finished Jobs kept besides the one that built the live version.
KEEP_JOBS = 3


def _job_ref(job: Manifest) -> Manifest:
    status = job.get("status") or {}
    ref: Manifest = {"name": job["metadata"]["name"], "result": job_state(job)}
    if status.get("startTime"):
        ref["startTime"] = status["startTime"]
    if status.get("completionTime"):
        ref["completionTime"] = status["completionTime"]
    return ref


async def _live_version(
    rt: Runtime, namespace: str, jobs: list[Manifest]
) -> tuple[Manifest, IndexResult] | None:
    """The newest succeeded Job with a readable result: the version agents read."""
    for job in reversed(jobs):
        if job_state(job) != "Succeeded":
            continue
        result = index_result(
            await rt.kube.get(*CONFIG_MAP, namespace, result_configmap(job["metadata"]["name"]))
        )
        if result is not None:
            return job, result
    return None


async def _prune(rt: Runtime, namespace: str, jobs: list[Manifest], keep: set[str]) -> None:
    """Delete finished Jobs (and results) beyond the newest `KEEP_JOBS`, never one in `keep`."""
    finished = [j for j in jobs if job_state(j) != "Running" and j["metadata"]["name"] not in keep]
    for job in finished[:-KEEP_JOBS] if len(finished) > KEEP_JOBS else []:
        name = job["metadata"]["name"]
        await rt.kube.delete(*JOB, namespace, name)
        await rt.kube.delete(*CONFIG_MAP, namespace, result_configmap(name))


def _index_check(latest: Manifest | None, live: IndexResult | None, result_missing: bool) -> Check:
    if live is not None:
        return Check("IndexReady", True, "IndexServing", f"index version {live.index_version}")
    if latest is None:
        return Check("IndexReady", False, "IndexPending", "no indexing Job yet")
    state = job_state(latest)
    if state == "Failed":
        return Check("IndexReady", False, "IndexingFailed", job_failure_message(latest))
    if state == "Succeeded" and result_missing:
        return Check(
            "IndexReady",
            False,
            "IndexResultMissing",
            "the Job succeeded without writing its result",
        )
    return Check("IndexReady", False, "Indexing", f"Job {latest['metadata']['name']} is running")


async def _copy_default_store(rt: Runtime, namespace: str, tenant: str) -> Stall | None:
    """Copy the install's default store Secret into the tenant namespace (kept in sync)."""
    source = InstallSecret(
        rt.settings.knowledge_store_secret,
        rt.settings.knowledge_store_key,
        "the default knowledge store",
        "knowledge.defaultStore.connectionSecretRef",
        "Store",
    )
    return await copy_install_secret(rt, source, default_store_secret, namespace, tenant)


async def reconcile_knowledge_base(
    rt: Runtime, body: Manifest, now: datetime | None = None
) -> Outcome:
    """Ensure the Job for the current spec exists and report the live index version."""
    kb = KnowledgeBase.model_validate(body)
    namespace = kb.metadata.namespace or "default"
    name = kb.metadata.name
    generation = body["metadata"].get("generation", 0)
    previous = body.get("status") or {}
    stall: Stall | None = None
    checks: list[Check] = []
    found = await find_tenant(rt, namespace)
    if found is None:
        stall = Stall("TenantNotFound", f"no Tenant has spec.namespace.name {namespace}")
    elif (unsupported := source_problem(kb)) is not None:
        stall = unsupported
    elif not await rt.kube.crd_installed(KUBERAY_CRD):
        stall = Stall(
            "KubeRayMissing", "the RayService CRD (KubeRay) is not installed (embeddings run there)"
        )
    else:
        tenant, tenant_body = found
        siblings = await rt.kube.list(*KNOWLEDGE_BASE, namespace)
        stall = quota_problem(
            body,
            siblings,
            tenant.spec.quotas.max_knowledge_bases,
            "quotas.maxKnowledgeBases",
            tenant.metadata.name,
        )
        if stall is None and (problem := store_problem(kb, rt.settings)) is not None:
            stall = Stall(*problem)
        elif stall is None and kb.spec.store.type == "default":
            stall = await _copy_default_store(rt, namespace, tenant.metadata.name)
        if stall is not None and stall.reason.startswith("Store"):
            # No Job can run without its store: say so where agents and users look.
            checks.append(Check("IndexReady", False, stall.reason, stall.message))
    events: list[Event] = []
    status: Manifest = {"observedGeneration": generation}
    if stall is None and found is not None:
        tenant, tenant_body = found
        owner = owner_of(body)
        await rt.kube.apply(source_config_map(kb, tenant.metadata.name, owner))
        allow = tenant.spec.network.egress.allow_cidrs
        job = index_job(kb, tenant.metadata.name, owner, rt.settings, allow)
        if await rt.kube.get(*JOB, namespace, job["metadata"]["name"]) is None:
            await rt.kube.apply(job)  # a Job's pod template is immutable: create, never update
            events.append(
                Event("Normal", "IndexingStarted", f"Job {job['metadata']['name']} created")
            )
        cron = refresh_cron_job(kb, tenant.metadata.name, owner, rt.settings, allow)
        if cron is not None:
            await rt.kube.apply(cron)
        else:
            await rt.kube.delete(*CRON_JOB, namespace, refresh_cron_name(name))
        await sync_pool(rt, tenant, tenant_body)
        jobs = sorted(
            await rt.kube.list(*JOB, namespace, {LABEL_KNOWLEDGE_BASE: name}),
            key=lambda j: (creation_time(j), j["metadata"]["name"]),
        )
        live = await _live_version(rt, namespace, jobs)
        latest = jobs[-1] if jobs else None
        result_missing = (
            latest is not None
            and job_state(latest) == "Succeeded"
            and (live is None or live[0] is not latest)
        )
        checks.append(_index_check(latest, live[1] if live else None, result_missing))
        if live is not None:
            result = live[1]
            status |= {
                "indexVersion": result.index_version,
                "documents": result.documents,
                "chunks": result.chunks,
                "lastIndexedTime": timestamp(result.completed_at),
            }
        if latest is not None:
            if job_state(latest) == "Running":
                status["currentJob"] = _job_ref(latest)
            finished = [j for j in jobs if job_state(j) != "Running"]
            if finished:
                status["lastJob"] = _job_ref(finished[-1])
            if (
                job_state(latest) == "Failed"
                and (previous.get("lastJob") or {}).get("name") != latest["metadata"]["name"]
            ):
                events.append(Event("Warning", "IndexingFailed", job_failure_message(latest)))
        # Never the live version's Job, nor the current spec's (it would be created again).
        keep = {job["metadata"]["name"], *([live[0]["metadata"]["name"]] if live else [])}
        await _prune(rt, namespace, jobs, keep)
    else:
        for key in ("indexVersion", "documents", "chunks", "lastIndexedTime", "lastJob"):
            if key in previous:
                status[key] = previous[key]
    status["conditions"] = condition_set(
        previous.get("conditions") or [], checks, stall, generation, now or datetime.now(UTC)
    )
    if event := status_event(previous, status):
        events.append(event)
    return Outcome(status, events)
