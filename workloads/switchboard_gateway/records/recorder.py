"""Builds a call's record from what the call sent: its tool results, history and latencies."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard_gateway.events import (
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

_SURROGATES = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as every store can keep it: NULs dropped, lone surrogates as U+FFFD.

    A caller's JSON may carry a lone surrogate (an escape that is no character) or NUL; SQLite's
    UTF-8 encoder and PostgreSQL's text type refuse them, which would lose the whole record.
    """
    return _SURROGATES.sub("\ufffd", text.replace("\x00", ""))


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
        end_reason: str,
        messages: list[dict[str, Any]],
        latencies: Sequence[TurnLatencyEvent],
    ) -> CallRecord:
        """The finished call's record, its text made storable (see `storable`)."""
        turns = tuple(
            dataclasses.replace(
                turn, caller_text=storable(turn.caller_text), agent_text=storable(turn.agent_text)
            )
            for turn in turns_from_history(messages, list(latencies))
        )
        tools = tuple(
            dataclasses.replace(call, name=storable(call.name), error=storable(call.error))
            for call in self._tool_calls
        )
        return CallRecord(
            call_id=self.call_id,
            agent=self.agent,
            channel=self.channel,
            started_at=self.started_at,
            ended_at=datetime.now(UTC),
            end_reason=end_reason,
            client_reference=storable(self.client_reference),
            turns=turns,
            tool_calls=tools,
        )

    async def save(self, store: CallStore | None, record: CallRecord) -> None:
        """Store the record; a failing store never fails the call that already ended."""
        if store is None:
            return
        try:
            await store.save(record)
        except Exception:
            log.exception("could not store the record of call %s", self.call_id)
