"""Prometheus metrics of one gateway process (`switchboard_` prefix), fed by call events.

Each gateway owns a registry, so several gateways in one process (tests, `switchboard up`) do not
share counters. Labels are agent keys, outcomes, stages and tool names: never caller data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from switchboard_gateway.events import (
    ClearEvent,
    OutboundEvent,
    ToolResultEvent,
    TurnLatencyEvent,
)
from switchboard_wire.latency import LatencyStage

#: Voice latencies live between ~50 ms and a few seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0)
TOOL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """The gateway's counters, gauges and histograms."""

    #: What `generate_latest` writes: the classic text format every Prometheus version reads.
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge(
            "switchboard_active_calls", "Calls in progress.", ["agent"], registry=r
        )
        self.calls = Counter(
            "switchboard_calls", "Calls ended, by outcome.", ["agent", "outcome"], registry=r
        )
        self.rejected = Counter(
            "switchboard_calls_rejected",
            "Calls refused at start (overloaded, draining, unknown agent, bad key, bad start).",
            ["reason"],
            registry=r,
        )
        self.token_requests = Counter(
            "switchboard_call_token_requests",
            "Requests to mint call tokens, by outcome (minted, unauthorized, bad_request).",
            ["outcome"],
            registry=r,
        )
        self.stage_latency = Histogram(
            "switchboard_stage_latency_seconds",
            "Per-turn stage latency; voice_to_voice: end of caller speech to first agent audio.",
            ["agent", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.barge_ins = Counter(
            "switchboard_barge_ins",
            "Agent speech interrupted by the caller.",
            ["agent"],
            registry=r,
        )
        self.tool_latency = Histogram(
            "switchboard_tool_call_seconds",
            "Tool call duration, retries included.",
            ["agent", "tool"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        self.tool_errors = Counter(
            "switchboard_tool_call_errors", "Tool calls that failed.", ["agent", "tool"], registry=r
        )
        self.dropped_frames = Counter(
            "switchboard_dropped_frames",
            "Agent audio frames dropped because the client read too slowly.",
            ["agent"],
            registry=r,
        )
        self.phrase_cache_lookups = Counter(
            "switchboard_phrase_cache_lookups",
            "Speech looked up in the phrase cache (greetings, fillers, declared phrases).",
            ["result"],
            registry=r,
        )
        for result in ("hit", "miss"):
            self.phrase_cache_lookups.labels(result)

    def call_started(self, agent: str) -> None:
        """A call was admitted."""
        self.active_calls.labels(agent).inc()

    def call_ended(self, agent: str, outcome: str) -> None:
        """An admitted call ended."""
        self.active_calls.labels(agent).dec()
        self.calls.labels(agent, outcome).inc()

    def phrase_cache_lookup(self, hit: bool) -> None:
        """The phrase cache was asked for a text's speech."""
        self.phrase_cache_lookups.labels("hit" if hit else "miss").inc()

    def observe(self, agent: str, event: OutboundEvent, tool: str = "") -> None:
        """Count what an outbound event says about the call (`tool`: a tool result's name)."""
        if isinstance(event, TurnLatencyEvent):
            for stage in LatencyStage:
                ms = event.ms(stage)
                if ms > 0:  # 0: the stage did not happen (typed text, an interrupted turn)
                    self.stage_latency.labels(agent, stage.value).observe(ms / 1000)
        elif isinstance(event, ClearEvent):
            self.barge_ins.labels(agent).inc()
        elif isinstance(event, ToolResultEvent):
            self.tool_latency.labels(agent, tool).observe(event.latency_ms / 1000)
            if not event.ok:
                self.tool_errors.labels(agent, tool).inc()

    def value(self, sample: str, **labels: str) -> float:
        """One sample's current value (0 when never set), e.g. `switchboard_calls_total`."""
        return self.registry.get_sample_value(sample, labels) or 0.0

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
