"""The listener's speculative final passes: the bookkeeping of which pause is speculated on.

A pause of the caller makes a speculation due; it is queued for the ASR task once the pause has
lasted `SPECULATE_AFTER_S`, at most `MAX_SPECULATIONS` times a turn. Speech again before the
decision drops it. The passes themselves run in the listener.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_gateway.conversation.heard import HeardTurn
from switchboard_gateway.conversation.utterance import Utterance

#: Pauses per turn that start a speculative final pass (and a held reply); later pauses of a
#: long, halting turn wait for endpointing, so one caller cannot multiply the models' work.
MAX_SPECULATIONS = 3
#: Silence after the caller's last voiced window before the speculative pass starts: gaps
#: between words (VAD reports a stop after ~0.1 s) cost no pass, and whisper gets nearly the
#: 0.25 s of trailing silence the final pass sends.
SPECULATE_AFTER_S = 0.2


@dataclass(eq=False)
class Speculation:
    """The final pass started at a pause, before endpointing has decided the turn is over."""

    utterance: Utterance
    speech_end_audio: float
    speech_end: float
    #: When endpointing decided the turn was over (None: not yet).
    decided: float | None = None
    #: The caller spoke again: whatever the pass hears is ignored.
    dropped: bool = False
    #: The pass has been queued (the pause lasted `SPECULATE_AFTER_S`).
    queued: bool = False
    #: The pass's transcript, once it is done (held until the decision).
    heard: HeardTurn | None = None


class Speculations:
    """One call's speculation: at most one pending, `MAX_SPECULATIONS` per turn."""

    def __init__(self) -> None:
        #: The speculation on the caller's last pause, until the decision or a drop.
        self.pending: Speculation | None = None
        #: The utterance speculated on last, and how many times.
        self._speculated: tuple[Utterance | None, int] = (None, 0)

    def paused(
        self, utterance: Utterance | None, speech_end_audio: float, speech_end: float
    ) -> None:
        """The caller paused: a speculation on `utterance` is due (call `drop` first)."""
        if utterance is None or utterance.over_agent:
            return  # a backchannel over the agent is no turn: nothing to answer in advance
        self.pending = Speculation(utterance, speech_end_audio, speech_end)

    def due(self, audio_time: float, voice_back: bool) -> Speculation | None:
        """The speculation to queue now, if the pause is long enough and the turn has passes left.

        Its audio is what the final pass would send, cut at what has arrived (0.2 s of the
        0.25 s of trailing silence; whisper's finals were exact with 0.1 s in
        tests/models/serve/test_partial_passes.py).
        """
        speculation = self.pending
        if speculation is None or speculation.queued or voice_back:
            return None  # none due, or the caller's voice is back (speech unless it is a blip)
        if audio_time + 1e-9 < speculation.speech_end_audio + SPECULATE_AFTER_S:
            return None
        last, count = self._speculated
        count = count + 1 if last is speculation.utterance else 1
        if count > MAX_SPECULATIONS:
            self.pending = None
            return None
        self._speculated, speculation.queued = (speculation.utterance, count), True
        return speculation

    def drop(self) -> bool:
        """The caller spoke again before the decision: the pending speculation is void.

        True when it had already heard a turn, which the responder holds and must now drop.
        """
        speculation = self.pending
        if speculation is None or speculation.decided is not None:
            return False
        self.pending, speculation.dropped = None, True
        return speculation.heard is not None and bool(speculation.heard.text.strip())

    def take(self) -> Speculation | None:
        """The pending speculation, no longer pending: endpointing decided the turn."""
        speculation, self.pending = self.pending, None
        return speculation
