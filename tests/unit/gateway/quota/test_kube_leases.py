"""The Leases client's requests and how it reads the API server's answers (no server)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

from switchboard_gateway.quota.kube import KubeLeases
from switchboard_gateway.quota.leases import Lease, LeaseApiError, LeaseConflictError

pytestmark = pytest.mark.unit

PATH = "/apis/coordination.k8s.io/v1/namespaces/acme/leases"
LEASE = Lease("slot-0", "uid-1", "41", "gw-a/c1", 1_800_000_000.0, 30, {"k": "v"}, "then")


def client(answer: httpx.Response, seen: list[httpx.Request], token_file: Path) -> KubeLeases:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return KubeLeases(
        "https://api.test", "acme", token_file=token_file, transport=httpx.MockTransport(handle)
    )


def body(name: str = "slot-0", version: str = "42") -> httpx.Response:
    lease = {
        "metadata": {
            "name": name,
            "uid": "uid-1",
            "resourceVersion": version,
            "labels": {"k": "v"},
        },
        "spec": {
            "holderIdentity": "gw-b/c2",
            "leaseDurationSeconds": 30,
            "renewTime": "2027-01-15T08:00:00.250000Z",
            "acquireTime": "2027-01-15T08:00:00.250000Z",
        },
    }
    return httpx.Response(201, json=lease)


def test_a_takeover_puts_the_version_it_read_and_a_renewal_keeps_the_acquire_time(
    tmp_path: Path,
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    seen: list[httpx.Request] = []
    leases = client(body(), seen, token)

    taken = asyncio.run(leases.update(LEASE, "gw-b/c2", 30, 1_800_000_100.0))
    token.write_text("rotated\n")  # the kubelet rotated the projected token
    asyncio.run(leases.update(LEASE, "gw-a/c1", 30, 1_800_000_100.0))

    takeover, renewal = (json.loads(r.content) for r in seen)
    assert seen[0].method == "PUT"
    assert seen[0].url.path == f"{PATH}/slot-0"
    assert takeover["metadata"]["resourceVersion"] == "41"  # as read: 409 if it changed since
    assert takeover["spec"]["holderIdentity"] == "gw-b/c2"
    assert takeover["spec"]["acquireTime"] != "then"  # a new holder acquires now
    assert renewal["spec"]["acquireTime"] == "then"  # the same holder keeps its acquire time
    assert seen[0].headers["Authorization"] == "Bearer first"
    assert seen[1].headers["Authorization"] == "Bearer rotated"
    assert taken.resource_version == "42"
    expected = dt.datetime(2027, 1, 15, 8, 0, 0, 250_000, tzinfo=dt.UTC).timestamp()
    assert taken.renew_time == expected


def test_conflicts_and_errors_are_told_apart(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    seen: list[httpx.Request] = []

    with pytest.raises(LeaseConflictError):
        asyncio.run(client(httpx.Response(409), seen, token).create("slot-0", "h", 30, 0, {}))
    forbidden = httpx.Response(403, json={"message": "forbidden"})
    with pytest.raises(LeaseApiError, match="HTTP 403"):
        asyncio.run(client(forbidden, seen, token).list("k=v"))
    asyncio.run(client(httpx.Response(404), seen, token).delete(LEASE))  # gone is fine

    assert seen[0].method == "POST"
    assert json.loads(seen[0].content)["metadata"]["name"] == "slot-0"
    assert seen[1].url.params["labelSelector"] == "k=v"
    delete = json.loads(seen[2].content)
    assert delete["preconditions"] == {"uid": "uid-1", "resourceVersion": "41"}


def test_an_unreadable_token_is_an_api_error_not_a_crash(tmp_path: Path) -> None:
    leases = client(body(), [], tmp_path / "missing")
    with pytest.raises(LeaseApiError, match="token unreadable"):
        asyncio.run(leases.list("k=v"))


def test_an_answer_that_is_not_json_is_an_api_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    proxy_page = httpx.Response(200, content=b"<html>a proxy's error page</html>")
    with pytest.raises(LeaseApiError, match="not JSON"):
        asyncio.run(client(proxy_page, [], token).list("k=v"))
