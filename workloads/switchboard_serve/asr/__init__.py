"""Speech recognition engines behind one protocol."""

from switchboard_serve.asr.base import AsrEngine, Transcript, Word

__all__ = ["AsrEngine", "Transcript", "Word"]
