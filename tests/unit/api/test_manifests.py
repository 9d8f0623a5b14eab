"""Loading manifests from files: multi-document YAML, directories, and errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.manifests import ManifestError, load_manifests, parse_manifest
from switchboard_api.pipeline import (
    PACKAGED_LLM_MODEL,
    AsrSpec,
    LlmEndpoint,
    LlmSpec,
    PipelineSpec,
    TtsSpec,
    resolve_pipeline,
)
from tests.cases.invalid import EXAMPLES

pytestmark = pytest.mark.unit

AGENT = """\
apiVersion: switchboard.dev/v1alpha1
kind: VoiceAgent
metadata: {name: front-desk, namespace: acme}
spec:
  prompt: {system: You help callers.}
"""


def test_a_directory_of_examples_loads_every_kind() -> None:
    loaded = load_manifests([EXAMPLES])
    kinds = {type(item.resource) for item in loaded}
    assert kinds == {Tenant, VoiceAgent, KnowledgeBase}
    assert all(item.path.is_relative_to(EXAMPLES) for item in loaded)
    assert EXAMPLES / "front-desk" / "knowledgebase.yaml" in {item.path for item in loaded}


def test_multi_document_files_keep_document_positions(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(AGENT + "---\n" + AGENT.replace("front-desk", "night-desk") + "---\n")
    loaded = load_manifests([path])
    assert [(i.index, i.resource.metadata.name) for i in loaded] == [
        (0, "front-desk"),
        (1, "night-desk"),
    ]


def test_defaults_fill_in_locally_as_on_the_server() -> None:
    agent = parse_manifest(yaml.safe_load(AGENT), "inline")
    assert isinstance(agent, VoiceAgent)
    assert agent.spec.call_policy.max_call_duration_seconds == 1800
    assert agent.spec.scaling.gateway.backend == "keda"
    assert agent.spec.pipeline.llm is None, "stages stay unset until resolved against the tenant"


def test_an_error_names_the_file_the_document_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(AGENT + "---\n" + AGENT.replace("{system: You help callers.}", "{}"))
    with pytest.raises(ManifestError) as raised:
        load_manifests([path])
    message = str(raised.value)
    assert str(path) in message
    assert "document 2" in message
    assert "VoiceAgent front-desk" in message
    assert "spec.prompt: set exactly one of system or configMapKeyRef" in message


def test_unknown_fields_are_rejected_by_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(AGENT + "  callpolicy: {}\n")
    with pytest.raises(ManifestError, match=r"spec\.callpolicy: Extra inputs are not permitted"):
        load_manifests([path])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("apiVersion: v1\nkind: ConfigMap\n", "apiVersion must be switchboard.dev/v1alpha1"),
        ("apiVersion: switchboard.dev/v1alpha1\nkind: Agent\n", "kind must be one of"),
        ("- a list\n", "expected a mapping"),
        ("key: [unclosed\n", "while parsing"),
    ],
)
def test_non_switchboard_documents_get_a_clear_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=fragment):
        load_manifests([path])


def test_tenant_defaults_replace_missing_stages_as_a_whole() -> None:
    remote = LlmSpec(
        provider="openai-compatible",
        model="gpt-4o-mini",
        endpoint=LlmEndpoint(url="https://llm.example/v1"),
    )
    tenant = PipelineSpec(llm=remote, tts=TtsSpec(voice="en_GB-alba-medium"))
    agent = PipelineSpec(tts=TtsSpec(speed=1.2))
    resolved = resolve_pipeline(agent, tenant)
    assert resolved.llm == remote, "the tenant's stage applies when the agent has none"
    assert resolved.tts == TtsSpec(speed=1.2), "the agent's own stage wins, never merged"
    assert resolved.asr == AsrSpec(), "built-ins fill what neither sets"


def test_without_tenant_defaults_the_packaged_cpu_models_are_chosen() -> None:
    resolved = resolve_pipeline(PipelineSpec(), None)
    assert resolved.llm.provider == "llamacpp"
    assert resolved.llm.model == PACKAGED_LLM_MODEL
