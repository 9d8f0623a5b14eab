"""The gateway's certificate: refused at start when unusable, swapped for new handshakes when
its files change, kept when the new files are bad; clients name TLS by scheme."""

from __future__ import annotations

import contextlib
import logging
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from switchboard_api.tls import TlsFilesConfig
from switchboard_gateway.channels import parse_target
from switchboard_gateway.tls import ServerTls, TlsConfigError
from tests.tls_certs import Issued, TestCa, leaf_der

pytestmark = pytest.mark.unit


def files(directory: Path) -> TlsFilesConfig:
    return TlsFilesConfig(cert_file=str(directory / "tls.crt"), key_file=str(directory / "tls.key"))


def served_leaf(
    server_context: ssl.SSLContext, ca: TestCa, name: str | None = "localhost"
) -> bytes:
    """Run one handshake in memory against `server_context`; the leaf the client was shown.

    `name` None: the client sends no SNI (as when it dials an IP address).
    """
    client_context = ssl.create_default_context(cadata=ca.pem.decode())
    client_context.check_hostname = name is not None
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname=name)
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, _inbox, outbox, peer_in in (
            (client, c_in, c_out, s_in),
            (server, s_in, s_out, c_in),
        ):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
            peer_in.write(outbox.read())
        if client.version() and server.version():
            break
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_missing_or_broken_pair_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    ca = TestCa()
    with pytest.raises(TlsConfigError, match=r"cannot read .*tls\.crt"):
        ServerTls(files(tmp_path))
    first, second = ca.issue("localhost"), ca.issue("localhost")
    Issued(first.cert, second.key).write(tmp_path / "tls.crt", tmp_path / "tls.key")
    with pytest.raises(TlsConfigError, match="not a usable certificate and key") as error:
        ServerTls(files(tmp_path))
    assert "PRIVATE KEY" not in str(error.value)
    Issued(b"not a certificate", first.key).write(tmp_path / "tls.crt", tmp_path / "tls.key")
    with pytest.raises(TlsConfigError):
        ServerTls(files(tmp_path))


def test_a_renewed_pair_serves_new_handshakes_and_a_bad_one_keeps_the_last_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = TestCa()
    old, new = ca.issue("localhost"), ca.issue("localhost")
    old.write(tmp_path / "tls.crt", tmp_path / "tls.key")
    tls = ServerTls(files(tmp_path))
    assert served_leaf(tls.http_context, ca) == leaf_der(old)
    assert not tls.reload()  # unchanged files: nothing to do
    new.write(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert tls.reload()
    assert served_leaf(tls.http_context, ca) == leaf_der(new)
    assert served_leaf(tls.http_context, ca, name=None) == leaf_der(new)
    caplog.set_level(logging.INFO, logger="switchboard_gateway.tls")
    (tmp_path / "tls.key").write_bytes(old.key)  # half-written rotation: a key of another cert
    assert not tls.reload()
    (tmp_path / "tls.crt").unlink()
    assert not tls.reload()
    assert served_leaf(tls.http_context, ca) == leaf_der(new)
    assert tls.reloads == 1
    text = caplog.text
    assert "not reloaded" in text
    assert "PRIVATE KEY" not in text
    assert old.key.decode() not in text


def test_grpc_is_handed_a_renewed_pair_once_and_nothing_otherwise(tmp_path: Path) -> None:
    ca = TestCa()
    ca.issue("localhost").write(tmp_path / "tls.crt", tmp_path / "tls.key")
    tls = ServerTls(files(tmp_path))
    assert tls.grpc_credentials() is not None
    assert tls._fetch() is None  # no change: gRPC keeps what it has
    ca.issue("localhost").write(tmp_path / "tls.crt", tmp_path / "tls.key")
    assert tls.reload()
    assert tls._fetch() is not None
    assert tls._fetch() is None


@pytest.mark.parametrize(
    ("target", "address", "tls"),
    [
        ("gw.acme.svc:50051", "gw.acme.svc:50051", False),
        ("grpc://gw:50051", "gw:50051", False),
        ("grpcs://gw.example.com:443", "gw.example.com:443", True),
        ("grpcs://[::1]:50051/", "[::1]:50051", True),
    ],
)
def test_a_grpcs_target_means_tls_and_a_bare_address_plain_text(
    target: str, address: str, tls: bool
) -> None:
    parsed = parse_target(target)
    assert (parsed.address, parsed.tls) == (address, tls)
    assert parse_target(address, tls=True).tls


def test_a_target_with_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="not a gRPC address"):
        parse_target("https://gw:443")


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(tmp_path: Path) -> None:
    issued = TestCa().issue("localhost")
    key = serialization.load_pem_private_key(issued.key, password=None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret passphrase"),
    )
    Issued(issued.cert, locked).write(tmp_path / "tls.crt", tmp_path / "tls.key")
    with pytest.raises(TlsConfigError, match="not a usable certificate and key"):
        ServerTls(files(tmp_path))
