"""`switchboard call`: one call to an agent from the terminal, over gRPC.

Each `--wav` is spoken as one caller turn (streamed at real time in 20 ms frames, or faster with
`--fast`), followed by silence until the agent's reply has played; each `--text` is typed. The
transcripts, replies and per-turn latencies are printed (`--json`: one JSON document), and the
agent's audio can be written to a WAV file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from switchboard_api.gateway import API_KEY_ENV
from switchboard_cli.state import default_state_dir, read_running
from switchboard_wire.audio import decode_wav, encode_wav, float_to_pcm16, resample

if TYPE_CHECKING:
    from switchboard_gateway.scripted_caller import CallOutcome

RATE = 16_000
EXIT_CALL_FAILED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_UNKNOWN_AGENT, EXIT_REFUSED = 1, 2, 3, 4, 5


class _TurnAction(argparse.Action):
    """`--wav` and `--text` append to one list, in the order given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[str] | None,
        option_string: str | None = None,
    ) -> None:
        turns = list(getattr(namespace, "turns", None) or [])
        turns.append(("wav" if option_string == "--wav" else "text", values))
        namespace.turns = turns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `switchboard call`."""
    parser.add_argument("--agent", required=True, help="NAME or NAMESPACE/NAME")
    parser.add_argument(
        "--wav", action=_TurnAction, dest="turns", metavar="FILE", help="speak a WAV (repeatable)"
    )
    parser.add_argument(
        "--text", action=_TurnAction, dest="turns", metavar="TEXT", help="type a turn (repeatable)"
    )
    parser.add_argument("--out", type=Path, help="write the agent's audio to this WAV")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--fast", action="store_true", help="send WAV audio faster than real time")
    parser.add_argument(
        "--gateway",
        help="the gRPC endpoint: HOST:PORT, or grpcs://HOST:PORT over TLS (default: `up`'s)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="connect over TLS (as a grpcs:// --gateway does)"
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help="trust the gateway's certificate when this CA (PEM) signed it (implies --tls)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV, ""),
        help=f"the agent's API key (default: ${API_KEY_ENV}, else `up`'s token)",
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="`switchboard up`'s state")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each reply"
    )


def read_wav(path: Path) -> bytes:
    """A WAV file as 16 kHz mono PCM16 (8/16/24-bit PCM at any rate, any channels mixed down)."""
    samples, rate = decode_wav(path.read_bytes())
    return float_to_pcm16(resample(samples, rate, RATE))


def write_wav(path: Path, pcm16: bytes) -> None:
    """16 kHz mono PCM16 to a WAV file."""
    path.write_bytes(encode_wav(pcm16, RATE))


def _resolve_agent(name: str, served: list[str]) -> str:
    if "/" in name:
        return name
    matches = [key for key in served if key.split("/")[-1] == name]
    if len(matches) == 1:
        return matches[0]
    return name  # unknown or ambiguous: the gateway's answer names the problem


def _print_outcome(outcome: CallOutcome) -> None:
    if outcome.greeting:
        print(f"agent:  {outcome.greeting}")
    for turn in outcome.turns:
        if turn.caller:
            print(f"caller: {turn.caller}")
        if turn.agent:
            print(f"agent:  {turn.agent}")
        if turn.latency:
            parts = ", ".join(f"{k} {v} ms" for k, v in turn.latency.items())
            print(f"        latency: {parts}")
    print(f"ended:  {outcome.end_reason}{f' ({outcome.end_detail})' if outcome.end_detail else ''}")


def run(args: argparse.Namespace) -> int:
    """`switchboard call`; returns the exit status."""
    from switchboard_gateway.scripted_caller import Turn, run_call

    turns: list[Turn] = []
    try:
        for kind, value in args.turns or []:
            turns.append(Turn(audio=read_wav(Path(value))) if kind == "wav" else Turn(text=value))
    except (OSError, ValueError) as error:
        print(f"switchboard call: cannot read WAV: {error}", file=sys.stderr)
        return EXIT_USAGE
    # A key Secret may hold several keys, one per line (rotation): the first is used.
    target, served, api_key = args.gateway, [], next(iter(args.api_key.split()), "")
    if target is None:
        state_dir = args.state_dir or default_state_dir()
        running = read_running(state_dir)
        if running is None:
            print(
                f"switchboard call: Switchboard is not running (nothing in {state_dir}); "
                "start it with `switchboard up`, or pass --gateway HOST:PORT",
                file=sys.stderr,
            )
            return EXIT_NOT_RUNNING
        target, served = running.grpc_target, running.agents
        # `up`'s token calls every agent: the CLI works with no configuration. It is sent only
        # to the platform it belongs to, never to a `--gateway` named by hand.
        api_key = api_key or running.token
    agent = _resolve_agent(args.agent, served)
    if args.ca_file is not None and not args.ca_file.is_file():
        print(f"switchboard call: no CA file {args.ca_file}", file=sys.stderr)
        return EXIT_USAGE
    if args.tls and "://" not in target:
        target = f"grpcs://{target}"
    outcome = asyncio.run(
        run_call(
            target,
            agent,
            turns,
            api_key=api_key,
            fast=args.fast,
            timeout=args.timeout,
            ca_file=args.ca_file,
        )
    )
    if outcome.unreachable:
        why = f" ({outcome.end_detail})" if outcome.end_detail else ""
        print(
            f"switchboard call: no gateway answers at {target}{why}: is it running, and does"
            " it speak TLS exactly when the address says so (grpcs://, --tls)?",
            file=sys.stderr,
        )
        return EXIT_NOT_RUNNING
    if args.out is not None:
        write_wav(args.out, outcome.agent_audio)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        _print_outcome(outcome)
    if outcome.end_reason == "unknown_agent":
        known = f"; this platform serves: {', '.join(served)}" if served else ""
        print(f"switchboard call: no agent {args.agent!r}{known}", file=sys.stderr)
        return EXIT_UNKNOWN_AGENT
    if outcome.end_reason in ("unauthenticated", "overloaded", "shutting_down"):
        print(
            f"switchboard call: the gateway refused the call: {outcome.end_reason}", file=sys.stderr
        )
        return EXIT_REFUSED
    if outcome.end_reason not in ("caller_hangup", "agent_ended", "transferred"):
        print(f"switchboard call: the call ended with {outcome.end_reason}", file=sys.stderr)
        return EXIT_CALL_FAILED
    if outcome.incomplete:
        print(f"switchboard call: {outcome.incomplete}", file=sys.stderr)
        return EXIT_CALL_FAILED
    return 0
