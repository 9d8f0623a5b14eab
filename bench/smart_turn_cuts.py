"""How often end-of-turn detection cuts callers off mid-sentence; what it adds after a question.

    .venv/bin/python bench/smart_turn_cuts.py [--voices piper,espeak] [--out result.json]

No gateway and no model plane: each utterance is replayed on its own audio timeline through
what the listener runs per frame (streaming Silero VAD in 20 ms frames, the speech detector, the
endpointing of a `turn` spec) and, for strategy smart-turn, the Smart Turn model judging the
utterance at each end of speech, as `Listener._judge_pause` does. Smart Turn is replayed
twice: with each verdict reaching the endpointing after the inference time measured here (so on
a busy machine later, which can also spare a caller a cut), and with every verdict in at once
(the model's own answer, the same on any machine).

- `paused`: the utterances of `bench.speech_sets.PAUSED` (a pause of 0.6-0.7 s inside), in
  every voice: an early cut is a turn ended before the last part began.
- `questions`: the complete questions of `QUESTIONS` in each voice family: the delay from the
  end of speech to the decision (median and p90), and how many the model judged incomplete.

Strategies: smart-turn with the API's defaults (200 ms, 2000 ms, 0.5) and silence at 500 ms.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from switchboard_api.pipeline import SMART_TURN_ENDPOINTING_MS, SMART_TURN_THRESHOLD, TurnSpec
from switchboard_gateway.turns.endpointing import SmartTurnEndpointing, make_endpointing
from switchboard_gateway.turns.smart_turn import turn_complete_probability
from switchboard_gateway.turns.speech import SpeechDetector, SpeechStarted, SpeechStopped
from switchboard_gateway.turns.vad import StreamingVad
from switchboard_wire.audio import Float32

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.speech_sets import ESPEAK_VOICES, PAUSED, QUESTIONS, RATE, synthesise

FRAME = RATE // 50  # 20 ms, as transports send caller audio
LEAD_S, TRAIL_S = 0.5, 3.0
PRE_ROLL_S = 0.3  # the listener's pre-roll (conversation/listener.py)
SMART_TURN = TurnSpec(strategy="smart-turn")
#: name → (turn spec, verdict latency: None for the inference time measured at each verdict,
#: judged after the short silence instead of at the end of speech).
STRATEGIES: dict[str, tuple[TurnSpec, float | None, bool]] = {
    "smart-turn": (SMART_TURN, None, False),
    "smart-turn-instant-verdict": (SMART_TURN, 0.0, False),
    "smart-turn-judged-after-silence": (SMART_TURN, 0.0, True),
    "silence-500ms": (TurnSpec(strategy="silence", endpointing_silence_ms=500), None, False),
}


@dataclass
class Replay:
    """What happened to one utterance under one strategy (times on its audio timeline)."""

    turn_ends: list[float] = field(default_factory=list)
    speech_ends: list[float] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    inference_s: list[float] = field(default_factory=list)


class Judge:
    """Smart Turn on one audio timeline, each slice judged once: (probability, seconds taken)."""

    def __init__(self, audio: Float32) -> None:
        self._audio = audio
        self._seen: dict[tuple[int, int], tuple[float, float]] = {}

    def __call__(self, start: int, end: int) -> tuple[float, float]:
        """The verdict on samples `start:end`."""
        if (start, end) not in self._seen:
            began = time.perf_counter()
            probability = turn_complete_probability(self._audio[start:end])
            self._seen[start, end] = probability, time.perf_counter() - began
        return self._seen[start, end]


def replay(
    judge: Judge, audio: Float32, turn: TurnSpec, latency_s: float | None, after_silence: bool
) -> Replay:
    """Feed `audio` frame by frame as the listener does; the turns it ends, and when.

    `after_silence`: the model hears the pause up to the short silence (as Pipecat does, whose
    VAD stops after 0.2 s) and its verdict is due then, instead of at the end of speech.
    """
    vad, detector, endpointing = StreamingVad(), SpeechDetector(), make_endpointing(turn)
    out, onset = Replay(), None
    pending: list[tuple[float, float, bool]] = []  # (due, pause_at, complete)
    for start in range(0, audio.size, FRAME):
        for window in vad.feed(audio[start : start + FRAME]):
            change = detector.update(window)
            if isinstance(change, SpeechStarted):
                endpointing.speech_started(change.at)
                onset = change.at if onset is None else onset
            elif isinstance(change, SpeechStopped):
                endpointing.speech_stopped(change.at)
                out.speech_ends.append(change.at)
                if isinstance(endpointing, SmartTurnEndpointing) and onset is not None:
                    start = max(0, int((onset - PRE_ROLL_S) * RATE))
                    heard_until = window.end
                    if after_silence:
                        silence_s = (
                            turn.endpointing_silence_ms or SMART_TURN_ENDPOINTING_MS
                        ) / 1000
                        heard_until = max(heard_until, change.at + silence_s)
                    probability, took = judge(start, int(heard_until * RATE))
                    took = took if latency_s is None else latency_s
                    out.probabilities.append(probability)
                    out.inference_s.append(took)
                    complete = probability >= endpointing.threshold
                    pending.append((heard_until + took, change.at, complete))
            if isinstance(endpointing, SmartTurnEndpointing):
                # As `pause_judge.take_verdict`: fed when it arrives, and the turn may end then.
                for due, pause_at, complete in [p for p in pending if p[0] <= window.end]:
                    endpointing.verdict(pause_at, complete)
                    if onset is not None and endpointing.turn_ended(due):
                        out.turn_ends.append(due)
                        onset = None
                pending = [p for p in pending if p[0] > window.end]
            if onset is not None and endpointing.turn_ended(window.end):
                out.turn_ends.append(window.end)
                onset = None
    return out


def _pcm(data: bytes) -> Float32:
    samples: Float32 = np.frombuffer(data, "<i2").astype(np.float32)
    samples /= 32768
    return samples


def _padded(speech: Float32) -> Float32:
    return np.concatenate(
        [
            np.zeros(int(LEAD_S * RATE), np.float32),
            speech,
            np.zeros(int(TRAIL_S * RATE), np.float32),
        ]
    )


def _voices(families: list[str]) -> list[str]:
    return [
        v
        for f in families
        for v in (["piper"] if f == "piper" else [f"espeak:{e}" for e in ESPEAK_VOICES])
    ]


def _rate(cut: int, n: int) -> dict[str, Any]:
    return {"cut": cut, "utterances": n, "rate": round(cut / n, 3) if n else None}


def paused(families: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Early cuts on the paused utterances, per strategy and voice family."""
    cuts: dict[str, dict[str, list[bool]]] = {name: {} for name in STRATEGIES}
    detail = []
    for voice in _voices(families):
        family = voice.split(":")[0]
        for utterance in PAUSED:
            # As `synthesise_paused`, keeping where the last part starts.
            parts = [_pcm(synthesise(part, voice)) for part in utterance.parts]
            gap = np.zeros(int(utterance.pause_s * RATE), np.float32)
            speech = np.concatenate([x for part in parts[:-1] for x in (part, gap)] + [parts[-1]])
            last_part_at = LEAD_S + (speech.size - parts[-1].size) / RATE
            audio = _padded(speech)
            judge = Judge(audio)
            row: dict[str, Any] = {"voice": voice, "parts": list(utterance.parts)}
            for name, (spec, latency_s, after_silence) in STRATEGIES.items():
                result = replay(judge, audio, spec, latency_s, after_silence)
                cut = any(end < last_part_at for end in result.turn_ends)
                cuts[name].setdefault(family, []).append(cut)
                row[name] = {"cut": cut, "turns": len(result.turn_ends)}
                if result.probabilities:
                    row[name]["probabilities"] = [round(p, 3) for p in result.probabilities]
            detail.append(row)
    summary = {
        name: {family: _rate(sum(c), len(c)) for family, c in by_family.items()}
        | {
            "all": _rate(
                sum(sum(c) for c in by_family.values()), len(_voices(families)) * len(PAUSED)
            )
        }
        for name, by_family in cuts.items()
    }
    return summary, detail


def questions(families: list[str]) -> dict[str, Any]:
    """The delay from the end of a complete question to the decision, per strategy."""
    voices = []
    for family in families:
        if family == "piper":
            voices += ["piper"] * len(QUESTIONS)
        else:  # each question in one espeak-ng variant, the variants in turn
            voices += [
                f"espeak:{ESPEAK_VOICES[i % len(ESPEAK_VOICES)]}" for i in range(len(QUESTIONS))
            ]
    texts = QUESTIONS * len(families)
    delays: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    split = dict.fromkeys(STRATEGIES, 0)
    incomplete, inference = dict.fromkeys(STRATEGIES, 0), []
    for text, voice in zip(texts, voices, strict=True):
        audio = _padded(_pcm(synthesise(text, voice)))
        judge = Judge(audio)
        for name, (spec, latency_s, after_silence) in STRATEGIES.items():
            result = replay(judge, audio, spec, latency_s, after_silence)
            if not result.turn_ends:
                continue
            split[name] += len(result.turn_ends) - 1
            last_speech = max(e for e in result.speech_ends if e <= result.turn_ends[-1])
            delays[name].append(result.turn_ends[-1] - last_speech)
            incomplete[name] += sum(p < SMART_TURN_THRESHOLD for p in result.probabilities[-1:])
            if name == "smart-turn":
                inference += result.inference_s
    return {
        "questions": len(texts),
        **{
            name: {
                "median_decision_s": round(statistics.median(d), 3),
                "p90_decision_s": round(statistics.quantiles(d, n=10)[-1], 3),
                "decided": len(d),
                "turns_split": split[name],
                "last_verdict_incomplete": incomplete[name],
            }
            for name, d in delays.items()
        },
        "inference_ms": {
            "median": round(1000 * statistics.median(inference), 1),
            "p90": round(1000 * statistics.quantiles(inference, n=10)[-1], 1),
        },
    }


def main() -> None:
    """Run both sets and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="piper,espeak", help="voice families")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    families = [f.strip() for f in args.voices.split(",") if f.strip()]
    began, load_at_start = time.monotonic(), os.getloadavg()[0]
    summary, detail = paused(families)
    asked = questions(families)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_1m": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
            "wall_s": round(time.monotonic() - began, 1),
        },
        "strategies": {
            name: {
                **spec.model_dump(exclude_none=True),
                "verdict_latency_s": latency_s,
                "judged_after_silence": after_silence,
            }
            for name, (spec, latency_s, after_silence) in STRATEGIES.items()
        },
        "paused": summary,
        "questions": asked,
        "paused_detail": detail,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
