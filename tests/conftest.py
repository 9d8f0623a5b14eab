"""Test tiers: every test carries exactly one tier marker; a per-tier report is written for CI."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

TIERS = ("unit", "models", "storage", "cluster", "node", "e2e", "browser", "hostile", "gpu")
_counts: dict[str, Counter[str]] = {tier: Counter() for tier in TIERS}
#: Tier of every collected test by node id (keywords would also match parameter ids like "gpu").
_tiers: dict[str, str] = {}


def _tier(item: pytest.Item) -> str:
    tiers = [m.name for m in item.iter_markers() if m.name in TIERS]
    if len(tiers) != 1:
        raise pytest.UsageError(
            f"{item.nodeid} needs exactly one tier marker of {TIERS}, has {tiers}"
        )
    return tiers[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _tiers[item.nodeid] = _tier(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = _tiers.get(report.nodeid)
    if tier is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "error" if report.when == "setup" and report.failed else report.outcome
        _counts[tier][outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = os.environ.get("SWITCHBOARD_TIER_REPORT")
    if report:  # CI prints its own annotated table from the report
        Path(report).write_text(json.dumps({t: dict(c) for t, c in _counts.items()}, indent=2))
        return
    terminalreporter.section("tests per tier")
    for tier in TIERS:
        c = _counts[tier]
        terminalreporter.write_line(
            f"{tier:8s} passed={c['passed']} failed={c['failed']} "
            f"skipped={c['skipped']} errors={c['error']}"
        )


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A real PostgreSQL server for the whole session (fails, never skips, when missing)."""
    from tests.postgres import postgres_server

    with postgres_server() as dsn:
        yield dsn
