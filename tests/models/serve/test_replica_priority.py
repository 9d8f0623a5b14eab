"""The model replicas run at normal priority (Ray's default is nice 15)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray

pytestmark = pytest.mark.models


def _niceness(pid: int) -> int:
    # /proc/<pid>/stat: the command may hold spaces, so count fields after its closing ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


def _children(parent: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append((int(entry.name), command))
    return found


@ray.remote(num_cpus=0)
def _raylet() -> int:
    return os.getppid()


def test_every_model_replica_of_the_plane_runs_at_nice_0(base_url: str) -> None:
    raylet = ray.get(_raylet.remote())  # workers are the raylet's children
    replicas = [pid for pid, command in _children(raylet) if "ServeReplica" in command]
    assert len(replicas) >= 4, "ingress, ASR, LLM, TTS and embedding replicas are running"
    assert {pid: _niceness(pid) for pid in replicas} == dict.fromkeys(replicas, 0)
