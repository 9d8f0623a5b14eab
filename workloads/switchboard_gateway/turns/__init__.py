"""How turns are decided: VAD, speech detection, endpointing, barge-in (pure, no asyncio)."""
