"""`switchboard call` over TLS: grpcs:// or --tls, a private CA with --ca-file, clear failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from switchboard_cli.main import main

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_missing_ca_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "ca.crt"
    args = ["call", "--agent", "a/b", "--gateway", "grpcs://127.0.0.1:1", "--ca-file", str(missing)]
    assert main(args) == 2
    assert f"no CA file {missing}" in capsys.readouterr().err


def test_tls_flag_makes_the_address_grpcs_and_an_unreachable_one_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    assert main(["call", "--agent", "a/b", "--gateway", f"127.0.0.1:{port}", "--tls"]) == 3
    err = capsys.readouterr().err
    assert f"no gateway answers at grpcs://127.0.0.1:{port}" in err
    assert "TLS" in err
