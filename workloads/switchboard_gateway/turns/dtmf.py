"""Keypad digits into caller turns: collect keys by `callPolicy.dtmf`, say what was pressed.

Pure and clock-free: the caller of `press` and `expire` passes the time. Keys are collected until
the finish key (kept in the turn), `maxDigits` keys (never more than `MAX_KEYS`), or
`interDigitTimeoutMs` without a key; each collection becomes one caller turn ("The caller
pressed 1 2 3 #.").
"""

from __future__ import annotations

from dataclasses import dataclass

#: The keys a DTMF event may carry.
DTMF_KEYS = frozenset("0123456789*#ABCD")
#: The most keys one turn holds (the API's largest `maxDigits`): a caller pressing keys for ever
#: makes turns, which the turn rate limits, never one turn without end.
MAX_KEYS = 32


@dataclass(frozen=True, slots=True)
class DtmfRules:
    """How keys are collected into one turn (`callPolicy.dtmf`)."""

    max_digits: int | None = None
    finish_on_key: str | None = "#"
    inter_digit_timeout_s: float = 2.0


def pressed_text(keys: str) -> str:
    """The caller turn for a collection of keys, as the model reads it."""
    return f"The caller pressed {' '.join(keys)}."


class DtmfCollector:
    """Collects one call's keys into turns."""

    def __init__(self, rules: DtmfRules) -> None:
        self._rules = rules
        self._keys = ""
        self._due: float | None = None

    @property
    def due(self) -> float | None:
        """When the keys collected so far end their turn by timeout (None: none collected)."""
        return self._due

    @property
    def pending(self) -> str:
        """The keys collected so far for a turn not ended yet."""
        return self._keys

    def press(self, keys: str, now: float) -> list[str]:
        """Keys pressed at `now` (one event may carry several); returns each finished turn's keys.

        Keys outside `DTMF_KEYS` are the transport's to refuse; here they raise `ValueError`.
        """
        finished: list[str] = []
        for key in keys:
            if key not in DTMF_KEYS:
                raise ValueError(f"not a DTMF key: {key!r}")
            self._keys += key
            rules = self._rules
            most = min(rules.max_digits or MAX_KEYS, MAX_KEYS)
            if key == rules.finish_on_key or len(self._keys) >= most:
                finished.append(self._keys)
                self._keys = ""
        self._due = now + self._rules.inter_digit_timeout_s if self._keys else None
        return finished

    def expire(self, now: float) -> str | None:
        """The keys whose turn has timed out by `now`, or None (nothing due yet)."""
        if self._due is None or now < self._due - 1e-9:
            return None
        keys, self._keys, self._due = self._keys, "", None
        return keys
