"""Running the real operator in-process with `kopf.testing.KopfRunner`, and waiting on it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from kopf.testing import KopfRunner
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException

ARGS = ["run", "--all-namespaces", "-m", "switchboard_operator.handlers"]


@contextlib.contextmanager
def running_operator(peering: str | None = None) -> Iterator[KopfRunner]:
    """The operator for the duration of the block; its own errors fail the test.

    Standalone unless `peering` names a ClusterKopfPeering to elect through (as in the chart).
    """
    election = ["--peering", peering] if peering else ["--standalone"]
    with KopfRunner([*ARGS, *election], timeout=60) as runner:
        yield runner
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None, runner.output


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until `probe` returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except ApiException as error:
            last = error
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def get(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> Any:
    """An object as a dict, or None when it does not exist (Any: tests index it freely)."""
    resource = dyn.resources.get(api_version=api_version, kind=kind)
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def patch_status(
    dyn: dynamic.DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str,
    status: dict[str, Any],
) -> None:
    """Write status as the object's controller would (KubeRay, the Deployment/Job controller)."""
    resource = dyn.resources.get(api_version=api_version, kind=kind)
    resource.status.patch(
        body={"status": status},
        name=name,
        namespace=namespace,
        content_type="application/merge-patch+json",
    )


def condition(obj: dict[str, Any] | None, type_: str) -> Any:
    """A status condition by type."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if entry["type"] == type_:
            return entry
    return None


def condition_is(
    dyn: dynamic.DynamicClient,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    type_: str,
    status: str = "True",
) -> Any:
    """The condition when it has this status, else None (a `wait_for` probe)."""
    found = condition(get(dyn, api_version, kind, name, namespace), type_)
    return found if found is not None and found["status"] == status else None


def observed(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, name: str, namespace: str
) -> Any:
    """`status.observedGeneration`, or None before the first status write."""
    return ((get(dyn, api_version, kind, name, namespace) or {}).get("status") or {}).get(
        "observedGeneration"
    )
