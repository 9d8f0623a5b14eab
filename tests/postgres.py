"""A throwaway PostgreSQL server for tests: the Debian binaries, a temporary data directory.

`.ci/bootstrap` installs the server; set `SWITCHBOARD_PG_BINDIR` to use another installation.
As root the server runs as the `postgres` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: $SWITCHBOARD_PG_BINDIR, else the newest Debian install."""
    explicit = os.environ.get("SWITCHBOARD_PG_BINDIR")
    if explicit:
        return Path(explicit)
    installs = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not installs:
        raise RuntimeError(
            "no PostgreSQL server found under /usr/lib/postgresql: run `bash .ci/bootstrap` "
            "(it installs Debian's postgresql) or set SWITCHBOARD_PG_BINDIR"
        )
    return installs[-1].parent


@contextmanager
def postgres_server(timeout_s: float = 60.0) -> Iterator[str]:
    """Run a fresh server on a free local port; yields its connection string."""
    bindir = postgres_bindir()
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="switchboard-pg-")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", free_port()
    log = Path(root) / "server.log"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "switchboard", "-A", "trust"],
        check=True,
        capture_output=True,
        timeout=timeout_s,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
    start = ["-l", str(log), "-o", options, "-w", "-t", str(int(timeout_s)), "start"]
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), *start],
        check=True,
        capture_output=True,
        timeout=timeout_s + 5,
    )
    try:
        _wait_for_port(port, time.monotonic() + timeout_s)
        yield f"postgresql://switchboard@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=timeout_s,
        )
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
