"""Gateway events to and from the protobuf messages of `switchboard.v1`."""

from __future__ import annotations

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    AudioFormat,
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    CallerText,
    CallStarted,
    ClearEvent,
    Encoding,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
    ToolCallEvent,
    ToolResultEvent,
    TranscriptEvent,
    TransferEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_wire.latency import LatencyStage


def format_from_proto(message: pb.AudioFormat, default_rate: int = 16_000) -> AudioFormat:
    """An audio format; an unset rate means the default, an unsupported one is refused."""
    mulaw = message.encoding == pb.AudioFormat.ENCODING_MULAW
    encoding = Encoding.MULAW if mulaw else Encoding.PCM16
    return AudioFormat.checked(message.sample_rate or default_rate, encoding, "sample_rate")


def format_to_proto(fmt: AudioFormat) -> pb.AudioFormat:
    """The protobuf form of an audio format."""
    encoding = (
        pb.AudioFormat.ENCODING_MULAW
        if fmt.encoding is Encoding.MULAW
        else pb.AudioFormat.ENCODING_PCM16
    )
    return pb.AudioFormat(sample_rate=fmt.sample_rate, encoding=encoding)


def start_from_proto(event: pb.ClientEvent, metadata_key: str = "") -> StartCall:
    """The call's first event, which must be `start`."""
    if event.WhichOneof("event") != "start":
        raise ProtocolError("the first event of a call must be start")
    start = event.start
    if not start.agent:
        raise ProtocolError("start.agent is required")
    return StartCall(
        agent=start.agent,
        api_key=start.api_key or metadata_key,
        input_format=format_from_proto(start.input_format),
        output_format=format_from_proto(start.output_format),
        variables=dict(start.variables),
        client_reference=start.client_reference,
    )


def inbound_from_proto(event: pb.ClientEvent) -> InboundEvent | None:
    """A caller event after `start` (None for events the loop ignores, such as `played`)."""
    kind = event.WhichOneof("event")
    if kind == "audio":
        return CallerAudio(event.audio.data)
    if kind == "text":
        return CallerText(event.text.text)
    if kind == "dtmf":
        return CallerDtmf(event.dtmf.digits)
    if kind == "hangup":
        return CallerHangup(event.hangup.reason)
    if kind == "played":
        return None
    if kind == "start":
        raise ProtocolError("start may be sent only once")
    raise ProtocolError("empty client event")


def outbound_to_proto(event: OutboundEvent) -> pb.ServerEvent:
    """The protobuf form of a server event."""
    if isinstance(event, AgentAudioEvent):
        return pb.ServerEvent(
            agent_audio=pb.AgentAudio(turn=event.turn, sequence=event.sequence, data=event.data)
        )
    if isinstance(event, CallStarted):
        return pb.ServerEvent(
            started=pb.CallStarted(
                call_id=event.call_id,
                agent=event.agent,
                output_format=format_to_proto(event.output_format),
            )
        )
    if isinstance(event, TranscriptEvent):
        return pb.ServerEvent(
            transcript=pb.Transcript(turn=event.turn, text=event.text, final=event.final)
        )
    if isinstance(event, AgentTextEvent):
        return pb.ServerEvent(agent_text=pb.AgentText(turn=event.turn, text=event.text))
    if isinstance(event, ClearEvent):
        return pb.ServerEvent(clear=pb.Clear(turn=event.turn, after_sequence=event.after_sequence))
    if isinstance(event, ToolCallEvent):
        return pb.ServerEvent(
            tool_call=pb.ToolCall(
                turn=event.turn, id=event.id, name=event.name, arguments_json=event.arguments_json
            )
        )
    if isinstance(event, ToolResultEvent):
        return pb.ServerEvent(
            tool_result=pb.ToolResult(
                turn=event.turn,
                id=event.id,
                ok=event.ok,
                error=event.error,
                latency_ms=event.latency_ms,
            )
        )
    if isinstance(event, TurnLatencyEvent):
        stages = {stage.field: event.ms(stage) for stage in LatencyStage}
        latency = pb.TurnLatency(
            turn=event.turn,
            interrupted=event.interrupted,
            phrase_cache_hit=event.phrase_cache_hit,
            **stages,
        )
        return pb.ServerEvent(latency=latency)
    if isinstance(event, TransferEvent):
        return pb.ServerEvent(transfer=pb.Transfer(target=event.target, reason=event.reason))
    reason = f"REASON_{event.reason.name}"
    return pb.ServerEvent(ended=pb.CallEnded(reason=reason, detail=event.detail))


def outbound_from_proto(message: pb.ServerEvent) -> OutboundEvent:
    """A server event as the client library presents it."""
    kind = message.WhichOneof("event")
    if kind == "agent_audio":
        audio = message.agent_audio
        return AgentAudioEvent(audio.turn, audio.sequence, audio.data)
    if kind == "started":
        started = message.started
        return CallStarted(started.call_id, started.agent, format_from_proto(started.output_format))
    if kind == "transcript":
        t = message.transcript
        return TranscriptEvent(t.turn, t.text, t.final)
    if kind == "agent_text":
        return AgentTextEvent(message.agent_text.turn, message.agent_text.text)
    if kind == "clear":
        return ClearEvent(message.clear.turn, message.clear.after_sequence)
    if kind == "tool_call":
        c = message.tool_call
        return ToolCallEvent(c.turn, c.id, c.name, c.arguments_json)
    if kind == "tool_result":
        r = message.tool_result
        return ToolResultEvent(r.turn, r.id, r.ok, r.error, r.latency_ms)
    if kind == "latency":
        lat = message.latency
        stages = {stage: int(getattr(lat, stage.field)) for stage in LatencyStage}
        return TurnLatencyEvent.of(
            lat.turn, stages, interrupted=lat.interrupted, phrase_cache_hit=lat.phrase_cache_hit
        )
    if kind == "transfer":
        return TransferEvent(message.transfer.target, message.transfer.reason)
    if kind == "ended":
        name = pb.CallEnded.Reason.Name(message.ended.reason).removeprefix("REASON_")
        reason = EndReason.__members__.get(name, EndReason.INTERNAL_ERROR)
        return CallEndedEvent(reason, message.ended.detail)
    raise ProtocolError(f"unknown server event {kind!r}")
