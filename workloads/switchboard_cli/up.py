"""`switchboard up`: the platform on one machine, from the same manifests a cluster gets.

Order matters for failing fast: manifests and ports are checked before Ray starts; models are
prepared (whisper reassembled once into the state directory), deployed and warmed up, each
agent's greeting cached, and only then the gateway opens and the endpoints are printed.
Ctrl-C (or SIGTERM) drains calls in progress for a few seconds and stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from switchboard_api.gateway import GatewayConfig, TelephonyConfig
from switchboard_api.manifests import ManifestError, load_manifests
from switchboard_cli import interrupts
from switchboard_cli.local_plan import (
    LOCAL_MAX_CALLS,
    LocalPlan,
    PlanError,
    gateway_config,
    plan,
)
from switchboard_cli.phone import phone_agents, phone_lines
from switchboard_cli.state import (
    RunningPlatform,
    clear_running,
    default_state_dir,
    read_running,
    write_running,
)
from switchboard_gateway.capacity import CALLS_PER_CORE

if TYPE_CHECKING:
    from switchboard_cli.knowledge import LocalKnowledge
    from switchboard_cli.progress import Progress
    from switchboard_indexer.build import BuildReport

log = logging.getLogger("switchboard")

DEFAULT_MANIFEST = Path("examples/receptionist.yaml")
EXIT_BAD_INPUT, EXIT_START_FAILED, EXIT_INTERRUPTED = 2, 3, 130


class PortBusyError(RuntimeError):
    """A port `up` needs is taken."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `switchboard up`."""
    parser.add_argument(
        "-f",
        "--file",
        action="append",
        type=Path,
        metavar="FILE|DIR",
        help=f"Tenant/VoiceAgent/KnowledgeBase manifests (repeatable; default {DEFAULT_MANIFEST})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8080, help="console, WebSocket calls and HTTP API"
    )
    parser.add_argument("--grpc-port", type=int, default=50051, help="gRPC calls")
    parser.add_argument(
        "--model-port", type=int, default=0, help="the model plane's HTTP API (0: any free port)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="call records, prepared models and the running file (default $SWITCHBOARD_HOME "
        "or ~/.switchboard)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--phone-port",
        type=int,
        default=TelephonyConfig().port,
        help="Twilio's and jambonz's webhooks and media sockets, `switchboard dial` (opened "
        "when an agent enables a phone channel)",
    )
    parser.add_argument(
        "--capacity",
        type=int,
        default=None,
        metavar="CALLS",
        help="calls taken at once before new ones are refused as over capacity (default: "
        f"{CALLS_PER_CORE:g} per CPU core when every model runs on this machine's CPUs)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="https://…",
        help="the public https:// URL of a tunnel you run to the phone port (ngrok, "
        "cloudflared): Twilio and jambonz reach the agents through it",
    )


def check_port(host: str, port: int, what: str) -> int:
    """Bind and release `port` (0: pick one); raises `PortBusyError` naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusyError(
                    f"port {port} on {host} ({what}) is already in use; is another "
                    f"`switchboard up` running? Choose another port or stop it"
                ) from None
            raise PortBusyError(f"cannot listen on {host}:{port} ({what}): {error}") from None
        bound: int = probe.getsockname()[1]
        return bound


@dataclass(frozen=True)
class Ports:
    """The ports of one local run."""

    http: int
    grpc: int
    model: int
    #: The phone port (only checked when an agent takes phone calls).
    phone: int = TelephonyConfig().port


def _load(files: list[Path]) -> LocalPlan:
    missing = [p for p in files if not p.exists()]
    if missing:
        raise PlanError(f"{missing[0]}: no such file or directory")
    try:
        return plan(load_manifests(files))
    except ManifestError as error:
        raise PlanError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    """`switchboard up`; returns the exit status."""
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    files = args.file or [DEFAULT_MANIFEST]
    try:
        local = _load(files)
    except PlanError as error:
        hint = "" if args.file else " (pass -f FILE to choose manifests)"
        print(f"switchboard up: invalid manifests: {error}{hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        telephony = TelephonyConfig(port=args.phone_port, public_url=args.public_url)
    except ValidationError:
        print(
            "switchboard up: --public-url must be an https:// URL with no query "
            f"(the tunnel's address), not {args.public_url!r}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.capacity is not None and not 1 <= args.capacity <= LOCAL_MAX_CALLS:
        print(
            f"switchboard up: --capacity must be 1 to {LOCAL_MAX_CALLS} calls, not {args.capacity}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.public_url and not phone_agents(local.agents):
        print("warning: --public-url is unused: no agent enables a phone channel", file=sys.stderr)
    state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    running = read_running(state_dir)
    if running is not None:
        print(
            f"switchboard up: already running from {state_dir} (pid {running.pid}, console "
            f"{running.console_url}); stop it first or pass another --state-dir",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        ports = Ports(
            check_port(args.host, args.port, "--port"),
            check_port(args.host, args.grpc_port, "--grpc-port"),
            check_port("127.0.0.1", args.model_port, "--model-port"),
            check_port(args.host, args.phone_port, "--phone-port")
            if phone_agents(local.agents)
            else args.phone_port,
        )
    except PortBusyError as error:
        print(f"switchboard up: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {args.host}: the console and calls are protected only by "
            "the token in the printed URL, sent in clear over plain HTTP",
            file=sys.stderr,
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # call records and transcripts: this user's only
    # Replicas inherit the environment: prepared models live in the state directory.
    os.environ["SWITCHBOARD_CACHE"] = str(state_dir)
    telephony = telephony.model_copy(update={"port": ports.phone})
    return _start(
        local,
        ports,
        args.host,
        state_dir,
        quiet=args.log_level != "DEBUG",
        telephony=telephony,
        capacity=args.capacity,
    )


def _start(
    local: LocalPlan,
    ports: Ports,
    host: str,
    state_dir: Path,
    *,
    quiet: bool,
    telephony: TelephonyConfig | None = None,
    capacity: int | None = None,
) -> int:
    # `import ray` runs Cython module set-up that swallows a KeyboardInterrupt raised inside it
    # (and `up` then went on starting): a Ctrl-C during these imports is noted, raised after.
    with interrupts.deferred():
        from switchboard_cli.progress import Progress
        from switchboard_serve import local as local_plane
        from switchboard_serve.packaged import PackagedModelError

    began = time.monotonic()
    interrupts.stop_on_signals()
    progress = Progress()
    knowledge: LocalKnowledge | None = None
    try:
        try:
            progress.prepare_models(local.plane)
            with interrupts.deferred():  # an interrupted ray.init leaves Ray half started
                cpus = local_plane.start_ray(local.plane, quiet=quiet)
            log.info("Ray started with %d logical CPUs", cpus)
            with progress.deployments() as update, interrupts.deferred() as stop_requested:
                url = local_plane.deploy(
                    local.plane, port=ports.model, on_progress=update, interrupted=stop_requested
                )
        except (local_plane.ModelPlaneStartError, PackagedModelError) as error:
            print(f"switchboard up: the model plane did not start: {error}", file=sys.stderr)
            return EXIT_START_FAILED
        config = gateway_config(
            local,
            model_plane_url=url,
            host=host,
            http_port=ports.http,
            grpc_port=ports.grpc,
            state_dir=state_dir,
            capacity=capacity,
        ).model_copy(
            update={
                "local_token": secrets.token_urlsafe(32),
                "telephony": telephony or TelephonyConfig(),
            }
        )
        if local.knowledge_bases:
            knowledge = _index(local, url, state_dir)
        return asyncio.run(_serve(config, local, state_dir, progress, began, knowledge))
    except KeyboardInterrupt:
        print("\nstopped before the platform was up", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        with interrupts.ignored():  # a second Ctrl-C must not leave Ray running
            if knowledge is not None:
                knowledge.close()
            local_plane.shutdown()
            clear_running(state_dir, os.getpid())


def _index(local: LocalPlan, model_plane_url: str, state_dir: Path) -> LocalKnowledge:
    from switchboard_cli.knowledge import LocalKnowledge

    knowledge = LocalKnowledge(local, model_plane_url, state_dir)

    def done(key: str, report: BuildReport | None) -> None:
        if report is not None and report.version is not None:
            print(
                f"Indexed {key}: {report.documents} documents, {report.chunks} chunks "
                f"({report.embedded} embedded, {report.reused} unchanged) in "
                f"{report.seconds:.1f} s",
                file=sys.stderr,
            )

    for failure in knowledge.index_all(done):
        print(f"switchboard up: indexing failed: {failure}", file=sys.stderr)
    return knowledge


async def _serve(
    config: GatewayConfig,
    local: LocalPlan,
    state_dir: Path,
    progress: Progress,
    began: float,
    knowledge: LocalKnowledge | None = None,
) -> int:
    from switchboard_gateway.server import GatewayServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    server = await GatewayServer.start(config, knowledge)
    try:
        with progress.agents(len(local.agents)) as advance:
            warmed = await _unless_stopped(server.warm_up(on_agent=advance), stop)
    except Exception as error:  # a model that cannot answer once cannot take calls
        print(f"switchboard up: warm-up failed: {type(error).__name__}: {error}", file=sys.stderr)
        await server.stop()
        return EXIT_START_FAILED
    if not warmed:
        print("\nstopped before the platform was up", file=sys.stderr)
        await server.stop()
        return EXIT_INTERRUPTED
    host = "127.0.0.1" if config.host in ("0.0.0.0", "127.0.0.1", "localhost") else config.host  # noqa: S104
    platform = RunningPlatform(
        pid=os.getpid(),
        console_url=f"http://{host}:{server.http_port}/",
        grpc_target=f"{host}:{server.grpc_port}",
        websocket_url=f"ws://{host}:{server.http_port}/v1/calls",
        model_plane_url=config.model_plane_url,
        agents=local.agent_keys,
        token=config.local_token or "",
        phone_url=f"http://{host}:{server.phone_port.port}" if server.phone_port else "",
    )
    write_running(state_dir, platform)
    phone = phone_lines(local.agents, config.telephony.public_url, platform.phone_url)
    _banner(platform, state_dir, time.monotonic() - began, phone)
    await stop.wait()
    print("\nstopping: calls in progress get a few seconds to finish…", file=sys.stderr)
    with contextlib.suppress(asyncio.CancelledError):
        await server.drain_and_stop()
    return 0


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` until done (True) or until `stop` is set first (False; `work` is cancelled)."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # a warm-up error is raised here
    return True


def _banner(
    platform: RunningPlatform, state_dir: Path, seconds: float, phone: list[str] | None = None
) -> None:
    agents = ", ".join(platform.agents)
    first = platform.agents[0].split("/")[-1]
    print(
        f"\nSwitchboard is up ({seconds:.1f} s). Agents: {agents}\n"
        f"  Console    {platform.login_url}\n"
        f"  WebSocket  {platform.websocket_url}\n"
        f"  gRPC       {platform.grpc_target}\n"
        f"  Models     {platform.model_plane_url}\n"
        f"  State      {state_dir}\n"
        + "".join(f"{line}\n" for line in phone or [])
        + "  Access     loopback only, nothing to set up: callers use the console URL's token"
        " (switchboard call finds it); spec.access applies in clusters\n"
        f"Talk to it:  switchboard call --agent {first} --text 'Hello'\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
