"""The hostile tier: its own `switchboard up` (own state directory and ports) with real models."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Platform, start_up, stop, wait_until_up


@dataclass
class Hostile:
    """The platform under attack and how to read its counters, records and memory."""

    platform: Platform

    @property
    def token(self) -> str:
        """The per-run token from running.json ("" where `up` has none)."""
        raw = json.loads((self.platform.state_dir / "running.json").read_text())
        return str(raw.get("token", ""))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def metric(self, name: str) -> float:
        """The sum of a metric's samples over all labels (`switchboard_calls_total`, ...)."""
        answer = httpx.get(
            self.platform.running.console_url + "metrics", headers=self._headers(), timeout=10
        )
        answer.raise_for_status()
        return sum(
            sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
            if sample.name == name
        )

    def records(self) -> dict[str, int]:
        """Stored call records by end reason (the database opened read-only)."""
        uri = f"file:{self.platform.state_dir / 'calls.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=10) as db:
            rows = db.execute("SELECT end_reason, count(*) FROM calls GROUP BY end_reason")
            return {str(reason): int(n) for reason, n in rows}

    def rss_mib(self) -> float:
        """Resident memory of the `up` process (the gateway runs in it), in MiB."""
        status = Path(f"/proc/{self.platform.running.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def tracebacks(self) -> dict[str, int]:
        """Exceptions `up` logged with a traceback, by class (`ConnectionClosedOK`, ...)."""
        found: dict[str, int] = {}
        lines = self.platform.log.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if not line.startswith("Traceback (most recent call last)"):
                continue
            last = next((x for x in lines[number + 1 :] if x and not x[0].isspace()), "?")
            name = last.split(":", 1)[0].rsplit(".", 1)[-1]
            found[name] = found.get(name, 0) + 1
        return found

    def alive(self) -> bool:
        """Whether the `up` process is still running."""
        return self.platform.process.poll() is None

    def settled(self, timeout_s: float = 60.0) -> tuple[int, float]:
        """Once no call is active and the records stop changing: (records, calls_total)."""
        deadline = time.monotonic() + timeout_s
        last = -1
        while True:
            stored = sum(self.records().values())
            total = self.metric("switchboard_calls_total")
            idle = self.metric("switchboard_active_calls") == 0
            if (idle and stored == total and stored == last) or time.monotonic() > deadline:
                return stored, total
            last = stored
            time.sleep(1.0)


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """`switchboard up` with the receptionist, for the whole tier."""
    state_dir = tmp_path_factory.mktemp("hostile-home")
    log = state_dir.parent / "hostile-up.log"
    # Up to `fuzz.ADMITTED_AT_ONCE` hostile calls run beside the canary: room for them all (the
    # default capacity, a call per core, is sized for latency; this tier tests robustness).
    process = start_up(state_dir, log, "--capacity", "6")
    try:
        running = wait_until_up(process, state_dir, log)
        yield Hostile(Platform(process, state_dir, running, log))
    finally:
        if process.poll() is None:
            stop(process)
