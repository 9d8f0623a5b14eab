"""What call slots need from the Leases API (`coordination.k8s.io/v1`), and its errors.

`LeaseApi` is the seam: `kube.KubeLeases` speaks HTTPS to the API server, the unit tests use an
in-memory fake with the same optimistic-concurrency answers (create → 409 AlreadyExists when the
name is taken; update and delete → 409 Conflict when the resourceVersion is stale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

#: The Lease time format (`MicroTime`): RFC 3339 with microseconds.
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseConflictError(Exception):
    """409: the name is taken (create) or the lease changed since it was read (update, delete)."""


class LeaseApiError(Exception):
    """The API server refused otherwise or could not be reached."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One Lease as read back: enough to judge it expired and to change it safely."""

    name: str
    uid: str
    resource_version: str
    holder: str
    #: Seconds since the epoch of the last renewal (None: never renewed, treated as expired).
    renew_time: float | None
    duration_s: int
    labels: dict[str, str] = field(default_factory=dict)
    #: When the current holder took it (`MicroTime` text, kept across renewals).
    acquire_time: str | None = None

    def expired(self, now: float) -> bool:
        """Whether its holder stopped renewing it (`renewTime + leaseDurationSeconds` passed)."""
        return self.renew_time is None or self.renew_time + self.duration_s < now


class LeaseApi(Protocol):
    """The five calls on Leases of one namespace that call slots make."""

    async def list(self, label_selector: str) -> list[Lease]:
        """The leases carrying these labels."""
        ...

    async def create(
        self, name: str, holder: str, duration_s: int, now: float, labels: dict[str, str]
    ) -> Lease:
        """Create a lease; `LeaseConflictError` when the name exists."""
        ...

    async def update(self, lease: Lease, holder: str, duration_s: int, now: float) -> Lease:
        """Replace holder and renewal of `lease` as read; `LeaseConflictError` when it changed."""
        ...

    async def delete(self, lease: Lease) -> None:
        """Delete `lease` as read; `LeaseConflictError` when it changed, nothing when gone."""
        ...

    async def close(self) -> None:
        """Release the connection (after the last call)."""
        ...


def micro_time(epoch_s: float) -> str:
    """A time in the Lease's `MicroTime` format."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime(_MICRO_TIME)


def parse_micro_time(text: str | None) -> float | None:
    """Seconds since the epoch of a `MicroTime` (None when absent or unreadable)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def lease_body(
    name: str,
    holder: str,
    duration_s: int,
    now: float,
    labels: dict[str, str],
    *,
    acquired: str | None = None,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """A Lease manifest held by `holder`, renewed at `now` (acquired then unless `acquired`).

    With `resource_version` it is an update of that version (409 Conflict once it changed).
    """
    stamp = micro_time(now)
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration_s,
            "acquireTime": acquired or stamp,
            "renewTime": stamp,
        },
    }


def lease_from(body: dict[str, Any]) -> Lease:
    """A `Lease` from the API server's JSON."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    return Lease(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        holder=str(spec.get("holderIdentity") or ""),
        renew_time=parse_micro_time(spec.get("renewTime")),
        duration_s=int(spec.get("leaseDurationSeconds") or 0),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        acquire_time=spec.get("acquireTime"),
    )
