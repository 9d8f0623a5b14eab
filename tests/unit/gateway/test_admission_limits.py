"""Admission keeps the per-call limits on a call's start, the same for every transport."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config

pytestmark = pytest.mark.unit


def gateway(**prompt: Any) -> tuple[Gateway, str]:
    config = agent_config(
        prompt={
            "system": "You work for {{company}}. The caller is {{name}}.",
            "greeting": "Hi.",
            "variables": {"company": "Acme"},
            "callerVariables": ["name", "plan"],
            **prompt,
        },
        callPolicy={"limits": {"maxCallerVariableChars": 10, "maxClientReferenceChars": 8}},
    )
    return Gateway({config.key: AgentEntry(config, backend=None)}), config.key  # type: ignore[arg-type]


def refused(result: Admission | CallEndedEvent) -> CallEndedEvent:
    assert isinstance(result, CallEndedEvent), result
    assert result.reason is EndReason.PROTOCOL_ERROR
    return result


def test_a_declared_caller_variable_fills_the_prompt() -> None:
    gate, key = gateway()

    admitted = gate.admit(StartCall(agent=key, variables={"name": "Ada"}), "grpc")

    assert isinstance(admitted, Admission)
    assert admitted.prompts.system == "You work for Acme. The caller is Ada."


def test_a_variable_the_agent_does_not_declare_refuses_the_call_naming_it() -> None:
    gate, key = gateway()

    result = refused(
        gate.admit(StartCall(agent=key, variables={"name": "A", "x9": "1"}), "websocket")
    )

    assert "'x9'" in result.detail
    assert "callerVariables" in result.detail
    assert gate.metrics.value("switchboard_calls_rejected_total", reason="protocol_error") == 1


def test_a_caller_can_never_override_the_agents_own_variables() -> None:
    gate, key = gateway()

    start = StartCall(agent=key, variables={"name": "Ada", "company": "Evil Corp"})
    result = refused(gate.admit(start, "grpc"))

    assert "'company'" in result.detail
    assert "Evil" not in result.detail


def test_a_caller_variable_over_the_size_limit_refuses_the_call() -> None:
    gate, key = gateway()

    result = refused(gate.admit(StartCall(agent=key, variables={"name": "x" * 11}), "grpc"))

    assert "maxCallerVariableChars" in result.detail
    assert "'name'" in result.detail


def test_more_caller_variables_than_the_limit_refuse_the_call() -> None:
    config = agent_config(
        prompt={"system": "Hi {{a}}.", "callerVariables": ["a", "b"]},
        callPolicy={"limits": {"maxCallerVariables": 1}},
    )
    gate = Gateway({config.key: AgentEntry(config, backend=None)})  # type: ignore[arg-type]

    result = refused(
        gate.admit(StartCall(agent=config.key, variables={"a": "1", "b": "2"}), "grpc")
    )

    assert "maxCallerVariables" in result.detail


def test_a_client_reference_over_the_limit_refuses_the_call() -> None:
    gate, key = gateway()
    start = StartCall(agent=key, variables={"name": "Ada"}, client_reference="r" * 9)

    result = refused(gate.admit(start, "grpc"))

    assert "maxClientReferenceChars" in result.detail
    ok = StartCall(agent=key, variables={"name": "Ada"}, client_reference="r" * 8)
    assert isinstance(gate.admit(ok, "grpc"), Admission)


def test_an_undeclared_name_is_quoted_and_cut_in_the_detail() -> None:
    gate, key = gateway()

    result = refused(gate.admit(StartCall(agent=key, variables={"n" * 5000: "1"}), "grpc"))

    assert len(result.detail) < 300
