"""Call records: what happened in a call, kept for review and analytics, with retention by age."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from switchboard_gateway.events import TurnLatencyEvent
from switchboard_wire.latency import LatencyStage


@dataclass(frozen=True)
class TurnRecord:
    """One caller turn and the agent's answer (as heard, after any barge-in).

    One `<stage>_ms` field per `LatencyStage` (its `field`), like the turn's latency event; the
    tables' columns are these fields (`schema.TURN_COLUMNS`).
    """

    number: int
    caller_text: str
    agent_text: str
    endpointing_ms: int = 0
    asr_final_ms: int = 0
    llm_ttft_ms: int = 0
    tts_ttfb_ms: int = 0
    voice_to_voice_ms: int = 0
    interrupted: bool = False
    retrieval_ms: int = 0


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call's outcome (no arguments or results: they may be private)."""

    turn: int
    name: str
    ok: bool
    error: str
    latency_ms: int


@dataclass(frozen=True)
class CallHeader:
    """Who called whom, when, over what, and how the call ended."""

    call_id: str
    agent: str
    channel: str
    started_at: datetime
    ended_at: datetime
    end_reason: str
    client_reference: str = ""
    #: The call had more turns or text than its record keeps (`callPolicy.limits`): the first
    #: ones are stored, the rest left out.
    truncated: bool = False
    #: The call's recording (`file:<name>` or `s3://bucket/key`), "" when it was not recorded.
    recording: str = ""
    #: A phone call's provider (`twilio`, `jambonz`), its call id there, the numbers (or SIP
    #: URIs) it came from and went to, and `inbound`/`outbound`: all "" on other calls. The
    #: numbers are personal data: kept like transcripts (`retention.transcriptsDays`), never
    #: logged.
    phone_provider: str = ""
    phone_call_sid: str = ""
    phone_from: str = ""
    phone_to: str = ""
    phone_direction: str = ""


@dataclass(frozen=True)
class CallRecord(CallHeader):
    """A finished call."""

    turns: tuple[TurnRecord, ...] = field(default_factory=tuple)
    tool_calls: tuple[ToolCallRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CallSummary(CallHeader):
    """A finished call in a list: its header and how many turns it had."""

    turns: int = 0


@dataclass(frozen=True)
class CallPage:
    """One call with a page of its turns (and the tool calls of those turns)."""

    record: CallRecord
    #: How many turns the stored call has in all.
    turns_total: int
    #: Where the next page starts (a turn number), or None when this page is the last.
    next_turns_from: int | None


class CallStoreUnavailableError(Exception):
    """The store cannot be reached or set up (the message names where, never credentials)."""


class CallStore(Protocol):
    """Where call records live (SQLite embedded, PostgreSQL in a cluster)."""

    async def save(self, record: CallRecord) -> None:
        """Store a finished call (idempotent by call id)."""
        ...

    async def get(self, call_id: str) -> CallRecord | None:
        """A call by id, all its turns (bounded by the record limits when it was stored)."""
        ...

    async def page(self, call_id: str, turns_from: int, turns_limit: int) -> CallPage | None:
        """A call by id with at most `turns_limit` turns, numbered `turns_from` and up."""
        ...

    async def recent(self, limit: int, before: str | None = None) -> list[CallSummary]:
        """The latest `limit` calls, most recently ended first.

        With `before` (a call id: the last of the previous page), the calls listed after it.
        """
        ...

    async def delete_ended_before(self, cutoff: datetime) -> int:
        """Retention: remove calls that ended before `cutoff`; returns how many."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def turns_from_history(
    messages: list[dict[str, Any]], latencies: list[TurnLatencyEvent]
) -> tuple[TurnRecord, ...]:
    """Pair each caller message with what the agent said after it (turn 0: the greeting)."""
    by_turn = {latency.turn: latency for latency in latencies}
    turns: list[tuple[str, list[str]]] = [("", [])]
    for message in messages:
        if message["role"] == "user":
            turns.append((str(message["content"]), []))
        elif message["role"] == "assistant" and message.get("content"):
            turns[-1][1].append(str(message["content"]))
    records = []
    for number, (caller, agent) in enumerate(turns):
        if number == 0 and not agent:
            continue
        latency = by_turn.get(number, TurnLatencyEvent(number))
        stages: dict[str, Any] = {stage.field: latency.ms(stage) for stage in LatencyStage}
        records.append(
            TurnRecord(number, caller, " ".join(agent), interrupted=latency.interrupted, **stages)
        )
    return tuple(records)
