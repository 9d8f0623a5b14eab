"""Smart Turn's verdict on a caller's pause, computed off the event loop, fed to endpointing.

The model reads the utterance's last 8 s, up to now; it runs on the bounded pool in
`turns.smart_turn`, and the verdict comes back to the call's loop, so the audio path never waits
for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Future

import numpy as np

from switchboard_gateway.conversation.utterance import Utterance
from switchboard_gateway.turns import smart_turn
from switchboard_gateway.turns.endpointing import SmartTurnEndpointing
from switchboard_wire.audio import Float32

log = logging.getLogger(__name__)


def judge_pause(endpointing: SmartTurnEndpointing, utterance: Utterance, at: float) -> None:
    """Ask Smart Turn about the pause that began at `at`; `take_verdict` feeds its answer."""
    audio = _tail(utterance)
    loop = asyncio.get_running_loop()

    def back_on_loop(future: Future[float]) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the call is over
            loop.call_soon_threadsafe(take_verdict, endpointing, at, future)

    smart_turn.judge(audio).add_done_callback(back_on_loop)


def take_verdict(endpointing: SmartTurnEndpointing, at: float, future: Future[float]) -> None:
    """Feed the verdict on the pause at `at` to endpointing (on the call's loop)."""
    error = future.exception()
    if error is not None:
        # Without a verdict the turn ends at maxEndpointingSilenceMs, never early.
        log.error("smart turn verdict failed: %s", error)
        return
    # The next VAD window (≤ 32 ms of audio away) asks `turn_ended` and ends the turn there,
    # inside the listener's `feed`, where ending a turn may await the hooks.
    endpointing.verdict(at, future.result() >= endpointing.threshold)


def _tail(utterance: Utterance) -> Float32:
    """The utterance's last `smart_turn.WINDOW_SAMPLES` or more, in whole chunks."""
    tail, kept = [], 0
    for chunk in reversed(utterance.audio):
        tail.append(chunk)
        kept += chunk.size
        if kept >= smart_turn.WINDOW_SAMPLES:
            break
    return np.concatenate(tail[::-1]) if tail else np.zeros(0, np.float32)
