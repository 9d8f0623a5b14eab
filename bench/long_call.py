"""LLM time to first token, turn by turn, over one long call whose history outgrows the context.

    .venv/bin/python bench/long_call.py [--turns 40] [--max-tokens 200] [--idle-s 70]
        [--trim-to 0.5] [--in-process] [--out result.json]
    .venv/bin/python bench/long_call.py --tokens-only [--turns 40]

The call's LLM side as the gateway runs it: its `ConversationHistory` (system prompt, the newest
turns that fit the 2,048-token context beside a full reply, old turns dropped in blocks down to
`--trim-to` of the budget; `--trim-to 1.0` drops only what must go, one turn at a time, as
before block trimming) and its model-plane client (`ModelPlaneHttp`: SSE over HTTP to the
packaged plane on a local Ray Serve, replicas at normal priority). `--in-process` calls the
llama.cpp engine directly instead (no Ray, no HTTP, and the replica's health probe played by the
bench after the idle time).

First the agent is warmed up as the gateway warms it (the first turn's messages, read until the
first words), then the replica sits idle for `--idle-s` (the model plane's health probe runs
after a minute), then the call: `--turns` typed caller questions, each answered with up to
`--max-tokens` tokens (the reply's whole text goes into the history, as a reply played to its
end does). Speech is left out: it does not touch the LLM's prompt. Prints, per turn, the first
token's time measured at the client, the approximate prompt size, and whether old turns were
dropped before it; then the median and the worst of turns 1, 2-10 and 11 on.

`--tokens-only` runs no model: it counts, with the model's own chat template and tokenizer, the
prompt tokens each turn must evaluate beyond what the prompt cache holds (`tokens_only`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import LlmSpec
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import agent_request, model_plane
from switchboard_gateway.backends.model_plane_http import ModelPlaneHttp
from switchboard_gateway.conversation.history import ConversationHistory, approximate_tokens
from switchboard_wire.chat import ReplyEvent, ReplyText

SYSTEM = (
    "You are the receptionist of a dental practice. Answer the caller fully and helpfully, "
    "in several sentences."
)
#: Caller questions: generic, none taken from the voice benchmarks' sets.
_TOPICS = [
    "your opening hours",
    "parking",
    "the cost of a check-up",
    "children's appointments",
    "emergency care",
    "payment options",
    "insurance",
    "teeth whitening",
    "braces",
    "a first visit",
]
_ASKS = ["Tell me about {}.", "What should I know about {}?", "Can you explain {} again?",
         "Is there anything else about {}?"]  # fmt: skip
QUESTIONS = [ask.format(topic) for ask in _ASKS for topic in _TOPICS]

Reply = Callable[[Sequence[dict[str, Any]]], AsyncIterator[ReplyEvent]]


def bench_agent(max_tokens: int) -> VoiceAgent:
    """The agent whose model plane serves the call (the packaged SmolLM2 on llama.cpp)."""
    manifest = parse_manifest(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "VoiceAgent",
            "metadata": {"name": "long-call", "namespace": "bench"},
            "spec": {
                "prompt": {"system": SYSTEM},
                "pipeline": {"llm": {"maxTokens": max_tokens, "temperature": 0.3}},
                "callPolicy": {"endCallTool": False},
            },
        },
        "bench",
    )
    if not isinstance(manifest, VoiceAgent):
        raise TypeError("the bench agent must be a VoiceAgent")
    return manifest


async def _first_words(reply: Reply, messages: Sequence[dict[str, Any]]) -> None:
    """Read a completion until its first words, then close it (as the gateway's warm-up does)."""
    events = reply(messages)
    try:
        async for event in events:
            if isinstance(event, ReplyText):
                break
    finally:
        await events.aclose()  # type: ignore[attr-defined]


async def _turn(reply: Reply, messages: Sequence[dict[str, Any]]) -> tuple[float, str]:
    """First-token seconds and the whole reply text of one completion."""
    asked = time.monotonic()
    first: float | None = None
    pieces: list[str] = []
    async for event in reply(messages):
        if isinstance(event, ReplyText):
            first = time.monotonic() - asked if first is None else first
            pieces.append(event.text)
    return (first if first is not None else float("nan")), "".join(pieces).strip()


async def long_call(reply: Reply, turns: int, max_tokens: int, idle_s: float, trim_to: float,
                    probe: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Warm up, wait (and probe), then run the call; one row per turn."""
    history = ConversationHistory(SYSTEM, 2048, max_tokens)
    history.trim_to = trim_to
    await _first_words(reply, [{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": "Hello."}])  # fmt: skip
    await asyncio.sleep(idle_s)
    if probe:  # what the replica's health probe does after an idle minute
        await _first_words(reply, [{"role": "user", "content": "Hi"}])
    history.add_agent_line("Hello, thanks for calling. How can I help?")
    rows: list[dict[str, Any]] = []
    oldest_sent: dict[str, Any] | None = None
    for number in range(1, turns + 1):
        history.add({"role": "user", "content": QUESTIONS[(number - 1) % len(QUESTIONS)]})
        messages = history.for_model()
        EVALUATED.clear()
        first_s, text = await _turn(reply, messages)
        history.add_reply(text, [])
        row = {
            "turn": number,
            "first_token_s": round(first_s, 3),
            "prompt_tokens_approx": sum(approximate_tokens(m) for m in messages),
            "reply_tokens_approx": len(text) // 4,
            "dropped_old_turns": oldest_sent is not None and messages[1] != oldest_sent,
        }
        if EVALUATED:
            row["prompt_tokens_evaluated"] = EVALUATED[0]
        oldest_sent = messages[1]
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst first-token time of turn 1, turns 2-10 and turns 11 on."""

    def stats(part: list[dict[str, Any]]) -> dict[str, float]:
        values = [r["first_token_s"] for r in part]
        return {"median_s": round(statistics.median(values), 3), "max_s": max(values)}

    return {
        "turn_1": stats(rows[:1]),
        "turns_2_10": stats(rows[1:10]),
        **({"turns_11_on": stats(rows[10:])} if len(rows) > 10 else {}),
        "block_trims": sum(r["dropped_old_turns"] for r in rows),
    }


#: In-process only: how many prompt tokens llama.cpp evaluated for each completion (its first
#: `eval` call of a completion is the prompt, or the part of it the cache did not hold).
EVALUATED: list[int] = []


def _in_process(max_tokens: int) -> Reply:
    from llama_cpp.llama import Llama

    from switchboard_serve.engines import make_llm
    from switchboard_serve.threads import iterate_in_thread

    engine = make_llm(LlmSpec(max_tokens=max_tokens, temperature=0.3))
    evaluate = Llama.eval

    def counting(self: Llama, tokens: Sequence[int]) -> None:
        EVALUATED.append(len(tokens))
        evaluate(self, tokens)

    Llama.eval = counting  # type: ignore[method-assign]

    def reply(messages: Sequence[dict[str, Any]]) -> AsyncIterator[ReplyEvent]:
        return iterate_in_thread(lambda: engine.stream_chat(list(messages)))  # type: ignore[arg-type]

    return reply


def tokens_only(turns: int, max_tokens: int) -> dict[str, Any]:
    """Prompt tokens the prompt cache cannot serve, per turn, with the real template and tokenizer.

    No model runs: each reply is a fixed ~150-word text, and a turn's prompt is compared with the
    previous prompt plus its reply (the state the cache holds). Deterministic; trims of one turn
    at a time (`trim_to` 1.0) beside blocks (0.5).
    """
    import numpy as np
    import numpy.typing as npt
    from llama_cpp.llama import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from switchboard_serve.llm.prompt_cache import shared_prefix
    from switchboard_serve.packaged import gguf_path

    llm = Llama(model_path=str(gguf_path()), vocab_only=True, verbose=False)

    def special(token: int) -> str:
        return llm.detokenize([token], special=True).decode()

    template = llm.metadata["tokenizer.chat_template"]
    render = Jinja2ChatFormatter(template, special(llm.token_eos()), special(llm.token_bos()))

    def tokens(text: str) -> npt.NDArray[np.intc]:
        return np.asarray(llm.tokenize(text.encode(), add_bos=False, special=True), np.intc)

    words = ["we", "open", "at", "nine", "on", "weekdays", "and", "at", "ten", "on", "saturdays",
             "the", "car", "park", "is", "behind", "us"]  # fmt: skip
    result: dict[str, Any] = {}
    for trim_to in (1.0, 0.5):
        history = ConversationHistory(SYSTEM, 2048, max_tokens)
        history.trim_to = trim_to
        history.add_agent_line("Hello, thanks for calling. How can I help?")
        cached, evaluated = tokens(""), []
        for number in range(1, turns + 1):
            history.add({"role": "user", "content": QUESTIONS[(number - 1) % len(QUESTIONS)]})
            prompt = tokens(render(messages=history.for_model()).prompt)  # type: ignore[arg-type]
            evaluated.append(len(prompt) - shared_prefix(prompt, cached))
            reply = " ".join(words[(number * 7 + i) % len(words)] for i in range(150)) + "."
            cached = np.concatenate([prompt, tokens(reply)])
            history.add_reply(reply, [])
        result[f"trim_to_{trim_to}"] = evaluated
    return result


def main() -> None:
    """Start the model plane (or the engine), run the call, print rows and a summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--idle-s", type=float, default=70.0)
    parser.add_argument("--trim-to", type=float, default=0.5)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--tokens-only", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.tokens_only:
        print(json.dumps(tokens_only(args.turns, args.max_tokens)))
        return
    load_before = os.getloadavg()
    run = (args.turns, args.max_tokens, args.idle_s, args.trim_to)
    if args.in_process:
        rows = asyncio.run(long_call(_in_process(args.max_tokens), *run, probe=args.idle_s > 0))
    else:
        from switchboard_serve import local

        plane = model_plane([agent_request(bench_agent(args.max_tokens))])
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        local.start_ray(plane)
        try:
            base_url = local.deploy(plane, port=port)

            async def over_http() -> list[dict[str, Any]]:
                backend = ModelPlaneHttp(
                    base_url, max_tokens=args.max_tokens, temperature=0.3, timeout_s=120.0
                )
                try:
                    return await long_call(lambda m: backend.reply(m, []), *run)
                finally:
                    await backend.aclose()

            rows = asyncio.run(over_http())
        finally:
            local.shutdown()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "path": "in-process engine" if args.in_process else "model plane over HTTP (local Ray)",
        "trim_to": args.trim_to,
        "summary": summary(rows),
        "turns": rows,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text)
    print(json.dumps({k: v for k, v in result.items() if k != "turns"}, indent=2))


if __name__ == "__main__":
    main()
