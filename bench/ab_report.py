"""The A/B report of bench/ab_pipecat.py: per-run percentiles, per-pair ratios, a markdown table.

Pure: every figure comes from the runs' measured values, so it is tested with made-up runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SYSTEMS = ("switchboard", "pipecat")


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 (the median) and p95 (nearest rank), as bench/voice_to_voice.py computes them."""
    if not values:
        return {"p50_s": None, "p95_s": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3)}


def ratio(switchboard: float | None, pipecat: float | None) -> float | None:
    """Switchboard / Pipecat (below 1: Switchboard is faster); None when either is missing."""
    if switchboard is None or pipecat is None or pipecat <= 0:
        return None
    return round(switchboard / pipecat, 3)


def median_or_none(values: Sequence[float | None]) -> float | None:
    """The median of the values that exist; None when none do."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


@dataclass
class Run:
    """One fresh run of one system: its latencies and what it heard."""

    system: str
    p50_s: float | None
    p95_s: float | None
    turns: int
    missed: int
    wer: dict[str, float | None] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)


@dataclass
class Pair:
    """One Switchboard run and one Pipecat run, back to back, in `order`."""

    config: str
    order: tuple[str, ...]
    runs: dict[str, Run]

    def ratios(self) -> dict[str, float | None]:
        """Switchboard/Pipecat at p50 and p95."""
        sb, pc = self.runs.get("switchboard"), self.runs.get("pipecat")
        return {
            "p50": ratio(sb.p50_s if sb else None, pc.p50_s if pc else None),
            "p95": ratio(sb.p95_s if sb else None, pc.p95_s if pc else None),
        }


def summary(pairs: Sequence[Pair]) -> dict[str, Any]:
    """Per configuration: median per-pair ratios, median p50/p95, WER and replies missed."""
    out: dict[str, Any] = {}
    for config in dict.fromkeys(p.config for p in pairs):
        mine = [p for p in pairs if p.config == config]
        entry: dict[str, Any] = {
            "pairs": len(mine),
            "median_ratio_p50": median_or_none([p.ratios()["p50"] for p in mine]),
            "median_ratio_p95": median_or_none([p.ratios()["p95"] for p in mine]),
        }
        for system in SYSTEMS:
            runs = [p.runs[system] for p in mine if system in p.runs]
            families = sorted({family for r in runs for family in r.wer})
            entry[system] = {
                "median_p50_s": median_or_none([r.p50_s for r in runs]),
                "median_p95_s": median_or_none([r.p95_s for r in runs]),
                "missed": sum(r.missed for r in runs),
                "turns": sum(r.turns for r in runs),
                "median_wer": {f: median_or_none([r.wer.get(f) for r in runs]) for f in families},
            }
        out[config] = entry
    return out


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _wer(run: Run | None) -> str:
    if run is None or not run.wer:
        return "-"
    return ", ".join(f"{family} {_cell(value)}" for family, value in sorted(run.wer.items()))


def _load(run: Run | None) -> str:
    if run is None or not run.load:
        return "-"
    return f"{run.load.get('before', 0):.1f}→{run.load.get('after', 0):.1f}"


def markdown(pairs: Sequence[Pair]) -> str:
    """One row per pair, then the medians per configuration."""
    lines = [
        "| config | pair | order | Switchboard p50 / p95 (s) | Pipecat p50 / p95 (s) "
        "| ratio p50 | ratio p95 | WER Switchboard | WER Pipecat | missed SB / PC "
        "| load 1 min SB / PC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    numbers: dict[str, int] = {}
    for pair in pairs:
        numbers[pair.config] = index = numbers.get(pair.config, 0) + 1
        sb, pc = pair.runs.get("switchboard"), pair.runs.get("pipecat")
        ratios = pair.ratios()
        lines.append(
            f"| {pair.config} | {index} | {' → '.join(pair.order)} "
            f"| {_cell(sb.p50_s if sb else None)} / {_cell(sb.p95_s if sb else None)} "
            f"| {_cell(pc.p50_s if pc else None)} / {_cell(pc.p95_s if pc else None)} "
            f"| {_cell(ratios['p50'])} | {_cell(ratios['p95'])} | {_wer(sb)} | {_wer(pc)} "
            f"| {sb.missed if sb else '-'} / {pc.missed if pc else '-'} "
            f"| {_load(sb)} / {_load(pc)} |"
        )
    lines.append("")
    lines.append("| config | median ratio p50 | median ratio p95 | replies missed SB / PC |")
    lines.append("|---|---|---|---|")
    for config, entry in summary(pairs).items():
        sb, pc = entry["switchboard"], entry["pipecat"]
        lines.append(
            f"| {config} | {_cell(entry['median_ratio_p50'])} "
            f"| {_cell(entry['median_ratio_p95'])} "
            f"| {sb['missed']} of {sb['turns']} / {pc['missed']} of {pc['turns']} |"
        )
    return "\n".join(lines) + "\n"
