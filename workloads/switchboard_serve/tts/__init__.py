"""Speech synthesis engines behind one protocol."""

from switchboard_serve.tts.base import TtsEngine

__all__ = ["TtsEngine"]
