"""Drift: every latency stage reaches metrics, events, both wire formats, spans and records.

The stage list is `switchboard_wire.latency.LatencyStage`. Each test below gives every stage a
distinct value and looks for it at one destination, so a stage added to the enum fails here
until it reaches everywhere: derived places pick it up by themselves, typed ones (the event and
record fields, the proto message, the console's script) name what needs a hand.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_gateway.conversation.timing import TurnTiming, emit_turn_spans
from switchboard_gateway.events import TurnLatencyEvent
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_gateway.records.model import CallRecord, TurnRecord, turns_from_history
from switchboard_gateway.records.schema import TURN_COLUMNS, statements
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.transports.grpc.codec import outbound_from_proto, outbound_to_proto
from switchboard_gateway.transports.websocket.codec import outbound_to_json
from switchboard_wire.latency import LatencyStage
from tests.tools import REPO_ROOT

pytestmark = pytest.mark.unit

#: A distinct duration per stage: 101 ms, 102 ms, ...
STAGE_MS = {stage: 101 + i for i, stage in enumerate(LatencyStage)}
EVENT = TurnLatencyEvent.of(2, STAGE_MS, interrupted=True)


def _stage_fields(names: set[str]) -> set[str]:
    return {name for name in names if name.endswith("_ms")}


def test_stage_names_are_unique_on_every_wire() -> None:
    for attribute in ("value", "field", "json_key", "span_name"):
        names = [getattr(stage, attribute) for stage in LatencyStage]
        assert len(set(names)) == len(names), attribute


def test_the_latency_event_has_exactly_one_field_per_stage() -> None:
    names = {f.name for f in fields(TurnLatencyEvent)}
    assert _stage_fields(names) == {stage.field for stage in LatencyStage}
    assert all(EVENT.ms(stage) == ms for stage, ms in STAGE_MS.items())


def test_metrics_observe_every_stage() -> None:
    metrics = GatewayMetrics()
    metrics.observe("a/b", EVENT)
    for stage, ms in STAGE_MS.items():
        total = metrics.value(
            "switchboard_stage_latency_seconds_sum", agent="a/b", stage=stage.value
        )
        assert total == pytest.approx(ms / 1000), stage


def test_both_wire_formats_carry_every_stage() -> None:
    assert outbound_from_proto(outbound_to_proto(EVENT)) == EVENT
    proto_fields = set(pb.TurnLatency.DESCRIPTOR.fields_by_name)
    assert {stage.field for stage in LatencyStage} <= proto_fields
    body = json.loads(outbound_to_json(EVENT))
    assert all(body[stage.json_key] == ms for stage, ms in STAGE_MS.items())


def test_every_stage_becomes_a_span_and_a_field_of_the_turns_event() -> None:
    timing = TurnTiming(2, speech_end=10.0)
    for stage, ms in STAGE_MS.items():
        timing.mark(stage, 10.0, 10.0 + ms / 1000)
    assert timing.latency_event(interrupted=True) == EVENT
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit_turn_spans(timing, 11.0, 11.0, {}, tracer=provider.get_tracer("test"))
    names = {span.name for span in exporter.get_finished_spans()}
    assert names == {"switchboard.turn"} | {stage.span_name for stage in LatencyStage}


def test_call_records_store_every_stage(tmp_path: Path) -> None:
    names = {f.name for f in fields(TurnRecord)}
    assert _stage_fields(names) == {stage.field for stage in LatencyStage}
    assert [name for name, _ in TURN_COLUMNS] == [f.name for f in fields(TurnRecord)]
    for dialect in ("sqlite", "postgres"):
        assert set(statements(dialect).add_stage_column) == {s.field for s in LatencyStage}
    messages = [{"role": "user", "content": "Hours?"}, {"role": "assistant", "content": "9-5."}]
    (turn,) = turns_from_history(messages, [TurnLatencyEvent.of(1, STAGE_MS)])
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    record = CallRecord("c1", "a/b", "grpc", now, now, "caller_hangup", turns=(turn,))

    async def round_trip() -> CallRecord | None:
        store = SqliteCallStore(tmp_path / "calls.db")
        try:
            await store.save(record)
            return await store.get("c1")
        finally:
            await store.close()

    stored = asyncio.run(round_trip())
    assert stored is not None
    assert all(getattr(stored.turns[0], stage.field) == ms for stage, ms in STAGE_MS.items())


def test_the_console_shows_every_stage() -> None:
    script = (REPO_ROOT / "workloads/switchboard_gateway/console/console.js").read_text()
    for stage in LatencyStage:
        assert f'"{stage.json_key}"' in script or f".{stage.json_key}" in script, stage
