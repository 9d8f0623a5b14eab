"""When a reply's first audio can start: the first piece of each reply, before and after.

    .venv/bin/python bench/first_clause.py [--baseline REV] [--repeats 3] [--out result.json]

Asks the packaged SmolLM2 (llama.cpp, as the model plane runs it) a few questions as the
default agent (`examples/receptionist.yaml`: its prompt, greeting and sampling), recording when
each text delta arrives. Each reply's deltas are then fed to two sentence splitters, this
tree's and the one at `--baseline` (a git revision), and the first piece each cuts is
synthesised by the packaged Piper voice. Per reply and splitter: the first piece, when the LLM
had produced it (from the request), Piper's time to its first audio for that piece (median of
`--repeats`), and their sum: the earliest the caller could hear the reply, from the request.
Both splitters see the same deltas, so the comparison does not depend on the LLM's speed that
moment; Piper's times do depend on the machine's load (printed). Prints JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

from switchboard_api.manifests import load_manifests
from switchboard_api.pipeline import TtsSpec
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.conversation.sentences import SentenceSplitter
from switchboard_serve.llm.llamacpp import LlamaCppEngine
from switchboard_serve.packaged import gguf_path, piper_voice_path
from switchboard_serve.tts.piper import PiperEngine
from switchboard_wire.chat import ChatMessage, ReplyText

REPO = Path(__file__).resolve().parents[1]

SPLITTER = "workloads/switchboard_gateway/conversation/sentences.py"
#: Not the benchmark's questions (bench/speech_sets.py): nothing is tuned on those.
QUESTIONS = [
    "When are you open on Saturdays?",
    "Are you open on Sunday?",
    "What's your address?",
    "How can I make an appointment?",
    "What are your hours on Tuesday?",
    "Can I bring my two kids to the same appointment?",
]


class Splitter(Protocol):
    """What both splitters offer."""

    def push(self, delta: str) -> list[str]: ...  # noqa: D102

    def flush(self) -> str | None: ...  # noqa: D102


def baseline_splitter(revision: str) -> type[Splitter]:
    """`SentenceSplitter` as it was at `revision`."""
    source = subprocess.run(  # noqa: S603
        ["git", "show", f"{revision}:{SPLITTER}"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("baseline_sentences", file.name)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the splitter at {revision}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.unlink(file.name)
    splitter: type[Splitter] = module.SentenceSplitter
    return splitter


def first_piece(splitter: Splitter, deltas: list[tuple[float, str]]) -> tuple[str, float]:
    """The first piece and when (seconds from the request) the LLM had produced it."""
    for at, text in deltas:
        pieces = splitter.push(text)
        if pieces:
            return pieces[0], at
    return splitter.flush() or "", deltas[-1][0] if deltas else 0.0


def tts_first_audio(tts: PiperEngine, text: str, repeats: int) -> float:
    """Median seconds from asking Piper to speak `text` to its first audio chunk."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        next(iter(tts.synthesize(text)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Run the comparison and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="2a1e233", help="git revision of the old splitter")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    agent = next(
        m.resource
        for m in load_manifests([REPO / "examples" / "receptionist.yaml"])
        if isinstance(m.resource, VoiceAgent)
    )
    config = AgentConfig.from_resource(agent)
    prompts = config.prompts({})
    llm = LlamaCppEngine(config.llm, gguf_path(), threads=2)
    tts = PiperEngine(TtsSpec(), piper_voice_path())
    tts_first_audio(tts, "Warming up the voice.", 1)
    splitters: dict[str, type[Splitter]] = {
        "baseline": baseline_splitter(args.baseline),
        "first_clause": SentenceSplitter,
    }
    replies: list[dict[str, Any]] = []
    for question in QUESTIONS:
        messages: list[ChatMessage] = [
            {"role": "system", "content": prompts.system},
            {"role": "assistant", "content": prompts.greeting or ""},
            {"role": "user", "content": question},
        ]
        asked, deltas = time.perf_counter(), []
        for event in llm.stream_chat(messages):
            if isinstance(event, ReplyText):
                deltas.append((time.perf_counter() - asked, event.text))
        reply: dict[str, Any] = {"question": question, "reply": "".join(t for _, t in deltas)}
        for name, splitter in splitters.items():
            piece, ready = first_piece(splitter(), deltas)
            tts_s = tts_first_audio(tts, piece, args.repeats)
            reply[name] = {
                "first_piece": piece,
                "llm_s": round(ready, 3),
                "tts_first_audio_s": round(tts_s, 3),
                "first_audio_s": round(ready + tts_s, 3),
            }
        replies.append(reply)
    summary = {
        name: {
            key: round(statistics.median(r[name][key] for r in replies), 3)
            for key in ("llm_s", "tts_first_audio_s", "first_audio_s")
        }
        for name in splitters
    }
    result = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "median": summary,
        "replies": replies,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
