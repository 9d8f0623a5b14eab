"""What `switchboard up` plans for a set of manifests, before anything starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from switchboard_api.gateway import RecordingsConfig
from switchboard_api.manifests import load_manifests
from switchboard_cli.local_plan import PlanError, gateway_config, local_capacity, plan

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parents[3] / "examples"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(text)
    return path


AGENT = """
apiVersion: switchboard.dev/v1alpha1
kind: VoiceAgent
metadata: {name: %(name)s, namespace: acme}
spec:
  prompt: {system: "You help callers of {{company}}.", variables: %(variables)s}
  %(extra)s
"""


def _agent(name: str = "front", variables: str = "{company: Acme}", extra: str = "") -> str:
    return AGENT % {"name": name, "variables": variables, "extra": extra}


def test_the_receptionist_example_plans_one_deployment_per_stage(tmp_path: Path) -> None:
    local = plan(load_manifests([EXAMPLES / "receptionist.yaml", EXAMPLES / "tenant.yaml"]))
    assert local.agent_keys == ["acme/receptionist"]
    assert [len(local.plane.asr), len(local.plane.llm), len(local.plane.tts)] == [1, 1, 1]
    assert local.plane.embed == []
    config = gateway_config(
        local,
        model_plane_url="http://127.0.0.1:9",
        host="127.0.0.1",
        http_port=8080,
        grpc_port=50051,
        state_dir=tmp_path,
    )
    assert config.console
    assert config.store is not None
    assert config.store.url == f"sqlite:///{tmp_path.resolve()}/calls.db"


def test_two_agents_with_the_same_models_share_the_deployments(tmp_path: Path) -> None:
    path = _write(tmp_path, _agent("front") + "---" + _agent("night"))
    local = plan(load_manifests([path]))
    assert local.agent_keys == ["acme/front", "acme/night"]
    assert [len(local.plane.asr), len(local.plane.llm), len(local.plane.tts)] == [1, 1, 1]


def test_no_agent_is_an_error_naming_the_files() -> None:
    with pytest.raises(PlanError, match=r"no VoiceAgent among .*tenant\.yaml"):
        plan(load_manifests([EXAMPLES / "tenant.yaml"]))


def test_the_same_agent_twice_names_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path, _agent())
    second = tmp_path / "copy.yaml"
    second.write_text(_agent())
    with pytest.raises(PlanError, match=r"copy\.yaml: VoiceAgent acme/front is also in .*agents"):
        plan(load_manifests([first, second]))


def test_the_same_knowledge_base_twice_is_an_error_naming_both_places() -> None:
    front_desk = EXAMPLES / "front-desk"
    cluster = EXAMPLES / "front-desk-cluster" / "knowledgebase.yaml"
    with pytest.raises(
        PlanError, match=r"KnowledgeBase acme/front-desk-faq is also in .*front-desk"
    ):
        plan(load_manifests([front_desk, cluster]))
    assert plan(load_manifests([front_desk])).knowledge_bases


def test_a_prompt_variable_without_a_value_names_the_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, _agent(variables="{}"))
    with pytest.raises(
        PlanError, match=r"agents\.yaml: VoiceAgent acme/front: spec\.prompt: .*company"
    ):
        plan(load_manifests([path]))


def test_a_prompt_kept_in_a_config_map_cannot_run_locally() -> None:
    with pytest.raises(
        PlanError, match=r"booking-agent\.yaml: VoiceAgent acme/booking: spec\.prompt"
    ):
        plan(load_manifests([EXAMPLES / "booking-agent.yaml"]))


def test_a_missing_knowledge_base_names_the_reference(tmp_path: Path) -> None:
    path = _write(tmp_path, _agent(extra="knowledgeBases: [{name: handbook}]"))
    with pytest.raises(
        PlanError, match=r"spec\.knowledgeBases\[0\]\.name: no KnowledgeBase acme/handbook"
    ):
        plan(load_manifests([path]))


TENANT = """
apiVersion: switchboard.dev/v1alpha1
kind: Tenant
metadata: {name: acme}
spec:
  namespace: {name: acme}
  retention: %(retention)s
"""


def _recordings(tmp_path: Path, text: str) -> RecordingsConfig | None:
    local = plan(load_manifests([_write(tmp_path, text)]))
    config = gateway_config(
        local,
        model_plane_url="http://127.0.0.1:9",
        host="127.0.0.1",
        http_port=8080,
        grpc_port=50051,
        state_dir=tmp_path,
    )
    return config.recordings


def test_recordings_go_beside_calls_db_when_an_agent_records(tmp_path: Path) -> None:
    assert _recordings(tmp_path, _agent()) is None, "no agent records: no recordings setting"
    recorded = _agent(extra="callPolicy: {recording: true}")
    config = _recordings(tmp_path, recorded)
    assert config is not None
    assert config.directory == str((tmp_path / "recordings").resolve())
    assert config.retention_days == 30


def test_recordings_are_kept_for_the_tenants_recording_days_and_zero_records_nothing(
    tmp_path: Path,
) -> None:
    recorded = _agent(extra="callPolicy: {recording: true}")
    kept = _recordings(tmp_path, recorded + "---" + TENANT % {"retention": "{transcriptsDays: 14}"})
    assert kept is not None
    assert kept.retention_days == 14, "recordingsDays defaults to transcriptsDays"
    days = "{transcriptsDays: 14, recordingsDays: 3}"
    shorter = _recordings(tmp_path, recorded + "---" + TENANT % {"retention": days})
    assert shorter is not None
    assert shorter.retention_days == 3
    none = "{recordingsDays: 0}"
    assert _recordings(tmp_path, recorded + "---" + TENANT % {"retention": none}) is None


def test_switchboard_up_capacity_overrides_the_one_derived_from_the_cores(tmp_path: Path) -> None:
    local = plan(load_manifests([_write(tmp_path, _agent())]))
    options: dict[str, Any] = {
        "model_plane_url": "http://127.0.0.1:9",
        "host": "127.0.0.1",
        "http_port": 8080,
        "grpc_port": 50051,
        "state_dir": tmp_path,
    }

    derived = gateway_config(local, **options).capacity_calls
    chosen = gateway_config(local, **options, capacity=5).capacity_calls

    assert derived == local_capacity(local.plane, os.cpu_count() or 1)
    assert chosen == 5
