"""Status conditions: component checks in, a kstatus condition set out (pure).

`Ready` is the conjunction of every component check and carries the reason of the first one
that fails; `Stalled` says the spec cannot be reconciled as written; `Reconciling` says the
operator is waiting for children to converge. A condition's `lastTransitionTime` moves only
when its status changes, so writing status only when it changes is a plain equality test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from switchboard_operator.naming import Manifest


@dataclass(frozen=True)
class Check:
    """One component's observed state, e.g. `GatewayReady`."""

    type: str
    ok: bool
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Stall:
    """Why the spec cannot be reconciled as written (a user must change something)."""

    reason: str
    message: str


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    previous: dict[str, Manifest],
    now: str,
) -> Manifest:
    status = "True" if ok else "False"
    before = previous.get(type_)
    changed = before is None or before.get("status") != status
    return {
        "type": type_,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": now if changed or before is None else before["lastTransitionTime"],
        "reason": reason,
        "message": message[:32768],
    }


def condition_set(
    previous: Sequence[Manifest],
    checks: Sequence[Check],
    stall: Stall | None,
    generation: int,
    now: datetime,
) -> list[Manifest]:
    """The full condition list: Ready, Reconciling, Stalled, then one per check."""
    before = {c["type"]: c for c in previous if "type" in c}
    stamp = timestamp(now)
    failing = next((c for c in checks if not c.ok), None)
    if stall is not None:
        ready = _condition("Ready", False, stall.reason, stall.message, generation, before, stamp)
    elif failing is not None:
        ready = _condition(
            "Ready", False, failing.reason, failing.message, generation, before, stamp
        )
    else:
        ready = _condition("Ready", True, "Reconciled", "", generation, before, stamp)
    reconciling = _condition(
        "Reconciling",
        stall is None and failing is not None,
        failing.reason if stall is None and failing is not None else "Reconciled",
        failing.message if stall is None and failing is not None else "",
        generation,
        before,
        stamp,
    )
    stalled = _condition(
        "Stalled",
        stall is not None,
        stall.reason if stall is not None else "Reconciled",
        stall.message if stall is not None else "",
        generation,
        before,
        stamp,
    )
    return [
        ready,
        reconciling,
        stalled,
        *(_condition(c.type, c.ok, c.reason, c.message, generation, before, stamp) for c in checks),
    ]


def condition(conditions: Sequence[Manifest], type_: str) -> Manifest | None:
    """The condition of a type, if present."""
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Sequence[Manifest], type_: str) -> bool:
    """Whether a condition of this type is present and True."""
    found = condition(conditions, type_)
    return found is not None and found.get("status") == "True"
