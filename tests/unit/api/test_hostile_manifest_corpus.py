"""A corpus of hostile manifests: each gets one clear error naming the file, quickly and small.

The files are in `hostile_manifests/`; `hostile_manifests_expected.yaml` lists the fragments each
file's error must contain. Loading is what `switchboard validate` does (`load_manifests`: the
strict YAML reader, then the API models).
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from switchboard_api.manifests import ManifestError, load_manifests
from switchboard_cli.main import main

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "hostile_manifests"
EXPECTED: dict[str, list[str]] = yaml.safe_load(
    (Path(__file__).parent / "hostile_manifests_expected.yaml").read_text()
)
#: CPU seconds, not wall time: the bound is on what a manifest costs, not on a busy machine.
MAX_CPU_S = 2.0
MAX_PEAK_BYTES = 200 * 1024 * 1024


def test_the_corpus_holds_at_least_fifty_cases_each_with_its_expected_error() -> None:
    files = sorted(p.name for p in CORPUS.iterdir())
    assert len(files) >= 50
    assert files == sorted(EXPECTED), "every file has an entry in the expected table, and back"


@pytest.mark.parametrize("name", sorted(n for n, words in EXPECTED.items() if words))
def test_a_hostile_manifest_gets_a_clear_error_naming_file_and_field(name: str) -> None:
    path = CORPUS / name
    started = time.process_time()
    with pytest.raises(ManifestError) as refused:
        load_manifests([path])
    spent = time.process_time() - started

    message = str(refused.value)
    assert message.startswith(str(path)), message
    for words in EXPECTED[name]:
        assert words in message, message
    assert "Traceback" not in message
    assert spent < MAX_CPU_S


@pytest.mark.parametrize("name", sorted(n for n, words in EXPECTED.items() if not words))
def test_a_file_without_documents_is_reported_as_holding_no_manifests(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_manifests([CORPUS / name]) == []
    assert main(["validate", str(CORPUS / name)]) == 1
    assert "no manifests found" in capsys.readouterr().err


def test_the_whole_corpus_validates_within_the_memory_bound() -> None:
    tracemalloc.start()
    try:
        refused = 0
        for path in sorted(CORPUS.iterdir()):
            try:
                load_manifests([path])
            except ManifestError:
                refused += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused == sum(1 for words in EXPECTED.values() if words)
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 2**20:.0f} MiB"


def test_the_cli_answers_every_hostile_file_with_one_line_and_exit_code_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, words in EXPECTED.items():
        if not words:
            continue
        assert main(["validate", str(CORPUS / name)]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith(f"invalid: {CORPUS / name}"), err
        assert "Traceback" not in err


def test_the_installed_command_refuses_the_corpus_directory_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", "validate", str(CORPUS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"invalid: {CORPUS}/"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
