"""The voice-to-voice benchmark's arithmetic: turns from events, percentiles, WER, cache exclusion.

Pure functions over what a call measured (no models, no network), so they are unit-tested. A
caller turn is everything the gateway sent between the start of one utterance and the start of
the next: its final transcripts (what the gateway heard), the reply's first piece of text, the
turn's latency event (stages, whether the first audio came from the phrase cache).
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from switchboard_gateway.events import (
    AgentTextEvent,
    OutboundEvent,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_serve.evaluation import word_error_rate

STAGE_KEYS = ("endpointing_ms", "asr_final_ms", "llm_ttft_ms", "tts_ttfb_ms", "voice_to_voice_ms")


@dataclass(frozen=True, slots=True)
class Utterance:
    """One caller turn: what is said, in which voice, as 16 kHz PCM16."""

    text: str
    voice: str
    pcm16: bytes


@dataclass
class TurnOutcome:
    """One caller turn as measured: latency at the client, and what the gateway heard and did."""

    voice: str
    said: str
    heard: str = ""
    #: End of the caller's speech to the first agent audio (None: no reply was heard).
    voice_to_voice_s: float | None = None
    phrase_cache_hit: bool = False
    #: The reply's first piece is a fixed phrase (greeting, apology, a declared phrase).
    fixed_phrase: bool = False
    stages: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        """Whether the turn's latency counts: replied, and not replayed unless a fixed phrase."""
        return self.voice_to_voice_s is not None and (
            not self.phrase_cache_hit or self.fixed_phrase
        )


def family(voice: str) -> str:
    """A voice's family: "piper", "espeak" (from "espeak:<variant>")."""
    return voice.split(":", 1)[0]


def turns_from_events(
    utterances: Sequence[Utterance],
    starts: Sequence[float],
    events: Iterable[tuple[float, OutboundEvent]],
    fixed_phrases: frozenset[str],
) -> list[TurnOutcome]:
    """Each spoken utterance's outcome, from the events that arrived in its window.

    `starts`: when each utterance began (monotonic, one per utterance spoken); turns not spoken
    are outcomes with nothing heard. Voice-to-voice is filled in by the caller of this function.
    """
    outcomes = [TurnOutcome(u.voice, u.text) for u in utterances]
    windows = [
        (start, starts[i + 1] if i + 1 < len(starts) else float("inf"))
        for i, start in enumerate(starts)
    ]
    timed = list(events)
    for outcome, (start, end) in zip(outcomes, windows, strict=False):
        inside = [e for t, e in timed if start <= t < end]
        finals: dict[int, str] = {}
        for event in inside:
            if isinstance(event, TranscriptEvent) and event.final:
                finals[event.turn] = event.text  # a joined turn is sent again, whole
        outcome.heard = " ".join(finals[turn] for turn in sorted(finals))
        texts = [e for e in inside if isinstance(e, AgentTextEvent) and e.turn in finals]
        latencies = [e for e in inside if isinstance(e, TurnLatencyEvent) and e.turn in finals]
        if texts:
            outcome.fixed_phrase = texts[0].text.strip() in fixed_phrases
        if latencies:
            first = latencies[0]
            outcome.phrase_cache_hit = first.phrase_cache_hit
            outcome.stages = {key: getattr(first, key) for key in STAGE_KEYS}
    return outcomes


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """p50 and p95 (nearest rank) in seconds, and how many values."""
    if not values:
        return {"p50_s": None, "p95_s": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3), "n": len(values)}


def wer_by_family(turns: Sequence[TurnOutcome]) -> dict[str, float]:
    """Word error rate of what the gateway heard against what was said, per voice family."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    for turn in turns:
        pairs.setdefault(family(turn.voice), []).append((turn.said, turn.heard))
    return {name: round(word_error_rate(p), 3) for name, p in sorted(pairs.items())}


def stage_medians(turns: Sequence[TurnOutcome]) -> dict[str, int]:
    """The median of each stage over the counted turns that reported stages."""
    staged = [t.stages for t in turns if t.counted and t.stages]
    if not staged:
        return {}
    return {key: int(statistics.median(s[key] for s in staged)) for key in STAGE_KEYS}


def summary(turns: Sequence[TurnOutcome], underruns: int) -> dict[str, Any]:
    """The latency of the counted turns beside WER, phrase-cache hits and missed replies."""
    counted = [t.voice_to_voice_s for t in turns if t.counted and t.voice_to_voice_s is not None]
    hits = [t for t in turns if t.phrase_cache_hit]
    return {
        **percentiles(counted),
        "underruns": underruns,
        "wer": wer_by_family(turns) if turns else {},
        "replies_missed": sum(t.voice_to_voice_s is None for t in turns),
        "phrase_cache_hits": len(hits),
        "phrase_cache_hits_fixed": sum(t.fixed_phrase for t in hits),
        "excluded_from_latency": sum(
            t.voice_to_voice_s is not None and not t.counted for t in turns
        ),
        "stage_medians": stage_medians(turns),
        "turns": [asdict(t) for t in turns],
    }


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The machine: CPU model, cores, and the load average before the run and now."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
