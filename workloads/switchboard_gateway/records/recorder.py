"""Builds a call's record from what the call sent: its tool results, history and latencies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard_gateway.events import (
    CallEndedEvent,
    OutboundEvent,
    ToolCallEvent,
    ToolResultEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.records.model import (
    CallRecord,
    CallStore,
    ToolCallRecord,
    turns_from_history,
)

log = logging.getLogger(__name__)


@dataclass
class CallRecorder:
    """Watches one call's outbound events; `save` stores the record when the call has ended."""

    call_id: str
    agent: str
    channel: str
    client_reference: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _tool_names: dict[str, str] = field(default_factory=dict)
    _tool_calls: list[ToolCallRecord] = field(default_factory=list)

    def observe(self, event: OutboundEvent) -> str:
        """Note a tool call or result; returns the tool's name for a result ("" otherwise)."""
        if isinstance(event, ToolCallEvent):
            self._tool_names[event.id] = event.name
        elif isinstance(event, ToolResultEvent):
            name = self._tool_names.get(event.id, "")
            self._tool_calls.append(
                ToolCallRecord(event.turn, name, event.ok, event.error, event.latency_ms)
            )
            return name
        return ""

    def record(
        self,
        ended: CallEndedEvent,
        messages: list[dict[str, Any]],
        latencies: Sequence[TurnLatencyEvent],
    ) -> CallRecord:
        """The finished call's record."""
        return CallRecord(
            call_id=self.call_id,
            agent=self.agent,
            channel=self.channel,
            started_at=self.started_at,
            ended_at=datetime.now(UTC),
            end_reason=ended.reason.value,
            client_reference=self.client_reference,
            turns=turns_from_history(messages, list(latencies)),
            tool_calls=tuple(self._tool_calls),
        )

    async def save(self, store: CallStore | None, record: CallRecord) -> None:
        """Store the record; a failing store never fails the call that already ended."""
        if store is None:
            return
        try:
            await store.save(record)
        except Exception:
            log.exception("could not store the record of call %s", self.call_id)
