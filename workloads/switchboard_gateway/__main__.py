"""`python -m switchboard_gateway --config gateway.yaml`: run one gateway process.

Its agents warm up in the background (readiness stays off until they have, retried while the
model plane is not up yet), so the greeting of the first call comes from the phrase cache.

SIGTERM or SIGINT drains (readiness off, new calls refused, active calls finish up to the drain
timeout); a second signal stops at once. Exit status 0 after a drain, 2 on a bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.agent import AgentConfigError
from switchboard_gateway.records.model import CallStoreUnavailableError
from switchboard_gateway.server import WARM_UP_RETRY_S, GatewayServer

log = logging.getLogger("switchboard_gateway")


def load_config(path: Path) -> GatewayConfig:
    """Read a gateway configuration file (YAML or JSON)."""
    return GatewayConfig.model_validate(yaml.safe_load(path.read_text()))


async def run(config: GatewayConfig) -> None:
    """Serve (ready once warmed up) until a signal, then drain and stop."""
    server = await GatewayServer.start(config)
    warming = asyncio.create_task(server.warm_up(retry_every_s=WARM_UP_RETRY_S), name="warm-up")
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    stopping: asyncio.Task[None] | None = None

    def on_signal() -> None:
        if signalled.is_set() and stopping is not None:
            log.warning("second signal: stopping now")
            stopping.cancel()
        signalled.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal)
    await signalled.wait()
    warming.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await warming
    stopping = asyncio.create_task(server.drain_and_stop(), name="drain")
    try:
        await stopping
    except asyncio.CancelledError:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the gateway container and `switchboard-gateway`."""
    parser = argparse.ArgumentParser(prog="switchboard-gateway", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="gateway configuration file")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        print(
            f"switchboard-gateway: invalid configuration {args.config}:\n{error}", file=sys.stderr
        )
        return 2
    try:
        asyncio.run(run(config))
    except (AgentConfigError, CallStoreUnavailableError, ValueError) as error:
        print(f"switchboard-gateway: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
