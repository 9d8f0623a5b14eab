"""The model plane on a local Ray (no cluster): `switchboard up`, the models tier, benchmarks.

Ray is started in this process with logical CPUs sized to the machine and to the replicas the
plane asks for; the Serve application is the same one the operator deploys through KubeRay.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import ray
from ray import serve

from switchboard_api.serving import RAY_NODE_ENV, ModelPlaneArgs, actor_resources, serve_config
from switchboard_serve.app import build_app

log = logging.getLogger(__name__)

#: Logical CPUs beyond the initial replicas, so the autoscaler can add a replica or two.
AUTOSCALING_HEADROOM_CPUS = 2
_SERVING = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})
LOOPBACK = "127.0.0.1"
#: False: Ray treats the machine as a single node and resolves its address to loopback.
_RAY_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class ModelPlaneStartError(RuntimeError):
    """A deployment failed, or did not become healthy in time (the message says which)."""


@dataclass(frozen=True)
class DeploymentProgress:
    """How many of the plane's deployments are healthy so far."""

    healthy: int
    total: int
    waiting_for: tuple[str, ...]


def logical_cpus(plane: ModelPlaneArgs, cores: int | None = None) -> int:
    """Ray CPUs for a local run: the machine's cores, or what the replicas need if more.

    Ray's CPUs are a scheduling budget, not a reservation; on a 2-core laptop the three model
    replicas must still be placeable.
    """
    cores = cores or os.cpu_count() or 1
    needed = sum(
        actor_resources(d).get("num_cpus", 1) * max(1, d.scaling.min_replicas)
        for d in plane.deployments()
    )
    return max(cores, math.ceil(needed) + AUTOSCALING_HEADROOM_CPUS)


def _loopback_only() -> None:
    """Ray's single-machine mode: its node address is 127.0.0.1, so its servers bind loopback.

    Ray uses this mode on macOS and Windows; on Linux the variable below selects it. It must be
    in the environment before Ray's processes start (they read it), and Ray's constant is set
    too in case `ray` was imported before this ran.
    """
    os.environ[_RAY_SINGLE_MACHINE_ENV] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def normal_priority() -> None:
    """Ray's workers (the model replicas, Serve's controller and proxy) start at nice 0.

    Ray's default is nice 15: under load the replicas then lose the CPU to the gateway, the
    browser and everything else, and callers wait. Like `_loopback_only`, the environment must
    be set before Ray's processes start.
    """
    os.environ.update(RAY_NODE_ENV)


def start_ray(plane: ModelPlaneArgs, *, quiet: bool = True) -> int:
    """Start a local Ray for `plane`, reachable on loopback only; returns its logical CPUs.

    What Ray still opens on every interface is listed in docs/reliability.md (Local exposure).
    Its workers run at normal priority (`normal_priority`).
    """
    cpus = logical_cpus(plane)
    _loopback_only()
    normal_priority()
    ray.init(
        num_cpus=cpus,
        _node_ip_address=LOOPBACK,
        include_dashboard=False,
        dashboard_host=LOOPBACK,
        log_to_driver=not quiet,
        logging_level=logging.WARNING if quiet else logging.INFO,
    )
    return cpus


def deploy(
    plane: ModelPlaneArgs,
    *,
    host: str = "127.0.0.1",
    port: int,
    app_name: str = "models",
    timeout_s: float = 300.0,
    on_progress: Callable[[DeploymentProgress], None] | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> str:
    """Deploy the model plane on the running Ray; its base URL once every deployment is healthy.

    Raises `ModelPlaneStartError` naming the deployment that failed or is late, and
    `KeyboardInterrupt` as soon as `interrupted()` says the user asked to stop.
    """
    serve.start(http_options={"host": host, "port": port})
    application = serve_config(plane, app_name=app_name)["applications"][0]
    # Not serve.run: it waits without a bound, and a replica that cannot be placed would hang.
    serve._run(
        build_app(application["args"]),
        name=application["name"],
        route_prefix="/",
        _blocking=False,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        status = serve.status().applications.get(app_name)
        if status is not None:
            deployments = status.deployments
            waiting = tuple(
                sorted(n for n, d in deployments.items() if d.status.value not in _SERVING)
            )
            if on_progress is not None and deployments:
                healthy = len(deployments) - len(waiting)
                on_progress(DeploymentProgress(healthy, len(deployments), waiting))
            if status.status.value == "RUNNING":
                return f"http://{host}:{port}"
            if status.status.value == "DEPLOY_FAILED":
                failed = [f"{n}: {d.message}" for n, d in deployments.items() if d.message]
                raise ModelPlaneStartError("; ".join(failed) or status.message)
        if interrupted is not None and interrupted():
            raise KeyboardInterrupt
        if time.monotonic() > deadline:
            late = ", ".join(waiting) if status is not None else app_name
            raise ModelPlaneStartError(f"not healthy after {timeout_s:.0f} s: {late}")
        time.sleep(0.25)


def shutdown() -> None:
    """Stop Serve and Ray (replicas exit; nothing is left running); nothing if Ray never started.

    `serve.shutdown()` without a running Ray would start one to look for Serve.
    """
    if not ray.is_initialized():
        return
    try:
        serve.shutdown()  # type: ignore[no-untyped-call]
    finally:
        ray.shutdown()
