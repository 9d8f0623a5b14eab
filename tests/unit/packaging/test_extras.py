"""Install extras keep deployables lean: the operator never pulls Ray or model runtimes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"
HEAVY = {"ray", "torch", "vllm", "faster-whisper", "llama-cpp-python", "piper-tts", "onnxruntime"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_deployable_has_an_extra() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert {"operator", "serve", "gateway", "indexer", "gpu", "dev"} <= set(extras)


def test_the_core_and_the_operator_extra_pull_no_model_runtime() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    core = _names(project["dependencies"])
    operator = _names(project["optional-dependencies"]["operator"])
    assert core == {"pydantic", "pyyaml"}
    assert not (core | operator) & HEAVY
    assert {"kopf", "kubernetes"} <= operator
