"""Recordings in a cluster: the install's bucket for recording agents, or why calls go unrecorded."""

from __future__ import annotations

import asyncio
import base64
from types import SimpleNamespace
from typing import Any, cast

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import RECORDINGS_SECRET
from switchboard_operator.reconcile.phone import prepare_recordings
from switchboard_operator.reconcile.runtime import Runtime
from switchboard_operator.render.recordings import recordings_check, recordings_config
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.gateway_render import rendered_gateway

pytestmark = pytest.mark.unit

STORE = OperatorSettings(
    recordings_bucket="call-recordings",
    recordings_prefix="acme-calls/",
    recordings_endpoint_url="http://minio.storage.svc:9000",
    recordings_region="eu-west-1",
    recordings_secret="recordings-credentials",  # noqa: S106 (a name)
)
NO_STORE = OperatorSettings()
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def tenant(**retention: int) -> Tenant:
    return Tenant.model_validate(
        {
            "metadata": {"name": "acme"},
            "spec": {"namespace": {"name": "acme"}, "retention": retention},
        }
    )


def agent(recording: bool = True) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, "callPolicy": {"recording": recording}},
        }
    )


def test_a_recording_agent_gets_the_bucket_for_its_tenants_recording_days() -> None:
    config = recordings_config(agent(), tenant(recordingsDays=7), STORE, copied=True)
    assert config is not None
    assert config.s3 is not None
    assert config.retention_days == 7
    assert (config.s3.bucket, config.s3.prefix) == ("call-recordings", "acme-calls/")
    assert config.s3.endpoint_url == "http://minio.storage.svc:9000"
    assert config.s3.region == "eu-west-1"
    assert config.directory is None
    # recordingsDays unset: the transcripts' days.
    config = recordings_config(agent(), tenant(transcriptsDays=12), STORE, copied=True)
    assert config is not None
    assert config.retention_days == 12


def test_no_recordings_without_the_flag_a_store_the_credentials_or_any_days() -> None:
    assert recordings_config(agent(recording=False), tenant(), STORE, copied=True) is None
    assert recordings_config(agent(), tenant(), NO_STORE, copied=True) is None
    assert recordings_config(agent(), tenant(), STORE, copied=False) is None
    assert recordings_config(agent(), tenant(recordingsDays=0), STORE, copied=True) is None


def test_the_gateway_config_and_env_carry_the_bucket_and_its_copied_credentials() -> None:
    recordings = recordings_config(agent(), tenant(), STORE, copied=True)
    config, deployment = rendered_gateway(agent(), tenant(), recordings=recordings)
    assert config.recordings == recordings
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    for key in KEYS:
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": RECORDINGS_SECRET, "key": key}
    config, deployment = rendered_gateway(agent(), tenant())
    assert config.recordings is None
    names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert not names & set(KEYS)


def test_recordings_ready_says_why_calls_go_unrecorded() -> None:
    off = recordings_check(agent(), tenant(recordingsDays=0), STORE, None)
    assert off is not None
    assert (off.ok, off.reason) == (False, "RecordingsOff")
    assert "spec.retention.recordingsDays" in off.message
    inherited = recordings_check(agent(), tenant(transcriptsDays=0), STORE, None)
    assert inherited is not None
    assert "transcriptsDays" in inherited.message
    missing = recordings_check(agent(), tenant(), NO_STORE, None)
    assert missing is not None
    assert (missing.ok, missing.reason) == (False, "RecordingStoreMissing")
    assert "storage.recordings.s3.bucket" in missing.message
    assert "storage.recordings.credentialsSecretRef.name" in missing.message
    ready = recordings_check(agent(), tenant(recordingsDays=7), STORE, None)
    assert ready is not None
    assert ready.ok
    assert "7 days" in ready.message
    assert recordings_check(agent(recording=False), tenant(), NO_STORE, None) is None


class FakeKube:
    def __init__(self, secret: dict[str, Any] | None) -> None:
        self.secret = secret
        self.applied: list[dict[str, Any]] = []
        self.read: list[tuple[str | None, str]] = []

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        self.read.append((namespace, name))
        return self.secret

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(manifest)
        return manifest


def _prepare(kube: FakeKube, settings: OperatorSettings = STORE) -> Any:
    runtime = cast(Runtime, SimpleNamespace(kube=kube, settings=settings))
    return asyncio.run(prepare_recordings(runtime, agent(), tenant()))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_the_credentials_are_copied_into_the_namespace_with_both_keys() -> None:
    data = {"AWS_ACCESS_KEY_ID": _b64("AKIA"), "AWS_SECRET_ACCESS_KEY": _b64("s"), "x": _b64("y")}
    kube = FakeKube({"data": data})
    config, problem = _prepare(kube)
    assert problem is None
    assert config is not None
    assert kube.read == [("switchboard-system", "recordings-credentials")]
    (copy,) = kube.applied
    assert copy["metadata"]["name"] == RECORDINGS_SECRET
    assert copy["metadata"]["namespace"] == "acme"
    assert copy["data"] == {key: data[key] for key in KEYS}  # only the two keys


def test_a_source_without_a_key_leaves_calls_unrecorded_and_says_which() -> None:
    kube = FakeKube({"data": {"AWS_ACCESS_KEY_ID": _b64("AKIA")}})
    config, problem = _prepare(kube)
    assert config is None
    assert kube.applied == []
    assert problem.reason == "RecordingsSecretMissing"
    assert "has no key AWS_SECRET_ACCESS_KEY" in problem.message
    assert "storage.recordings.credentialsSecretRef" in problem.message
    check = recordings_check(agent(), tenant(), STORE, problem)
    assert check is not None
    assert not check.ok
    assert check.reason == "RecordingsSecretMissing"
    config, problem = _prepare(FakeKube(None))
    assert config is None
    assert "does not exist" in problem.message


def test_nothing_is_read_or_copied_without_a_store() -> None:
    kube = FakeKube(None)
    assert _prepare(kube, NO_STORE) == (None, None)
    assert kube.read == []
    assert kube.applied == []
