"""The fuzz run: a seeded, shuffled mix of corpus scripts over both transports, many at once.

Calls that present the run's token and a valid start may be admitted, so at most
`ADMITTED_AT_ONCE` of them run together (the tier's `switchboard up --capacity 6`; the canary
needs one, and a call whose client vanished holds its place until the gateway notices).
Connections that are refused at start need no slot. After the planned scripts, more are played
until `keep_going()` says stop (the canary is still talking, or too few frames were sent).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tests.hostile import corpus
from tests.hostile.corpus import Script
from tests.hostile.drivers import Tally, grpc_channel, play_grpc, play_ws

ADMITTED_AT_ONCE = 4
#: Floods at once (each unpaced: see `corpus.FLOOD_RATE`).
FLOODS_AT_ONCE = 3
WORKERS = 12
FLOOD_FRAMES = 4_000
#: The fuzz stops adding scripts after this long, whatever `keep_going` says.
MAX_FUZZ_S = 300.0

Transport = Literal["ws", "grpc"]


@dataclass(frozen=True)
class Plan:
    """How many scripts of each family one run plays (before any extra ones)."""

    ws_in_call: int = 300
    ws_before_start: int = 1_500
    ws_floods: int = 16
    grpc_in_call: int = 300
    grpc_before_start: int = 1_000
    grpc_floods: int = 10


def scripts(plan: Plan, rng: random.Random) -> list[tuple[Transport, Script]]:
    """Every script of `plan`, shuffled by `rng`."""
    ws: list[tuple[Transport, Script]] = [
        *(("ws", corpus.ws_in_call(rng)) for _ in range(plan.ws_in_call)),
        *(("ws", corpus.ws_before_start(rng)) for _ in range(plan.ws_before_start)),
        *(("ws", corpus.ws_flood(rng, FLOOD_FRAMES)) for _ in range(plan.ws_floods)),
    ]
    grpc: list[tuple[Transport, Script]] = [
        *(("grpc", corpus.grpc_in_call(rng)) for _ in range(plan.grpc_in_call)),
        *(("grpc", corpus.grpc_before_start(rng)) for _ in range(plan.grpc_before_start)),
        *(("grpc", corpus.grpc_flood(rng, FLOOD_FRAMES)) for _ in range(plan.grpc_floods)),
    ]
    mixed = ws + grpc
    rng.shuffle(mixed)
    return mixed


def _extra(rng: random.Random) -> tuple[Transport, Script]:
    pick = rng.randrange(4)
    if pick == 0:
        return "ws", corpus.ws_flood(rng, FLOOD_FRAMES)
    if pick == 1:
        return "grpc", corpus.grpc_flood(rng, FLOOD_FRAMES)
    if pick == 2:
        return "ws", corpus.ws_in_call(rng)
    return "grpc", corpus.grpc_in_call(rng)


async def run(
    ws_url: str,
    grpc_target: str,
    token: str,
    seed: int,
    keep_going: Callable[[Tally], bool],
    plan: Plan = Plan(),
) -> tuple[Tally, float]:
    """Play the plan (and extras while `keep_going`); the tally and the seconds it took."""
    rng = random.Random(seed)  # noqa: S311 (reproducible, not secret)
    todo = scripts(plan, rng)
    todo.reverse()  # popped from the end: the shuffled order
    tally = Tally()
    slots = asyncio.Semaphore(ADMITTED_AT_ONCE)
    floods = asyncio.Semaphore(FLOODS_AT_ONCE)
    began = time.monotonic()
    channels = [grpc_channel(grpc_target) for _ in range(4)]

    def next_script() -> tuple[Transport, Script] | None:
        if todo:
            return todo.pop()
        if time.monotonic() - began < MAX_FUZZ_S and keep_going(tally):
            return _extra(rng)
        return None

    async def play(number: int, transport: Transport, script: Script) -> None:
        if transport == "ws":
            await play_ws(ws_url, script, token, tally)
        else:
            await play_grpc(channels[number % len(channels)], script, token, tally)

    async def worker(number: int) -> None:
        while (item := next_script()) is not None:
            transport, script = item
            try:
                if script.rate is not None:
                    async with floods, slots:
                        await play(number, transport, script)
                elif script.start and script.key == "token":
                    async with slots:
                        await play(number, transport, script)
                else:
                    await play(number, transport, script)
            except TimeoutError:
                tally.client_errors[f"{script.category}: script timed out"] += 1

    try:
        await asyncio.gather(*(worker(n) for n in range(WORKERS)))
    finally:
        for channel in channels:
            await channel.close()
    return tally, time.monotonic() - began
