"""T0: the Dockerfiles lint clean, end as non-root, and the operator image stays lean."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.tools import REPO_ROOT

pytestmark = pytest.mark.unit

DOCKERFILES = {
    "operator": REPO_ROOT / "operator" / "Dockerfile",
    "gateway": REPO_ROOT / "workloads" / "switchboard_gateway" / "Dockerfile",
    "indexer": REPO_ROOT / "workloads" / "switchboard_indexer" / "Dockerfile",
    "serve-cpu": REPO_ROOT / "workloads" / "switchboard_serve" / "Dockerfile.cpu",
    "serve-gpu": REPO_ROOT / "workloads" / "switchboard_serve" / "Dockerfile.gpu",
}
#: Distributions that would make the operator image a model server.
MODEL_RUNTIMES = {
    "ray", "torch", "vllm", "llama-cpp-python", "faster-whisper", "ctranslate2", "onnxruntime",
    "piper-tts", "kokoro", "sentence-transformers", "transformers", "numpy", "grpcio",
}  # fmt: skip
BUILD_TOOLS = re.compile(r"\b(build-essential|cmake|gcc|g\+\+|make)\b")


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = _instructions(path)
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_passes(image: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), "--config", str(REPO_ROOT / ".hadolint.yaml"), str(DOCKERFILES[image])],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ignored_hadolint_rule_has_a_written_reason() -> None:
    config_lines = (REPO_ROOT / ".hadolint.yaml").read_text().splitlines()
    ignored = yaml.safe_load("\n".join(config_lines)).get("ignored", [])
    for rule in ignored:
        at = next(i for i, line in enumerate(config_lines) if line.strip() == f"- {rule}")
        comments = []
        while at > 0 and config_lines[at - 1].strip().startswith("#"):
            at -= 1
            comments.append(config_lines[at].strip())
        assert any(c.startswith(f"# {rule}:") for c in comments), f"{rule} has no reason"
    for path in DOCKERFILES.values():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if match := re.match(r"#\s*hadolint ignore=(\S+)", line.strip()):
                reasons = "\n".join(lines[max(0, i - 3) : i])
                for rule in match.group(1).split(","):
                    assert f"Reason for {rule}" in reasons, (
                        f"{path}:{i + 1} ignores {rule} silently"
                    )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_images_are_multi_stage_pinned_non_root_and_free_of_build_tools(image: str) -> None:
    path = DOCKERFILES[image]
    instructions = _instructions(path)
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1] for op, a in instructions if op == "ARG" and "=" in a
    }
    bases = [a.split()[0] for op, a in instructions if op == "FROM"]
    assert len(bases) >= 2, "multi-stage"
    for base in bases:
        reference = args.get(base.strip("${}"), base) if base.startswith("$") else base
        if reference in {"build", "llama", "wheels"}:
            continue
        tag = reference.rsplit(":", 1)[-1]
        assert ":" in reference, reference
        assert re.search(r"\d+\.\d+", tag), f"{reference} is not pinned to a version"
    final = _final_stage(path)
    users = [a for op, a in final if op == "USER"]
    assert users, "the final stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"final USER {users[-1]} is not numeric"
    assert int(uid) != 0, "the final stage runs as root"
    for op, arguments in final:
        if op == "RUN":
            assert not BUILD_TOOLS.search(arguments), f"build tools in the final stage: {arguments}"
    assert (REPO_ROOT / ".dockerignore").exists()


def _closure(requirements: list[Requirement], extras: set[str]) -> set[str]:
    """Names of every distribution the requirements pull in (from this environment's metadata)."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        requirement, active = todo.pop()
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": e}) for e in (active or {""})
        ):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend((Requirement(r), set(requirement.extras)) for r in requires)
    return seen


def test_the_operator_image_installs_only_the_operator_extra_without_model_runtimes() -> None:
    runs = " ".join(a for op, a in _instructions(DOCKERFILES["operator"]) if op == "RUN")
    assert re.findall(r'"\.\[([a-z,]+)\]"', runs) == ["operator"]
    own = [Requirement(r) for r in metadata.requires("switchboard") or []]
    closure = _closure(own, {"operator"})
    assert {"kopf", "kubernetes", "aiohttp", "pydantic"} <= closure
    assert closure & MODEL_RUNTIMES == set()
    # The check itself can fail: the serve extra does pull Ray and the engines.
    assert {"ray", "faster-whisper"} <= _closure(own, {"serve"})
