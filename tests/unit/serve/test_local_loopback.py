"""A local Ray is started in its single-machine mode, so its servers bind loopback."""

from __future__ import annotations

import os
from typing import Any

import pytest
import ray
from ray._private import ray_constants

from switchboard_api.serving import RAY_NODE_ENV, ModelPlaneArgs
from switchboard_serve import local

pytestmark = pytest.mark.unit


def test_ray_is_told_the_machine_is_a_single_loopback_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(ray, "init", lambda **options: seen.update(options))
    local.start_ray(ModelPlaneArgs())
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    # What makes Ray resolve its node address to loopback (its macOS/Windows mode); asking
    # `services.get_node_ip_address()` here would read whatever Ray ran earlier in this process.
    assert ray_constants.ENABLE_RAY_CLUSTER is False
    assert seen["_node_ip_address"] == "127.0.0.1"
    assert seen["dashboard_host"] == "127.0.0.1"
    assert seen["include_dashboard"] is False


def test_a_local_ray_starts_its_workers_at_normal_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_worker_niceness", "15")
    monkeypatch.setattr(ray, "init", lambda **options: None)
    local.start_ray(ModelPlaneArgs())
    # The raylet reads it when `ray.init` starts it, and starts every worker at that niceness.
    assert RAY_NODE_ENV == {"RAY_worker_niceness": "0"}
    assert {name: os.environ.get(name) for name in RAY_NODE_ENV} == RAY_NODE_ENV
