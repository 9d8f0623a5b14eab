"""The gateway config the operator renders for an example agent of the example tenant."""

from __future__ import annotations

from typing import Any

import yaml

from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import Tenant, VoiceAgent
from switchboard_operator.render.agent import CONFIG_KEY, config_map
from tests.cases.invalid import example


def operators_config(manifest: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap's config for `manifest` (an agent of `examples/tenant.yaml`), as a pod reads it.

    Without the tenant's call quota: its call slots are Leases on a Kubernetes API server, which
    a gateway process on its own does not have (the cluster and node tiers test the quota).
    """
    agent = parse_manifest(manifest, "agent.yaml")
    tenant = parse_manifest(example("tenant.yaml"), "tenant.yaml")
    assert isinstance(agent, VoiceAgent)
    assert isinstance(tenant, Tenant)
    owner = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": agent.metadata.name, "namespace": "acme", "uid": "uid-1"},
    }
    rendered: dict[str, Any] = yaml.safe_load(config_map(agent, tenant, owner)["data"][CONFIG_KEY])
    assert rendered.pop("callQuota", None) is not None, "the example tenant sets a quota"
    return rendered
