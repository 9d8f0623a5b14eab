"""What the benchmark callers say, and in which voices: distinct utterances, two kinds of voice.

Every utterance in a set is different, so no reply can be served from a cache of earlier turns
in the same run. Two voice families: Piper (the voice our tests speak with) and espeak-ng from
Debian (`apt-get install espeak-ng`), a formant synthesiser nothing in the project was tuned
on, in several variants. `PAUSED` holds utterances with a pause inside them (lists, numbers,
addresses), for measuring how often a turn detector cuts a caller off mid-sentence.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from switchboard_api.pipeline import TtsSpec
from switchboard_serve.evaluation import word_error_rate
from switchboard_serve.packaged import piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.audio import Float32, resample

RATE = 16_000

#: Twenty-four distinct questions a caller might ask a clinic's receptionist.
QUESTIONS = [
    "What time do you open on Saturday?",
    "Is there parking near your office?",
    "Can I book a cleaning for next Friday?",
    "Do you take new patients?",
    "How much does a checkup cost?",
    "Are you open on public holidays?",
    "Which insurance plans do you accept?",
    "Can I move my appointment to the afternoon?",
    "Where exactly is the clinic?",
    "Do you have a dentist who speaks Spanish?",
    "How long does a filling take?",
    "Can my daughter come in after school?",
    "Is the building wheelchair accessible?",
    "What should I bring to my first visit?",
    "Do you offer teeth whitening?",
    "I need to cancel my appointment tomorrow.",
    "How early should I arrive?",
    "Can I pay with a credit card?",
    "Is Doctor Patel working this week?",
    "What is your phone number for emergencies?",
    "Do you see children under five?",
    "How far are you from the train station?",
    "Can someone call me back this evening?",
    "Thank you, that is all I needed.",
]


@dataclass(frozen=True, slots=True)
class PausedUtterance:
    """One caller turn spoken in parts with a pause between them (the turn is not over)."""

    parts: tuple[str, ...]
    pause_s: float

    @property
    def text(self) -> str:
        """The whole utterance as one reference text."""
        return " ".join(self.parts)


#: Turns with pauses a person makes mid-sentence; a turn detector should wait through them.
PAUSED = [
    PausedUtterance(("My phone number is five five five,", "two one two, four nine eight."), 0.6),
    PausedUtterance(("I live at twenty two", "Maple Street, apartment four."), 0.6),
    PausedUtterance(("I would like to come in on", "Tuesday or Wednesday morning."), 0.7),
    PausedUtterance(("I need a cleaning, a checkup,", "and maybe an x-ray."), 0.6),
    PausedUtterance(("My date of birth is", "March the fourth, nineteen eighty."), 0.7),
    PausedUtterance(("The appointment is for", "my son and my daughter."), 0.6),
    PausedUtterance(("My insurance is with", "Blue Cross, plan number seven."), 0.7),
    PausedUtterance(("Can I come in at", "half past three on Thursday?"), 0.6),
    PausedUtterance(("I was wondering if", "you could fit me in today."), 0.7),
    PausedUtterance(("My name is Anna,", "that is A N N A, Kowalski."), 0.6),
]

#: espeak-ng variants used as the voice nothing was tuned on (language+variant).
ESPEAK_VOICES = ("en-us+m3", "en-gb+f2", "en-us+f4", "en-gb-scotland+m2")
#: Every voice the benchmark knows: "piper" and "espeak:<variant>".
VOICES = ("piper", *(f"espeak:{variant}" for variant in ESPEAK_VOICES))


def synthesise(text: str, voice: str) -> bytes:
    """`text` spoken in `voice`, as 16 kHz mono PCM16."""
    if voice == "piper":
        audio = _piper_16k(text)
    elif voice.startswith("espeak:"):
        audio = _espeak_16k(text, voice.removeprefix("espeak:"))
    else:
        raise ValueError(f"unknown voice {voice!r}: use one of {', '.join(VOICES)}")
    return np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2").tobytes()


def synthesise_paused(utterance: PausedUtterance, voice: str) -> bytes:
    """A paused utterance: its parts with `pause_s` of silence between them, 16 kHz PCM16."""
    silence = bytes(2 * int(utterance.pause_s * RATE))
    return silence.join(synthesise(part, voice) for part in utterance.parts)


def voices_for(turns: int, families: Sequence[str]) -> list[str]:
    """A voice per turn: alternating the families, rotating espeak-ng's variants."""
    plan, espeak_turn = [], 0
    for turn in range(turns):
        family = families[turn % len(families)]
        if family == "espeak":
            plan.append(f"espeak:{ESPEAK_VOICES[espeak_turn % len(ESPEAK_VOICES)]}")
            espeak_turn += 1
        else:
            plan.append(family)
    return plan


def caller_wer(pairs: list[tuple[str, str]]) -> float:
    """Corpus word error rate of (what the caller said, what the agent heard) pairs."""
    return word_error_rate(pairs)


@cache
def _piper() -> PiperEngine:
    return PiperEngine(TtsSpec(), piper_voice_path())


def _piper_16k(text: str) -> Float32:
    tts = _piper()
    return resample(np.concatenate(list(tts.synthesize(text))), tts.sample_rate, RATE)


def _espeak_16k(text: str, variant: str) -> Float32:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise FileNotFoundError("espeak-ng is not installed: apt-get install espeak-ng")
    wav = subprocess.run(  # noqa: S603 - a fixed binary and argument list, no shell
        [binary, "-v", variant, "-s", "165", "--stdout", text],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    samples = (np.frombuffer(frames, "<i2") / 32768).astype(np.float32)
    return resample(samples, rate, RATE)
