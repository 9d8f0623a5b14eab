"""T0: the node tier's image cache key follows exactly the inputs a build sees."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.node.image_inputs import (
    cache_key,
    context_files,
    dockerignore_patterns,
    file_inputs,
    project_files,
)
from tests.tools import REPO_ROOT

pytestmark = pytest.mark.unit

DOCKERIGNORE = """\
**
!pyproject.toml
!README.md
!operator/switchboard_api/
!workloads/
**/__pycache__
**/*.pyc
"""


def _repo(root: Path) -> Path:
    """A git repository laid out like ours: two tracked package files, a Dockerfile, ignores."""
    files = {
        ".dockerignore": DOCKERIGNORE,
        ".gitignore": "__pycache__/\n.venv/\n",
        "pyproject.toml": "[project]\nname = 'x'\n",
        "README.md": "x\n",
        "operator/Dockerfile": "FROM python\n",
        "operator/switchboard_api/model.py": "A = 1\n",
        "workloads/switchboard_gateway/server.py": "B = 2\n",
        "tests/test_x.py": "pass\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True, timeout=30)
    return root


def _key(root: Path, args: dict[str, str] | None = None, base: str = "b" * 64) -> str:
    files = {**project_files(root), "operator/Dockerfile": root / "operator" / "Dockerfile"}
    return cache_key(
        recipe=b"dockerfile=operator/Dockerfile",
        files=file_inputs(files),
        build_args=args if args is not None else {"PYTHON_IMAGE": "localhost/switchboard/python:1"},
        base_keys={"python": base},
    )


def test_the_key_changes_when_the_dockerfile_changes(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    (repo / "operator" / "Dockerfile").write_text("FROM python\nUSER 1000\n")
    assert _key(repo) != before


def test_an_uncommitted_edit_of_a_package_file_changes_the_key(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    (repo / "workloads" / "switchboard_gateway" / "server.py").write_text("B = 3\n")
    assert _key(repo) != before


def test_a_build_argument_or_a_base_image_changing_changes_the_key(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    assert _key(repo, args={"PYTHON_IMAGE": "localhost/switchboard/python:2"}) != before
    assert _key(repo, base="c" * 64) != before
    assert _key(repo) == before


def test_stray_files_git_or_the_dockerignore_leaves_out_change_nothing(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    cache = repo / "workloads" / "switchboard_gateway" / "__pycache__"
    cache.mkdir()
    (cache / "server.cpython-311.pyc").write_bytes(b"\0")
    (repo / ".venv").mkdir()
    (repo / ".venv" / "big.bin").write_bytes(b"\0" * 100)
    (repo / "notes.txt").write_text("scratch\n")
    (repo / "tests" / "test_y.py").write_text("pass\n")
    (repo / "operator" / "switchboard_operator.py").write_text("C = 1\n")
    assert _key(repo) == before


def test_a_new_source_file_in_the_context_changes_the_key_before_it_is_committed(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    (repo / "workloads" / "switchboard_gateway" / "new.py").write_text("D = 4\n")
    assert _key(repo) != before


def test_the_executable_bit_is_part_of_the_key(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    before = _key(repo)
    (repo / "README.md").chmod(0o755)
    assert _key(repo) != before


def test_the_dockerignore_keeps_what_docker_keeps() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE)
    listed = [
        "pyproject.toml",
        "README.md",
        "operator/Dockerfile",
        "operator/switchboard_api/model.py",
        "operator/switchboard_api/__pycache__/model.cpython-311.pyc",
        "operator/switchboard_operatorx/y.py",
        "workloads/switchboard_serve/Dockerfile.cpu",
        "workloads/a/b/c.pyc",
        "tests/unit/test_x.py",
        ".venv/bin/python",
    ]
    assert context_files(listed, patterns) == [
        "README.md",
        "operator/switchboard_api/model.py",
        "pyproject.toml",
        "workloads/switchboard_serve/Dockerfile.cpu",
    ]


def test_the_projects_context_holds_its_packages_and_nothing_from_tests_or_the_venv() -> None:
    files = project_files(REPO_ROOT)
    assert {"pyproject.toml", "README.md", ".dockerignore"} <= set(files)
    assert any(p.startswith("operator/switchboard_operator/") for p in files)
    assert any(p.startswith("workloads/switchboard_serve/") for p in files)
    assert not [
        p for p in files if p.startswith(("tests/", ".venv/", "docs/")) or "__pycache__" in p
    ]
