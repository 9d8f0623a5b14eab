"""The Argo CD health script (docs/argocd/health.lua) on our objects' status shapes, run in Lua."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from tests.tools import REPO_ROOT

pytestmark = pytest.mark.unit

SCRIPT = (REPO_ROOT / "docs" / "argocd" / "health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def agent(
    generation: int = 2, observed: int | None = 2, *conditions: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "front", "namespace": "acme", "generation": generation},
        "spec": spec,
        "status": status,
    }


def cond(type_: str, status: str, reason: str = "Reconciled", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 2,
    }


def test_ready_is_healthy() -> None:
    obj = agent(2, 2, cond("Ready", "True"), cond("Reconciling", "False"), cond("Stalled", "False"))
    assert health(obj) == ("Healthy", "")


def test_converging_children_are_progressing() -> None:
    obj = agent(
        2,
        2,
        cond("Ready", "False", "GatewayNotAvailable", "0/2 replicas"),
        cond("Reconciling", "True"),
    )
    assert health(obj) == ("Progressing", "GatewayNotAvailable: 0/2 replicas")


def test_an_unobserved_generation_is_progressing_whatever_the_conditions_say() -> None:
    obj = agent(3, 2, cond("Ready", "True"))
    status, message = health(obj)
    assert status == "Progressing"
    assert "generation 3" in message
    assert health(agent(1, None))[0] == "Progressing"  # the operator never wrote status


def test_stalled_is_degraded_with_the_field_in_the_message() -> None:
    message = "spec.pipeline.llm.model: tenant acme does not allow gpt-4"
    obj = agent(
        2,
        2,
        cond("Ready", "False", "ModelNotAllowed", message),
        cond("Stalled", "True", "ModelNotAllowed", message),
    )
    assert health(obj) == ("Degraded", f"ModelNotAllowed: {message}")


def test_failed_components_are_degraded() -> None:
    obj = agent(
        2,
        2,
        cond("Ready", "False", "ApplicationDeployFailed", "replica crashed"),
        cond("Reconciling", "True"),
    )
    assert health(obj) == ("Degraded", "ApplicationDeployFailed: replica crashed")


def test_suspended() -> None:
    assert health(agent(2, 2, cond("Ready", "True"), suspend=True))[0] == "Suspended"


def test_the_doc_embeds_the_script_for_all_three_kinds() -> None:
    doc = (REPO_ROOT / "docs" / "gitops.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    config = yaml.safe_load(block.group(1))
    for kind in ("Tenant", "VoiceAgent", "KnowledgeBase"):
        assert config["data"][f"resource.customizations.health.switchboard.dev_{kind}"] == SCRIPT
