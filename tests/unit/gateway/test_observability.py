"""Metrics fed by call events, and per-turn OpenTelemetry spans placed on the real timeline."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_gateway.conversation.timing import TurnTiming, emit_turn_spans
from switchboard_gateway.events import ClearEvent, ToolResultEvent, TurnLatencyEvent
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_wire.latency import LatencyStage

pytestmark = pytest.mark.unit
AGENT = "acme/receptionist"


def test_metrics_count_calls_stages_barge_ins_and_tools() -> None:
    metrics = GatewayMetrics()
    metrics.call_started(AGENT)
    metrics.call_started(AGENT)
    assert metrics.value("switchboard_active_calls", agent=AGENT) == 2
    metrics.observe(AGENT, TurnLatencyEvent(1, 400, 150, 90, 0, 1100))
    metrics.observe(AGENT, ClearEvent(1, 42))
    metrics.observe(AGENT, ToolResultEvent(1, "t1", True, "", 120), tool="get_hours")
    metrics.observe(AGENT, ToolResultEvent(1, "t2", False, "timed out", 2000), tool="get_hours")
    metrics.call_ended(AGENT, "caller_hangup")
    assert metrics.value("switchboard_active_calls", agent=AGENT) == 1
    assert metrics.value("switchboard_calls_total", agent=AGENT, outcome="caller_hangup") == 1
    count = "switchboard_stage_latency_seconds_count"
    assert metrics.value(count, agent=AGENT, stage="voice_to_voice") == 1
    assert metrics.value(count, agent=AGENT, stage="tts_ttfb") == 0, "0 ms means did not run"
    v2v = metrics.value(
        "switchboard_stage_latency_seconds_sum", agent=AGENT, stage="voice_to_voice"
    )
    assert v2v == pytest.approx(1.1)
    assert metrics.value("switchboard_barge_ins_total", agent=AGENT) == 1
    assert metrics.value("switchboard_tool_call_seconds_count", agent=AGENT, tool="get_hours") == 2
    errors = metrics.value("switchboard_tool_call_errors_total", agent=AGENT, tool="get_hours")
    assert errors == 1
    text = metrics.exposition().decode()
    assert 'switchboard_calls_total{agent="acme/receptionist",outcome="caller_hangup"} 1.0' in text


def test_two_gateways_do_not_share_counters() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.call_started(AGENT)
    assert second.value("switchboard_active_calls", agent=AGENT) == 0


def test_a_turn_span_holds_one_child_per_stage_at_its_real_times() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    timing = TurnTiming(3, speech_end=100.0)
    timing.mark(LatencyStage.VAD_ENDPOINT, 100.0, 100.5)
    timing.mark(LatencyStage.ASR_FINAL, 100.5, 100.65)
    timing.mark(LatencyStage.LLM_TTFT, 100.65, 100.75)
    timing.mark(LatencyStage.LLM_TTFT, 101.0, 102.0)  # a later token: the first mark stays
    timing.mark(LatencyStage.VOICE_TO_VOICE, 100.0, 100.95)
    assert timing.latency_event(False) == TurnLatencyEvent(3, 500, 150, 100, 0, 950, False)
    wall_before = time.time_ns()
    emit_turn_spans(
        timing,
        ended=103.0,
        now=103.0,
        attributes={"switchboard.call_id": "c1"},
        tracer=provider.get_tracer("test"),
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    turn = spans["switchboard.turn"]
    assert turn.attributes is not None
    assert turn.attributes["switchboard.turn"] == 3
    assert turn.attributes["switchboard.call_id"] == "c1"
    assert turn.end_time is not None
    assert turn.start_time is not None
    assert turn.end_time - turn.start_time == pytest.approx(3e9, abs=1e6)
    assert abs(turn.end_time - wall_before) < 1e9, "placed at now on the wall clock"
    asr = spans["switchboard.asr_final"]
    assert asr.parent is not None
    assert asr.parent.span_id == turn.context.span_id
    assert asr.start_time is not None
    assert asr.end_time is not None
    assert asr.start_time - turn.start_time == pytest.approx(0.5e9, abs=1e6)
    assert asr.end_time - asr.start_time == pytest.approx(0.15e9, abs=1e6)
    llm = spans["switchboard.llm_ttft"]
    assert llm.end_time is not None
    assert llm.start_time is not None
    assert llm.end_time - llm.start_time == pytest.approx(0.1e9, abs=1e6)
    assert set(spans) == {
        "switchboard.turn",
        "switchboard.vad_endpoint",
        "switchboard.asr_final",
        "switchboard.llm_ttft",
        "switchboard.voice_to_voice",
    }
