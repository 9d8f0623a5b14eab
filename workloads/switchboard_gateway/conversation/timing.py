"""When each stage of a turn started and ended: the latency event, and OpenTelemetry spans.

Stages are the wire's `LatencyStage`s; the event's fields and the spans' names derive from them.
Times are on the session's clock (monotonic seconds). Spans are emitted when the turn is over,
with their real start and end times, through whatever tracer provider the process installed
(none: the API's no-op tracer). Span attributes hold ids and numbers, never what was said.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Tracer

from switchboard_gateway.events import TurnLatencyEvent
from switchboard_wire.latency import LatencyStage

_TRACER = trace.get_tracer("switchboard_gateway")


@dataclass
class TurnTiming:
    """One caller turn's stage times; the first mark of a stage wins."""

    number: int
    #: When the caller stopped speaking (estimated from the audio timeline).
    speech_end: float
    stages: dict[LatencyStage, tuple[float, float]] = field(default_factory=dict)
    #: The reply's first audio came from the phrase cache (a declared fixed phrase).
    phrase_cache_hit: bool = False
    #: Heard at the caller's pause and answered in advance (ASR and LLM before the decision).
    speculative: bool = False

    def mark(self, stage: LatencyStage, start: float, end: float) -> None:
        """Record a stage's first occurrence."""
        self.stages.setdefault(stage, (start, end))

    def has(self, stage: LatencyStage) -> bool:
        """Whether the stage has happened in this turn."""
        return stage in self.stages

    def ms(self, stage: LatencyStage) -> int:
        """A stage's duration in milliseconds (0 when it did not happen)."""
        start, end = self.stages.get(stage, (0.0, 0.0))
        return round(max(0.0, end - start) * 1000)

    def latency_event(self, interrupted: bool) -> TurnLatencyEvent:
        """The event the client and the call record get."""
        stages = {stage: self.ms(stage) for stage in LatencyStage}
        return TurnLatencyEvent.of(
            self.number, stages, interrupted=interrupted, phrase_cache_hit=self.phrase_cache_hit
        )


def emit_turn_spans(
    timing: TurnTiming,
    ended: float,
    now: float,
    attributes: dict[str, str | int | bool],
    tracer: Tracer | None = None,
) -> None:
    """A `switchboard.turn` span from end of speech to `ended`, with a child span per stage.

    `now` is the session clock's current reading, used to place clock times on the wall clock.
    """
    tracer = tracer or _TRACER
    offset_ns = time.time_ns() - int(now * 1e9)

    def wall(t: float) -> int:
        return offset_ns + int(t * 1e9)

    turn = tracer.start_span(
        "switchboard.turn",
        start_time=wall(timing.speech_end),
        attributes={**attributes, "switchboard.turn": timing.number},
    )
    context = trace.set_span_in_context(turn)
    for stage, (start, end) in timing.stages.items():
        span = tracer.start_span(
            stage.span_name,
            context=context,
            start_time=wall(start),
            attributes={"switchboard.stage": stage.value},
        )
        span.end(end_time=wall(end))
    turn.end(end_time=wall(ended))


def finish_turn(
    timing: TurnTiming, interrupted: bool, now: float, call_id: str, agent: str
) -> TurnLatencyEvent:
    """A turn is over: its spans are emitted; returns its latency event."""
    attributes: dict[str, str | int | bool] = {
        "switchboard.call_id": call_id,
        "switchboard.agent": agent,
        "switchboard.interrupted": interrupted,
        "switchboard.speculative": timing.speculative,
    }
    emit_turn_spans(timing, now, now, attributes)
    return timing.latency_event(interrupted)
