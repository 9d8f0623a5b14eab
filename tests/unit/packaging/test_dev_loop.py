"""T0: skaffold.yaml validates against skaffold's schema and agrees with the chart and Terraform."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from tests.cluster.conftest import shared_crd_dir
from tests.tools import REPO_ROOT, helm_command
from tests.unit.packaging.test_terraform import MODULE, resources

pytestmark = pytest.mark.unit

SKAFFOLD = yaml.safe_load((REPO_ROOT / "skaffold.yaml").read_text())
CHART = REPO_ROOT / "charts" / "switchboard"


def _apply(config: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON-patch `add` operations (all skaffold.yaml's profiles use)."""
    patched = copy.deepcopy(config)
    for patch in patches:
        assert patch["op"] == "add"
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]
        ]
        target: Any = patched
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if last == "-":
            target.append(patch["value"])
        else:
            target[last] = patch["value"]
    return patched


def _profiles() -> dict[str, dict[str, Any]]:
    return {p["name"]: _apply(SKAFFOLD, p.get("patches", [])) for p in SKAFFOLD["profiles"]}


def test_skaffold_yaml_validates_against_the_published_schema() -> None:
    schema = json.loads(
        (shared_crd_dir().parent / "schemas" / "skaffold-v4beta14.json").read_text()
    )
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta14"
    jsonschema.Draft7Validator(schema).validate(SKAFFOLD)
    broken = copy.deepcopy(SKAFFOLD)
    broken["deploy"]["helm"]["releases"][0]["chartPth"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_profiles_build_every_image_and_set_chart_values_that_exist(profile: str) -> None:
    config = _profiles()[profile]
    images = {a["image"]: a for a in config["build"]["artifacts"]}
    serve = "ghcr.io/switchboard-dev/serve-" + profile
    assert set(images) == {
        f"ghcr.io/switchboard-dev/{n}" for n in ("operator", "gateway", "indexer")
    } | {serve}
    for artifact in images.values():
        assert (REPO_ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    (release,) = config["deploy"]["helm"]["releases"]
    assert (REPO_ROOT / release["chartPath"] / "Chart.yaml").is_file()
    templates = release["setValueTemplates"]
    for image in images:
        key = "IMAGE_REPO_" + re.sub(r"[^A-Za-z0-9]", "_", image)
        assert any(key + "}}" in t for t in templates.values()), f"{image} never reaches the chart"
    settings = {
        **release["setValues"],
        **{k: "ghcr.io/x/y" if "repository" in k else "t1" for k in templates},
    }
    args = [
        a
        for k, v in settings.items()
        for a in ("--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")
    ]
    result = subprocess.run(
        helm_command("template", release["name"], str(REPO_ROOT / release["chartPath"]), *args),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # the values schema accepts every key
    assert ("modelPool.gpu" in release["setValues"]) == (profile == "gpu")


def test_port_forwards_name_real_services() -> None:
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    example = yaml.safe_load((REPO_ROOT / "examples" / "receptionist.yaml").read_text())
    gateway = f"{example['metadata']['name']}-gateway"
    forwards = {(f["resourceName"], f["namespace"], f["port"]) for f in SKAFFOLD["portForward"]}
    assert (gateway, example["metadata"]["namespace"], 8080) in forwards
    assert (gateway, example["metadata"]["namespace"], 50051) in forwards
    assert (
        f"{release['name']}-switchboard-operator-metrics",
        release["namespace"],
        8000,
    ) in forwards


def test_skaffold_and_terraform_own_different_releases() -> None:
    owned = {r["name"] for r in resources(MODULE, "helm_release").values()}
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert release["name"] not in owned
    assert release["setValues"]["operator.peering.name"] != "switchboard"  # Terraform's release
    assert not [
        a for a in SKAFFOLD["build"]["artifacts"] if "kuberay" in a["image"] or "keda" in a["image"]
    ]
