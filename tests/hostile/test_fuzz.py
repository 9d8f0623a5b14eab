"""≥ 100,000 hostile frames over WebSocket and gRPC against `switchboard up`, a canary alongside.

One run per module (`fuzz_run`): a canary call for a baseline, then the fuzz with the same canary
call in the middle of it, memory sampled before, during and after, the records counted against
`switchboard_calls_total`, and a fresh call at the end. Its figures go to `hostile.json` under
`$SWITCHBOARD_ARTIFACTS` (default build/). Set `SWITCHBOARD_FUZZ_SEED` to replay another seed.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from switchboard_gateway.events import EndReason
from tests.hostile import corpus, fuzz
from tests.hostile.conftest import Hostile
from tests.hostile.drivers import Tally
from tests.speech import synthesise

pytestmark = pytest.mark.hostile

REPO = Path(__file__).parents[2]
SEED = int(os.environ.get("SWITCHBOARD_FUZZ_SEED", corpus.SEED))
QUESTIONS = ["What time do you open on Saturday?", "Is there parking near the clinic?"]
MIN_FRAMES = 100_000
#: A gap within one piece of a canary reply may exceed the baseline's worst by at most this much:
#: one stutter a caller hears, never a starved call. The starvation this guards against left 16 s
#: gaps. On this 2-core machine, under 100,000 frames of fuzz, single gaps of 146 ms and (on a
#: later fresh-clone CI run, 2026-11-28, baseline 41 ms) 312 ms were seen, each green on its
#: rerun; 100 ms and 250 ms of slack were too tight for that.
GAP_SLACK_MS = 500.0
#: After the fuzz, the gateway may keep this much more than before (its allocator's high-water
#: mark: CPython rarely gives arenas back) ...
RSS_BOUND_MIB = 96.0
#: ... but a third pass (of a third of the fuzz, as the second) may not settle higher than the
#: highest settled figure before it by more than this (in the runs so far, a pass moved it by up
#: to 13 MiB either way: the allocator, not a leak, since the next pass fell again).
RSS_LATER_PASS_MIB = 20.0
LATER_PASS = fuzz.Plan(100, 500, 5, 100, 350, 3)
SETTLE_S = 20.0
#: Outcomes a call may end with: the documented reasons, and `cancelled` (the caller vanished).
ALLOWED_REASONS = {r.value for r in EndReason} - {EndReason.INTERNAL_ERROR.value} | {"cancelled"}


@dataclass
class FuzzRun:
    """Everything one fuzz run measured."""

    tally: Tally
    seconds: float
    began: float
    ended: float
    baseline: dict[str, Any]
    canary: dict[str, Any]
    fresh: dict[str, Any]
    rss_mib: dict[str, float]
    records: dict[str, int]
    calls_total: float
    alive: bool
    token: bool
    tracebacks: dict[str, int] = field(default_factory=dict)
    rejected: float = 0.0
    notes: list[str] = field(default_factory=list)


def _canary(h: Hostile, out: Path, *args: str) -> subprocess.Popen[bytes]:
    target = h.platform.running.grpc_target
    command = [sys.executable, "-m", "tests.hostile.canary", target, h.token, str(out), *args]
    return subprocess.Popen(command, cwd=REPO)


def _result(process: subprocess.Popen[bytes], out: Path, timeout: float = 240) -> dict[str, Any]:
    assert process.wait(timeout) == 0, f"the canary failed (seed {SEED})"
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def _fuzz(
    h: Hostile, out: Path, speech: list[str]
) -> tuple[Tally, float, float, float, dict[str, Any], float]:
    canary: subprocess.Popen[bytes] | None = None
    peak = 0.0

    def keep_going(tally: Tally) -> bool:
        sent = sum(tally.frames.values())
        return sent < MIN_FRAMES or canary is None or canary.poll() is None

    async def sample_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, h.rss_mib())
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    began = time.monotonic()
    run = asyncio.create_task(
        fuzz.run(
            h.platform.running.websocket_url,
            h.platform.running.grpc_target,
            h.token,
            SEED,
            keep_going,
        )
    )
    await asyncio.sleep(5.0)  # the fuzz is in full swing before the canary calls
    canary = _canary(h, out, *speech)
    tally, seconds = await run
    ended = time.monotonic()
    sampler.cancel()
    result = await asyncio.to_thread(_result, canary, out)
    return tally, seconds, began, ended, result, peak


@pytest.fixture(scope="module")
def fuzz_run(hostile: Hostile, tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """Baseline canary, fuzz with the canary, settle, count records, one fresh call."""
    h, work = hostile, tmp_path_factory.mktemp("fuzz")
    speech = []
    for i, pcm in enumerate(synthesise(QUESTIONS)):
        (work / f"q{i}.pcm").write_bytes(pcm)
        speech.append(str(work / f"q{i}.pcm"))
    baseline = _result(_canary(h, work / "baseline.json", *speech), work / "baseline.json")
    rss = {"before": h.rss_mib()}
    tally, seconds, began, ended, canary, peak = asyncio.run(_fuzz(h, work / "canary.json", speech))
    rss["peak"], rss["after"] = peak, h.rss_mib()
    time.sleep(SETTLE_S)
    rss["settled"] = h.rss_mib()
    h.settled()
    fresh = _result(
        _canary(h, work / "fresh.json", "--text", "Hello, are you open today?"), work / "fresh.json"
    )
    _, total = h.settled()
    # Two more, smaller passes: memory a leak keeps grows with each, a high-water mark does not.
    for number in (2, 3):
        asyncio.run(fuzz.run(h.platform.running.websocket_url, h.platform.running.grpc_target,
                             h.token, SEED + number, lambda _: False, LATER_PASS))  # fmt: skip
        time.sleep(SETTLE_S)
        rss[f"settledAfterPass{number}"] = h.rss_mib()
    _, total = h.settled()
    run = FuzzRun(
        tally,
        seconds,
        began,
        ended,
        baseline,
        canary,
        fresh,
        rss,
        h.records(),
        total,
        h.alive(),
        bool(h.token),
        tracebacks=h.tracebacks(),
        rejected=h.metric("switchboard_calls_rejected_total"),
    )
    _write_figures(run)
    return run


def _write_figures(run: FuzzRun) -> None:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "memoryGiB": round(mem, 1), "cpu": cpu},
        "command": ".venv/bin/pytest -m hostile",
        "seed": SEED,
        "fuzzSeconds": round(run.seconds, 1),
        "framesSent": {
            "total": sum(run.tally.frames.values()),
            "websocket": run.tally.transport_frames("ws"),
            "grpc": run.tally.transport_frames("grpc"),
            "byCategory": dict(sorted(run.tally.frames.items())),
        },
        "connections": sum(run.tally.connections.values()),
        "startedSeenByFuzzers": sum(run.tally.started.values()),
        "endedSeenByFuzzers": dict(run.tally.ended),
        "outcomesByCategory": dict(sorted(run.tally.outcomes.items())),
        "gatewayTracebacks": run.tracebacks,
        "overloadedRefusals": run.tally.overloaded,
        "badKeyStarted": run.tally.bad_key_started,
        "clientErrors": dict(run.tally.client_errors),
        "callsTotal": run.calls_total,
        "callsRejectedTotal": run.rejected,
        "records": run.records,
        "rssMiB": {k: round(v, 1) for k, v in run.rss_mib.items()},
        "canary": {"baseline": run.baseline, "underFuzz": run.canary, "freshAfter": run.fresh},
        "processAlive": run.alive,
    }
    out = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "build")) / "hostile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"hostile-input figures: {out}")


def test_the_fuzzers_send_over_100000_hostile_frames_and_the_gateway_survives(
    fuzz_run: FuzzRun,
) -> None:
    tally = fuzz_run.tally
    assert fuzz_run.alive, f"switchboard up died under the fuzz (seed {SEED})"
    assert sum(tally.frames.values()) >= MIN_FRAMES, (SEED, dict(tally.frames))
    assert tally.transport_frames("ws") >= 20_000, (SEED, dict(tally.frames))
    assert tally.transport_frames("grpc") >= 20_000, (SEED, dict(tally.frames))
    assert sum(tally.started.values()) > 0, "no fuzz call was admitted: the fuzz tested nothing"
    if fuzz_run.token:
        assert tally.bad_key_started == 0, f"calls without the token were admitted (seed {SEED})"


def test_the_canary_keeps_its_audio_while_the_fuzz_runs(fuzz_run: FuzzRun) -> None:
    base, canary = fuzz_run.baseline, fuzz_run.canary
    for call in (base, canary):
        assert call["endReason"] == "caller_hangup", (SEED, call)
        assert not call["incompleteTurns"], (SEED, call)
        assert call["sequencesContiguous"], (SEED, call)
        assert call["clears"] == 0, (SEED, call)
        assert [r["turn"] for r in call["replies"]] == [0, 1, 2], (SEED, call)
        assert all(r["audioSeconds"] >= 0.5 for r in call["replies"]), (SEED, call)
    # The canary's replies played while the fuzz was running.
    assert canary["began"] + canary["replies"][-1]["lastFrameAt"] < fuzz_run.ended, SEED
    worst_base = max(r["worstGapMs"] for r in base["replies"])
    worst = max(r["worstGapMs"] for r in canary["replies"])
    assert worst <= worst_base + GAP_SLACK_MS, (SEED, base["replies"], canary["replies"])


def test_memory_returns_near_its_baseline_after_the_fuzz(fuzz_run: FuzzRun) -> None:
    rss = fuzz_run.rss_mib
    assert rss["settled"] <= rss["before"] + RSS_BOUND_MIB, (SEED, rss)
    highest = max(rss["settled"], rss["settledAfterPass2"])
    assert rss["settledAfterPass3"] <= highest + RSS_LATER_PASS_MIB, (SEED, rss)


def test_every_admitted_call_has_one_record_with_a_documented_end_reason(
    fuzz_run: FuzzRun,
) -> None:
    stored = sum(fuzz_run.records.values())
    assert stored == fuzz_run.calls_total, (SEED, fuzz_run.records, fuzz_run.calls_total)
    assert stored >= sum(fuzz_run.tally.started.values()), SEED
    assert set(fuzz_run.records) <= ALLOWED_REASONS, (SEED, fuzz_run.records)


def test_a_fresh_call_after_the_fuzz_is_answered_in_full(fuzz_run: FuzzRun) -> None:
    fresh = fuzz_run.fresh
    assert fresh["endReason"] == "caller_hangup", fresh
    assert [r["turn"] for r in fresh["replies"]] == [0, 1], fresh
    assert fresh["sequencesContiguous"], fresh
    assert not fresh["incompleteTurns"], fresh


def test_hostile_input_gets_a_clear_answer_never_an_exception_in_the_gateway(
    fuzz_run: FuzzRun,
) -> None:
    # Every refusal is an `ended` event with its reason: no bare gRPC status, no handler that
    # dies with a traceback in the log (one per hostile connection would also flood the disk).
    bare = {k: n for k, n in fuzz_run.tally.outcomes.items() if ": status " in k}
    assert not bare, (SEED, bare)
    assert not fuzz_run.tracebacks, (SEED, fuzz_run.tracebacks)
