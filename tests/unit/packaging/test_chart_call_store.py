"""The chart's call store: the operator may read its one Secret, and a hook Job migrates it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from switchboard_api.chart_values import ChartValues
from switchboard_api.chartgen import OPERATOR_RULES
from switchboard_api.gateway import CALL_STORE_SECRET
from switchboard_gateway.records.__main__ import main as migrate_main
from tests.pod_security import restricted_violations
from tests.unit.packaging.test_chart import CHART, render, validate

pytestmark = pytest.mark.unit

WITH_STORE = (
    "--set", "storage.callStore.connectionSecretRef.name=calls-db",
    "--set", "storage.callStore.connectionSecretRef.key=uri",
)  # fmt: skip


def test_the_call_store_reaches_the_operator_which_may_read_only_that_secret() -> None:
    manifests = render(*WITH_STORE)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SWITCHBOARD_OPERATOR_CALL_STORE_SECRET"] == "calls-db"  # noqa: S105
    assert env["SWITCHBOARD_OPERATOR_CALL_STORE_KEY"] == "uri"
    (role,) = [m for m in manifests if m["kind"] == "Role"]
    assert role["metadata"]["name"].endswith("-call-store")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["calls-db"],
            "verbs": ["get"],
        }
    ]
    (binding,) = [m for m in manifests if m["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # Cluster-wide the operator writes only the copies, by name: the call store's among them.
    (writes,) = [r for r in OPERATOR_RULES if "secrets" in r["resources"]]
    assert CALL_STORE_SECRET in writes["resourceNames"]


def test_a_hook_job_migrates_the_call_store_before_install_and_each_upgrade() -> None:
    manifests = render(*WITH_STORE, "--set", "storage.callStore.migrationTimeoutSeconds=120")
    (job,) = [m for m in manifests if m["kind"] == "Job"]
    validate(job)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert container["image"].startswith("ghcr.io/switchboard-dev/gateway:")
    assert container["command"] == ["python", "-m", "switchboard_gateway.records", "migrate"]
    assert container["args"] == ["--timeout=120"]
    (url,) = container["env"]
    assert url["name"] == "SWITCHBOARD_CALL_STORE_URL"
    assert url["valueFrom"]["secretKeyRef"] == {"name": "calls-db", "key": "uri"}
    assert job["spec"]["activeDeadlineSeconds"] == 240
    # The command is one the gateway package has: its parser accepts exactly these arguments.
    with pytest.raises(SystemExit) as shown:
        migrate_main([*container["command"][3:], *container["args"], "--help"])
    assert shown.value.code == 0


def test_without_a_call_store_nothing_migrates_and_the_notes_say_records_are_off() -> None:
    manifests = render()
    assert not [m for m in manifests if m["kind"] in ("Job", "Role")]
    # `helm template` leaves NOTES.txt out (it needs a cluster): the warning's guard and text.
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    guard = "{{- if not .Values.storage.callStore.connectionSecretRef.name }}"
    warning = notes[notes.index(guard) : notes.index("{{- end }}", notes.index(guard))]
    assert "keep NO call records" in warning
    assert "RecordsReady=False" in warning


def test_the_migrate_command_refuses_a_url_that_is_not_postgresql() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "switchboard_gateway.records", "migrate"],
        env={**os.environ, "SWITCHBOARD_CALL_STORE_URL": "sqlite:////tmp/x.db"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "must be a postgresql:// URL" in result.stderr


def test_the_values_model_takes_the_secret_and_refuses_a_short_timeout() -> None:
    values = ChartValues.model_validate(
        {"storage": {"callStore": {"connectionSecretRef": {"name": "calls-db"}}}}
    )
    assert values.storage.call_store.connection_secret_ref.key == "url"
    with pytest.raises(ValueError, match="migrationTimeoutSeconds"):
        ChartValues.model_validate({"storage": {"callStore": {"migrationTimeoutSeconds": 5}}})
