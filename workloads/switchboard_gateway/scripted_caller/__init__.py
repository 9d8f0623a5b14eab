"""A scripted caller at real time: `switchboard call`'s, the benchmark's and the tests' one.

    async with scripted_call("localhost:50051", "acme/receptionist") as caller:
        await caller.converse([Turn(audio=pcm16), Turn(text="Thanks, bye.")])
    outcome = CallOutcome.of(caller)

`ScriptedCaller` is transport-neutral (`caller`): it sends PCM16 in 20 ms frames at real time
(or `fast`), silence until a condition, waits for the greeting and for each turn's reply (over
when that turn's latency event arrives), and keeps every server event with its arrival time.
`CallOutcome` folds those events into the call id, greeting, per-turn texts and latencies, agent
audio and end reason (`outcome`). `scripted_call` and `run_call` wire it to the gRPC client
(`over_grpc`); tests wire it to a session in-process or to a WebSocket just as well. Client-side
code: nothing here is imported by the gateway itself.
"""

from switchboard_gateway.scripted_caller.caller import ScriptedCaller, Seen, Spoken, Turn
from switchboard_gateway.scripted_caller.outcome import CallOutcome, TurnOutcome
from switchboard_gateway.scripted_caller.over_grpc import run_call, scripted_call

__all__ = [
    "CallOutcome",
    "ScriptedCaller",
    "Seen",
    "Spoken",
    "Turn",
    "TurnOutcome",
    "run_call",
    "scripted_call",
]
