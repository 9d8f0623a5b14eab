"""kopf handlers: thin wiring from events and timers to the reconcilers.

Every path (create, update, resume, the resync timer, a child's change) runs the same
level-triggered reconcile; status is written through the status subresource only when it
changes, and Events are posted on transitions.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import kopf

from switchboard_api import GROUP, VERSION
from switchboard_operator import calls, metrics
from switchboard_operator.kube import Credentials, Kube, KubeError
from switchboard_operator.naming import (
    LABEL_AGENT,
    LABEL_KNOWLEDGE_BASE,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    Manifest,
    short_hash,
)
from switchboard_operator.reconcile.agent import reconcile_agent
from switchboard_operator.reconcile.knowledge import reconcile_knowledge_base
from switchboard_operator.reconcile.pool import sync_pool
from switchboard_operator.reconcile.runtime import (
    KNOWLEDGE_BASE,
    TENANT,
    VOICE_AGENT,
    Outcome,
    Runtime,
    find_tenant,
    status_patch,
)
from switchboard_operator.reconcile.tenant import (
    NamespaceTerminatingError,
    delete_tenant,
    reconcile_tenant,
)
from switchboard_operator.settings import OperatorSettings

log = logging.getLogger(__name__)
ANNOTATION_PREFIX = "switchboard.dev"
#: How often a deletion checks whether the object's timers have exited.
TIMER_EXIT_POLL_S = 1.0
#: Retry delay after an API error (the timer retries anyway).
RETRY_DELAY_S = 5.0

#: Read at import, because timer intervals are fixed when kopf registers the handlers.
SETTINGS = OperatorSettings.from_env()

_runtime: Runtime | None = None
#: Hashes of children's observed status, so a child event only triggers work when it changed.
_seen: dict[str, str] = {}


def runtime() -> Runtime:
    """The process's runtime, created at startup."""
    if _runtime is None:
        raise kopf.TemporaryError("the operator is still starting", delay=1)
    return _runtime


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    """Read settings, open the API client, start metrics; kopf bookkeeping in annotations."""
    global _runtime
    operator_settings = SETTINGS
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
    settings.peering.name = operator_settings.peering_name
    settings.peering.clusterwide = True
    settings.peering.mandatory = False
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = operator_settings.request_timeout_seconds
    settings.execution.max_workers = 32
    # A deletion waits for the object's timers to exit; a timer mid-run is checked again after
    # this long (kopf's default, 60 s, held every Tenant deletion that met a resync that long).
    settings.background.cancellation_polling = TIMER_EXIT_POLL_S
    kube = Kube(Credentials.load(), timeout_s=operator_settings.request_timeout_seconds)
    _runtime = Runtime(kube=kube, settings=operator_settings)
    metrics.serve(operator_settings.metrics_port)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:  # noqa: ANN401 (kopf's own kwargs)
    """The pod's service account, else `$KUBECONFIG` (read now, not at import)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
async def close(**_: object) -> None:
    """Close the API client."""
    if _runtime is not None:
        await _runtime.kube.close()


def _plain(body: kopf.Body | Manifest) -> Manifest:
    return copy.deepcopy(dict(body))


def _alive(body: kopf.Body, **_: object) -> bool:
    """Timers leave objects being deleted to their deletion handlers (no re-creation races)."""
    return not body.metadata.get("deletionTimestamp")


async def _run(
    kind: str,
    body: kopf.Body | Manifest,
    reconcile: Callable[[Runtime, Manifest], Awaitable[Outcome]],
) -> None:
    """Reconcile one object, write its status if it changed, post its events."""
    rt = runtime()
    plain = _plain(body)
    if plain["metadata"].get("deletionTimestamp"):
        return  # being deleted: the deletion handler owns it now
    started = time.perf_counter()
    try:
        outcome = await reconcile(rt, plain)
    except NamespaceTerminatingError as error:
        metrics.observe(kind, "waiting", time.perf_counter() - started)
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY_S) from error
    except KubeError as error:
        metrics.observe(kind, "error", time.perf_counter() - started)
        raise kopf.TemporaryError(f"API server: {error}", delay=RETRY_DELAY_S) from error
    patch = status_patch(plain.get("status"), outcome.status)
    if patch is not None:
        try:
            await rt.kube.patch_status(plain, patch)
        except KubeError as error:
            if error.status != 404:  # deleted meanwhile: nothing to report on
                raise kopf.TemporaryError(f"status: {error}", delay=RETRY_DELAY_S) from error
    for event in outcome.events:
        kopf.event(
            cast(kopf.Body, plain), type=event.type, reason=event.reason, message=event.message
        )
    metrics.observe(kind, "ok", time.perf_counter() - started)


# Tenants --------------------------------------------------------------------------------------


async def _run_tenant(name: str) -> None:
    """Reconcile a tenant as the API server has it now, never alongside its deletion.

    Events and timers carry a body from before a deletion may have begun; under the tenant's
    lock it is read again, so a reconcile queued behind the deletion finds it and stops.
    """
    rt = runtime()
    async with rt.tenant_locks[name]:
        body = await rt.kube.get(*TENANT, None, name)
        if body is not None:
            await _run("Tenant", body, reconcile_tenant)


@kopf.on.resume(GROUP, VERSION, "tenants")
@kopf.on.create(GROUP, VERSION, "tenants")
@kopf.on.update(GROUP, VERSION, "tenants", field="spec")
async def tenant_changed(body: kopf.Body, **_: object) -> None:
    """A tenant was created, changed, or found at start."""
    await _run_tenant(body["metadata"]["name"])


@kopf.timer(
    GROUP,
    VERSION,
    "tenants",
    interval=SETTINGS.resync_seconds,
    initial_delay=SETTINGS.resync_seconds,
    when=_alive,
)
async def tenant_resync(body: kopf.Body, **_: object) -> None:
    """Drift correction: reconcile again every resync period, events or not."""
    await _run_tenant(body["metadata"]["name"])


@kopf.on.delete(GROUP, VERSION, "tenants")
async def tenant_deleted(body: kopf.Body, **_: object) -> None:
    """Finalizer: remove what the tenant created (never a namespace it did not create)."""
    rt = runtime()
    name = body["metadata"]["name"]
    async with rt.tenant_locks[name]:  # a reconcile in progress finishes first
        deleted = await delete_tenant(rt, _plain(body))
    rt.tenant_locks.pop(name, None)
    if deleted:
        kopf.info(body, reason="Deleted", message="removed " + ", ".join(deleted))


# Voice agents ---------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "voiceagents")
@kopf.on.create(GROUP, VERSION, "voiceagents")
@kopf.on.update(GROUP, VERSION, "voiceagents", field="spec")
async def agent_changed(body: kopf.Body, **_: object) -> None:
    """An agent was created, changed, or found at start."""
    await _run("VoiceAgent", body, reconcile_agent)


@kopf.timer(
    GROUP,
    VERSION,
    "voiceagents",
    interval=SETTINGS.resync_seconds,
    initial_delay=SETTINGS.resync_seconds,
    when=_alive,
)
async def agent_resync(body: kopf.Body, **_: object) -> None:
    """Drift correction: a deleted or edited child is put back."""
    await _run("VoiceAgent", body, reconcile_agent)


@kopf.timer(GROUP, VERSION, "voiceagents", interval=SETTINGS.calls_poll_seconds, when=_alive)
async def agent_calls(body: kopf.Body, **_: object) -> None:
    """Live calls per gateway pod: pod-deletion-cost and `status.activeCalls`."""
    rt = runtime()
    plain = _plain(body)
    total = await calls.poll_agent(rt, plain)
    if total != (plain.get("status") or {}).get("activeCalls", 0) and plain.get("status"):
        await rt.kube.patch_status(plain, {"activeCalls": total})


@kopf.on.delete(GROUP, VERSION, "voiceagents", optional=True)
async def agent_deleted(body: kopf.Body, **_: object) -> None:
    """Drop the agent's models from the pool (its other children go with their owner)."""
    await _resync_pool(body["metadata"]["namespace"])


# Knowledge bases ------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "knowledgebases")
@kopf.on.create(GROUP, VERSION, "knowledgebases")
@kopf.on.update(GROUP, VERSION, "knowledgebases", field="spec")
async def knowledge_base_changed(body: kopf.Body, **_: object) -> None:
    """A knowledge base was created, changed (a new reindexToken included), or found at start."""
    await _run("KnowledgeBase", body, reconcile_knowledge_base)


@kopf.timer(
    GROUP,
    VERSION,
    "knowledgebases",
    interval=SETTINGS.resync_seconds,
    initial_delay=SETTINGS.resync_seconds,
    when=_alive,
)
async def knowledge_base_resync(body: kopf.Body, **_: object) -> None:
    """Drift correction."""
    await _run("KnowledgeBase", body, reconcile_knowledge_base)


@kopf.on.delete(GROUP, VERSION, "knowledgebases", optional=True)
async def knowledge_base_deleted(body: kopf.Body, **_: object) -> None:
    """Drop the knowledge base's embedding model from the pool if nothing else uses it."""
    await _resync_pool(body["metadata"]["namespace"])


# Resync and children --------------------------------------------------------------------------


async def _resync_pool(namespace: str) -> None:
    rt = runtime()
    found = await find_tenant(rt, namespace)
    if found is not None:
        await sync_pool(rt, *found)


def _changed(key: str, value: object) -> bool:
    digest = short_hash(value)
    if _seen.get(key) == digest:
        return False
    _seen[key] = digest
    return True


async def _reconcile_named(kind: tuple[str, str], namespace: str, name: str) -> None:
    rt = runtime()
    body = await rt.kube.get(*kind, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    reconcile = reconcile_agent if kind == VOICE_AGENT else reconcile_knowledge_base
    await _run(kind[1], body, reconcile)


@kopf.on.event("apps", "v1", "deployments", labels={LABEL_MANAGED_BY: MANAGED_BY})
async def gateway_deployment_event(body: kopf.Body, type: str | None, **_: object) -> None:
    """A gateway's availability changed: refresh its agent's status."""
    agent = body["metadata"].get("labels", {}).get(LABEL_AGENT)
    namespace = body["metadata"]["namespace"]
    if agent is None or type is None:
        return
    if _changed(
        f"deployment/{namespace}/{agent}",
        [type, body.get("status"), body.get("spec", {}).get("replicas")],
    ):
        await _reconcile_named(VOICE_AGENT, namespace, agent)


@kopf.on.event("ray.io", "v1", "rayservices", labels={LABEL_MANAGED_BY: MANAGED_BY})
async def model_pool_event(body: kopf.Body, type: str | None, **_: object) -> None:
    """The pool's application health changed: refresh the tenant and its agents."""
    namespace = body["metadata"]["namespace"]
    active = (body.get("status") or {}).get("activeServiceStatus") or {}
    if type is None or not _changed(f"pool/{namespace}", active.get("applicationStatuses")):
        return
    rt = runtime()
    found = await find_tenant(rt, namespace)
    if found is not None:
        await _run_tenant(found[0].metadata.name)
    for agent in await rt.kube.list(*VOICE_AGENT, namespace):
        await _reconcile_named(VOICE_AGENT, namespace, agent["metadata"]["name"])


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGED_BY})
async def index_job_event(body: kopf.Body, type: str | None, **_: object) -> None:
    """An indexing Job progressed: refresh its knowledge base's status."""
    kb = body["metadata"].get("labels", {}).get(LABEL_KNOWLEDGE_BASE)
    namespace = body["metadata"]["namespace"]
    if kb is None or type is None:
        return
    if _changed(f"job/{namespace}/{body['metadata']['name']}", [type, body.get("status")]):
        await _reconcile_named(KNOWLEDGE_BASE, namespace, kb)
