"""The operator's entry point in an image whose user has no /etc/passwd entry."""

from __future__ import annotations

import getpass
import os
import socket

import pytest

from switchboard_operator.__main__ import peering_identity

pytestmark = pytest.mark.unit


def test_the_peering_identity_needs_no_password_database_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 65532")

    monkeypatch.setattr(getpass, "getuser", no_user)
    identity = peering_identity()
    assert identity == f"{socket.gethostname()}/{os.getpid()}"
