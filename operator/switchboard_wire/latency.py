"""The latency stages of one caller turn: the one list that metrics, events, spans and records use.

A stage's `value` is its name as a metric label (`switchboard_stage_latency_seconds{stage=...}`)
and in its span's name (`switchboard.<value>`); `field` is the name of its milliseconds in the
turn's latency event, the gRPC `TurnLatency` message and the call records; `json_key` the same in
the WebSocket protocol and the console's JSON. Adding a stage here is the whole change for the
derived places; a drift test names any place that still needs a hand.
"""

from __future__ import annotations

import enum
import re


class LatencyStage(enum.Enum):
    """Where a turn's time goes, each measured from its own start to its own end."""

    #: End of caller speech → the endpointing decision (VAD silence or a turn model).
    VAD_ENDPOINT = "vad_endpoint"
    #: The final ASR pass over the utterance.
    ASR_FINAL = "asr_final"
    #: Request → the LLM's first token.
    LLM_TTFT = "llm_ttft"
    #: Request → TTS's first audio of the reply.
    TTS_TTFB = "tts_ttfb"
    #: End of caller speech → the reply's first audio out (contains the stages above).
    VOICE_TO_VOICE = "voice_to_voice"
    #: Automatic knowledge-base search before the model is asked (when the agent wants it).
    RETRIEVAL = "retrieval"

    @property
    def field(self) -> str:
        """The name of the stage's milliseconds in events, gRPC messages and call records."""
        # The endpointing stage kept its first public name on the wire.
        return "endpointing_ms" if self is LatencyStage.VAD_ENDPOINT else f"{self.value}_ms"

    @property
    def json_key(self) -> str:
        """`field` in camelCase, as JSON APIs carry it."""
        return re.sub(r"_([a-z])", lambda match: match[1].upper(), self.field)

    @property
    def span_name(self) -> str:
        """The name of the stage's OpenTelemetry span."""
        return f"switchboard.{self.value}"
