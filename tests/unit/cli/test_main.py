"""The `switchboard` command line: `crds` and `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_api.crdgen import crd_files
from switchboard_cli.main import main
from tests.cases.invalid import EXAMPLES

pytestmark = pytest.mark.unit


def test_crds_writes_every_crd_then_check_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "crds"
    assert main(["crds", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(crd_files())
    assert main(["crds", "--check", "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_crds_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["crds", "--out", str(tmp_path)])
    stale = tmp_path / "switchboard.dev_tenants.yaml"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    assert main(["crds", "--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"stale or missing: {stale}" in err
    assert "run `switchboard crds`" in err


def test_validate_lists_each_valid_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "VoiceAgent acme/receptionist" in out
    assert "Tenant acme" in out


def test_validate_fails_with_the_field_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "kb.yaml"
    bad.write_text(
        (EXAMPLES / "knowledgebase.yaml")
        .read_text()
        .replace("overlapTokens: 40", "overlapTokens: 400")
    )
    assert main(["validate", str(bad)]) == 1
    assert (
        "spec.chunking.overlapTokens: overlapTokens must be below sizeTokens"
        in capsys.readouterr().err
    )


def test_validate_of_an_empty_directory_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert "no manifests found" in capsys.readouterr().err
