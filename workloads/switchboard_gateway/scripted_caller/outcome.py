"""What a scripted call came to: the caller's events folded into turns, texts and latencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    CallEndedEvent,
    CallStarted,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.scripted_caller.caller import RATE, ScriptedCaller


@dataclass
class TurnOutcome:
    """What was heard and said in one turn."""

    number: int
    caller: str = ""
    agent: str = ""
    latency: dict[str, int] = field(default_factory=dict)


@dataclass
class CallOutcome:
    """Everything a scripted call observed."""

    call_id: str = ""
    greeting: str = ""
    turns: list[TurnOutcome] = field(default_factory=list)
    agent_audio: bytes = b""
    end_reason: str = ""
    end_detail: str = ""
    #: No gateway answered at the target.
    unreachable: bool = False
    #: Why the script could not finish (a reply that never came), or empty.
    incomplete: str = ""

    @classmethod
    def of(cls, caller: ScriptedCaller) -> CallOutcome:
        """Fold what `caller` received: per turn of its script, what was said and how fast."""
        seen = caller.seen
        texts: dict[int, list[str]] = {}
        for text in seen.of(AgentTextEvent):
            texts.setdefault(text.turn, []).append(text.text)
        finals = {e.turn: e.text for e in seen.of(TranscriptEvent) if e.final}
        latencies = {e.turn: e for e in seen.of(TurnLatencyEvent)}
        started, ended = seen.of(CallStarted), seen.of(CallEndedEvent)
        return cls(
            call_id=started[-1].call_id if started else "",
            greeting=" ".join(texts.get(0, [])),
            turns=[
                TurnOutcome(
                    number,
                    finals.get(number, turn.text or ""),
                    " ".join(texts.get(number, [])),
                    _latency_ms(latencies.get(number)),
                )
                for number, turn in caller.script
            ],
            agent_audio=b"".join(e.data for e in seen.of(AgentAudioEvent)),
            end_reason=ended[-1].reason.value if ended else "",
            end_detail=ended[-1].detail if ended else "",
        )

    def to_json(self) -> dict[str, Any]:
        """The outcome as the `--json` document of `switchboard call`."""
        return {
            "callId": self.call_id,
            "greeting": self.greeting,
            "turns": [
                {"turn": t.number, "caller": t.caller, "agent": t.agent, "latencyMs": t.latency}
                for t in self.turns
            ],
            "agentAudioSeconds": round(len(self.agent_audio) / 2 / RATE, 2),
            "ended": {"reason": self.end_reason, "detail": self.end_detail},
            "incomplete": self.incomplete,
        }


def _latency_ms(latency: TurnLatencyEvent | None) -> dict[str, int]:
    if latency is None:
        return {}
    stages = {
        "endpointing": latency.endpointing_ms,
        "asrFinal": latency.asr_final_ms,
        "llmFirstToken": latency.llm_ttft_ms,
        "ttsFirstAudio": latency.tts_ttfb_ms,
        "voiceToVoice": latency.voice_to_voice_ms,
    }
    if latency.retrieval_ms:
        stages["retrieval"] = latency.retrieval_ms
    return stages
