"""Call slots: at most `limit` calls at once across every gateway replica of a tenant.

Slot `i` is the Lease `<prefix><i>` in the tenant namespace. A gateway admitting a call lists
the slot leases (one request), then tries free slots in random order (so replicas do not all race
for slot 0) by CREATE, where the API server's 409 AlreadyExists means another gateway won, and
slots whose holder stopped renewing (`renewTime + leaseDurationSeconds` passed: a crashed or cut
off gateway) by UPDATE with the resourceVersion it read, where 409 Conflict means another gateway
won. The API server serialises both, so no two calls ever hold one slot. While calls live, one
owned task renews every slot this gateway holds; at a call's end its lease is deleted with a
resourceVersion precondition (never someone else's). A crashed gateway's slots free themselves
when their leases expire.

Fail closed: when the API server cannot be reached within `ACQUIRE_TIMEOUT_S` the call is refused
(`QuotaUnavailableError`, reported as `quota_exceeded` with that reason). A quota that admits
calls whenever it cannot count them is no quota; the call is refused at once, never hung.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from switchboard_gateway.quota.leases import (
    Lease,
    LeaseApi,
    LeaseApiError,
    LeaseConflictError,
)

log = logging.getLogger(__name__)

#: A slot's lease lasts this long without renewal: a crashed gateway's slots free after it.
LEASE_DURATION_S = 30
#: Held slots are renewed this often (a third of the duration: two renewals may fail).
RENEW_EVERY_S = 10.0
#: The most time taking a slot may add to a call's start, API server unreachable included.
ACQUIRE_TIMEOUT_S = 5.0
#: Each request's own bound (a release, a renewal).
REQUEST_TIMEOUT_S = 3.0
#: Rounds of list-then-try before a contended quota is called full.
ROUNDS = 4
#: Slots tried per round.
TRIES_PER_ROUND = 3
#: Quotas up to this size are enumerated when looking for a free slot; larger ones sampled.
_ENUMERATE_UP_TO = 4096
#: The label every slot lease carries (its value: the tenant).
SLOT_LABEL = "switchboard.dev/call-slot-of"


class QuotaUnavailableError(Exception):
    """The slots could not be counted (API server unreachable or refusing): the call is refused."""


@dataclass(slots=True)
class Slot:
    """One slot a call holds; `lease` is the latest version this gateway wrote."""

    lease: Lease
    call_id: str
    released: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class CallSlots:
    """The tenant's call slots as seen from one gateway replica."""

    api: LeaseApi
    limit: int
    tenant: str
    #: This replica (its pod name): lease holders are `<identity>/<call id>`.
    identity: str
    prefix: str = "switchboard-call-slot-"
    duration_s: int = LEASE_DURATION_S
    renew_every_s: float = RENEW_EVERY_S
    acquire_timeout_s: float = ACQUIRE_TIMEOUT_S
    request_timeout_s: float = REQUEST_TIMEOUT_S
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    _held: dict[str, Slot] = field(default_factory=dict)
    _renewing: asyncio.Task[None] | None = None
    _releasing: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def labels(self) -> dict[str, str]:
        """Labels of every slot lease of this tenant."""
        return {SLOT_LABEL: self.tenant}

    @property
    def held(self) -> int:
        """How many slots this replica holds now."""
        return len(self._held)

    def slot_name(self, index: int) -> str:
        """The lease name of slot `index`."""
        return f"{self.prefix}{index}"

    async def acquire(self, call_id: str) -> Slot | None:
        """A slot for the call, or None when all `limit` are held by live calls.

        Raises `QuotaUnavailableError` when the API server does not answer in time or refuses.
        """
        try:
            async with asyncio.timeout(self.acquire_timeout_s):
                slot = await self._acquire(call_id)
        except TimeoutError:
            raise QuotaUnavailableError(
                f"the API server did not answer within {self.acquire_timeout_s:g} s"
            ) from None
        except LeaseApiError as error:
            raise QuotaUnavailableError(str(error)[:200]) from None
        except (ValueError, KeyError, TypeError) as error:  # an answer it could not read
            raise QuotaUnavailableError(f"unreadable answer ({type(error).__name__})") from None
        if slot is not None:
            self._held[slot.lease.name] = slot
            self._ensure_renewing()
        return slot

    async def _acquire(self, call_id: str) -> Slot | None:
        holder = f"{self.identity}/{call_id}"
        for _ in range(ROUNDS):
            now = self.clock()
            existing = {
                lease.name: lease
                for lease in await self.api.list(self._selector())
                if self._in_range(lease.name)  # slots above a lowered limit are not handed out
            }
            free = self._free_slots(existing, TRIES_PER_ROUND)
            stale = [lease for lease in existing.values() if lease.expired(now)]
            if not free and not stale:
                return None
            self.rng.shuffle(stale)
            candidates: list[str | Lease] = [*free, *stale]
            for candidate in candidates[:TRIES_PER_ROUND]:
                try:
                    if isinstance(candidate, str):
                        lease = await self.api.create(
                            candidate, holder, self.duration_s, self.clock(), self.labels
                        )
                    else:
                        lease = await self.api.update(
                            candidate, holder, self.duration_s, self.clock()
                        )
                except LeaseConflictError:
                    continue  # another gateway took it first: try the next one
                return Slot(lease, call_id)
        return None  # every slot tried was taken under our eyes: the quota is full

    def _in_range(self, name: str) -> bool:
        index = name.removeprefix(self.prefix)
        return name.startswith(self.prefix) and index.isdigit() and int(index) < self.limit

    def _free_slots(self, existing: Mapping[str, Lease], wanted: int) -> list[str]:
        """Up to `wanted` slot names without a lease, in random order.

        A large quota that is mostly free is sampled (no list of a million names per call); a
        small or mostly taken one is enumerated.
        """
        free_count = self.limit - len(existing)
        if free_count <= 0:
            return []
        if self.limit > _ENUMERATE_UP_TO and free_count * 2 >= self.limit:
            picked: set[str] = set()
            for _ in range(wanted * 20):
                name = self.slot_name(self.rng.randrange(self.limit))
                if name not in existing:
                    picked.add(name)
                    if len(picked) == wanted:
                        break
            return list(picked)
        free = [name for i in range(self.limit) if (name := self.slot_name(i)) not in existing]
        self.rng.shuffle(free)
        return free[:wanted]

    def _selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels.items())

    def release(self, slot: Slot) -> None:
        """Give the slot back (in the background, bounded): its lease is deleted."""
        if slot.released:
            return
        slot.released = True
        self._held.pop(slot.lease.name, None)
        task = asyncio.create_task(self._delete(slot), name=f"release-{slot.lease.name}")
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _delete(self, slot: Slot) -> None:
        async with slot.lock:  # after any renewal in flight: its resourceVersion is the latest
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    await self.api.delete(slot.lease)
            except LeaseConflictError:
                pass  # taken over after it expired: no longer ours to delete
            except (TimeoutError, LeaseApiError) as error:
                log.warning(
                    "call slot %s not released (%s); it frees itself in %d s",
                    slot.lease.name,
                    type(error).__name__,
                    self.duration_s,
                )

    def _ensure_renewing(self) -> None:
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_loop(), name="call-slot-renewal")

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.renew_every_s)
            await self.renew_all()

    async def renew_all(self) -> None:
        """Renew every held slot once (the renewal task's step)."""
        await asyncio.gather(*(self._renew(slot) for slot in list(self._held.values())))

    async def _renew(self, slot: Slot) -> None:
        async with slot.lock:
            if slot.released:
                return
            holder = f"{self.identity}/{slot.call_id}"
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    slot.lease = await self.api.update(
                        slot.lease, holder, self.duration_s, self.clock()
                    )
            except LeaseConflictError:
                # It expired unrenewed and another call took it: this call keeps running but no
                # longer counts here, so the tenant may briefly exceed its quota by one.
                log.warning("call slot %s was taken over while its call lived", slot.lease.name)
                self._held.pop(slot.lease.name, None)
                slot.released = True
            except (TimeoutError, LeaseApiError, ValueError, KeyError, TypeError) as error:
                # Tried again at the next tick; the lease outlasts two missed renewals.
                log.warning("call slot %s not renewed (%s)", slot.lease.name, type(error).__name__)

    async def close(self) -> None:
        """Stop renewing, release what is held and wait (bounded) for it; close the API."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        for slot in list(self._held.values()):
            self.release(slot)
        if self._releasing:
            await asyncio.wait(set(self._releasing), timeout=self.request_timeout_s + 1)
        await self.api.close()
