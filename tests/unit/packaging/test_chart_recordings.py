"""The chart's recordings bucket: it reaches the operator, which may read only its credentials."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api.chartgen import OPERATOR_RULES
from switchboard_api.gateway import RECORDINGS_SECRET
from switchboard_operator.settings import OperatorSettings
from tests.unit.packaging.test_chart import render

pytestmark = pytest.mark.unit

BUCKET = ("--set", "storage.recordings.s3.bucket=acme-calls")
CREDENTIALS = ("--set", "storage.recordings.credentialsSecretRef.name=s3-creds")
ENDPOINT = (
    "--set", "storage.recordings.s3.endpointUrl=https://minio.example:9443",
    "--set", "storage.recordings.s3.region=eu-west-1",
    "--set", "storage.recordings.s3.prefix=calls/",
)  # fmt: skip


def _operator_env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def _recordings_roles(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        m
        for m in manifests
        if m["kind"] == "Role" and str(m["metadata"]["name"]).endswith("-recordings")
    ]


def test_the_bucket_reaches_the_operator_which_may_read_only_its_credentials() -> None:
    manifests = render(*BUCKET, *CREDENTIALS, *ENDPOINT)
    env = _operator_env(manifests)
    settings = OperatorSettings.from_env(env)
    assert settings.recordings_store
    assert settings.recordings_bucket == "acme-calls"
    assert settings.recordings_secret == "s3-creds"  # noqa: S105 (a name)
    assert settings.recordings_endpoint_url == "https://minio.example:9443"
    assert (settings.recordings_region, settings.recordings_prefix) == ("eu-west-1", "calls/")
    (role,) = _recordings_roles(manifests)
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["s3-creds"],
            "verbs": ["get"],
        }
    ]
    (binding,) = [
        m
        for m in manifests
        if m["kind"] == "RoleBinding" and m["metadata"]["name"] == role["metadata"]["name"]
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # Cluster-wide the operator writes only the copies, by name: the credentials' among them.
    (writes,) = [r for r in OPERATOR_RULES if "secrets" in r["resources"]]
    assert RECORDINGS_SECRET in writes["resourceNames"]


def test_without_both_a_bucket_and_credentials_there_is_no_store_and_no_role() -> None:
    for values in ((), BUCKET, CREDENTIALS):
        manifests = render(*values)
        assert not OperatorSettings.from_env(_operator_env(manifests)).recordings_store
        assert _recordings_roles(manifests) == []
