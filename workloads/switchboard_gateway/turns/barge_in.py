"""Barge-in: when caller speech over the agent interrupts it. Pure, no clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BargeInPolicy:
    """Caller speech interrupts the agent once it is long (and wordy) enough.

    Short acknowledgements ("mm-hm") and coughs should not stop the agent; `min_words` needs a
    partial transcript, so it trades some reaction time for fewer false interruptions.
    """

    enabled: bool = True
    min_speech_s: float = 0.2
    min_words: int = 0

    def should_interrupt(
        self, agent_speaking: bool, speech_onset: float | None, now: float, words_heard: int = 0
    ) -> bool:
        """Whether to stop the agent now."""
        if not (self.enabled and agent_speaking) or speech_onset is None:
            return False
        return now - speech_onset + 1e-9 >= self.min_speech_s and words_heard >= self.min_words
