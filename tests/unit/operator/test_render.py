from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.calls import active_calls
from switchboard_operator.checks import admitted_agents, model_problem, quota_problem
from switchboard_operator.conditions import Check, Stall, condition_set
from switchboard_operator.render.agent import agent_children
from switchboard_operator.render.autoscaling import choose_autoscaler
from switchboard_operator.render.tenant import tenant_children
from switchboard_operator.settings import OperatorSettings, SettingsError

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings()
OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}
NAMES = st.from_regex(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?", fullmatch=True)


def tenant(**spec: object) -> Tenant:
    return Tenant.model_validate(
        {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}, **spec}}
    )


def agent(name: str = "front", **spec: object) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": name, "namespace": "acme"},
            "spec": {"prompt": {"system": "Hi"}, **spec},
        }
    )


@settings(max_examples=50, deadline=None)
@given(name=NAMES, drain=st.integers(0, 3600), backend=st.sampled_from(["keda", "hpa", "none"]))
def test_every_agent_child_has_a_short_name_labels_an_owner_and_grace_above_drain(
    name: str, drain: int, backend: str
) -> None:
    a = agent(
        name,
        gateway={"drain": {"timeoutSeconds": drain}},
        scaling={"gateway": {"backend": backend}},
        slo={"timeToFirstAudioMs": 900},
    )
    kind = choose_autoscaler(a, keda_installed=True, custom_metrics_api=False)
    children = agent_children(
        a,
        tenant(),
        OWNER,
        SETTINGS,
        autoscaler=kind,
        service_monitor_installed=True,
        prometheus_rule_installed=True,
    )
    assert {"ServiceMonitor", "PrometheusRule"} <= {c["kind"] for c in children}
    for child in children:
        meta = child["metadata"]
        assert len(meta["name"]) <= 63
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "switchboard-operator"
        assert meta["ownerReferences"][0]["uid"] == "u-1"
    deployment = next(c for c in children if c["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain
    scalers = [
        c["kind"] for c in children if c["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")
    ]
    assert len(scalers) == (0 if backend == "none" else 1)
    assert ("replicas" in deployment["spec"]) == (backend == "none")


def test_autoscaler_falls_back_from_keda_to_an_hpa_on_calls_then_cpu() -> None:
    a = agent()
    assert choose_autoscaler(a, keda_installed=True, custom_metrics_api=True) == "keda"
    assert choose_autoscaler(a, keda_installed=False, custom_metrics_api=True) == "hpa-calls"
    assert choose_autoscaler(a, keda_installed=False, custom_metrics_api=False) == "hpa-cpu"
    assert (
        choose_autoscaler(a, keda_installed=True, custom_metrics_api=True, suspended=True) == "none"
    )


def test_the_tenant_children_include_the_indexers_role_binding_only() -> None:
    kinds = [c["kind"] for c in tenant_children(tenant(), OWNER, SETTINGS)]
    assert "RoleBinding" in kinds  # the indexer's; admins' only when admins are listed
    assert sum(k == "RoleBinding" for k in kinds) == 1


def test_a_disallowed_model_names_the_field_and_keeps_the_agent_out_of_the_pool() -> None:
    t = tenant(allowedModels={"llm": ["smollm2-135m-instruct"]})
    bad = agent(
        "bad",
        pipeline={
            "llm": {
                "provider": "openai-compatible",
                "model": "gpt-4o",
                "endpoint": {"url": "https://x.example/v1"},
            }
        },
    )
    problem = model_problem(bad, t)
    assert problem is not None
    assert problem.reason == "ModelNotAllowed"
    assert "spec.pipeline.llm.model" in problem.message
    good = agent("good")
    bodies = [
        (good, {"metadata": {"name": "good", "creationTimestamp": "2026-01-01T00:00:00Z"}}),
        (bad, {"metadata": {"name": "bad", "creationTimestamp": "2026-01-01T00:00:00Z"}}),
    ]
    assert [a.metadata.name for a in admitted_agents(t, bodies)] == ["good"]


def test_quota_keeps_the_oldest_objects() -> None:
    siblings = [
        {"metadata": {"name": n, "creationTimestamp": f"2026-01-0{i + 1}T00:00:00Z"}}
        for i, n in enumerate("cab")
    ]
    assert quota_problem(siblings[0], siblings, 2, "quotas.maxVoiceAgents", "acme") is None
    assert quota_problem(siblings[1], siblings, 2, "quotas.maxVoiceAgents", "acme") is None
    third = quota_problem(siblings[2], siblings, 2, "quotas.maxVoiceAgents", "acme")
    assert third is not None
    assert "number 3" in third.message


def test_ready_carries_the_failing_reason_and_transition_times_move_only_on_change() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = condition_set(
        [], [Check("GatewayReady", False, "GatewayUnavailable", "0/1")], None, 1, t0
    )
    ready = first[0]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "False",
        "GatewayUnavailable",
    )
    assert first[1]["status"] == "True"  # Reconciling
    same = condition_set(
        first,
        [Check("GatewayReady", False, "GatewayUnavailable", "0/1")],
        None,
        1,
        t0 + timedelta(minutes=1),
    )
    assert same == first  # nothing changed: nothing to write
    healed = condition_set(
        first, [Check("GatewayReady", True, "GatewayAvailable")], None, 2, t0 + timedelta(minutes=2)
    )
    assert healed[0]["status"] == "True"
    assert healed[0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    assert healed[2]["lastTransitionTime"] == first[2]["lastTransitionTime"]  # Stalled stayed False
    stalled = condition_set(healed, [], Stall("QuotaExceeded", "too many"), 3, t0)
    assert [c["status"] for c in stalled[:3]] == ["False", "False", "True"]


def test_active_calls_are_read_per_agent_from_the_metrics_text() -> None:
    text = (
        "# TYPE switchboard_active_calls gauge\n"
        'switchboard_active_calls{agent="acme/front"} 3.0\n'
        'switchboard_active_calls{agent="acme/back"} 1.0\n'
    )
    assert active_calls(text, "acme/front") == 3
    assert active_calls(text, "acme/other") == 0


def test_settings_errors_name_the_variable() -> None:
    assert (
        OperatorSettings.from_env({"SWITCHBOARD_OPERATOR_RESYNC_SECONDS": "5"}).resync_seconds == 5
    )
    with pytest.raises(SettingsError, match="SWITCHBOARD_OPERATOR_RESYNC_SECONDS"):
        OperatorSettings.from_env({"SWITCHBOARD_OPERATOR_RESYNC_SECONDS": "-1"})
