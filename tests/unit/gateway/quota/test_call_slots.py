"""Call slots against a faithful in-memory Leases API: never more calls than slots."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from switchboard_gateway.quota.leases import Lease
from switchboard_gateway.quota.slots import CallSlots, QuotaUnavailableError, Slot
from tests.unit.gateway.quota.fake_leases import FakeLeases

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def replica(api: FakeLeases, name: str, limit: int, clock: Clock | None = None) -> CallSlots:
    return CallSlots(
        api,
        limit,
        "acme",
        identity=name,
        clock=clock or Clock(),
        rng=random.Random(name),  # noqa: S311 (slot order, not secrets)
        renew_every_s=3600,  # renewals are driven by hand unless a test says otherwise
    )


async def settle(*replicas: CallSlots) -> None:
    for slots in replicas:
        if slots._releasing:
            await asyncio.gather(*slots._releasing)


def test_many_calls_racing_on_three_replicas_never_hold_more_than_the_limit() -> None:
    api = FakeLeases()
    clock = Clock()
    replicas = [replica(api, f"gw-{i}", 5, clock) for i in range(3)]

    async def scenario() -> list[Slot | None]:
        return await asyncio.gather(*(replicas[n % 3].acquire(f"call-{n}") for n in range(60)))

    granted = [slot for slot in asyncio.run(scenario()) if slot is not None]

    assert len(granted) == 5
    assert len({slot.lease.name for slot in granted}) == 5  # no slot held twice
    assert {slot.lease.name for slot in granted} == {f"switchboard-call-slot-{i}" for i in range(5)}
    assert len(api.leases) == 5
    assert sum(r.held for r in replicas) == 5


def test_a_released_slot_is_taken_by_the_next_call_and_only_by_one() -> None:
    api = FakeLeases()
    a, b = replica(api, "gw-a", 2), replica(api, "gw-b", 2)

    async def scenario() -> tuple[list[Slot | None], Slot | None, list[Slot | None]]:
        first = [await a.acquire("1"), await b.acquire("2")]
        refused = await a.acquire("3")
        assert first[0] is not None
        a.release(first[0])
        await settle(a)
        after = await asyncio.gather(*(s.acquire(f"x{i}") for i, s in enumerate([a, b] * 5)))
        return first, refused, list(after)

    first, refused, after = asyncio.run(scenario())

    assert all(slot is not None for slot in first)
    assert refused is None
    assert len([slot for slot in after if slot is not None]) == 1
    assert len(api.leases) == 2


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not() -> None:
    api = FakeLeases()
    clock = Clock()
    crashed, live = replica(api, "gw-crashed", 2, clock), replica(api, "gw-live", 2, clock)
    newcomer = replica(api, "gw-new", 2, clock)

    async def scenario() -> tuple[Slot | None, Slot | None]:
        dead = await crashed.acquire("gone")
        assert dead is not None
        crashed._held.clear()  # the pod died: nobody renews or releases its slot
        clock.now += 20
        assert await live.acquire("alive") is not None
        clock.now += 15  # the crashed slot's lease (30 s) has expired, the live one (15 s) not
        taken = await newcomer.acquire("next")
        refused = await newcomer.acquire("one-too-many")
        return taken, refused

    taken, refused = asyncio.run(scenario())

    assert taken is not None
    assert taken.lease.holder == "gw-new/next"
    assert refused is None
    assert api.holders() == {"gw-new/next", "gw-live/alive"}


def test_many_replicas_racing_for_one_expired_slot_give_it_to_exactly_one() -> None:
    api = FakeLeases()
    clock = Clock()
    api.leases["switchboard-call-slot-0"] = Lease(
        "switchboard-call-slot-0",
        "uid-0",
        "7",
        "gw-dead/old",
        clock.now - 100,
        30,
        {"switchboard.dev/call-slot-of": "acme"},
    )
    replicas = [replica(api, f"gw-{i}", 1, clock) for i in range(8)]

    async def scenario() -> list[Slot | None]:
        return await asyncio.gather(*(r.acquire(f"c{i}") for i, r in enumerate(replicas)))

    granted = [s for s in asyncio.run(scenario()) if s is not None]

    assert len(granted) == 1
    assert api.leases["switchboard-call-slot-0"].holder == granted[0].lease.holder
    assert api.leases["switchboard-call-slot-0"].uid == "uid-0"  # taken over by update


def test_renewal_keeps_a_long_call_s_slot_from_being_taken_over() -> None:
    api = FakeLeases()
    clock = Clock()
    holder, other = replica(api, "gw-a", 1, clock), replica(api, "gw-b", 1, clock)

    async def scenario() -> tuple[Slot | None, Slot | None, Slot | None]:
        slot = await holder.acquire("long")
        for _ in range(10):  # 100 s of call, renewed every 10 s
            clock.now += 10
            await holder.renew_all()
        kept = await other.acquire("intruder")
        clock.now += 31  # renewals stop (a cut-off gateway): the slot expires
        taken = await other.acquire("after-expiry")
        return slot, kept, taken

    slot, kept, taken = asyncio.run(scenario())

    assert slot is not None
    assert kept is None
    assert taken is not None
    assert taken.lease.name == slot.lease.name


def test_a_slot_taken_over_while_unrenewed_is_dropped_and_its_release_deletes_nothing() -> None:
    api = FakeLeases()
    clock = Clock()
    a, b = replica(api, "gw-a", 1, clock), replica(api, "gw-b", 1, clock)

    async def scenario() -> Slot | None:
        slot = await a.acquire("1")
        assert slot is not None
        clock.now += 60
        taken = await b.acquire("2")
        await a.renew_all()  # too late: 409, the slot is no longer this call's
        assert a.held == 0
        a.release(slot)
        await settle(a)
        return taken

    taken = asyncio.run(scenario())

    assert taken is not None
    assert api.holders() == {"gw-b/2"}


def test_the_renewal_task_renews_held_slots_and_stops_on_close() -> None:
    api = FakeLeases()
    slots = CallSlots(api, 2, "acme", identity="gw", renew_every_s=0.01)

    async def scenario() -> tuple[float | None, float | None, bool]:
        slot = await slots.acquire("1")
        assert slot is not None
        first = api.leases[slot.lease.name].renew_time
        await asyncio.sleep(0.1)
        later = api.leases[slot.lease.name].renew_time
        renewing = slots._renewing
        await slots.close()
        return first, later, renewing is not None and renewing.cancelled()

    first, later, cancelled = asyncio.run(scenario())

    assert first is not None
    assert later is not None
    assert later > first
    assert cancelled
    assert api.leases == {}  # close released the slot
    assert api.closed


def test_an_api_server_that_does_not_answer_refuses_the_call_in_bounded_time() -> None:
    api = FakeLeases()
    api.hang = True
    slots = CallSlots(api, 5, "acme", identity="gw", acquire_timeout_s=0.2)

    async def scenario() -> QuotaUnavailableError | None:
        try:
            await slots.acquire("1")
        except QuotaUnavailableError as error:
            return error
        return None

    started = time.monotonic()
    error = asyncio.run(asyncio.wait_for(scenario(), 5))

    assert error is not None
    assert "did not answer within 0.2 s" in str(error)
    assert time.monotonic() - started < 2
    assert slots.held == 0


def test_an_api_server_that_refuses_refuses_the_call() -> None:
    api = FakeLeases()
    api.fail = True
    slots = CallSlots(api, 5, "acme", identity="gw")

    with pytest.raises(QuotaUnavailableError, match="connection refused"):
        asyncio.run(slots.acquire("1"))


def test_a_quota_of_zero_refuses_every_call_without_writing() -> None:
    api = FakeLeases()
    slots = CallSlots(api, 0, "acme", identity="gw")

    assert asyncio.run(slots.acquire("1")) is None
    assert api.leases == {}


def test_another_tenant_s_leases_in_the_namespace_are_not_counted() -> None:
    api = FakeLeases()
    api.leases["unrelated"] = Lease("unrelated", "u", "1", "x", time.time(), 3600, {"a": "b"})
    slots = CallSlots(api, 1, "acme", identity="gw")

    assert asyncio.run(slots.acquire("1")) is not None
    assert "unrelated" in api.leases


def test_a_large_quota_samples_free_slots_and_still_never_doubles_one() -> None:
    api = FakeLeases()
    replicas = [replica(api, f"gw-{i}", 1_000_000) for i in range(2)]

    async def scenario() -> list[Slot | None]:
        return await asyncio.gather(*(replicas[n % 2].acquire(f"c{n}") for n in range(200)))

    started = time.monotonic()
    granted = [s for s in asyncio.run(scenario()) if s is not None]

    assert len(granted) == 200
    assert len({s.lease.name for s in granted}) == 200
    assert time.monotonic() - started < 5  # no list of a million names per call
    indexes = sorted(int(s.lease.name.rsplit("-", 1)[1]) for s in granted)
    assert indexes[-1] > 1000  # spread over the range, not packed from slot 0


def test_after_the_quota_is_lowered_slots_above_it_are_neither_counted_nor_taken() -> None:
    api = FakeLeases()
    clock = Clock()
    before = replica(api, "gw-old", 4, clock)

    async def scenario() -> tuple[list[Slot | None], list[Slot | None]]:
        held = [await before.acquire(f"old-{i}") for i in range(4)]
        before._held.clear()  # that gateway is gone; its leases expire unrenewed
        clock.now += 60
        after = replica(api, "gw-new", 2, clock)
        return held, [await after.acquire(call) for call in ("a", "b", "c")]

    held, (first, second, third) = asyncio.run(scenario())

    assert all(s is not None for s in held)
    assert first is not None
    assert second is not None
    assert third is None  # two slots under the new limit, a third refused
    assert {first.lease.name, second.lease.name} == {
        "switchboard-call-slot-0",
        "switchboard-call-slot-1",
    }
    assert api.leases["switchboard-call-slot-3"].holder.startswith("gw-old/")  # not taken over
