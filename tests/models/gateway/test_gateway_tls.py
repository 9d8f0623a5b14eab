"""A gateway process terminating TLS itself, from the operator's config: calls over gRPC-TLS
and WSS with the CA trusted, clean failures for clients that do not trust it or speak plain
text, and a renewed certificate picked up by new connections without a restart."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake

from switchboard_cli.main import main
from switchboard_gateway.scripted_caller import CallOutcome, ScriptedCaller
from switchboard_gateway.scripted_caller.over_grpc import run_call
from tests.cases.invalid import example, with_changes
from tests.models.gateway.harness import API_KEY
from tests.models.gateway.operator_config import operators_config
from tests.models.gateway.test_gateway_process import GatewayProcess
from tests.tls_certs import Issued, TestCa, leaf_der
from tests.ws_caller import feed_ws_events

pytestmark = pytest.mark.models

AGENT = "acme/receptionist"
GREETING = "Hello, thanks for calling Acme Dental. How can I help?"
#: The gateway re-reads its certificate every 5 s; a renewal shows within two reads.
RELOAD_WAIT_S = 15.0


class TlsGateway(GatewayProcess):
    """A gateway process whose HTTP port speaks HTTPS, checked against the test CA."""

    ca_file: Path = Path()

    def get(self, path: str) -> httpx.Response:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.get(f"https://127.0.0.1:{self.http}{path}", timeout=5, verify=context)


def rendered_config(directory: Path, base_url: str) -> dict[str, Any]:
    """The operator's config for the receptionist with `spec.gateway.tls`, files moved here."""
    manifest = with_changes(
        example("receptionist.yaml"), {"spec.gateway.tls": {"secretName": "receptionist-tls"}}
    )
    rendered = operators_config(manifest)
    assert rendered["tls"] == {
        "certFile": "/etc/switchboard-tls/tls.crt",
        "keyFile": "/etc/switchboard-tls/tls.key",
    }
    key_file = directory / "api-keys"
    key_file.write_text(f"{API_KEY}\n")
    return {
        **rendered,
        "modelPlaneUrl": base_url,
        "apiKeyFiles": {AGENT: [str(key_file)]},
        "tls": {"certFile": str(directory / "tls.crt"), "keyFile": str(directory / "tls.key")},
    }


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa()


@pytest.fixture(scope="module")
def gateway(
    base_url: str, ca: TestCa, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsGateway]:
    directory = tmp_path_factory.mktemp("tls-gateway")
    ca.issue("localhost", "127.0.0.1").write(directory / "tls.crt", directory / "tls.key")
    process = TlsGateway(directory, rendered_config(directory, base_url))
    process.ca_file = ca.write(directory / "ca.crt")
    try:
        process.wait_ready(timeout_s=180)
        yield process
    finally:
        process.close()


def grpc_call(gateway: TlsGateway, **tls: Any) -> CallOutcome:
    target = f"grpcs://127.0.0.1:{gateway.grpc}"
    return asyncio.run(run_call(target, AGENT, [], api_key=API_KEY, timeout=60, **tls))


def wss_call(gateway: TlsGateway, context: ssl.SSLContext) -> CallOutcome:
    async def scenario() -> CallOutcome:
        url = f"wss://127.0.0.1:{gateway.http}/v1/calls"
        async with ws_connect(url, ssl=context, open_timeout=10) as socket_:
            await socket_.send(json.dumps({"type": "start", "agent": AGENT, "apiKey": API_KEY}))
            caller = ScriptedCaller(socket_.send)
            reader = asyncio.create_task(feed_ws_events(socket_, caller))
            try:
                await caller.converse([], timeout_s=60)
                await socket_.send(json.dumps({"type": "hangup"}))
                await asyncio.wait_for(asyncio.shield(reader), 15)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            return CallOutcome.of(caller)

    return asyncio.run(asyncio.wait_for(scenario(), 90))


def trusting(ca: TestCa) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca.pem.decode())


def served_leaf(port: int, ca: TestCa, alpn: str) -> bytes:
    """The leaf certificate a new connection to `port` is shown."""
    context = trusting(ca)
    context.set_alpn_protocols([alpn])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_calls_over_grpc_tls_and_wss_are_greeted_when_the_ca_is_trusted(
    gateway: TlsGateway, ca: TestCa
) -> None:
    assert gateway.get("/readyz").status_code == 200  # HTTPS, checked against the CA
    by_ip = grpc_call(gateway, ca_file=gateway.ca_file)
    assert (by_ip.greeting, by_ip.end_reason) == (GREETING, "caller_hangup")
    by_name = grpc_call(gateway, ca_file=gateway.ca_file, server_name="localhost")
    assert by_name.greeting == GREETING
    over_wss = wss_call(gateway, trusting(ca))
    assert over_wss.greeting == GREETING
    assert len(over_wss.agent_audio) / 2 / 16_000 > 1.0, "the greeting was spoken over WSS"
    # `switchboard call`, as an operator would place it: grpcs:// and the private CA.
    target = f"grpcs://127.0.0.1:{gateway.grpc}"
    cli = ["call", "--agent", AGENT, "--gateway", target, "--api-key", API_KEY, "--json"]
    assert main([*cli, "--ca-file", str(gateway.ca_file)]) == 0
    assert main(cli) == 3, "the system's roots do not trust the test CA"


def test_clients_that_distrust_the_ca_or_speak_plain_text_fail_and_the_gateway_serves_on(
    gateway: TlsGateway, ca: TestCa
) -> None:
    stranger = TestCa("someone-else")
    untrusting = stranger.write(gateway.ca_file.with_name("stranger.crt"))
    refused = grpc_call(gateway, ca_file=untrusting)
    assert refused.unreachable, "a certificate from an untrusted CA fails the handshake"
    assert refused.greeting == ""
    plain = asyncio.run(run_call(f"127.0.0.1:{gateway.grpc}", AGENT, [], api_key=API_KEY))
    assert plain.unreachable, "plain-text HTTP/2 to the TLS port gets no call"
    with pytest.raises(ssl.SSLCertVerificationError):
        wss_call(gateway, ssl.create_default_context(cadata=stranger.pem.decode()))

    async def plain_ws() -> None:
        url = f"ws://127.0.0.1:{gateway.http}/v1/calls"
        async with ws_connect(url, open_timeout=10):
            pass

    with pytest.raises((InvalidHandshake, OSError, EOFError)):
        asyncio.run(asyncio.wait_for(plain_ws(), 15))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{gateway.http}/healthz", timeout=5)
    assert gateway.process.poll() is None
    again = grpc_call(gateway, ca_file=gateway.ca_file)
    assert again.greeting == GREETING, "trusted callers are unaffected"


def test_a_renewed_certificate_reaches_new_connections_and_a_broken_one_is_ignored(
    gateway: TlsGateway, ca: TestCa
) -> None:
    directory = gateway.ca_file.parent
    old_leaf = served_leaf(gateway.grpc, ca, "h2")
    renewed = ca.issue("localhost", "127.0.0.1")
    renewed.write(directory / "tls.crt", directory / "tls.key")
    deadline = time.monotonic() + RELOAD_WAIT_S
    while time.monotonic() < deadline:
        now = (served_leaf(gateway.grpc, ca, "h2"), served_leaf(gateway.http, ca, "http/1.1"))
        if now == (leaf_der(renewed), leaf_der(renewed)):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the renewed certificate was not served:\n{gateway.output()}")
    assert old_leaf != leaf_der(renewed)
    assert grpc_call(gateway, ca_file=gateway.ca_file).greeting == GREETING
    # A broken renewal (a key of another certificate) is refused; the good pair keeps serving.
    Issued(renewed.cert, ca.issue("localhost").key).write(
        directory / "tls.crt", directory / "tls.key"
    )
    deadline = time.monotonic() + RELOAD_WAIT_S
    while "not reloaded" not in gateway.output() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "TLS certificate not reloaded" in gateway.output()
    assert served_leaf(gateway.http, ca, "http/1.1") == leaf_der(renewed)
    assert wss_call(gateway, trusting(ca)).greeting == GREETING
    assert "PRIVATE KEY" not in gateway.output()


def test_a_gateway_without_its_certificate_refuses_to_start_and_says_why(
    tmp_path: Path,
) -> None:
    config = rendered_config(tmp_path, "http://127.0.0.1:9")
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({**config, "host": "127.0.0.1", "grpcPort": 0, "httpPort": 0}))
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_gateway", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"cannot read {tmp_path / 'tls.crt'}" in done.stderr
