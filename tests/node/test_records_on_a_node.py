"""Call records on a real node: kept in the cluster's PostgreSQL across rollouts and pod losses.

The chart's pre-install hook Job migrated the call store (tests/node/values.yaml names it); the
gateways only checked the schema at start. A call's record is read straight from PostgreSQL
(the records API is not served in clusters: `console` is off there).
"""

from __future__ import annotations

import pytest

from switchboard_gateway.records.migrations import LATEST
from switchboard_gateway.scripted_caller import Turn
from tests.node.calls import grpc_call
from tests.node.cluster import Node
from tests.node.conftest import RELEASE_NAMESPACE, Applied
from tests.node.kube import TENANT_NAMESPACE, condition, get, items, service_ip, wait_until_routed
from tests.node.manifests import POSTGRES_DB, POSTGRES_USER

pytestmark = pytest.mark.node

GATEWAY = "receptionist-gateway"
SELECTOR = "app.kubernetes.io/component=gateway,switchboard.dev/voice-agent=receptionist"
#: A call's record is saved when it ends (a task of the gateway), so a read waits a little.
SAVED_S = 60


def _sql(node: Node, query: str, **variables: str) -> str:
    """One query through psql in the PostgreSQL pod (socket, trust), values as psql variables."""
    assigned = [f"--variable={name}={value}" for name, value in variables.items()]
    return node.kubectl(
        "exec", "-i", "-n", RELEASE_NAMESPACE, "deploy/postgres", "--",
        "psql", "-U", POSTGRES_USER, "-d", POSTGRES_DB, "-tA", "-F", "|",
        "-v", "ON_ERROR_STOP=1", *assigned, "-f", "-",
        input_text=query + "\n",
    ).strip()  # fmt: skip


def _record(node: Node, call_id: str) -> str:
    """`agent|end_reason|turns` of a call's record, or "" when there is none."""
    return _sql(
        node,
        "SELECT c.agent, c.end_reason, (SELECT COUNT(*) FROM switchboard_turns t"
        " WHERE t.call_id = c.call_id) FROM switchboard_calls c WHERE c.call_id = :'id';",
        id=call_id,
    )


def _pods(node: Node) -> set[str]:
    return {p["metadata"]["uid"] for p in items(node, "pods", TENANT_NAMESPACE, "-l", SELECTOR)}


def _rolled_out(node: Node) -> None:
    node.kubectl(
        "rollout", "status", f"deployment/{GATEWAY}", "-n", TENANT_NAMESPACE, "--timeout=300s",
        timeout=320,
    )  # fmt: skip


def test_a_calls_record_survives_a_gateway_rollout_and_a_pod_deletion(
    node: Node, applied: Applied
) -> None:
    # The hook Job migrated once; the agent says where its records go.
    assert _sql(node, "SELECT MAX(version) FROM switchboard_schema_migrations;") == str(LATEST)
    records = condition(get(node, "voiceagent", "receptionist"), "RecordsReady")
    assert (records.get("status"), records.get("reason")) == ("True", "CallStorePostgres"), records

    # An earlier test may have rolled the gateway: call once the Service routes to it.
    _rolled_out(node)
    wait_until_routed(node, GATEWAY, 50051)
    target = f"{service_ip(node, GATEWAY)}:50051"
    outcome = grpc_call(target, "acme/receptionist", [Turn(text="What are your opening hours?")])
    assert outcome.call_id, outcome
    assert outcome.end_reason == "caller_hangup", (outcome.end_reason, outcome.end_detail)
    node.wait_for("the call's record", lambda: _record(node, outcome.call_id), SAVED_S)
    kept = _record(node, outcome.call_id)
    agent, reason, turns = kept.split("|")
    assert (agent, reason) == ("acme/receptionist", "caller_hangup")
    assert int(turns) >= 2  # the greeting and the caller's turn

    # A rollout replaces every gateway pod (and its emptyDir): the record stays.
    before = _pods(node)
    node.kubectl("rollout", "restart", f"deployment/{GATEWAY}", "-n", TENANT_NAMESPACE)
    node.wait_for("new gateway pods", lambda: _pods(node) and not _pods(node) & before, 300)
    _rolled_out(node)
    assert _record(node, outcome.call_id) == kept

    # The pods deleted outright: the same.
    rolled = _pods(node)
    node.kubectl("delete", "pod", "-n", TENANT_NAMESPACE, "-l", SELECTOR, "--wait=true",
                 timeout=200)  # fmt: skip
    node.wait_for("replacement pods", lambda: _pods(node) and not _pods(node) & rolled, 300)
    _rolled_out(node)
    assert _record(node, outcome.call_id) == kept

    # The new pods checked the schema and record too: a second call lands beside the first.
    # kube-proxy follows the new pods' endpoints a moment after the rollout: retry a while.
    calls = []

    def second_call() -> str:
        calls.append(grpc_call(target, "acme/receptionist", [Turn(text="Thank you, goodbye.")]))
        return calls[-1].call_id

    node.wait_for("a call after the pod deletion", second_call, 60)
    second = calls[-1]
    node.wait_for("the second call's record", lambda: _record(node, second.call_id), SAVED_S)
    assert _record(node, outcome.call_id) == kept
