"""`python -m switchboard_operator`: run the operator for the whole cluster.

Settings come from `SWITCHBOARD_OPERATOR_*` variables (see `settings.py`); kopf's liveness
endpoint answers on `:8080/healthz` (setting `health_port`). Replicas elect one active
operator through kopf peering (the chart creates the ClusterKopfPeering object); without it
the operator runs standalone.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import kopf
from kopf._core.engines.peering import Identity  # kopf exports no public name for it

from switchboard_operator.settings import OperatorSettings, SettingsError


def peering_identity() -> Identity:
    """The replica's name in kopf's peering: the pod's host name and the process id.

    kopf's own default asks `getpass.getuser()`, which fails in images that run as a numeric
    user with no /etc/passwd entry (ours run as 65532), so the operator crashed at start.
    """
    return Identity(f"{socket.gethostname()}/{os.getpid()}")


def main() -> int:
    """Entry point of the operator image."""
    try:
        settings = OperatorSettings.from_env()
    except SettingsError as error:
        print(f"switchboard-operator: {error}", file=sys.stderr)
        return 2
    import switchboard_operator.handlers  # noqa: F401 (registers the handlers)

    kopf.configure(verbose=False)
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            identity=peering_identity(),
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
