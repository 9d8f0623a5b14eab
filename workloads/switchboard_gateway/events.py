"""The call's events in the gateway's own terms; each transport maps them to its wire format."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from switchboard_wire.latency import LatencyStage


class ProtocolError(ValueError):
    """The client broke the protocol; the call ends with this message, the process does not."""


class Encoding(enum.Enum):
    """Audio sample encodings a transport may carry."""

    PCM16 = "pcm16"
    MULAW = "mulaw"


SUPPORTED_RATES = (8_000, 16_000, 24_000, 48_000)
#: Largest client message a transport accepts (a generous second of 48 kHz PCM16).
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """Mono audio at `sample_rate` in `encoding`."""

    sample_rate: int = 16_000
    encoding: Encoding = Encoding.PCM16

    @classmethod
    def checked(cls, sample_rate: object, encoding: Encoding, field: str) -> AudioFormat:
        """A format a client declared; an unsupported rate is a protocol error naming `field`."""
        rate = next((r for r in SUPPORTED_RATES if r == sample_rate), None)
        if rate is None:
            raise ProtocolError(f"unsupported {field} {sample_rate}; supported: {SUPPORTED_RATES}")
        return cls(rate, encoding)


# --- from the caller --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelephonyCall:
    """A phone call behind the start, as the telephony provider names it (Twilio, jambonz)."""

    provider: str
    #: The provider's call id (Twilio `CallSid`, jambonz `call_sid`).
    call_sid: str
    from_number: str = ""
    to_number: str = ""
    #: "inbound" (the caller rang the agent) or "outbound" (the agent placed the call).
    direction: str = "inbound"
    #: The provider's stream id (Twilio `streamSid`), when it has one.
    stream_sid: str = ""
    #: The caller's display name, when the carrier sent one (jambonz `caller_name`).
    caller_name: str = ""


@dataclass(frozen=True, slots=True)
class StartCall:
    """The first event of every call."""

    agent: str
    api_key: str = ""
    input_format: AudioFormat = AudioFormat()
    output_format: AudioFormat = AudioFormat()
    variables: dict[str, str] = field(default_factory=dict)
    client_reference: str = ""
    #: Set by the transport, never read from the wire: the connection's peer address and the
    #: `X-Forwarded-For` it sent (believed only from a public agent's trusted proxies).
    peer: str = ""
    forwarded_for: str = ""
    #: Set by telephony transports: the phone call (its numbers become prompt variables).
    telephony: TelephonyCall | None = None
    #: The transport reports playback (`CallerPlayed`): what the caller heard is what it says,
    #: not the gateway's estimate (Twilio marks).
    reports_playback: bool = False


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """Caller audio in the call's input format."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CallerText:
    """A typed caller turn."""

    text: str


@dataclass(frozen=True, slots=True)
class CallerDtmf:
    """Keypad digits."""

    digits: str


@dataclass(frozen=True, slots=True)
class CallerHangup:
    """The caller ended the call."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallerPlayed:
    """The caller's side has played agent audio up to frame `sequence` (from the transport)."""

    sequence: int


InboundEvent = CallerAudio | CallerText | CallerDtmf | CallerHangup | CallerPlayed


# --- to the caller ----------------------------------------------------------------------------


class EndReason(enum.Enum):
    """Why a call ended (the proto's `CallEnded.Reason`)."""

    CALLER_HANGUP = "caller_hangup"
    AGENT_ENDED = "agent_ended"
    TRANSFERRED = "transferred"
    IDLE_TIMEOUT = "idle_timeout"
    MAX_DURATION = "max_duration"
    PROTOCOL_ERROR = "protocol_error"
    UNAUTHENTICATED = "unauthenticated"
    UNKNOWN_AGENT = "unknown_agent"
    OVERLOADED = "overloaded"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL_ERROR = "internal_error"
    TENANT_SUSPENDED = "tenant_suspended"
    QUOTA_EXCEEDED = "quota_exceeded"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The call is accepted."""

    call_id: str
    agent: str
    output_format: AudioFormat


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """What the caller said so far (`final` once per turn)."""

    turn: int
    text: str
    final: bool


@dataclass(frozen=True, slots=True)
class AgentTextEvent:
    """One piece of the agent's reply, as it goes to TTS."""

    turn: int
    text: str


@dataclass(frozen=True, slots=True)
class AgentAudioEvent:
    """One frame of agent audio in the output format."""

    turn: int
    sequence: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ClearEvent:
    """Barge-in: drop queued agent audio after `after_sequence`."""

    turn: int
    after_sequence: int


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """The agent calls a tool."""

    turn: int
    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """How a tool call ended (no payload: results may be private)."""

    turn: int
    id: str
    ok: bool
    error: str
    latency_ms: int


@dataclass(frozen=True, slots=True)
class TurnLatencyEvent:
    """Where one turn's time went, in milliseconds (0: the stage did not run).

    One field per `LatencyStage`, named by its `field` (a drift test keeps them in step).
    """

    turn: int
    endpointing_ms: int = 0
    asr_final_ms: int = 0
    llm_ttft_ms: int = 0
    tts_ttfb_ms: int = 0
    voice_to_voice_ms: int = 0
    interrupted: bool = False
    #: Automatic knowledge-base search before the model was asked (inside voice-to-voice).
    retrieval_ms: int = 0
    #: The reply's first audio was replayed from the phrase cache, not synthesised this turn.
    phrase_cache_hit: bool = False

    @classmethod
    def of(
        cls,
        turn: int,
        stages: Mapping[LatencyStage, int],
        *,
        interrupted: bool = False,
        phrase_cache_hit: bool = False,
    ) -> TurnLatencyEvent:
        """The event from each stage's milliseconds (stages left out did not run)."""
        fields: dict[str, Any] = {stage.field: ms for stage, ms in stages.items()}
        return cls(turn, interrupted=interrupted, phrase_cache_hit=phrase_cache_hit, **fields)

    def ms(self, stage: LatencyStage) -> int:
        """A stage's milliseconds."""
        return cast(int, getattr(self, stage.field))


@dataclass(frozen=True, slots=True)
class TransferEvent:
    """The agent hands the call to `target`."""

    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallEndedEvent:
    """The last event of every call."""

    reason: EndReason
    detail: str = ""


OutboundEvent = (
    CallStarted
    | TranscriptEvent
    | AgentTextEvent
    | AgentAudioEvent
    | ClearEvent
    | ToolCallEvent
    | ToolResultEvent
    | TurnLatencyEvent
    | TransferEvent
    | CallEndedEvent
)
