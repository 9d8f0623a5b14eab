"""T0: the Terraform module parses, types and validates its variables, pins versions, passes checkov.

`terraform validate` needs the hashicorp/helm provider, which cannot be downloaded here (no
registry access, and it is not published as a Go module this machine's proxy serves): the HCL is
parsed with python-hcl2 instead, `fmt -check` runs with the local terraform/tofu binary.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest
import yaml
from hcl2.utils import SerializationOptions

from switchboard_api import Tenant
from tests.tools import REPO_ROOT, checkov_binary, helm_command, in_ci, terraform_binary

pytestmark = pytest.mark.unit

TERRAFORM = REPO_ROOT / "terraform"
MODULE = TERRAFORM / "modules" / "switchboard"
EXAMPLE = TERRAFORM / "examples" / "production"
TF_FILES = sorted(TERRAFORM.rglob("*.tf"))


@cache
def parsed(path: Path) -> dict[str, Any]:
    with path.open() as stream:
        return hcl2.load(
            stream, serialization_options=SerializationOptions(strip_string_quotes=True)
        )


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Labelled blocks of one kind (variable, output, module) in a directory, by label."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parsed(path).get(kind, []):
            found.update(block)
    return found


def resources(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parsed(path).get("resource", []):
            found.update(block.get(kind, {}))
    return found


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_file_parses(path: Path) -> None:
    assert parsed(path)


def test_variables_are_typed_described_and_validated() -> None:
    variables = blocks(MODULE, "variable")
    assert {"namespace", "tenants", "kuberay", "keda", "switchboard_values"} <= set(variables)
    for name, variable in variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"
    for name in ("namespace", "tenants", "kuberay", "keda", "switchboard_version"):
        assert variables[name].get("validation"), f"variable {name} is not validated"
    outputs = blocks(MODULE, "output")
    assert {"namespace", "tenant_namespaces", "switchboard_release"} <= set(outputs)
    for name, output in outputs.items():
        assert output.get("description"), f"output {name} has no description"


def test_providers_and_charts_are_pinned() -> None:
    for directory in (MODULE, EXAMPLE):
        (terraform,) = parsed(directory / "versions.tf")["terraform"]
        assert terraform["required_version"].startswith(">=")
        (providers,) = terraform["required_providers"]
        assert providers["helm"]["source"] == "hashicorp/helm"
        assert providers["helm"]["version"].startswith("~> 3.")
    releases = resources(MODULE, "helm_release")
    assert set(releases) == {"kuberay", "keda", "switchboard", "tenants"}
    for name, release in releases.items():
        if release.get("repository", "").startswith("https://"):
            assert release.get("version"), f"helm_release.{name} is not pinned"
    variables = blocks(MODULE, "variable")
    assert "1.6.0" in variables["kuberay"]["default"] or "1.6.0" in str(
        variables["kuberay"]["type"]
    )
    assert "2.20.2" in str(variables["keda"]["type"])


def test_the_example_passes_only_declared_variables() -> None:
    (module,) = blocks(EXAMPLE, "module").values()
    assert module["source"] == "../../modules/switchboard"
    declared = set(blocks(MODULE, "variable"))
    assert set(module) - {"source", "__is_block__"} <= declared


def _example_tenants() -> list[dict[str, Any]]:
    """The example's tenants as the module's locals build them (namespace defaults to the name)."""
    (module,) = blocks(EXAMPLE, "module").values()
    manifests = []
    for name, spec in module["tenants"].items():
        spec = {k: v for k, v in spec.items() if k != "__is_block__"}
        spec.setdefault("namespace", {"name": name, "create": True})
        manifests.append(
            {
                "apiVersion": "switchboard.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": name},
                "spec": spec,
            }
        )
    return manifests


def test_tenants_render_as_valid_tenant_manifests(tmp_path: Path) -> None:
    values = tmp_path / "tenants.yaml"
    values.write_text(yaml.safe_dump({"tenants": _example_tenants()}))
    result = subprocess.run(
        helm_command("template", "t", str(MODULE / "charts" / "tenants"), "--values", str(values)),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [t["metadata"]["name"] for t in rendered] == ["acme", "globex"]
    crd = yaml.safe_load((REPO_ROOT / "crds" / "switchboard.dev_tenants.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for tenant in rendered:
        jsonschema.Draft7Validator(schema).validate(tenant)
        Tenant.model_validate(tenant)
    assert rendered[1]["spec"]["namespace"]["name"] == "globex-voice"
    assert rendered[0]["spec"]["namespace"]["name"] == "acme"


def test_terraform_fmt_check() -> None:
    binary = terraform_binary()
    if binary is None:
        reason = "no terraform or tofu binary on this machine: `fmt -check` not run"
        if in_ci():  # the CI machine has terraform; losing it must not go unnoticed
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [str(binary), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(checkov_binary()), *args, "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = report.get("results", {}).get("failed_checks", [])
    assert result.returncode == 0, [(c["check_id"], c["resource"]) for c in failed]
    # With nothing to check checkov prints only the summary's fields.
    summary = report.get("summary", report)
    assert summary["parsing_errors"] == 0
    assert summary["failed"] == 0
    return dict(report)


def test_checkov_passes_on_the_module() -> None:
    """Checkov has no policies for `helm_release` (it reports 0 resources): this guards parsing
    and future resources; the chart's own policy checks run on its rendered manifests."""
    _checkov("--directory", str(MODULE), "--framework", "terraform")
