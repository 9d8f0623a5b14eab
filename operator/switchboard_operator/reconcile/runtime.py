"""What every reconciler shares: the API client, settings, and in-memory coordination."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from switchboard_api import Tenant
from switchboard_operator.coalesce import Coalescer
from switchboard_operator.kube import Kube
from switchboard_operator.naming import Manifest
from switchboard_operator.settings import OperatorSettings

TENANT = ("switchboard.dev/v1alpha1", "Tenant")
VOICE_AGENT = ("switchboard.dev/v1alpha1", "VoiceAgent")
KNOWLEDGE_BASE = ("switchboard.dev/v1alpha1", "KnowledgeBase")
RAY_SERVICE = ("ray.io/v1", "RayService")
NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the reconciled object."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Outcome:
    """A reconcile's result: the status to write and the events to post."""

    status: Manifest
    events: list[Event] = field(default_factory=list)


@dataclass
class Runtime:
    """Shared state of one operator process."""

    kube: Kube
    settings: OperatorSettings
    pools: Coalescer[Any] = field(default_factory=Coalescer)
    #: Per namespace: hash of the last RayService applied and when (monotonic seconds).
    applied_pools: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: Per agent (`namespace/name`): active calls reported by its gateway pods.
    active_calls: dict[str, int] = field(default_factory=dict)
    #: Per tenant: held by its reconcile and its deletion, so a reconcile that began before the
    #: deletion cannot apply children after the deletion removed them.
    tenant_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    #: Namespaces whose tenant is being deleted: no model pool is applied there any more.
    retired_namespaces: set[str] = field(default_factory=set)


def tenant_of(tenants: list[Manifest], namespace: str) -> tuple[Tenant, Manifest] | None:
    """The oldest live Tenant claiming a namespace."""
    claims = []
    for body in tenants:
        if body["metadata"].get("deletionTimestamp"):
            continue
        try:
            tenant = Tenant.model_validate(body)
        except ValidationError:
            continue
        if tenant.spec.namespace.name == namespace:
            claims.append((str(body["metadata"].get("creationTimestamp", "")), tenant, body))
    if not claims:
        return None
    claims.sort(key=lambda c: (c[0], c[1].metadata.name))
    return claims[0][1], claims[0][2]


async def find_tenant(rt: Runtime, namespace: str) -> tuple[Tenant, Manifest] | None:
    """The Tenant owning a namespace, read from the API server."""
    return tenant_of(await rt.kube.list(*TENANT), namespace)


def owner_of(body: Manifest) -> Manifest:
    """The parts of an object an owner reference needs."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {"name": body["metadata"]["name"], "uid": body["metadata"]["uid"]},
    }


def status_patch(old: Manifest | None, new: Manifest) -> Manifest | None:
    """A JSON merge patch (RFC 7386) turning status `old` into `new`; None if they are equal.

    Keys gone from `new` are set to null at every depth (an endpoint of a channel turned off
    disappears); lists are replaced whole.
    """
    old = old or {}
    if old == new:
        return None
    patch: Manifest = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = status_patch(before, value) or {}
        else:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def status_event(old: Manifest | None, new: Manifest) -> Event | None:
    """An event when Ready or Stalled changes (reason included), None otherwise."""

    def summary(status: Manifest | None, kind: str) -> tuple[str, str, str] | None:
        for c in (status or {}).get("conditions") or []:
            if c.get("type") == kind:
                return c.get("status", ""), c.get("reason", ""), c.get("message", "")
        return None

    stalled = summary(new, "Stalled")
    if stalled and stalled[0] == "True" and summary(old, "Stalled") != stalled:
        return Event("Warning", stalled[1], stalled[2])
    ready = summary(new, "Ready")
    before = summary(old, "Ready")
    if ready is None or (before is not None and before[:2] == ready[:2]):
        return None
    if ready[0] == "True":
        return Event("Normal", "Ready", "all components are ready")
    return Event("Normal" if ready[1] != "Stalled" else "Warning", ready[1], ready[2] or ready[1])
