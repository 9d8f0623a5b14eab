"""Every spec field the API accepts is read by some code or refused at admission.

`../shared/tools/unread-fields` lists spec fields that no code outside `switchboard_api` reads
(fields refused by a "not available yet" CEL rule count apart). A field may be left unread only
with a written reason below; a missing tool fails the test, it never skips.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.tools import REPO_ROOT, shared_dir

pytestmark = pytest.mark.unit

TOOL = "tools/unread-fields"

#: Field path (as the tool prints it) → why it may stay unread for now.
EXCUSED: dict[str, str] = {
    # The tool prints each shared model once, so this line stands for asr, llm and tts.
    "VoiceAgent.spec.scaling.models.asr.targetOngoingRequests": (
        "read by switchboard_api.serving.deployment_options into each Ray Serve deployment's "
        "autoscaling_config (the Serve config the operator renders into the RayService and "
        "`switchboard up` deploys), which the tool does not search; guarded by "
        "tests/unit/api/test_serving.py and tests/unit/operator/test_pool.py"
    ),
}


@pytest.fixture(scope="module")
def unread() -> list[str]:
    """The fields the tool lists as unread, run with this interpreter from the repository root."""
    tool = shared_dir(TOOL) / TOOL
    assert tool.is_file(), f"{tool} is missing: ../shared must sit beside the checkout"
    run = subprocess.run(
        ["bash", str(tool), sys.executable],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    output = run.stdout
    assert "cannot import" not in output, output
    assert "no Python" not in output, output
    assert "every one of" in output or "no code outside switchboard_api reads" in output, output
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


def test_every_spec_field_is_read_or_refused(unread: list[str]) -> None:
    assert set(unread) - set(EXCUSED) == set(), "implement these fields or refuse them"


def test_every_excuse_is_still_needed(unread: list[str]) -> None:
    stale = set(EXCUSED) - set(unread)
    assert stale == set(), "these fields are read or refused now: drop them from EXCUSED"
