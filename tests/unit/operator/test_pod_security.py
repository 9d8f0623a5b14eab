"""Every pod template the operator renders passes the Pod Security `restricted` checks."""

from __future__ import annotations

import pytest
import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_operator.render.agent import agent_children
from switchboard_operator.render.knowledge import index_job, refresh_cron_job
from switchboard_operator.render.pool import model_pool
from switchboard_operator.settings import OperatorSettings
from tests.pod_security import pod_specs, restricted_violations
from tests.tools import REPO_ROOT

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}
SETTINGS = OperatorSettings()


def example(name: str) -> dict[str, object]:
    return dict(yaml.safe_load((REPO_ROOT / "examples" / name).read_text()))


def test_gateway_pool_and_indexer_pods_are_restricted() -> None:
    tenant = Tenant.model_validate(example("tenant.yaml"))
    agents = [
        VoiceAgent.model_validate(example(n)) for n in ("receptionist.yaml", "booking-agent.yaml")
    ]
    kb = KnowledgeBase.model_validate(example("knowledgebase.yaml"))
    kb = kb.model_copy(
        update={
            "spec": kb.spec.model_copy(
                update={"refresh": kb.spec.refresh.model_copy(update={"schedule": "0 3 * * *"})}
            )
        }
    )
    rendered = [
        *agent_children(
            agents[0],
            tenant,
            OWNER,
            SETTINGS,
            autoscaler="keda",
            service_monitor_installed=True,
            prometheus_rule_installed=True,
        ),
        model_pool(tenant, OWNER, agents, [kb], SETTINGS),
        index_job(kb, tenant.metadata.name, OWNER, SETTINGS),
        refresh_cron_job(kb, tenant.metadata.name, OWNER, SETTINGS),
    ]
    checked = 0
    for manifest in rendered:
        assert manifest is not None
        for spec in pod_specs(manifest):
            assert restricted_violations(spec) == [], manifest["kind"]
            checked += 1
    assert checked >= 5  # gateway, Ray head + worker, Job, CronJob
