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
    guard = '{{- if not (include "switchboard.callStoreRef" . | fromYaml).name }}'
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


DEV = ("--set", "devPostgres.enabled=true")


def test_the_dev_postgresql_becomes_both_stores_and_is_migrated_after_install() -> None:
    manifests = render(*DEV)
    for manifest in manifests:
        validate(manifest)
    (statefulset,) = [m for m in manifests if m["kind"] == "StatefulSet"]
    assert statefulset["spec"]["replicas"] == 1
    pod = statefulset["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["containers"][0]["image"] == "docker.io/pgvector/pgvector:pg15"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    name = statefulset["metadata"]["name"]
    (secret,) = [m for m in manifests if m["kind"] == "Secret"]
    assert secret["metadata"]["name"] == name
    password = secret["stringData"]["password"]
    assert len(password) == 32
    assert secret["stringData"]["url"] == (
        f"postgresql://switchboard:{password}@{name}.switchboard-system.svc:5432/switchboard"
    )
    (operator,) = [m for m in manifests if m["kind"] == "Deployment"]
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SWITCHBOARD_OPERATOR_CALL_STORE_SECRET"] == name
    assert env["SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET"] == name
    roles = [m for m in manifests if m["kind"] == "Role"]
    assert {r["rules"][0]["resourceNames"][0] for r in roles} == {name}
    (job,) = [m for m in manifests if m["kind"] == "Job"]
    # It is part of the release: it exists only after install.
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": name, "key": "url"}


def test_without_persistence_the_dev_postgresql_data_is_an_emptydir_and_said_to_be_lost() -> None:
    manifests = render(*DEV, "--set", "devPostgres.persistence.enabled=false")
    (statefulset,) = [m for m in manifests if m["kind"] == "StatefulSet"]
    assert "volumeClaimTemplates" not in statefulset["spec"]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    assert "NOT FOR PRODUCTION" in notes
    assert "NO VOLUME" in notes
    values = (CHART / "values.yaml").read_text()
    assert "NOT FOR PRODUCTION (no backups, no high availability" in values


def test_named_stores_win_over_the_dev_postgresql() -> None:
    manifests = render(*DEV, *WITH_STORE)
    (operator,) = [m for m in manifests if m["kind"] == "Deployment"]
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SWITCHBOARD_OPERATOR_CALL_STORE_SECRET"] == "calls-db"  # noqa: S105
    assert env["SWITCHBOARD_OPERATOR_KNOWLEDGE_STORE_SECRET"].endswith("-dev-postgres")
    (job,) = [m for m in manifests if m["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
