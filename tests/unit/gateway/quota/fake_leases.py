"""An in-memory Leases API with the API server's optimistic-concurrency answers.

Create of an existing name → conflict (409 AlreadyExists); update or delete with a stale
resourceVersion → conflict (409 Conflict); every write bumps one global resourceVersion, as etcd
does. Each call yields to the event loop at its start and before answering, so concurrent
callers interleave the way they do over a network. `hang` makes every call wait forever, `fail`
makes every call raise (an unreachable API server).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import replace

from switchboard_gateway.quota.leases import (
    Lease,
    LeaseApiError,
    LeaseConflictError,
    micro_time,
)


class FakeLeases:
    """Leases of one namespace, held in memory."""

    def __init__(self) -> None:
        self.leases: dict[str, Lease] = {}
        self._versions = itertools.count(1)
        self.hang = False
        self.fail = False
        self.calls = 0
        self.closed = False

    async def _enter(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise LeaseApiError("connection refused")

    def _version(self) -> str:
        return str(next(self._versions))

    async def list(self, label_selector: str) -> list[Lease]:
        await self._enter()
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        found = [
            lease
            for lease in self.leases.values()
            if all(lease.labels.get(k) == v for k, v in wanted.items())
        ]
        await asyncio.sleep(0)
        return found

    async def create(
        self, name: str, holder: str, duration_s: int, now: float, labels: dict[str, str]
    ) -> Lease:
        await self._enter()
        if name in self.leases:
            raise LeaseConflictError(name)
        lease = Lease(
            name,
            uuid.uuid4().hex,
            self._version(),
            holder,
            now,
            duration_s,
            dict(labels),
            micro_time(now),
        )
        self.leases[name] = lease
        await asyncio.sleep(0)
        return lease

    async def update(self, lease: Lease, holder: str, duration_s: int, now: float) -> Lease:
        await self._enter()
        current = self.leases.get(lease.name)
        if current is None or current.resource_version != lease.resource_version:
            raise LeaseConflictError(lease.name)
        updated = replace(
            current,
            resource_version=self._version(),
            holder=holder,
            renew_time=now,
            duration_s=duration_s,
        )
        self.leases[lease.name] = updated
        await asyncio.sleep(0)
        return updated

    async def delete(self, lease: Lease) -> None:
        await self._enter()
        current = self.leases.get(lease.name)
        if current is None:
            return
        if current.uid != lease.uid or current.resource_version != lease.resource_version:
            raise LeaseConflictError(lease.name)
        del self.leases[lease.name]

    async def close(self) -> None:
        self.closed = True

    def holders(self) -> set[str]:
        """Holders of every lease (expired or not)."""
        return {lease.holder for lease in self.leases.values()}
