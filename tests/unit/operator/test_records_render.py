"""Call records in a cluster: the install's PostgreSQL through a copied Secret, or records off."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant
from switchboard_api.gateway import CALL_STORE_SECRET, CALL_STORE_URL_ENV, GatewayConfig
from switchboard_operator.conditions import Stall
from switchboard_operator.render.network import network_policies
from switchboard_operator.render.records import call_store_secret, records_check
from switchboard_operator.settings import OperatorSettings, SettingsError
from tests.unit.operator.gateway_render import OWNER, rendered_gateway
from tests.unit.operator.netpol import Pod, connects
from tests.unit.operator.test_access_render import agent, tenant

pytestmark = pytest.mark.unit

WITH_STORE = OperatorSettings(call_store_secret="calls-db", operator_namespace="switchboard-system")  # noqa: S106
GATEWAY = Pod("acme", {"app.kubernetes.io/component": "gateway"})
INDEXER = Pod("acme", {"app.kubernetes.io/component": "indexer"})
POSTGRES = Pod("switchboard-system", {"app": "postgres"})


def rendered(
    t: Tenant, *, call_store: bool
) -> tuple[GatewayConfig, dict[str, Any], dict[str, Any]]:
    config, deployment = rendered_gateway(agent(), t, call_store=call_store)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    return config, env, deployment["spec"]["template"]["metadata"]["annotations"]


def test_with_a_call_store_the_gateway_reads_the_copied_secret_and_only_checks_the_schema() -> None:
    config, env, _ = rendered(tenant(), call_store=True)
    assert config.store is not None
    assert config.store.url is None  # nothing pretends: no SQLite fallback to fall into
    assert config.store.url_env == CALL_STORE_URL_ENV
    assert config.store.migrate is False
    assert config.store.retention_days == tenant().spec.retention.transcripts_days
    assert env[CALL_STORE_URL_ENV]["valueFrom"]["secretKeyRef"] == {
        "name": CALL_STORE_SECRET,
        "key": "url",
    }  # required: no `optional`, so a pod without the copy never starts recording elsewhere


def test_without_a_call_store_records_are_off_not_on_an_emptydir() -> None:
    config, env, _ = rendered(tenant(), call_store=False)
    assert config.store is None
    assert CALL_STORE_URL_ENV not in env
    check = records_check(tenant(), configured=False, copy_problem=None)
    assert (check.type, check.ok, check.reason) == ("RecordsReady", False, "CallStoreEphemeral")
    assert "storage.callStore.connectionSecretRef" in check.message
    assert "not recorded" in check.message


def test_turning_the_call_store_on_rolls_the_gateways() -> None:
    _, _, off = rendered(tenant(), call_store=False)
    _, _, on = rendered(tenant(), call_store=True)
    assert off != on


def test_zero_retention_keeps_nothing_and_says_that_is_as_asked() -> None:
    body = tenant().model_dump(mode="json", by_alias=True, exclude_none=True)
    body["spec"]["retention"] = {"transcriptsDays": 0}
    quiet = Tenant.model_validate(body)
    config, _, _ = rendered(quiet, call_store=True)
    assert config.store is None
    check = records_check(quiet, configured=True, copy_problem=None)
    assert (check.ok, check.reason) == (True, "RecordsOff")


def test_a_missing_install_secret_says_why_and_that_calls_still_work() -> None:
    problem = Stall("CallStoreSecretMissing", "the call store's Secret ns/x does not exist")
    check = records_check(tenant(), configured=True, copy_problem=problem)
    assert (check.ok, check.reason) == (False, "CallStoreSecretMissing")
    assert check.message.startswith(problem.message)
    assert "calls are taken but not recorded" in check.message
    ready = records_check(tenant(), configured=True, copy_problem=None)
    assert (ready.ok, ready.reason) == (True, "CallStorePostgres")


def test_the_copy_is_the_fixed_name_the_operator_may_write_with_the_value_unchanged() -> None:
    secret = call_store_secret("acme", "cG9zdGdyZXNxbDovL3g=", "acme")
    assert secret["metadata"]["name"] == CALL_STORE_SECRET
    assert secret["metadata"]["namespace"] == "acme"
    assert secret["data"] == {"url": "cG9zdGdyZXNxbDovL3g="}
    assert "ownerReferences" not in secret["metadata"]


def test_gateways_reach_the_installs_postgresql_only_with_a_call_store() -> None:
    t = tenant()
    assert connects(network_policies(t, OWNER, WITH_STORE), GATEWAY, POSTGRES, 5432)
    assert not connects(network_policies(t, OWNER, WITH_STORE), INDEXER, POSTGRES, 5432)
    assert not connects(network_policies(t, OWNER, OperatorSettings()), GATEWAY, POSTGRES, 5432)


def test_the_operator_refuses_a_malformed_call_store_secret_name() -> None:
    env = {"SWITCHBOARD_OPERATOR_CALL_STORE_SECRET": "Not A Name"}
    with pytest.raises(SettingsError, match="SWITCHBOARD_OPERATOR_CALL_STORE_SECRET"):
        OperatorSettings.from_env(env)
    assert OperatorSettings.from_env({}).call_store is False
