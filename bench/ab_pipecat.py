"""Switchboard against Pipecat 1.14 on the same model files and machine, in alternating runs.

    .venv/bin/python bench/ab_pipecat.py [--pairs 3] [--config defaults|matched|both]
        [--turns 10] [--voices piper,espeak] [--systems switchboard,pipecat]
        [--reply-timeout 15] [--out ab.json] [--markdown ab.md]

Each pair runs both systems once, started fresh, in alternating order (pair 1 Switchboard first,
pair 2 Pipecat first, ...). Switchboard: `bench/voice_to_voice.py --turns N --voices V
--sweep "" --out FILE` as a subprocess (`--turn-strategy silence --endpointing-ms 500` when
matched). Pipecat: `python -m llama_cpp.server` on our GGUF and bench/pipecat/bot.py in the
Pipecat virtualenv (bench/pipecat/setup.sh), both given the paths of our installed model files,
driven by bench/pipecat/client.py, which sends the same utterances (bench/speech_sets.py) the
same way and measures voice-to-voice the same way. Reported per run: p50/p95, WER per voice
family, replies missed, the 1-minute load average before and after; per pair the ratio
Switchboard/Pipecat at p50 and p95; then the median ratios. Prints the markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ab_report import Pair, Run, markdown, percentiles, summary  # noqa: E402
from bench.pipecat import client  # noqa: E402
from bench.speech_sets import QUESTIONS, caller_wer, synthesise, voices_for  # noqa: E402

#: What LlamaCppEngine leaves to llama-cpp-python's `create_chat_completion` defaults; sent to
#: llama_cpp.server explicitly, whose own defaults differ (repeat_penalty 1.1, temperature 0.8).
LLAMA_SAMPLING = {"top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}
#: LlamaCppEngine's prompt cache (LlamaRAMCache), given to the server as its RAM cache.
PROMPT_CACHE_BYTES = 256 << 20
SERVER_READY_S = 180.0
SWITCHBOARD_RUN_S = 3600.0


def agent_settings() -> dict[str, Any]:
    """The benchmark agent's prompt, greeting and model settings (bench/voice_to_voice.py)."""
    from bench.voice_to_voice import bench_agent

    from switchboard_api.pipeline import resolve_pipeline

    agent = bench_agent()
    pipeline = resolve_pipeline(agent.spec.pipeline, None)
    return {
        "system": agent.spec.prompt.system,
        "greeting": agent.spec.prompt.greeting,
        "temperature": pipeline.llm.temperature,
        "max_tokens": pipeline.llm.max_tokens,
        "context_tokens": pipeline.llm.context_tokens,
        "tts_speed": pipeline.tts.speed,
        "threads": int(os.environ.get("SWITCHBOARD_ENGINE_THREADS", "0")) or (os.cpu_count() or 1),
    }


def model_files() -> dict[str, Path]:
    """Switchboard's installed model files: the Pipecat side is given these very paths."""
    from switchboard_gateway.turns.vad import silero_model_path
    from switchboard_serve.packaged import gguf_path, piper_voice_path, whisper_model_dir

    return {
        "whisper_dir": whisper_model_dir(),
        "gguf": gguf_path(),
        "piper_voice": piper_voice_path(),
        "silero_v6": silero_model_path(),
    }


def _sha256(path: Path) -> str:
    target = path / "model.bin" if path.is_dir() else path
    digest = hashlib.sha256()
    with target.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}; log: {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local server
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {SERVER_READY_S:.0f} s; log: {log}")


def _warm_llm(base: str, settings: dict[str, Any]) -> None:
    """One completion with the system prompt, as Switchboard's warm-up does."""
    body = {
        "model": "bench",
        "messages": [
            {"role": "system", "content": settings["system"]},
            {"role": "user", "content": "Hello."},
        ],
        "max_tokens": 1,
    }
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120):  # noqa: S310
        pass


def families_wer(said: list[str], heard: list[str], voices: list[str]) -> dict[str, float | None]:
    """Corpus WER per voice family ("piper", "espeak")."""
    out: dict[str, float | None] = {}
    for family in dict.fromkeys(v.split(":")[0] for v in voices):
        pairs = [
            (s, h) for s, h, v in zip(said, heard, voices, strict=True) if v.startswith(family)
        ]
        out[family] = round(caller_wer(pairs), 3) if pairs else None
    return out


class PipecatSide:
    """Starts llama_cpp.server and the bot fresh for each run, then calls it."""

    def __init__(
        self, python: str, settings: dict[str, Any], files: dict[str, Path], logs: Path
    ) -> None:
        self.python, self.settings, self.files, self.logs = python, settings, files, logs

    def _spawn(self, name: str, argv: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.logs / f"{name}-{time.strftime('%H%M%S')}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return process, log

    def run(
        self,
        config: str,
        utterances: list[bytes],
        said: list[str],
        voices: list[str],
        timeout: float,
    ) -> tuple[Run, list[dict[str, Any]]]:
        """One fresh run of `len(utterances)` turns."""
        s, threads = self.settings, str(self.settings["threads"])
        llm_port, bot_port = _free_port(), _free_port()
        transcripts = self.logs / f"transcripts-{config}-{time.strftime('%H%M%S')}.jsonl"
        before = _load()
        server, server_log = self._spawn(
            "llama-server",
            [self.python, "-m", "llama_cpp.server", "--model", str(self.files["gguf"]),
             "--model_alias", "bench", "--host", "127.0.0.1", "--port", str(llm_port),
             "--n_ctx", str(s["context_tokens"]), "--n_threads", threads,
             "--n_threads_batch", threads, "--cache", "true", "--cache_type", "ram",
             "--cache_size", str(PROMPT_CACHE_BYTES)],
        )  # fmt: skip
        bot = None
        try:
            base = f"http://127.0.0.1:{llm_port}/v1"
            _wait_ready(f"{base}/models", server, server_log)
            _warm_llm(base, s)
            sampling = dict(LLAMA_SAMPLING)
            top_p = sampling.pop("top_p")
            bot, _ = self._spawn(
                f"bot-{config}",
                [self.python, str(REPO / "bench/pipecat/bot.py"), "--config", config,
                 "--port", str(bot_port), "--whisper-dir", str(self.files["whisper_dir"]),
                 "--threads", threads,
                 "--voice", str(self.files["piper_voice"]), "--speed", str(s["tts_speed"]),
                 "--llm-url", base, "--system", s["system"], "--greeting", s["greeting"],
                 "--temperature", str(s["temperature"]), "--top-p", str(top_p),
                 "--max-tokens", str(s["max_tokens"]), "--llm-extra", json.dumps(sampling),
                 "--silero-v6", str(self.files["silero_v6"]), "--transcripts", str(transcripts),
                 "--warm-up", "--log-level", os.environ.get("AB_PIPECAT_LOG", "INFO")],
            )  # fmt: skip
            log = asyncio.run(client.call(f"ws://127.0.0.1:{bot_port}", utterances, timeout))
        finally:
            if bot is not None:
                _stop(bot)
            _stop(server)
        lines = transcripts.read_text().splitlines() if transcripts.exists() else []
        entries = [json.loads(line) for line in lines]
        heard = client.heard_per_turn(log, [(e["at"], e["text"]) for e in entries])
        latencies = client.turn_latencies(log)
        measured = [v for v in latencies if v is not None]
        missed = len(utterances) - len(measured)
        run = Run(
            system="pipecat",
            **percentiles(measured),
            turns=len(utterances),
            missed=missed,
            wer=families_wer(said, heard, voices),
            load={"before": before, "after": _load()},
        )
        turns = [
            {"voice": v, "said": t, "heard": h, "voice_to_voice_s": lat}
            for v, t, h, lat in zip(voices, said, heard, latencies, strict=True)
        ]
        return run, turns


def run_switchboard(config: str, turns: int, voices: str, logs: Path) -> tuple[Run, dict[str, Any]]:
    """One fresh run of bench/voice_to_voice.py (its own model plane, started and stopped)."""
    out = logs / f"switchboard-{config}-{time.strftime('%H%M%S')}.json"
    argv = [sys.executable, str(REPO / "bench/voice_to_voice.py"), "--turns", str(turns),
            "--voices", voices, "--sweep", "", "--out", str(out)]  # fmt: skip
    if config == "matched":
        argv += ["--turn-strategy", "silence", "--endpointing-ms", "500"]
    before = _load()
    with (logs / f"switchboard-{config}.log").open("ab") as log:
        subprocess.run(  # noqa: S603 - our own interpreter and script
            argv, check=True, stdout=log, stderr=subprocess.STDOUT, timeout=SWITCHBOARD_RUN_S
        )
    result = json.loads(out.read_text())
    single = result["single"]
    measured = [t for t in single.get("turns", []) if t.get("voice_to_voice_s") is not None]
    run = Run(
        system="switchboard",
        p50_s=single.get("p50_s"),
        p95_s=single.get("p95_s"),
        turns=turns,
        missed=single.get("replies_missed", turns - len(measured)),
        wer=single.get("wer", {}),
        load={"before": before, "after": _load()},
    )
    return run, result


def _supports_bench_cli() -> bool:
    """Whether bench/voice_to_voice.py has the issue-21 CLI (`--voices`, `--out`)."""
    usage = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(REPO / "bench/voice_to_voice.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    return "--voices" in usage and "--out" in usage


def setup_pipecat() -> str:
    """The Pipecat virtualenv's python (bench/pipecat/setup.sh: idempotent)."""
    done = subprocess.run(  # noqa: S603 - our own script
        [shutil.which("bash") or "/bin/bash", str(REPO / "bench/pipecat/setup.sh")],
        check=False,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        tail = done.stderr[-3000:]
        raise SystemExit(f"bench/pipecat/setup.sh failed ({done.returncode}):\n{tail}")
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    """Alternate the systems pair by pair; write JSON and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--config", choices=("defaults", "matched", "both"), default="both")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--voices", default="piper,espeak")
    parser.add_argument("--systems", default="switchboard,pipecat")
    # As bench/voice_to_voice.py's REPLY_TIMEOUT_S: no agent audio this long after the
    # utterance is a missed reply.
    parser.add_argument("--reply-timeout", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=Path("ab_pipecat.json"))
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    # A stop (SIGTERM) unwinds like an exception, so each run's servers are stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    systems = [s for s in args.systems.split(",") if s]
    if "switchboard" in systems and not _supports_bench_cli():
        raise SystemExit(
            "bench/voice_to_voice.py lacks --voices/--out on this branch: "
            "run with --systems pipecat, or merge the bench lane first"
        )
    if args.turns > len(QUESTIONS):
        raise SystemExit(f"--turns at most {len(QUESTIONS)} (distinct utterances)")
    logs = Path(tempfile.mkdtemp(prefix="ab_pipecat-"))
    settings, files = agent_settings(), model_files()
    voices = voices_for(args.turns, args.voices.split(","))
    said = QUESTIONS[: args.turns]
    utterances = [synthesise(text, voice) for text, voice in zip(said, voices, strict=True)]
    pipecat = PipecatSide(setup_pipecat(), settings, files, logs) if "pipecat" in systems else None
    configs = ["defaults", "matched"] if args.config == "both" else [args.config]
    pairs: list[Pair] = []
    details: list[dict[str, Any]] = []
    for config in configs:
        for index in range(args.pairs):
            order = tuple(systems if index % 2 == 0 else reversed(systems))
            runs: dict[str, Run] = {}
            detail: dict[str, Any] = {"config": config, "pair": index + 1}
            for system in order:
                if system == "switchboard":
                    runs[system], detail[system] = run_switchboard(
                        config, args.turns, args.voices, logs
                    )
                elif pipecat is not None:
                    runs[system], detail[system] = pipecat.run(
                        config, utterances, said, voices, args.reply_timeout
                    )
                print(f"{config} pair {index + 1} {system}: {asdict(runs[system])}", flush=True)
            pairs.append(Pair(config, order, runs))
            details.append(detail)
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(sys.argv),
        "settings": {
            **settings,
            "llama_sampling": LLAMA_SAMPLING,
            "model_files": {k: str(v) for k, v in files.items()},
            "model_sha256": {k: _sha256(v) for k, v in files.items()},
        },
        "pairs": [{**asdict(p), "ratios": p.ratios()} for p in pairs],
        "summary": summary(pairs),
        "runs": details,
        "logs": str(logs),
    }
    args.out.write_text(json.dumps(result, indent=2))
    table = markdown(pairs)
    if args.markdown is not None:
        args.markdown.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
