"""Live calls per gateway pod, read from each pod's `/metrics`.

Two uses: `controller.kubernetes.io/pod-deletion-cost` (a scale-down removes the pod with the
fewest calls first) and the agent's `status.activeCalls`. A pod that does not answer within
the timeout counts as busy as it was last time, never as idle.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp

from switchboard_operator.naming import POD_DELETION_COST, Manifest, gateway_selector
from switchboard_operator.reconcile.runtime import Runtime

log = logging.getLogger(__name__)
POD = ("v1", "Pod")
METRICS_TIMEOUT_S = 2.0
_SAMPLE = re.compile(r"^switchboard_active_calls\{([^}]*)\}\s+([0-9.eE+-]+)\s*$", re.MULTILINE)


def active_calls(metrics_text: str, agent: str) -> int:
    """The `switchboard_active_calls` sample of one agent in a Prometheus text exposition."""
    for labels, value in _SAMPLE.findall(metrics_text):
        if f'agent="{agent}"' in labels:
            return max(0, int(float(value)))
    return 0


def _http_port(pod: Manifest) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http":
                return int(port["containerPort"])
    return None


async def _pod_calls(session: aiohttp.ClientSession, pod: Manifest, agent: str) -> int | None:
    ip = (pod.get("status") or {}).get("podIP")
    port = _http_port(pod)
    if not ip or port is None or (pod.get("status") or {}).get("phase") != "Running":
        return None
    try:
        async with session.get(f"http://{ip}:{port}/metrics") as response:
            if response.status != 200:
                return None
            return active_calls(await response.text(), agent)
    except (aiohttp.ClientError, TimeoutError):
        return None


async def poll_agent(rt: Runtime, body: Manifest) -> int:
    """Read every gateway pod's calls, keep pod-deletion-cost current, return the total."""
    namespace = body["metadata"]["namespace"]
    name = body["metadata"]["name"]
    key = f"{namespace}/{name}"
    pods = await rt.kube.list(*POD, namespace, gateway_selector(name))
    timeout = aiohttp.ClientTimeout(total=METRICS_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        answers: list[Any] = await asyncio.gather(*(_pod_calls(session, p, key) for p in pods))
    total = 0
    for pod, calls in zip(pods, answers, strict=True):
        annotations = pod["metadata"].get("annotations") or {}
        if calls is None:
            total += int(annotations.get(POD_DELETION_COST, "0") or 0)
            continue
        total += calls
        if annotations.get(POD_DELETION_COST) != str(calls):
            await rt.kube.patch_metadata(pod, {"annotations": {POD_DELETION_COST: str(calls)}})
    rt.active_calls[key] = total
    return total
