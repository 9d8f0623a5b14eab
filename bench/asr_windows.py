"""Which whisper encoder window to ship: word error rate and time of `fit` against `full`.

    .venv/bin/python bench/asr_windows.py [--voices piper,espeak] [--threads 2] [--out FILE]

Transcribes every question of `bench/speech_sets.py` in every voice of the chosen families with
the packaged whisper-base, once per encoder window, the way the gateway's final pass sends it
(0.3 s of silence before the speech, 0.25 s after), and prints per window and voice family the
corpus word error rate, the questions misheard and the median transcription time. The window is
chosen on the espeak-ng voices (nothing in the project was tuned on them), not on speed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from switchboard_api.pipeline import AsrSpec
from switchboard_serve.asr.faster_whisper import FasterWhisperEngine
from switchboard_serve.evaluation import word_errors
from switchboard_serve.packaged import whisper_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.speech_sets import ESPEAK_VOICES, QUESTIONS, RATE, synthesise

WINDOWS: tuple[Literal["fit", "full"], ...] = ("fit", "full")
PRE_ROLL_S, TRAILING_S = 0.3, 0.25


def _voices(families: list[str]) -> list[str]:
    voices = []
    for family in families:
        voices += [f"espeak:{v}" for v in ESPEAK_VOICES] if family == "espeak" else [family]
    return voices


def _as_gateway_sends(pcm16: bytes) -> np.ndarray:
    speech = np.frombuffer(pcm16, "<i2").astype(np.float32) / 32768
    return np.concatenate(
        [np.zeros(int(PRE_ROLL_S * RATE), np.float32), speech, np.zeros(int(TRAILING_S * RATE))]
    ).astype(np.float32)


def measure(families: list[str], threads: int) -> dict[str, Any]:
    """Per window and voice family: WER, misheard questions, median seconds per transcription."""
    audio = {
        (voice, text): _as_gateway_sends(synthesise(text, voice))
        for voice in _voices(families)
        for text in QUESTIONS
    }
    results: dict[str, Any] = {}
    for window in WINDOWS:
        engine = FasterWhisperEngine(
            AsrSpec(encoder_window=window), whisper_model_dir(), cpu_threads=threads
        )
        engine.transcribe(next(iter(audio.values())))  # load and warm
        by_family: dict[str, dict[str, Any]] = {}
        for (voice, text), samples in audio.items():
            started = time.perf_counter()
            heard = engine.transcribe(samples).text
            seconds = time.perf_counter() - started
            family = by_family.setdefault(
                voice.split(":")[0], {"errors": 0, "words": 0, "seconds": [], "misheard": []}
            )
            errors, words = word_errors(text, heard)
            family["errors"] += errors
            family["words"] += words
            family["seconds"].append(seconds)
            if errors:
                family["misheard"].append({"voice": voice, "said": text, "heard": heard})
        results[window] = {
            name: {
                "wer": round(f["errors"] / f["words"], 4),
                "misheard": len(f["misheard"]),
                "utterances": len(f["seconds"]),
                "median_s": round(statistics.median(f["seconds"]), 3),
                "examples": f["misheard"][:8],
            }
            for name, f in by_family.items()
        }
    return results


def main() -> None:
    """Measure both windows and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default="piper,espeak")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "windows": measure(args.voices.split(","), args.threads),
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
