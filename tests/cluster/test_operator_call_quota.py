"""A tenant's call quota on a real API server: the operator's RBAC, and the gateways' slot races.

The slot clients are the gateway's own code (`CallSlots` over `KubeLeases`), authenticated as the
tenant's gateway ServiceAccount with a token from the TokenRequest API, so only the RoleBinding
the operator rendered lets them touch Leases. (This file runs before test_rbac_audit.py, whose
audit then covers the operator's `bind` of the call-slot ClusterRole.)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kopf.testing import KopfRunner
from kubernetes import client, dynamic

from switchboard_api.chartgen import CALL_SLOT_ROLE
from switchboard_gateway.quota.kube import KubeLeases
from switchboard_gateway.quota.slots import CallSlots, QuotaUnavailableError, Slot
from tests.cluster.apiserver import ApiServer
from tests.cluster.conftest import server_side_apply
from tests.cluster.operator_runner import get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
TENANT = "wayne"
NS = "wayne-voice"
RBAC = "rbac.authorization.k8s.io/v1"
MERGE = "application/merge-patch+json"


def tenant(quotas: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": TENANT},
        "spec": {"namespace": {"name": NS}, "quotas": quotas},
    }


@pytest.fixture(scope="module")
def operator(operator_env: None, dyn: dynamic.DynamicClient) -> Iterator[KopfRunner]:
    server_side_apply(dyn, tenant({"maxConcurrentCalls": 3}))
    with running_operator() as runner:
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        yield runner


@pytest.fixture(scope="module")
def gateway_token(
    operator: KopfRunner, dyn: dynamic.DynamicClient, api_client: client.ApiClient
) -> str:
    """A token of the tenant's gateway ServiceAccount (what the kubelet mounts into its pods)."""
    wait_for(
        "the gateway ServiceAccount",
        lambda: get(dyn, "v1", "ServiceAccount", "switchboard-gateway", NS),
    )
    wait_for("the call-slot RoleBinding", lambda: get(dyn, RBAC, "RoleBinding", CALL_SLOT_ROLE, NS))
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        "switchboard-gateway", NS, request
    )
    assert answer.status is not None
    return str(answer.status.token)


def replica(
    apiserver: ApiServer, token: str, name: str, namespace: str = NS, **kw: Any
) -> CallSlots:
    leases = KubeLeases(apiserver.url, namespace, token=token, verify=str(apiserver.ca_file))
    return CallSlots(
        leases,
        3,
        TENANT,
        identity=name,
        rng=random.Random(name),  # noqa: S311 (slot order, not secrets)
        renew_every_s=3600,
        **kw,
    )


async def slot_holders(apiserver: ApiServer, token: str) -> list[str]:
    leases = KubeLeases(apiserver.url, NS, token=token, verify=str(apiserver.ca_file))
    try:
        return [
            lease.holder for lease in await leases.list(f"switchboard.dev/call-slot-of={TENANT}")
        ]
    finally:
        await leases.close()


def test_the_operator_binds_the_gateways_to_the_call_slot_role_and_renders_the_quota(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    binding = wait_for(
        "the call-slot RoleBinding", lambda: get(dyn, RBAC, "RoleBinding", CALL_SLOT_ROLE, NS)
    )
    assert binding["roleRef"]["kind"] == "ClusterRole"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "switchboard-gateway", "namespace": NS}
    ]
    role = get(dyn, RBAC, "ClusterRole", CALL_SLOT_ROLE)  # installed by the chart
    assert role["rules"][0]["resources"] == ["leases"]
    server_side_apply(
        dyn,
        {
            "apiVersion": API,
            "kind": "VoiceAgent",
            "metadata": {"name": "desk", "namespace": NS},
            "spec": {"prompt": {"system": "You are helpful."}},
        },
    )
    config_map = wait_for(
        "the gateway config", lambda: get(dyn, "v1", "ConfigMap", "desk-config", NS)
    )
    config = yaml.safe_load(config_map["data"]["gateway.yaml"])
    assert config["callQuota"] == {
        "limit": 3,
        "namespace": NS,
        "tenant": TENANT,
        "leasePrefix": "switchboard-call-slot-",
    }
    deployment = wait_for(
        "the gateway", lambda: get(dyn, "apps/v1", "Deployment", "desk-gateway", NS)
    )
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_twenty_calls_racing_on_two_gateways_get_exactly_three_slots(
    apiserver: ApiServer, gateway_token: str
) -> None:
    async def scenario() -> tuple[list[Slot | None], Slot | None, Slot | None]:
        a = replica(apiserver, gateway_token, "gw-a")
        b = replica(apiserver, gateway_token, "gw-b")
        try:
            results = await asyncio.gather(
                *((a if n % 2 else b).acquire(f"call-{n}") for n in range(20))
            )
            full = await a.acquire("one-more")
            granted = [s for s in results if s is not None]
            holder = a if granted[0].lease.holder.startswith("gw-a/") else b
            holder.release(granted[0])
            await asyncio.gather(*holder._releasing)
            after = await b.acquire("after-a-hangup")
            return list(results), full, after
        finally:
            await a.close()
            await b.close()

    results, full, after = asyncio.run(scenario())

    granted = [s for s in results if s is not None]
    assert len(granted) == 3
    assert len({s.lease.name for s in granted}) == 3
    assert full is None
    assert after is not None  # the released slot went to the next call
    assert asyncio.run(slot_holders(apiserver, gateway_token)) == []  # close() gave all back


def test_an_expired_slot_is_taken_over_and_its_old_holder_cannot_delete_it(
    apiserver: ApiServer, gateway_token: str
) -> None:
    async def scenario() -> tuple[list[Slot | None], Slot | None, list[str]]:
        crashed = replica(apiserver, gateway_token, "gw-crashed", duration_s=1)
        newcomer = replica(apiserver, gateway_token, "gw-new")
        try:
            held = [await crashed.acquire(f"c{i}") for i in range(3)]
            crashed._held.clear()  # the pod died: nobody renews its slots
            assert await newcomer.acquire("too-early") is None
            await asyncio.sleep(2.5)  # their leases (1 s) expire
            taken = await newcomer.acquire("after-expiry")
            for slot in held:  # the dead pod's late releases must not delete the new holder's
                assert slot is not None
                crashed.release(slot)
            await asyncio.gather(*crashed._releasing)
            current = await newcomer.api.list("switchboard.dev/call-slot-of=" + TENANT)
            return held, taken, [lease.holder for lease in current]
        finally:
            await newcomer.close()
            await crashed.api.close()

    held, taken, holders = asyncio.run(scenario())

    assert all(slot is not None for slot in held)
    assert taken is not None
    assert taken.lease.holder == "gw-new/after-expiry"
    assert "gw-new/after-expiry" in holders


def test_the_gateway_account_cannot_take_slots_in_another_namespace(
    apiserver: ApiServer, gateway_token: str, tenant_namespace: str
) -> None:
    elsewhere = replica(apiserver, gateway_token, "gw-x", namespace=tenant_namespace)

    async def scenario() -> str:
        try:
            await elsewhere.acquire("1")
        except QuotaUnavailableError as error:
            return str(error)
        finally:
            await elsewhere.close()
        return ""

    assert "HTTP 403" in asyncio.run(scenario())


def test_an_unreachable_api_server_refuses_within_the_timeout(gateway_token: str) -> None:
    leases = KubeLeases("https://127.0.0.1:9", NS, token=gateway_token, verify=False)
    slots = CallSlots(leases, 3, TENANT, identity="gw-cut-off", acquire_timeout_s=2)

    async def scenario() -> str:
        try:
            await slots.acquire("1")
        except QuotaUnavailableError as error:
            return str(error)
        finally:
            await slots.close()
        return ""

    assert asyncio.run(scenario())


def test_lifting_the_quota_removes_the_gateways_lease_rights(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    tenants = dyn.resources.get(api_version=API, kind="Tenant")
    body = {"spec": {"quotas": {"maxConcurrentCalls": None}}}
    tenants.patch(name=TENANT, body=body, content_type=MERGE)

    def quota_in_config() -> bool:
        config_map = get(dyn, "v1", "ConfigMap", "desk-config", NS)
        return "callQuota" in yaml.safe_load(config_map["data"]["gateway.yaml"])

    wait_for(
        "the RoleBinding removed",
        lambda: get(dyn, RBAC, "RoleBinding", CALL_SLOT_ROLE, NS) is None,
    )
    wait_for("the quota gone from the gateway config", lambda: not quota_in_config())
    wait_for(
        "the gateway pods without an API token",
        lambda: (
            get(dyn, "apps/v1", "Deployment", "desk-gateway", NS)["spec"]["template"]["spec"][
                "automountServiceAccountToken"
            ]
            is False
        ),
    )
