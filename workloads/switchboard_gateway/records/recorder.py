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
    TelephonyCall,
    ToolCallEvent,
    ToolResultEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.records.model import (
    CallRecord,
    CallStore,
    ToolCallRecord,
    TurnRecord,
    turns_from_history,
)

log = logging.getLogger(__name__)

#: The most characters a phone field keeps (a SIP URI from a carrier is the longest expected).
MAX_PHONE_FIELD = 256
_SURROGATES = re.compile("[\ud800-\udfff]")
_NOT_A_PHONE_CALL = TelephonyCall("", "", direction="")


def storable(text: str) -> str:
    """`text` as every store can keep it: NULs dropped, lone surrogates as U+FFFD.

    A caller's JSON may carry a lone surrogate (an escape that is no character) or NUL; SQLite's
    UTF-8 encoder and PostgreSQL's text type refuse them, which would lose the whole record.
    """
    return _SURROGATES.sub("\ufffd", text.replace("\x00", ""))


def _phone_field(value: str) -> str:
    """A phone call's field as the record keeps it: storable, at most `MAX_PHONE_FIELD` long."""
    return storable(value)[:MAX_PHONE_FIELD]


@dataclass
class CallRecorder:
    """Watches one call's outbound events; `save` stores the record when the call has ended."""

    call_id: str
    agent: str
    channel: str
    client_reference: str = ""
    #: What the record keeps at most (`callPolicy.limits.maxRecordTurns`, `maxRecordBytes`).
    max_turns: int = 500
    max_bytes: int = 1_000_000
    #: The phone call behind the call (`StartCall.telephony`), None on other transports.
    telephony: TelephonyCall | None = None
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
        """The finished call's record, its text made storable (see `storable`).

        It keeps the first turns within `max_turns` and `max_bytes` of text, and the tool calls
        of those turns; when any are left out it is marked `truncated`.
        """
        all_turns = turns_from_history(messages, list(latencies))
        kept: list[TurnRecord] = []
        size = 0
        for turn in all_turns:
            caller, agent = storable(turn.caller_text), storable(turn.agent_text)
            size += len(caller.encode()) + len(agent.encode())
            if len(kept) >= self.max_turns or size > self.max_bytes:
                break
            kept.append(dataclasses.replace(turn, caller_text=caller, agent_text=agent))
        truncated = len(kept) < len(all_turns)
        last = kept[-1].number if kept else -1
        calls = [c for c in self._tool_calls if not truncated or c.turn <= last]
        tools = tuple(
            dataclasses.replace(call, name=storable(call.name), error=storable(call.error))
            for call in calls[: self.max_turns * 4]
        )
        truncated = truncated or len(tools) < len(calls)
        phone = self.telephony or _NOT_A_PHONE_CALL
        return CallRecord(
            call_id=self.call_id,
            agent=self.agent,
            channel=self.channel,
            started_at=self.started_at,
            ended_at=datetime.now(UTC),
            end_reason=end_reason,
            client_reference=storable(self.client_reference),
            truncated=truncated,
            phone_provider=_phone_field(phone.provider),
            phone_call_sid=_phone_field(phone.call_sid),
            phone_from=_phone_field(phone.from_number),
            phone_to=_phone_field(phone.to_number),
            phone_direction=_phone_field(phone.direction),
            turns=tuple(kept),
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
