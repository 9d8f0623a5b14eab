"""Kubernetes NetworkPolicy semantics over modelled pods, to test what rendered policies allow.

No CNI here enforces policies (see README, Status), so the tenant's policies are checked twice:
as objects a real API server accepts (cluster tier), and here for what they mean. The rules
are the API's: a pod selected by no policy of a direction is open in it; selected by some, a
connection needs one rule of one of them to match. Peers: `podSelector` (the policy's namespace
unless a `namespaceSelector` is beside it), `namespaceSelector` (namespaces' labels, here only
`kubernetes.io/metadata.name`), `ipBlock` (`cidr` minus `except`, matched against addresses
outside the cluster's pods, as most implementations do). Ports: none listed means all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    """A pod: its namespace and labels."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class External:
    """An address outside the cluster's pods (the API server's host, a provider, metadata)."""

    address: str


Peer = Pod | External


def _selects(selector: Manifest, labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer_rule: Manifest, policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in peer_rule:
        if not isinstance(peer, External):
            return False
        address = ipaddress.ip_address(peer.address)
        block = peer_rule["ipBlock"]

        def inside(cidr: str) -> bool:
            network = ipaddress.ip_network(cidr)
            return network.version == address.version and address in network

        return inside(block["cidr"]) and not any(inside(c) for c in block.get("except", []))
    if not isinstance(peer, Pod):
        return False
    if "namespaceSelector" in peer_rule:
        namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if not _selects(peer_rule["namespaceSelector"], namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return _selects(peer_rule.get("podSelector") or {}, peer.labels)


def _port_matches(ports: list[Manifest] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports
    )


def _direction_allows(
    policies: Iterable[Manifest], pod: Pod, kind: str, peer: Peer, port: int, protocol: str
) -> bool:
    key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and kind in p["spec"].get("policyTypes", [])
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(r, policy["metadata"]["namespace"], peer) for r in peers
            )
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def connects(
    policies: Iterable[Manifest], source: Pod, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """Whether `source` may open a connection to `target` on `port` under `policies`."""
    policies = list(policies)
    if not _direction_allows(policies, source, "Egress", target, port, protocol):
        return False
    if isinstance(target, Pod):
        return _direction_allows(policies, target, "Ingress", source, port, protocol)
    return True


def admits(policies: Iterable[Manifest], target: Pod, source: Peer, port: int) -> bool:
    """Whether `target`'s ingress policies let `source` (in or outside the cluster) in on TCP."""
    return _direction_allows(list(policies), target, "Ingress", source, port, "TCP")
